"""A results CSV read back as result records (``tuneop summary results.csv``).

A ``results.csv`` (``folder.write_csv``) has one row per trial: its ids, its outcome,
the objective's column (named after its metric), ``param.*`` and ``metric.*`` columns.
It is read bounded, and each row is untrusted, normalised as a trial file's record is.
A row is to a CSV what a trial file is to a results folder, so a row that is no record
is passed over as a damaged trial file is, and the rest are read: one that cannot be
normalised, and one with more or fewer cells than the header has columns (its cells
cannot be told apart: a cell lost or added shifts every value after it). A file that
is no CSV at all (not UTF-8, a quoting error) is refused whole, as a trial file named
on its own that is no record is.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from tuneop.adapters.results_folder.safefs import read_capped
from tuneop.core.results.records import Record, normalize_record

__all__ = ["CSV_FILE_BYTES", "csv_records"]

# A results.csv of 100,000 trials with a dozen columns is about 20 MiB.
CSV_FILE_BYTES = 64 * 1024 * 1024
_CSV_FIXED = frozenset({"session", "trial", "job_index", "outcome", "error"})
_CSV_MAPS = ("param.", "metric.")


def _csv_rows(text: str) -> list[dict[str, str]]:
    """The rows of ``text`` whose cells match the header's columns one for one."""
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, [])
    # A blank line is no row (as csv.DictReader reads them); a ragged row is passed over.
    return [dict(zip(header, row, strict=True)) for row in reader if len(row) == len(header)]


def _csv_record(row: dict[str, str]) -> dict[str, Any]:
    def num(v: str) -> Any:
        try:
            return int(v)
        except ValueError:
            try:
                return float(v)
            except ValueError:
                return v

    params = {k[6:]: num(v) for k, v in row.items() if k.startswith("param.") and v != ""}
    metrics = {k[7:]: num(v) for k, v in row.items() if k.startswith("metric.") and v != ""}
    # The objective's column is the one named after its metric: the only other column.
    others = [k for k in row if k and k not in _CSV_FIXED and not k.startswith(_CSV_MAPS)]
    objective = (
        {"metric": others[0], "value": num(row[others[0]] or "")} if len(others) == 1 else None
    )
    return {
        "objective": objective,
        "session": row.get("session", ""),
        "trial": num(row.get("trial") or ""),
        "jobIndex": num(row.get("job_index") or ""),
        "outcome": row.get("outcome", ""),
        "params": params,
        "metrics": metrics,
        "error": row.get("error") or None,
    }


def csv_records(path: Path) -> list[Record]:
    """The records of the results CSV ``path``; ``ValueError`` for one past its bound or
    that is no CSV."""
    data = read_capped(path, CSV_FILE_BYTES)
    if len(data) > CSV_FILE_BYTES:
        raise ValueError(f"larger than {CSV_FILE_BYTES // (1024 * 1024)} MiB")
    try:
        rows = [_csv_record(row) for row in _csv_rows(data.decode("utf-8"))]
    except (UnicodeDecodeError, csv.Error) as err:
        raise ValueError(f"not a results CSV ({type(err).__name__})") from None
    return [r for r in (normalize_record(row) for row in rows) if r is not None]
