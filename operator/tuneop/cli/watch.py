"""``tuneop watch``: follow a session live from its Redis mirror.

Reads the session hash for progress, the job records for running workers, the
leaderboard sorted set, and the event stream (blocking reads, so new results
print as they arrive). Returns the session's exit code once its phase is
terminal, or 2 when the session is unknown. Redis is read through the
``ResultsReader`` port (``tuneop.assembly.cli_clients.redis_results``), which
bounds what it hands back.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table
from rich.text import Text

from tuneop.api.vocabulary import TERMINAL_PHASES
from tuneop.cli.text import clean, styled
from tuneop.core.clock import SYSTEM_CLOCK
from tuneop.ports import ResultsReader

__all__ = ["TERMINAL", "UnknownSession", "leaderboard", "resolve", "watch"]

TERMINAL = TERMINAL_PHASES


class UnknownSession(Exception):
    pass


def resolve(reader: ResultsReader, target: str) -> str:
    """``namespace/name`` as given, or the one session of that name."""
    sessions = reader.sessions()
    if "/" in target:
        if target not in sessions:
            raise UnknownSession(f"no session {target} in Redis (prefix {reader.prefix!r})")
        return target
    matches = [s for s in sessions if s.partition("/")[2] == target]
    if len(matches) != 1:
        found = ", ".join(matches) or "none"
        raise UnknownSession(f"session name {target!r} matches {found}; give namespace/name")
    return matches[0]


def leaderboard(reader: ResultsReader, session: str, direction: str, n: int = 5) -> Table:
    table = Table(title="leaderboard")
    for col in ("rank", "trial", "value", "params"):
        table.add_column(col)
    rows = reader.leaderboard(session, n, descending=direction == "maximize")
    ranked = [(m, s) for m, s in rows if m.isdigit()]
    docs = reader.records(session, [int(m) for m, _ in ranked])
    params = {d["trial"]: json.dumps(d.get("params") or {}) for d in docs}
    for rank, (member, score) in enumerate(ranked, start=1):
        trial = int(member)
        table.add_row(str(rank), str(trial), f"{score:.6g}", styled(params.get(trial, "")))
    return table


def _event_line(fields: dict[str, str]) -> Text | None:
    """One event of the stream as a line of text; None for one it cannot read."""
    try:
        data = json.loads(fields.get("data") or "{}")
    except (ValueError, RecursionError):
        return None
    if not isinstance(data, dict):
        return None
    kind = fields.get("type")
    if kind == "trial_finished":
        return styled(f"trial {data.get('trial')}: {data.get('value')}")
    if kind == "trial_failed":
        head = clean(f"trial {data.get('trial')} {data.get('outcome')}")
        return styled((head, "red"), ": ", str(data.get("error")))
    if kind == "trial_pruned":
        head = clean(f"trial {data.get('trial')} pruned at {data.get('value')}")
        return styled((head, "yellow"), ": ", str(data.get("error")))
    if kind == "new_best":
        return styled((clean(data.get("message")), "green"))
    if kind == "phase":
        return styled((clean(data.get("phase"), 64), "bold"), ": ", str(data.get("message")))
    return None


def _int(value: str | None) -> int:
    """A counter from the session hash; what is not a whole number counts as 0."""
    try:
        return max(int(value or 0), 0)
    except ValueError:
        return 0


def watch(
    reader: ResultsReader,
    target: str,
    console: Console,
    timeout: float | None = None,
    monotonic: Callable[[], float] = SYSTEM_CLOCK.monotonic,
) -> int:
    session = resolve(reader, target)
    last_id = "0-0"
    started = monotonic()
    progress = Progress(
        TextColumn(clean(session), style="bold", markup=False),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[detail]}", markup=False),
        console=console,
        disable=not console.is_terminal,
    )
    task = progress.add_task("trials", total=None, detail="")
    with progress:
        while True:
            h = reader.fields(session)
            for entry_id, fields in reader.events(session, last_id, count=500, block_ms=500):
                last_id = entry_id
                line = _event_line(fields)
                if line:
                    progress.console.print(line, highlight=False)
            done, _, total = h.get("progress", "0/0").partition("/")
            workers = reader.running(session)
            detail = clean(
                f"{h.get('phase', 'Pending')}, running {', '.join(workers) or '-'},"
                f" failed {h.get('failed', 0)}, best {h.get('best_value') or '-'}"
            )
            progress.update(task, total=_int(total) or None, completed=_int(done), detail=detail)
            if h.get("phase") in TERMINAL:
                break
            if timeout is not None and monotonic() - started > timeout:
                return 2
    console.print(leaderboard(reader, session, h.get("direction", "minimize")))
    console.print(
        styled(
            f"{session}: {h.get('phase')}, {h.get('progress')} trials, {h.get('failed')} failed,"
            f" best {h.get('metric')}={h.get('best_value') or '-'} {h.get('best_params') or ''}"
        ),
        highlight=False,
    )
    code = h.get("exit_code", "")
    return int(code) if code.isdigit() else 2
