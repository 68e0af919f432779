"""``tuneop run FILE`` on a cluster: apply the session, follow it, summarize, exit as a local run.

The session is applied with server-side apply (field manager ``tuneop-cli``,
``--dry-run``: the API server's dry run), then followed by reading it every
``POLL_SECONDS`` and showing the local run's progress line (phase, progress,
running, failed, best). The session is finished when its phase is terminal
for the generation this command applied (``status.observedGeneration``), so an
earlier run's result never ends the wait. At the end come the local run's
summary and exit code (0 all trials succeeded, 1 some failed, 2 the session
failed): from every trial when Redis is given (``--redis-url``; then the
results folder and ``report.html`` too), else from the status's leaderboard.

Ctrl-C stops following and leaves the session running (exit 130); with
``--cancel-on-interrupt`` it suspends the session first (no new trials; the
running ones finish) and exits 2, as a cancelled local run does.

What the API server returns is untrusted: the status is read leniently
(``status_from_wire``) and printed as text.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rich.console import Console

from tuneop.api.session import Session
from tuneop.api.spec import API_GROUP, API_VERSION, KIND, PLURAL, spec_to_wire
from tuneop.api.status import SessionStatus, status_from_wire
from tuneop.cli.run import SessionBar
from tuneop.cli.sources import UsageError
from tuneop.cli.summary import render_summary
from tuneop.cli.text import clean, output_console, styled
from tuneop.core.results.records import Record
from tuneop.core.results.summary import summarize

__all__ = [
    "EXIT_DETACHED",
    "FIELD_MANAGER",
    "POLL_SECONDS",
    "ClusterRun",
    "follow",
    "leaderboard_records",
    "manifest",
    "phase_line",
    "run_on_cluster",
]

FIELD_MANAGER = "tuneop-cli"
POLL_SECONDS = 1.0
EXIT_DETACHED = 130
# (connect, read) seconds for each API call.
REQUEST_TIMEOUT = (5.0, 30.0)
# API errors in a row (the server restarting, a network blip) before following gives up.
MAX_READ_FAILURES = 30


def manifest(session: Session) -> dict[str, Any]:
    """The object to apply: the validated spec, under the session's name and namespace."""
    return {
        "apiVersion": f"{API_GROUP}/{API_VERSION}",
        "kind": KIND,
        "metadata": {"name": session.ref.name, "namespace": session.ref.namespace},
        "spec": spec_to_wire(session.spec),
    }


def _api_error(err: Exception, doing: str) -> UsageError:
    """One line for an API failure: the server's own reason, cleaned, never a traceback."""
    status = getattr(err, "status", None)
    reason = clean(getattr(err, "reason", None) or type(err).__name__, 200)
    where = f"HTTP {status} " if status else ""
    return UsageError(f"cannot {doing}: {where}{reason}")


@dataclass
class ClusterRun:
    """One session through the API: server-side apply, reads, and the suspend on Ctrl-C."""

    api: Any  # kubernetes.client.ApiClient
    session: Session

    @property
    def path(self) -> str:
        ref = self.session.ref
        return f"/apis/{API_GROUP}/{API_VERSION}/namespaces/{ref.namespace}/{PLURAL}/{ref.name}"

    def _call(self, method: str, body: Any = None, query: Any = None) -> dict[str, Any]:
        headers = {"Accept": "application/json"}
        if body is not None:
            # The generated client sends every custom-object patch as a merge patch:
            # server-side apply needs its own content type, so the request is made here.
            headers["Content-Type"] = "application/apply-patch+yaml"
        obj = self.api.call_api(
            self.path,
            method,
            query_params=query or [],
            header_params=headers,
            body=body,
            response_type="object",
            auth_settings=["BearerToken"],
            _return_http_data_only=True,
            _request_timeout=REQUEST_TIMEOUT,
        )
        return dict(obj)

    def _apply(self, body: dict[str, Any], manager: str, dry_run: bool = False) -> dict[str, Any]:
        query = [("fieldManager", manager), ("force", "true")]
        if dry_run:
            query.append(("dryRun", "All"))
        return self._call("PATCH", body, query)

    def apply(self, dry_run: bool = False) -> dict[str, Any]:
        try:
            return self._apply(manifest(self.session), FIELD_MANAGER, dry_run)
        except Exception as err:  # the client raises ApiException and urllib3 errors alike
            raise _api_error(err, "apply the session") from None

    def read(self) -> dict[str, Any]:
        return self._call("GET")

    def suspend(self) -> None:
        """``spec.suspend: true``, owned by a field manager of its own."""
        body = {**manifest(self.session), "spec": {"suspend": True}}
        self._apply(body, f"{FIELD_MANAGER}-cancel")


def _generation(obj: dict[str, Any]) -> int:
    g = (obj.get("metadata") or {}).get("generation")
    return g if isinstance(g, int) and not isinstance(g, bool) else 0


