"""``tuneop results``, ``report`` and ``export``: a session's results, wherever they are.

- ``results NAMESPACE/NAME`` writes a cluster session's results from its Redis
  mirror into the layout a local run writes (``adapters.results_folder.folder``), so
  every command that reads a results folder works on both;
- ``report SOURCE -o report.html`` writes the self-contained HTML report
  (``cli.report``);
- ``export SOURCE --optuna-storage URL`` writes the session as an Optuna study
  into any Optuna storage (``core.results.study``), for ``optuna-dashboard`` and
  Optuna's own analysis.

SOURCE is a results folder or a session reference (``cli.sources``), of one
session: a folder of several is refused unless ``--session NAME`` picks one.
Both keep the search space the session's ``spec.json`` declares (log scale,
step, bounds and choices). A storage URL, like a Redis URL, may hold a
password and is never printed.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tuneop.cli.sources import (
    Mirrored,
    UsageError,
    mirrored_session,
    read_session,
    recorded_space,
)
from tuneop.cli.text import clean, given

if TYPE_CHECKING:
    from tuneop.api.parameters import Parameter

__all__ = [
    "add_result_commands",
    "cmd_export",
    "cmd_report",
    "cmd_results",
    "fetch_results",
    "report_line",
    "report_needs",
    "write_report",
]

REPORT = "the HTML report"


def write_report(
    records: list[dict[str, Any]],
    path: Path,
    metric: str | None = None,
    direction: str | None = None,
    space: Sequence[Parameter] = (),
    below: Path | None = None,
) -> Path:
    """The HTML report of ``records`` (``space``: the declared search space), written
    atomically to ``path`` (no link below ``below`` followed: default, the report's
    folder). Without the ``report`` extra (plotly), a one-line ``UsageError`` naming it.
    """
    missing = report_needs()
    if missing is not None:
        raise UsageError(missing)
    from tuneop.assembly.folders import write_atomic
    from tuneop.cli.report import build_report
    from tuneop.core.results.study import study_data

    report = build_report(study_data(records, metric, direction, space))
    write_atomic(path, report.html, below)
    return path


def report_needs() -> str | None:
    """The line naming the ``report`` extra when plotly is not installed, else None."""
    from tuneop.core.extras import missing_module, needs

    return needs(REPORT, "plotly") if missing_module("plotly") is not None else None


def report_line(
    records: list[dict[str, Any]],
    path: Path,
    space: Sequence[Parameter] = (),
    below: Path | None = None,
) -> str:
    """What a run prints last: ``report: PATH``, or why there is none (its extra)."""
    try:
        return f"report: {clean(write_report(records, path, space=space, below=below))}"
    except UsageError as err:
        return f"report: not written; {err}"


def _metric_reported(records: Sequence[dict[str, Any]], metric: str | None, source: str) -> None:
    """A ``--metric`` no trial reports is refused, as ``summary`` refuses it: a report or a
    study of it would hold no value (every trial counted as failed)."""
    from tuneop.core.results.summary import objectives_of, reports_metric

    if metric is not None and records and not reports_metric(records, metric):
        known = ", ".join(sorted({m for r in records for m in (r.get("metrics") or {})}))
        known = known or ", ".join(m for m, _ in objectives_of(records)) or "none"
        raise UsageError(
            f"{clean(source)}: no trial reports the metric {clean(metric)!r}"
            f" (metrics: {clean(known, 300)}); choose one with --metric"
        )


def cmd_report(args: argparse.Namespace) -> int:
    one = read_session(args.source, args.redis_url, args.redis_prefix, args.session)
    _metric_reported(one.records, args.metric, args.source)
    space = recorded_space(one.folder)
    path = write_report(one.records, Path(args.output), args.metric, args.direction, space)
    print(f"report: {clean(path)} ({len(one.records)} trials)")
    return 0


def fetch_results(url: str, prefix: str, target: str, root: Path) -> tuple[Path, Mirrored, str]:
    """A session from Redis written as ``root/<name>``; its folder, contents and phase."""
    from tuneop.assembly.folders import write_session_folder
    from tuneop.core.results.summary import mirrored_session_record

    found = mirrored_session(url, prefix, target)
    record = mirrored_session_record(found.session, found.fields, found.records)
    folder = root / found.session.split("/", 1)[1]
    write_session_folder(folder, record["objective"]["metric"], found.records, record)
    return folder, found, str(record["phase"])


def cmd_results(args: argparse.Namespace) -> int:
    if not args.redis_url:
        raise UsageError("results needs --redis-url URL (or $TUNEOP_REDIS_URL)")
    folder, found, phase = fetch_results(
        args.redis_url, args.redis_prefix, args.session, Path(args.results_dir)
    )
    print(f"results: {clean(folder)} ({len(found.records)} trials, {clean(phase)})")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    import optuna
    import sqlalchemy.exc

    from tuneop.assembly.local import optuna_url_problem
    from tuneop.core.results.study import build_study, study_data

    if problem := optuna_url_problem(args.optuna_storage):  # the URL itself is never printed
        raise UsageError(f"--optuna-storage: {problem}")
    one = read_session(args.source, args.redis_url, args.redis_prefix, args.session)
    _metric_reported(one.records, args.metric, args.source)
    data = study_data(one.records, args.metric, args.direction, recorded_space(one.folder))
    name = args.study_name or data.session
    try:
        try:
            study = build_study(data, storage=args.optuna_storage, name=name)
        except optuna.exceptions.DuplicatedStudyError:
            if not _interrupted_export(args.optuna_storage, name):
                raise
            study = build_study(data, storage=args.optuna_storage, name=name)
    except optuna.exceptions.DuplicatedStudyError:
        raise UsageError(
            f"--optuna-storage: a study named '{clean(name)}' is already there;"
            " give another --study-name"
        ) from None
    except ImportError:
        raise UsageError(
            "--optuna-storage: the database driver this URL needs is not installed"
            " (psycopg2 for postgresql://, PyMySQL for mysql+pymysql://)"
        ) from None
    except (ValueError, sqlalchemy.exc.SQLAlchemyError) as err:
        # The URL is never repeated: it may hold a password.
        raise UsageError(
            f"--optuna-storage: cannot use this storage ({type(err).__name__})"
        ) from None
    print(f"exported {len(study.trials)} trials as Optuna study '{clean(name)}'")
    return 0


def _interrupted_export(storage: str, name: str) -> bool:
    """Whether study ``name`` is an export that stopped midway (``build_study``'s mark);
    if so it is deleted, to be written whole, and a notice says so."""
    import optuna

    from tuneop.core.results.study import EXPORT_ATTR

    found = optuna.load_study(study_name=name, storage=storage)
    if found.user_attrs.get(EXPORT_ATTR) != "incomplete":
        return False
    had = len(found.get_trials(deepcopy=False))
    optuna.delete_study(study_name=name, storage=storage)
    print(
        f"notice: study '{clean(name)}' was an export that stopped midway ({had} trials):"
        " written again, whole",
        file=sys.stderr,
    )
    return True


def _source_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("source", help="results folder, or a session NAMESPACE/NAME in Redis")
    p.add_argument(
        "--session",
        metavar="NAME",
        help="the session to read, of a folder holding several (its folder, or its name)",
    )
    _redis_options(p)
    p.add_argument("--metric", type=given, help="the objective metric (default: the records')")
    p.add_argument(
        "--direction",
        choices=["minimize", "maximize"],
        help="better values are smaller or larger (default: the records')",
    )


def _redis_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--redis-url",
        metavar="URL",
        default=os.environ.get("TUNEOP_REDIS_URL"),
        help="Redis holding the session (default $TUNEOP_REDIS_URL)",
    )
    p.add_argument(
        "--redis-prefix", default="tuneop", help="prefix of the Redis keys (default: tuneop)"
    )


def add_result_commands(sub: Any) -> None:
    """The subcommands of this module, on the ``tuneop`` parser."""
    p = sub.add_parser("results", help="write a session's results from Redis into a folder")
    p.add_argument("session", help="NAMESPACE/NAME, or a unique NAME")
    _redis_options(p)
    p.add_argument(
        "-o",
        "--results-dir",
        type=given,
        default="tuneop-results",
        help="default: ./tuneop-results",
    )
    p.set_defaults(func=cmd_results)

    p = sub.add_parser("report", help="write a self-contained HTML report of a session")
    _source_options(p)
    p.add_argument(
        "-o", "--output", type=given, default="report.html", help="default: ./report.html"
    )
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("export", help="write a session as an Optuna study")
    _source_options(p)
    p.add_argument(
        "--optuna-storage",
        required=True,
        metavar="URL",
        help="an Optuna storage URL: sqlite:///f.db, postgresql://..., mysql://...",
    )
    p.add_argument("--study-name", type=given, help="default: the session's NAMESPACE/NAME")
    p.set_defaults(func=cmd_export)
