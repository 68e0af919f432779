"""The ``tuneop run`` command: a session applied to a cluster and followed, or with
``--local`` run here, and what it prints at the end.

Like the rest of the command line it imports what it needs when it runs, so building
the parser (``tuneop --help``) loads none of it. Every problem is one line, exit 2:
a results folder of another spec or with a planted file, a full disk, a missing extra.
"""

from __future__ import annotations

import argparse
import errno
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tuneop.api.errors import SpecError
from tuneop.api.vocabulary import INVALID_SPEC
from tuneop.cli.inputs import UsageError, load_session
from tuneop.cli.sources import BAD_REDIS_URL
from tuneop.cli.text import clean, os_error_text, output_console, styled
from tuneop.core.imports import imports_done

if TYPE_CHECKING:
    from tuneop.api.session import Session

__all__ = ["REPORT_MIN_SECONDS", "cmd_run"]

# A local run shorter than this writes no report unless asked (--report): its summary is
# on the screen already, and the report (plotly and Optuna's visualization imported,
# every figure drawn: 0.3 s and more) would be most of such a run's time. Its last line
# gives the command that writes it.
REPORT_MIN_SECONDS = 5.0


def cmd_run(args: argparse.Namespace) -> int:
    """``tuneop run``: on a cluster, or with ``--local`` here; the exit code of the run.
    A local run stopped (Ctrl-C) before its session started says that nothing ran, exit
    2 as a cancelled session; once it started, the run itself records what it stopped."""
    try:
        return _cmd_run(args)
    except KeyboardInterrupt:
        if not args.local or getattr(args, "started", False):
            raise
        raise UsageError("interrupted before the session started: nothing ran") from None


def _cmd_run(args: argparse.Namespace) -> int:
    session = _with_overrides(load_session(args.file, args.jobs_file, args.namespace), args)
    _warn_batched(session)
    if args.local or args.redis_url:
        _check_writable(Path(args.results_dir))
    _check_optuna_storage(args)
    if not args.local:
        _need_cluster_client()
        from tuneop.cli.cluster import run_on_cluster
        from tuneop.core.jobs.pruning import cluster_pruning_warnings

        for warning in cluster_pruning_warnings(session.spec):
            print(f"warning: {clean(warning)}", file=sys.stderr)
        imports_done()  # it may follow the session for hours
        return run_on_cluster(args, session)
    if args.no_wait or args.dry_run or args.cancel_on_interrupt:
        raise UsageError("--no-wait, --dry-run and --cancel-on-interrupt are for a cluster run")
    return _run_local_command(args, session)


def _run_local_command(args: argparse.Namespace, session: Session) -> int:
    """``tuneop run --local``: the checks, the run, and what it prints at the end."""
    from tuneop.cli.closedout import outlive_closed_stdout

    outlive_closed_stdout()  # `| head` ends its reading, not the session
    session, where = _local_trial_resource(args, session)
    _need_mlflow_client(session)
    workers = _early_workers(session)
    try:
        return _check_and_run(args, session, workers, where)
    finally:  # idle workers the run did not take (it stopped before, or ran none)
        if workers is not None:
            workers.close()


def _early_workers(session: Session) -> Any:
    """A Python objective's warm workers, started now: their interpreters start on another
    core while this process imports Optuna and the rest (``assembly.local.early_workers``)."""
    from tuneop.assembly.local import early_workers
    from tuneop.core.planning.planner import plannable
    from tuneop.core.suggest.search import budget

    spec = session.spec
    if plannable(spec):  # an invalid spec: the run reports it, nothing starts
        return None
    return early_workers(spec, min(spec.max_parallel, budget(spec)[0]))


