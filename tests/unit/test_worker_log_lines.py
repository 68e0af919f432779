"""A worker's stdout and stderr share one log, and each line stays whole in it.

A line longer than the read size comes in pieces; a line of the other stream that comes
between two pieces (a result or a frame on stdout, between the pieces of a flood echoed
on stderr) starts a line of its own, so the harvest reads it. Seen in a long adversarial
run: a trial's result glued to the end of an unfinished megabyte line was lost.
"""

from __future__ import annotations

import io

import pytest

from tuneop.adapters.results_folder.logs import WorkerLog
from tuneop.core.wire.contract import parse_log

RESULT = b'TUNEOP_RESULT {"trial": 1, "status": "succeeded", "metrics": {"loss": 11}}\n'
STDOUT, STDERR = 1, 2

CASES = {
    "a result between two pieces of a flood": (
        [(STDERR, b"y" * 100), (STDOUT, RESULT), (STDERR, b"y" * 100 + b"\n")],
        b"y" * 100 + b"\n" + RESULT + b"y" * 100 + b"\n",
    ),
    "whole lines interleave as they come": (
        [(STDERR, b"epoch 1\n"), (STDOUT, RESULT), (STDERR, b"epoch 2\n")],
        b"epoch 1\n" + RESULT + b"epoch 2\n",
    ),
    "pieces of one stream join into one line": (
        [(STDERR, b"yyy"), (STDERR, b"yyy\n"), (STDOUT, RESULT)],
        b"yyyyyy\n" + RESULT,
    ),
    "a stream that ends without a line break is ended by the next line": (
        [(STDERR, b"no newline at the end"), (STDOUT, RESULT)],
        b"no newline at the end\n" + RESULT,
    ),
}


@pytest.mark.parametrize("writes, expected", CASES.values(), ids=CASES.keys())
def test_each_streams_lines_stay_whole_in_the_shared_log(
    writes: list[tuple[int, bytes]], expected: bytes
) -> None:
    out = io.BytesIO()
    log = WorkerLog(out, writers=2)
    for stream, piece in writes:
        log.line(piece, stream)
    assert out.getvalue() == expected
    assert log.written == len(expected)


def test_the_result_after_a_flood_piece_is_harvested() -> None:
    out = io.BytesIO()
    log = WorkerLog(out, writers=2)
    log.line(b"y" * 1024, STDERR)  # a flood's first piece, its line not ended yet
    log.line(RESULT, STDOUT)
    log.line(b"y" * 1024 + b"\n", STDERR)
    parsed = parse_log(out.getvalue().decode(), [1])
    assert parsed.reports[1].metrics == {"loss": 11}
