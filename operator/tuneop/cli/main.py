"""The ``tuneop`` command line.

Subcommands import what they need when they run, so ``tuneop plan`` never
loads kopf or the Kubernetes client. Every user mistake ends with one line on
stderr naming the field and the rule, and exit code 2; never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from tuneop import __version__
from tuneop.api.errors import SpecError
from tuneop.api.vocabulary import INVALID_SPEC
from tuneop.cli.inputs import UsageError, load_session, yaml_docs
from tuneop.cli.katib_import import cmd_import
from tuneop.cli.results import add_result_commands
from tuneop.cli.run_command import cmd_run
from tuneop.cli.sources import read_session, results_reader
from tuneop.cli.text import clean, given, os_error_text, output_console
from tuneop.core.imports import imports_done

__all__ = [
    "EXIT_INVALID",
    "UsageError",
    "build_parser",
    "cmd_crd",
    "cmd_plan",
    "cmd_run",
    "cmd_summary",
    "cmd_watch",
    "load_session",
    "main",
]

EXIT_INVALID = 2

# Only what building the parser needs is imported above (tuneop --help loads neither
# pydantic nor rich nor Optuna); each command imports the rest when it runs.
if TYPE_CHECKING:
    pass


REDIS_PREFIX_HELP = "prefix of the Redis keys (default: tuneop)"


def cmd_plan(args: argparse.Namespace) -> int:
    from tuneop.cli.plaintable import plain_stdout
    from tuneop.core.imports import no_pydantic_plugins

    with no_pydantic_plugins():  # the API's models are built by this import
        from tuneop.cli.plan import data_text, dry_run, plain_table_text, render

    if args.trials < 0:
        raise UsageError("--trials: must be 0 or more")
    session = load_session(args.file, args.jobs_file, args.namespace)
    observed = None
    if args.observed:
        docs = yaml_docs(args.observed)
        observed = docs[0] if docs else []
    result = dry_run(session, observed, trials=args.trials)
    invalid = [c for c in result.plan.status.conditions if c.reason == INVALID_SPEC]
    if invalid:
        where = args.file or args.jobs_file
        print(f"error: {clean(f'{where}: {invalid[0].message}')}", file=sys.stderr)
        return EXIT_INVALID
    # rich (a tenth of a second to import) draws the table only at a terminal: elsewhere
    # it would print plain text, which plain_table_text draws the same without it.
    if args.output != "table":
        sys.stdout.write(data_text(result, args.output))
    elif plain_stdout() and (text := plain_table_text(result)) is not None:
        sys.stdout.write(text)
    else:
        render(result, args.output, output_console(wrap_text=True))
    return 0


def cmd_crd(args: argparse.Namespace) -> int:
    from tuneop.api.crd import crd_yaml

    sys.stdout.write(crd_yaml())
    return 0


def cmd_summary(args: argparse.Namespace) -> int:
    from tuneop.assembly.folders import recorded_objective
    from tuneop.cli.closedout import print_for_reader
    from tuneop.cli.summary import render_summary, summary_csv
    from tuneop.core.results.summary import reports_metric, summarize

    # With a results folder --session picks one of its sessions; alone, it names one in Redis.
    source, pick = (args.results, args.session) if args.results else (args.session, None)
    if not source:
        raise UsageError("give a results folder or file, or a session NAMESPACE/NAME")
    one = read_session(source, args.redis_url, args.redis_prefix, pick)
    records = one.records
    metric, direction = args.metric, args.direction
    recorded = recorded_objective(one.folder) if one.folder is not None else None
    if recorded is not None:
        metric = metric or recorded[0]
        direction = direction or (recorded[1] if metric == recorded[0] else None)
    summary = summarize(records, metric=metric, direction=direction, top_n=args.top_n)
    if records and not summary.top and not reports_metric(records, summary.metric):
        known = ", ".join(summary.metrics) or "none"
        raise UsageError(
            f"{clean(source)}: no trial reports the metric"
            f" {summary.metric!r} (metrics: {known}); choose one with --metric"
        )
    if args.csv:
        text = summary_csv(summary)
    else:  # drawn whole first: a reader that leaves early (| head) ends no drawing
        console = output_console()
        with console.capture() as drawn:
            render_summary(summary, console)
        text = drawn.get()
    return print_for_reader(text)


def cmd_watch(args: argparse.Namespace) -> int:
    from tuneop.cli.watch import watch

    if not args.redis_url:
        raise UsageError("watch needs --redis-url URL (or $TUNEOP_REDIS_URL)")
    with results_reader(args.redis_url, args.redis_prefix, "follow the session") as reader:
        console = output_console()
        imports_done()  # it follows the session for as long as it runs
        return watch(reader, args.session, console)


def build_parser(extend: Callable[[Any], None] | None = None) -> argparse.ArgumentParser:
    """The command line; ``extend`` adds subcommands that live elsewhere (``operator``)."""
    parser = argparse.ArgumentParser(prog="tuneop", description="Parameter-tuning sessions.")
    parser.add_argument("--version", action="version", version=f"tuneop {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_plan(sub)
    sub.add_parser("crd", help="print the TuningSession CRD").set_defaults(func=cmd_crd)
    _add_run(sub)
    _add_reading(sub)
    add_result_commands(sub)
    if extend is not None:
        extend(sub)
    return parser


def _redis_options(p: argparse.ArgumentParser, url_help: str, *aliases: str) -> None:
    p.add_argument(
        "--redis-url",
        *aliases,
        dest="redis_url",
        metavar="URL",
        default=os.environ.get("TUNEOP_REDIS_URL"),
        help=f"{url_help} (default $TUNEOP_REDIS_URL)",
    )
    p.add_argument("--redis-prefix", default="tuneop", help=REDIS_PREFIX_HELP)


def _add_plan(sub: Any) -> None:
    p = sub.add_parser("plan", help="dry-run one reconcile of a session, no cluster needed")
    p.add_argument("file", nargs="?", help="TuningSession manifest (YAML); - for stdin")
    p.add_argument(
        "-o",
        "--output",
        choices=["table", "yaml", "json"],
        default="table",
        help="table for people (default), yaml or json for programs",
    )
    p.add_argument("--jobs-file", help="JSONL job plan: one trial's params per line")
    p.add_argument("--observed", help="YAML of the Jobs (and status) a cluster would have")
    p.add_argument(
        "--trials",
        type=int,
        metavar="N",
        default=200,
        help="list the first N trials, and count the rest (default: 200)",
    )
    p.add_argument(
        "-n", "--namespace", default="default", help="namespace of the session (default: default)"
    )
    p.set_defaults(func=cmd_plan)


def _add_run(sub: Any) -> None:
    p = sub.add_parser(
        "run", help="run a session on the cluster, and follow it; --local runs it here"
    )
    p.add_argument("file", nargs="?", help="TuningSession manifest (YAML)")
    p.add_argument("--local", action="store_true", help="run workers as local processes")
    p.add_argument(
        "--results-dir", type=given, default="tuneop-results", help="default: ./tuneop-results"
    )
    p.add_argument("--max-parallel", type=int, help="override spec.maxParallel")
    p.add_argument("--trial-timeout", type=int, metavar="S", help="override trialTimeoutSeconds")
    p.add_argument("--deadline", type=int, metavar="S", help="override deadlineSeconds")
    p.add_argument("--retries", type=int, help="override spec.retries")
    p.add_argument("-n", "--namespace", default="default", help="when the manifest names none")
    p.add_argument("--kubeconfig", help="default: $KUBECONFIG or ~/.kube/config")
    p.add_argument("--no-wait", action="store_true", help="return once the session is applied")
    p.add_argument("--dry-run", action="store_true", help="the API server's dry run of the apply")
    p.add_argument(
        "--cancel-on-interrupt",
        action="store_true",
        help="Ctrl-C suspends the session (default: it goes on running)",
    )
    p.add_argument("--jobs-file", help="JSONL job plan: one trial's params per line")
    p.add_argument("--top-n", type=int, default=5, help="rows in the final summary")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    shown = p.add_mutually_exclusive_group()
    shown.add_argument(
        "--report",
        action="store_true",
        help="write report.html however short the run (a local run of under 5 s prints"
        " the command that writes it instead)",
    )
    shown.add_argument("--no-report", action="store_true", help="no report.html at the end")
    p.add_argument(
        "--fresh",
        action="store_true",
        help="start the session over: move its previous results aside (<name>.archived-<time>)",
    )
    p.add_argument("-v", "--verbose", action="store_true", help="print every event")
    _redis_options(p, "mirror the session into Redis")
    p.add_argument(
        "--optuna-storage",
        metavar="URL",
        help="with --local: stream each trial as it finishes into this Optuna RDB storage"
        " (sqlite:///FILE, postgresql://...), for optuna-dashboard",
    )
    p.set_defaults(func=cmd_run)


def _add_reading(sub: Any) -> None:
    """``import``, ``summary`` and ``watch``: commands that read what exists."""
    p = sub.add_parser("import", help="convert another tool's experiment into a TuningSession")
    p.add_argument("tool", choices=["katib"], help="katib: a kubeflow.org/v1beta1 Experiment")
    p.add_argument("file", help="the experiment (YAML); - for stdin")
    p.add_argument("-o", "--output", help="write the session here (default: stdout)")
    p.add_argument(
        "--configmap",
        metavar="FILE",
        help="the ConfigMap (YAML) holding a trialTemplate.configMap template",
    )
    p.add_argument(
        "--from-cluster",
        action="store_true",
        help="read the trialTemplate.configMap ConfigMap from the cluster",
    )
    p.add_argument(
        "--kubeconfig", help="with --from-cluster: default $KUBECONFIG or ~/.kube/config"
    )
    p.add_argument(
        "--strict",
        action="store_true",
        help="refuse (exit 2) when anything does not carry over as Katib runs it",
    )
    p.set_defaults(func=cmd_import)

    p = sub.add_parser("summary", help="rank the trials of a results folder or CSV")
    p.add_argument(
        "results",
        nargs="?",
        help="results folder (any depth) or results.csv, or a session NAMESPACE/NAME in Redis",
    )
    p.add_argument("--metric", type=given, help="rank by this metric (default: the objective)")
    p.add_argument(
        "--direction",
        choices=["minimize", "maximize"],
        help="rank ascending or descending (default: the session's recorded direction)",
    )
    p.add_argument("--top-n", type=int, default=10, help="rows to rank (default: 10)")
    p.add_argument("--csv", action="store_true", help="print the ranking as CSV")
    _redis_options(p, "Redis holding the session", "--redis")
    p.add_argument(
        "--session",
        help="the session NAMESPACE/NAME (or a unique NAME) in Redis; with a results folder,"
        " the one of its sessions to read",
    )
    p.set_defaults(func=cmd_summary)

    p = sub.add_parser("watch", help="follow a session live from its Redis mirror")
    p.add_argument("session", help="NAMESPACE/NAME, or a unique NAME")
    _redis_options(p, "the Redis the session is mirrored into")
    p.set_defaults(func=cmd_watch)


def main(argv: Sequence[str] | None = None, extend: Callable[[Any], None] | None = None) -> int:
    parser = build_parser(extend)
    args = parser.parse_args(argv)
    if getattr(args, "top_n", 0) < 0:  # a slice from the end would rank the rest
        print("error: --top-n: must be 0 or more", file=sys.stderr)
        return EXIT_INVALID
    try:
        return int(args.func(args))
    except SpecError as err:
        for problem in err.shown():  # at most five lines, however many problems
            print(f"error: {clean(problem)}", file=sys.stderr)
        return EXIT_INVALID
    except UsageError as err:
        print(f"error: {clean(str(err))}", file=sys.stderr)
        return EXIT_INVALID
    except OSError as err:
        # A results folder that is read-only, full, or holds a planted link.
        print(f"error: {os_error_text(err)}", file=sys.stderr)
        return EXIT_INVALID
    except KeyboardInterrupt:
        return 130