def _check_and_run(
    args: argparse.Namespace, session: Session, workers: Any, where: str | None = None
) -> int:
    """The checks before any Job starts, the run, and what it prints at the end; ``where``:
    the trial resource's container the local template was made of, named in a problem."""
    from concurrent.futures import ThreadPoolExecutor

    from tuneop.cli.preflight import local_setup, preflight

    # The preflight loads the objective in a Python process of its own (0.1 s and more):
    # meanwhile this one imports what the run needs. Nothing runs before its answer.
    with ThreadPoolExecutor(1) as pool:
        # Its own copy of the environment: the imports below set a variable for a while.
        checking = pool.submit(preflight, session.spec, None, dict(os.environ))
        _load_run_modules(session.spec, with_redis=bool(args.redis_url))
        imports_done()  # a session may run for hours: the collector as usual from here
        problem = checking.result()
    setup = local_setup(session.spec, os.environ) if problem is None else problem
    if isinstance(setup, str):
        made = "spec.template.spec.containers[0]"  # the template the resource's became
        if where is not None and setup.startswith(made):
            setup = f"spec.{where}{setup[len(made) :]}"
        raise UsageError(f"{args.file or args.jobs_file}: {setup}")
    for notice in setup.notices:
        print(f"notice: {clean(notice)}", file=sys.stderr)
    from tuneop.cli.warmstart import LocalWarmStart

    warm_start = LocalWarmStart(args.redis_url, args.redis_prefix)
    warm_start.prior(session.ref, session.spec)  # read now: a bad reference stops the run here
    console = output_console()
    from tuneop.core.clock import SYSTEM_CLOCK  # imports the API models: not for --help

    started = SYSTEM_CLOCK.monotonic()  # how long the run took: below 5 s, no report
    run = _run_here(args, session, console, _mirrors(args), warm_start, setup, workers)
    return _finish(args, session, run, console, SYSTEM_CLOCK.monotonic() - started)


def _local_trial_resource(args: argparse.Namespace, session: Session) -> tuple[Session, str | None]:
    """A session of another kind runs its primary container here, or is refused; with
    where that container is in its manifest."""
    resource = session.spec.trial_resource
    if resource is None:
        return session, None
    import dataclasses

    from tuneop.api.spec import parse_spec, spec_to_wire
    from tuneop.core.jobs.localresource import local_resource_template

    local = local_resource_template(resource)
    if isinstance(local, str):
        raise UsageError(f"{args.file}: {local}")
    print(
        f"notice: {clean(local.path)}: a local run runs the {clean(resource.kind)}'s primary"
        f" container {clean(local.container)} alone, as a process here; the rest of the"
        f" {clean(resource.kind)} runs only on a cluster",
        file=sys.stderr,
    )
    wire = {k: v for k, v in spec_to_wire(session.spec).items() if k != "trialResource"}
    wire["template"] = local.template
    wire["runner"] = {**wire.get("runner", {}), "container": local.container}
    return dataclasses.replace(session, spec=parse_spec(wire)), local.path


def _load_run_modules(spec: Any, with_redis: bool) -> None:
    """Import the local run's modules, and Optuna when the optimizer learns. Without
    ``--redis-url`` Optuna is imported without the Redis client (its Redis journal, which
    it imports eagerly when redis is installed, is of no use to such a run: 0.1 s). rich's
    console is imported without attrs, which its pretty-printer imports when installed
    (jsonschema brings it) for objects tuneop never prints: 15-30 ms. numpy's OpenBLAS
    starts with one thread (``core.imports.one_blas_thread``: 40-60 ms of CPU)."""
    from tuneop.core.imports import one_blas_thread, without

    with without("attr"):
        import tuneop.cli.run  # noqa: F401
    if spec.optimizer.learns:
        with without() if with_redis else without("redis"), one_blas_thread():
            import optuna  # noqa: F401


def _mirrors(args: argparse.Namespace) -> list[Any]:
    """What a local run also writes to: the Redis mirror when ``--redis-url`` names one,
    the Optuna storage when ``--optuna-storage`` does."""
    out: list[Any] = []
    if args.optuna_storage:
        from tuneop.assembly.local import optuna_mirror

        out.append(optuna_mirror(args.optuna_storage, Path(args.results_dir)))
    if not args.redis_url:
        return out
    from tuneop.assembly.local import redis_mirror

    try:
        return [*out, redis_mirror(args.redis_url, args.redis_prefix, Path(args.results_dir))]
    except ValueError:
        raise UsageError(BAD_REDIS_URL) from None


