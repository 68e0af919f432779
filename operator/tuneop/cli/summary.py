"""Rendering summaries for people: the tables ``tuneop summary`` and ``run`` print.

A session of several objectives is shown by its Pareto front first (a column
per objective), then ranked by the first objective as any session is.
``summary --csv`` is for programs: written by the csv module (a cell holding a comma
or a quote is quoted, so no value adds a row or a column), every name and value from
the records cleaned as printed text is (a newline, ESC or BEL shown as ``\\x0a``).
"""

from __future__ import annotations

import csv
import io
import json

from rich.console import Console
from rich.table import Table

from tuneop.cli.text import clean, styled
from tuneop.core.results.summary import Summary, metric_value

__all__ = ["MAX_FRONT_ROWS", "render_summary", "summary_csv"]

MAX_FRONT_ROWS = 50  # a wider front is cut, the rows kept by the first objective


def render_summary(s: Summary, console: Console) -> None:
    """The summary as rich renderables; every name and value from the records is text."""
    outcomes = ", ".join(f"{k} {v}" for k, v in sorted(s.outcomes.items()))
    console.print(
        styled(
            (str(s.total), "bold"),
            f" trials ({outcomes}) in {s.workers} workers, "
            f"{len(s.sessions)} session(s): {', '.join(s.sessions)}",
        ),
        highlight=False,
    )
    console.print(styled(f"metrics: {', '.join(s.metrics) or '-'}"), highlight=False)
    console.print(styled(f"parameters: {', '.join(s.params) or '-'}"), highlight=False)
    if s.objectives:
        _front(s, console)
    table = Table(title=styled(f"Top {len(s.top)} by {s.metric} ({s.direction})"))
    for col in ("rank", "trial", styled(s.metric), "params", "metrics"):
        table.add_column(col)
    for n, r in enumerate(s.top, start=1):
        value = metric_value(r, s.metric)
        table.add_row(
            str(n),
            styled(str(r.get("trial"))),
            f"{value:.6g}" if value is not None else "-",
            styled(json.dumps(r.get("params") or {})),
            styled(json.dumps(r.get("metrics") or {})),
        )
    console.print(table)
    if s.best_params is not None:
        console.print(styled(f"best parameters: {json.dumps(s.best_params)}"), highlight=False)
    else:
        console.print(styled(f"no trial has a usable value for {s.metric}"), highlight=False)


def _front(s: Summary, console: Console) -> None:
    shown = s.front[:MAX_FRONT_ROWS]
    title = f"Pareto front: {len(s.front)} trials no other beats on every objective"
    if len(shown) < len(s.front):
        title += f" (the first {len(shown)} by {s.objectives[0][0]})"
    table = Table(title=styled(title))
    for col in ("trial", *(f"{m} ({d})" for m, d in s.objectives), "params"):
        table.add_column(styled(col))
    for r in shown:
        values = [metric_value(r, m) for m, _ in s.objectives]
        table.add_row(
            styled(str(r.get("trial"))),
            *(f"{v:.6g}" if v is not None else "-" for v in values),
            styled(json.dumps(r.get("params") or {})),
        )
    console.print(table)


# A CSV cell is for programs: whole (a record's text is bounded already, records.MAX_TEXT),
# only its control characters escaped, as on a terminal.
_CELL_CHARACTERS = 1024 * 1024


def summary_csv(s: Summary) -> str:
    """The ranking as CSV: a header, then one row per trial of the top."""
    names = sorted({k for r in s.top for k in (r.get("params") or {})})
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\n")
    header = ["rank", "session", "trial", s.metric, *names]
    writer.writerow([clean(c, _CELL_CHARACTERS) for c in header])
    for n, r in enumerate(s.top, start=1):
        params = r.get("params") or {}
        value = metric_value(r, s.metric)
        cells = [str(n), str(r.get("session", "")), str(r.get("trial")), f"{value}"]
        cells.extend(str(params.get(k, "")) for k in names)
        writer.writerow([clean(c, _CELL_CHARACTERS) for c in cells])
    return out.getvalue()
