"""The ``tuneop operator`` subcommand: its options, turned into an ``OperatorConfig``.

It lives beside the controller rather than in ``tuneop.cli`` so that the
command line never imports the controller (an import-linter contract);
``tuneop.main`` puts the two together. Nothing heavy is imported until the
command runs: kopf and the kubernetes client load only for ``tuneop operator``, in the
order ``load_operator`` gives (the one the start-up benchmark measures).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tuneop.controller.election_options import add_election_arguments, election_from

if TYPE_CHECKING:
    from tuneop.assembly.operator import OperatorConfig
    from tuneop.controller.prestart import Prestart

__all__ = ["add_parser", "cmd_operator", "load_operator", "load_settings"]

EXIT_USAGE = 2
MAX_HARVEST_WINDOW = 10.0


def _usage(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return EXIT_USAGE


def _url_problem(args: argparse.Namespace) -> str | None:
    """What is wrong with the MLflow server's or the Optuna storage's URL, or None; the
    storage's URL is never printed (it may hold a password)."""
    from tuneop.api.tracking import tracking_uri_ok
    from tuneop.assembly.operator import optuna_storage_problem

    if args.mlflow_tracking_uri and not tracking_uri_ok(args.mlflow_tracking_uri):
        return "--mlflow-tracking-uri: must be an http:// or https:// URL"
    if args.optuna_storage and (problem := optuna_storage_problem(args.optuna_storage)):
        return f"--optuna-storage: {problem}"
    return None


def load_settings() -> type[OperatorConfig]:
    """Import the operator's wiring, the API's models and the Kubernetes adapter with it.

    Every restart pays this before its first request: the models are built without
    pydantic's plugin search (``tuneop.core.imports``), and the adapter imports the
    client before kopf does (kopf imports it too, whenever it is installed), so the
    adapter's choice of what the client loads holds.
    """
    from tuneop.core.imports import no_pydantic_plugins

    with no_pydantic_plugins():
        from tuneop.assembly.operator import OperatorConfig

    return OperatorConfig


def load_operator() -> Callable[[OperatorConfig, Prestart], None]:
    """Everything ``tuneop operator`` imports before it serves, in its order: ``serve``."""
    load_settings()
    from tuneop.controller.handlers import serve

    return serve


def cmd_operator(args: argparse.Namespace) -> int:
    from tuneop.core.extras import missing_module, needs

    module = missing_module("kopf", "kubernetes", "prometheus_client")
    if module is not None:
        return _usage(needs("tuneop operator", module))
    settings = load_settings()

    if bool(args.namespace) == args.all_namespaces:
        return _usage("operator: give --namespace NS (repeatable) or --all-namespaces")
    given: dict[str, Any] = {
        "namespaces": tuple(args.namespace or ()),
        "all_namespaces": args.all_namespaces,
        "results_dir": Path(args.results_dir) if args.results_dir else None,
        "redis_url": args.redis_url,
        "redis_prefix": args.redis_prefix,
        "redis_ttl": args.redis_ttl,
        "optuna_storage": args.optuna_storage or None,
        "log_format": args.log_format,
        "kubeconfig": args.kubeconfig,
        "mlflow_tracking_uri": args.mlflow_tracking_uri or None,
    }
    if problem := _url_problem(args):
        return _usage(f"operator: {problem}")
    if args.api_qps is not None:
        given["api_qps"] = args.api_qps
        given["api_burst"] = max(1, int(2 * args.api_qps))
    if args.api_burst is not None:
        given["api_burst"] = args.api_burst
    if args.liveness is not None:
        given["liveness"] = args.liveness or None
    if args.metrics_port is not None:
        given["metrics_port"] = args.metrics_port
    if args.harvest_window is not None:
        given["harvest_window"] = args.harvest_window
    election = election_from(args)
    if isinstance(election, str):
        return _usage(f"operator: {election}")
    given["election"] = election
    config = settings(**given)
    if config.api_qps <= 0 or config.api_burst < 1:
        return _usage("operator: --api-qps must be > 0 and --api-burst >= 1")
    if not 0 <= config.harvest_window <= MAX_HARVEST_WINDOW:
        return _usage(f"operator: --harvest-window must be from 0 to {MAX_HARVEST_WINDOW} seconds")
    from tuneop.controller.prestart import begin
    from tuneop.core.imports import imports_done

    # Started before kopf's import, to overlap it: the wiring, the first request, the Lease.
    early = begin(config)
    try:
        serve = load_operator()
    except BaseException:
        early.abandon()  # a Lease taken meanwhile goes back at once
        raise
    imports_done()
    serve(config, early)
    return 0


def add_parser(subcommands: Any) -> None:
    """Add ``operator`` to the command line's subcommands."""
    # Defaults live in OperatorConfig (tuneop.assembly.operator), imported when the command runs.
    p = subcommands.add_parser("operator", help="run the Kubernetes operator (kopf)")
    p.add_argument("-n", "--namespace", action="append", help="watch this namespace (repeatable)")
    p.add_argument("-A", "--all-namespaces", action="store_true", help="watch every namespace")
    p.add_argument(
        "--results-dir", help="also write each trial's result JSON under DIR/<ns>/<name>"
    )
    p.add_argument(
        "--redis-url",
        default=os.environ.get("TUNEOP_REDIS_URL"),
        help="mirror sessions into this Redis (default $TUNEOP_REDIS_URL)",
    )
    p.add_argument("--redis-prefix", default="tuneop", help="key prefix in Redis")
    p.add_argument(
        "--mlflow-tracking-uri",
        default=os.environ.get("TUNEOP_MLFLOW_TRACKING_URI"),
        help="track sessions that name no MLflow server in this one"
        " (default $TUNEOP_MLFLOW_TRACKING_URI)",
    )
    p.add_argument(
        "--redis-ttl", type=int, help="TTL of a finished session's keys, seconds (0 keeps)"
    )
    p.add_argument(
        "--optuna-storage",
        metavar="URL",
        default=os.environ.get("TUNEOP_OPTUNA_STORAGE"),
        help="stream each session's finished trials into this Optuna RDB storage, for"
        " optuna-dashboard (default $TUNEOP_OPTUNA_STORAGE)",
    )
    p.add_argument("--api-qps", type=float, help="API writes per second (default 20)")
    p.add_argument("--api-burst", type=int, help="API write burst (default 2 x qps)")
    p.add_argument(
        "--liveness", help="kopf liveness URL (default http://0.0.0.0:8081/healthz; '' off)"
    )
    p.add_argument(
        "--metrics-port", type=int, help="Prometheus /metrics port (default 9090; 0 off)"
    )
    p.add_argument(
        "--log-format",
        choices=["text", "json"],
        default="text",
        help="text for people (default), json for log collectors",
    )
    p.add_argument(
        "--harvest-window",
        type=float,
        help="seconds a finished Job waits to be harvested with the next ones (default 0.5; 0"
        " harvests each at once)",
    )
    p.add_argument("--kubeconfig", help="default: in-cluster, else $KUBECONFIG or ~/.kube/config")
    add_election_arguments(p)
    p.set_defaults(func=cmd_operator)