def _check_optuna_storage(args: argparse.Namespace) -> None:
    """A storage URL that can never work is refused before any worker starts (one that is
    only down is waited for: the run goes on without it)."""
    if not args.optuna_storage:
        return
    if not args.local:
        raise UsageError(
            "--optuna-storage is for a local run (--local); on a cluster the operator"
            " streams sessions into its own --optuna-storage"
        )
    from tuneop.assembly.local import optuna_url_problem

    problem = optuna_url_problem(args.optuna_storage)
    if problem is not None:  # the URL itself is never printed: it may hold a password
        raise UsageError(f"--optuna-storage: {problem}")


def _finish(
    args: argparse.Namespace, session: Session, run: Any, console: Any, seconds: float
) -> int:
    """What a local run prints when it ends (its line, summary, folders, report); its code.
    ``seconds``: how long the run took (a short one writes its report only when asked)."""
    from tuneop.assembly.folders import session_records
    from tuneop.cli.summary import render_summary
    from tuneop.core.results.summary import summarize

    st = run.status
    if run.finished:
        from tuneop.core.planning.resume import finished_line

        line = finished_line(session.ref.name, st, str(run.session_dir))
        # session.json's message and the --results-dir path: text (Text), never rich markup.
        console.print(styled(line), highlight=False, soft_wrap=True)
        return st.exit_code if st.exit_code is not None else 2
    invalid = [c for c in st.conditions if c.reason == INVALID_SPEC]
    if invalid:
        raise UsageError(f"{args.file or args.jobs_file}: {invalid[0].message}")
    console.print(
        styled(f"session {session.ref.name}: ", (st.phase, "bold"), f" ({st.message})"),
        highlight=False,
    )
    records = session_records(run.session_dir)  # its own: a stranger copied in is not
    render_summary(summarize(records, top_n=args.top_n), console)
    console.print(styled("results: ", str(run.session_dir)), highlight=False)
    t = st.trials
    if t.failed + t.lost + t.infra_failed:
        logs = str(run.session_dir / "logs")
        console.print(styled("logs of the failed trials: ", logs), highlight=False, soft_wrap=True)
    if not args.no_report and records:
        line = _report(args, session, run.session_dir, records, seconds)
        console.print(styled(line), highlight=False, soft_wrap=True)  # no markup, no :emoji:
    return st.exit_code if st.exit_code is not None else 2


def _report(
    args: argparse.Namespace, session: Session, folder: Path, records: Any, seconds: float
) -> str:
    """The run's last line: the report written, or for a run under ``REPORT_MIN_SECONDS``
    (without ``--report``) the command that writes it. Without the ``report`` extra, the
    line naming it either way."""
    from tuneop.cli.results import report_line, report_needs

    path = folder / "report.html"
    missing = report_needs()
    if args.report or seconds >= REPORT_MIN_SECONDS or missing is not None:
        return report_line(records, path, space=session.spec.search_space, below=folder.parent)
    import shlex

    again = f"tuneop report {shlex.quote(str(folder))} -o {shlex.quote(str(path))}"
    # A report an earlier run of the session wrote misses this run's trials: say so.
    stale = " (the report.html there is from an earlier run)" if path.exists() else ""
    return (
        f"report: not written for a run under {REPORT_MIN_SECONDS:g} s{stale} (--report"
        f" writes it every time); to write it now: {clean(again)}"
    )


