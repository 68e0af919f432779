"""The runner against the golden worker logs that also pin the operator's parser.

Each ``tests/data/contract/<case>.expected.json`` lists, under ``runner``, the
trials the reference runner evaluated to write that log. Rebuilding each one
with the runner's encoder must give a line the golden log holds, byte for byte;
and the runner's own reader must take from every golden log the reports the
operator's parser takes (``parse``), no more and no fewer.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import pytest

from tuneop_runner.contract import (
    Evaluation,
    ReportStatus,
    build_report,
    format_result_line,
    parse_result_line,
)
from tuneop_runner.frames import BEGIN_PREFIX, END_PREFIX, FRAMES_PREFIX

GOLDEN = Path(__file__).resolve().parents[1] / "data" / "contract"
CASES = sorted(p.name.removesuffix(".log") for p in GOLDEN.glob("*.log"))
# What ends a line in a worker log, for the operator: CR, LF or CRLF, nothing else.
LINE_BREAK = re.compile(r"\r\n?|\n")
NAMED_FLOATS = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def expected(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((GOLDEN / f"{name}.expected.json").read_text())
    return data


def log_lines(name: str) -> list[str]:
    return LINE_BREAK.split((GOLDEN / f"{name}.log").read_bytes().decode("utf-8"))


def named(v: object) -> object:
    """JSON cannot hold NaN or infinities: the expected files name them."""
    if isinstance(v, float) and not math.isfinite(v):
        return "NaN" if math.isnan(v) else ("Infinity" if v > 0 else "-Infinity")
    return v


def evaluation(data: dict[str, Any]) -> Evaluation:
    metrics = data["metrics"]
    if isinstance(metrics, dict):
        metrics = {
            k: NAMED_FLOATS.get(v, v) if isinstance(v, str) else v for k, v in metrics.items()
        }
    return Evaluation(ReportStatus(data["status"]), metrics=metrics, error=data["error"])


RUNNER_TRIALS = [
    pytest.param(name, spec, id=f"{name}-trial-{spec['trial']}")
    for name in CASES
    for spec in expected(name)["runner"]
]


def test_every_golden_log_holds_lines_the_runner_wrote() -> None:
    assert CASES and all(expected(name)["runner"] for name in CASES)


@pytest.mark.parametrize(("name", "spec"), RUNNER_TRIALS)
def test_the_runner_prints_the_golden_line_and_reads_it_back(
    name: str, spec: dict[str, Any]
) -> None:
    report = build_report(
        spec["trial"],
        spec["params"],
        evaluation(spec["evaluation"]),
        spec["durationSeconds"],
        spec["metric"],
    )
    line = format_result_line(report)
    assert line in log_lines(name)
    assert parse_result_line(line) == report.to_json()


def frame_of(lines: list[str]) -> list[int | None]:
    """Each line's open frame (tuneop_runner.frames), by the log's announced nonce; all
    None for an unframed log, where every line counts."""
    nonce = next((x[len(FRAMES_PREFIX) :] for x in lines if x.startswith(FRAMES_PREFIX)), None)
    frames: list[int | None] = []
    open_: int | None = None
    for x in lines:
        if nonce is not None and x.startswith(BEGIN_PREFIX + nonce + " "):
            open_ = int(x.rsplit(" ", 1)[1])
        elif nonce is not None and x.startswith(END_PREFIX + nonce + " "):
            open_ = None
        frames.append(open_ if nonce is not None else -1)
    return frames


def runner_view(name: str) -> list[dict[str, object]]:
    """The well-formed reports the runner's reader takes from a log: the last per trial,
    and in a framed log only a trial's own lines inside its own frame."""
    statuses = {str(s) for s in ReportStatus}
    last: dict[int, dict[str, object]] = {}
    lines = log_lines(name)
    for line, frame in zip(lines, frame_of(lines), strict=True):
        obj = parse_result_line(line)
        if obj is None:
            continue
        trial = obj.get("trial")
        if not isinstance(trial, int) or isinstance(trial, bool) or trial < 0:
            continue
        if frame != -1 and frame != trial:
            continue
        if obj.get("status") in statuses:
            last[trial] = obj
    return [last[t] for t in sorted(last)]


@pytest.mark.parametrize("name", CASES)
def test_the_runner_reads_the_same_reports_from_a_golden_log_as_the_operator(name: str) -> None:
    fields = ("trial", "params", "status", "error")
    ours = [
        {**{f: r.get(f) for f in fields}, "metrics": {k: named(v) for k, v in r["metrics"].items()}}
        for r in runner_view(name)
    ]
    theirs = [
        {**{f: r[f] for f in fields}, "metrics": r["metrics"]}
        for r in expected(name)["parse"]["reports"]
    ]
    assert ours == theirs