def follow(
    run: ClusterRun,
    generation: int,
    console: Console,
    progress: bool,
    sleep: Callable[[float], None] = time.sleep,
) -> SessionStatus:
    """The session's status once it is finished for ``generation``; KeyboardInterrupt
    passes through to the caller."""
    bar = SessionBar(console, progress, 0)
    failures = 0
    metric = run.session.spec.objective.metric
    with bar.progress:
        while True:
            try:
                obj = run.read()
                failures = 0
            except Exception as err:  # transient: the server restarting, a network blip
                if getattr(err, "status", None) == 404:
                    raise UsageError(f"session {run.session.ref.key} was deleted") from None
                failures += 1
                if failures >= MAX_READ_FAILURES:
                    raise _api_error(err, "read the session") from None
                sleep(POLL_SECONDS)
                continue
            status = status_from_wire(obj.get("status"))
            bar.update(status, metric)
            # The phase of an earlier generation (a spec applied again) is not the answer.
            current = status.observed_generation is None or status.observed_generation >= generation
            if status.terminal and current:
                return status
            sleep(POLL_SECONDS)


def leaderboard_records(session: Session, status: SessionStatus) -> list[Record]:
    """Records of the status's leaderboard (or Pareto front): what a summary can rank
    without Redis."""
    objective = session.spec.objective
    if session.spec.multi_objective:
        return _front_records(session, status)
    return [
        {
            "session": session.ref.key,
            "trial": e.trial,
            "jobIndex": e.job_index,
            "params": dict(e.params or {}),
            "metrics": {objective.metric: e.value},
            "objective": {
                "metric": objective.metric,
                "direction": objective.direction,
                "value": e.value,
            },
            "outcome": "Succeeded",
            "error": None,
        }
        for e in status.leaderboard
    ]


def _front_records(session: Session, status: SessionStatus) -> list[Record]:
    objectives = session.spec.all_objectives
    return [
        {
            "session": session.ref.key,
            "trial": e.trial,
            "jobIndex": e.job_index,
            "params": dict(e.params or {}),
            "metrics": {o.metric: v for o, v in zip(objectives, e.values, strict=False)},
            "objective": {
                "metric": objectives[0].metric,
                "direction": objectives[0].direction,
                "value": e.values[0] if e.values else None,
            },
            "objectives": [
                {"metric": o.metric, "direction": o.direction, "value": v}
                for o, v in zip(objectives, e.values, strict=False)
            ],
            "outcome": "Succeeded",
            "error": None,
        }
        for e in status.pareto_front
    ]


def phase_line(session: Session, status: SessionStatus) -> Any:
    return styled(
        f"session {session.ref.name}: ", (str(status.phase), "bold"), f" ({status.message})"
    )


def _connect(session: Session, kubeconfig: str | None) -> ClusterRun:
    from kubernetes import client

    from tuneop.adapters.kube.client import load_configuration

    try:
        cfg = load_configuration(kubeconfig)
    except Exception as err:  # a missing or broken kubeconfig: one line, not a traceback
        raise UsageError(
            f"kubeconfig: cannot load it ({type(err).__name__}); give --kubeconfig FILE"
            " for a cluster, or run it on this machine with --local"
        ) from None
    return ClusterRun(client.ApiClient(cfg), session)


def _interrupted(run: ClusterRun, console: Console, cancel: bool) -> int:
    key = run.session.ref
    if cancel:
        try:
            run.suspend()
        except Exception as err:
            raise _api_error(err, "suspend the session") from None
        console.print(styled(f"suspended {key.key}: no new trials; running ones finish"))
        return 2
    console.print(
        styled(
            f"{key.key} goes on running; follow it with"
            f" `kubectl get ts -n {key.namespace} {key.name} -w`"
        ),
        highlight=False,
    )
    return EXIT_DETACHED


def _finish(
    args: argparse.Namespace, run: ClusterRun, status: SessionStatus, console: Console
) -> None:
    """The local run's summary; with Redis, every trial, the results folder and the report."""
    from pathlib import Path

    from tuneop.cli.results import fetch_results, report_line

    session = run.session
    console.print(phase_line(session, status), highlight=False)
    if not args.redis_url:
        records = leaderboard_records(session, status)
        render_summary(summarize(records, top_n=args.top_n), console)
        console.print("(the status's leaderboard; give --redis-url for every trial and a report)")
        return
    folder, found, _ = fetch_results(
        args.redis_url, args.redis_prefix, session.ref.key, Path(args.results_dir)
    )
    render_summary(summarize(found.records, top_n=args.top_n), console)
    console.print(styled(f"results: {folder}"), highlight=False, soft_wrap=True)
    if not args.no_report and found.records:
        space = run.session.spec.search_space
        line = report_line(found.records, folder / "report.html", space=space)
        console.print(styled(line), highlight=False, soft_wrap=True)


def run_on_cluster(args: argparse.Namespace, session: Session) -> int:
    """``tuneop run FILE`` without ``--local``; the exit code of the session."""
    console = output_console()
    run = _connect(session, args.kubeconfig)
    obj = run.apply(dry_run=args.dry_run)
    generation = _generation(obj)
    done = "validated by the API server (dry run)" if args.dry_run else "applied"
    console.print(styled(f"{session.ref.key}: {done}, generation {generation}"), highlight=False)
    if args.dry_run or args.no_wait:
        return 0
    progress = console.is_terminal and not args.no_progress
    try:
        status = follow(run, generation, console, progress)
    except KeyboardInterrupt:
        return _interrupted(run, console, args.cancel_on_interrupt)
    _finish(args, run, status, console)
    return status.exit_code if status.exit_code is not None else 2