def _run_here(
    args: argparse.Namespace,
    session: Session,
    console: Any,
    sinks: list[Any],
    warm: Any,
    setup: Any,
    workers: Any = None,
) -> Any:
    """``run_local``; another spec's folder, a planted file or a full disk is one line."""
    from tuneop.assembly.folders import ForeignResults, UnsafePath, session_dir
    from tuneop.cli.run import run_local

    args.started = True  # from here a stop is the session's: recorded, resumed by a rerun

    try:
        return run_local(
            session,
            Path(args.results_dir),
            console,
            progress=False if args.no_progress else None,
            verbose=args.verbose,
            extra_mirrors=sinks,
            fresh=args.fresh,
            warm_start=warm,
            max_parallel=setup.max_parallel,
            gpus=setup.gpus,
            workers=workers,
        )
    except ForeignResults as err:
        raise UsageError(str(err)) from None
    except UnsafePath:
        raise  # one line naming the planted file (main)
    except OSError as err:  # a full disk (ENOSPC), a file size limit (EFBIG), ...
        folder = session_dir(Path(args.results_dir), session.ref)
        room = "make room and " if err.errno in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT) else ""
        raise UsageError(
            f"{os_error_text(err, folder)}; the run stopped, and the results stored so far"
            f" stay in {clean(folder)}: {room}run the same command again to resume"
        ) from None


def _need_cluster_client() -> None:
    """Without the ``operator`` extra there is no cluster client: say so, and ``--local``."""
    from tuneop.core.extras import missing_module, needs

    if missing_module("kubernetes") is not None:
        what = "tuneop run without --local (it applies the session to a cluster)"
        raise UsageError(f"{needs(what, 'kubernetes')}; or add --local to run it here")


def _need_mlflow_client(session: Session) -> None:
    """A session tracked in MLflow needs its client (the ``mlflow`` extra): say so."""
    from tuneop.core.extras import missing_module, needs

    tracking = session.spec.tracking
    if tracking is not None and tracking.mlflow is not None and missing_module("mlflow"):
        raise UsageError(needs("spec.tracking.mlflow", "mlflow"))


def _warn_batched(session: Session) -> None:
    """Warn on stderr when bayesian trials packed into one Job are suggested together, or
    when two parameters are one ``TUNEOP_PARAM_`` variable."""
    from tuneop.core.planning.planner import batch_warning, env_warnings
    from tuneop.core.suggest.search import budget

    warnings = batch_warning(session.spec, budget(session.spec)[0]) + env_warnings(session.spec)
    for warning in warnings:
        print(f"warning: {clean(warning)}", file=sys.stderr)


def _with_overrides(session: Session, args: argparse.Namespace) -> Session:
    """The session with the command line's overrides of its spec, validated again."""
    import dataclasses

    from tuneop.api.spec import parse_spec, spec_to_wire

    given = {field: getattr(args, flag[2:].replace("-", "_")) for field, flag in _FLAGS.items()}
    updates = {k: v for k, v in given.items() if v is not None}
    if not updates:
        return session
    try:
        spec = parse_spec({**spec_to_wire(session.spec), **updates})
    except SpecError as err:  # a rule an override breaks is the flag's, not the file's
        raise SpecError([_flag_problem(p, updates) for p in err.problems], err.more) from None
    return dataclasses.replace(session, spec=spec)


# The spec fields the command line overrides, and their flags.
_FLAGS = {
    "maxParallel": "--max-parallel",
    "trialTimeoutSeconds": "--trial-timeout",
    "deadlineSeconds": "--deadline",
    "retries": "--retries",
}


def _flag_problem(problem: str, updates: dict[str, int]) -> str:
    """``spec.maxParallel: <rule>`` as ``--max-parallel 0: <rule> (it sets spec.maxParallel)``
    when the command line set that field."""
    for field, value in updates.items():
        head = f"spec.{field}: "
        if problem.startswith(head):
            return f"{_FLAGS[field]} {value}: {problem[len(head) :]} (it sets spec.{field})"
    return problem


def _check_writable(folder: Path) -> None:
    """Refuse a results folder that cannot be written before any worker starts."""
    import tempfile

    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as err:
        raise UsageError(f"{clean(folder)}: cannot write results there ({err.strerror})") from None
