"""Issue 25 item 6: no results folder and no Redis can hang a reading command.

A FIFO planted in place of a trial file (or of `session.json`) is passed over like any other
file that is not a result record: `summary`, `report` and `export` answer at once. A Redis
that accepts connections and never answers (a real `redis-server`, stopped with SIGSTOP)
makes `watch`, `results` and `summary` give up after their timeout with one line, exit 2.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from user import User

from minicluster.redis_server import RedisServer

# A reading command answers well within this, hung input or not (the Redis timeout is 5 s).
PATIENCE = 45


def finished_quickstart(user: User, *extra: str) -> Path:
    seen = user.tuneop("run", "examples/quickstart.yaml", "--local", "--no-report", *extra)
    assert seen.code == 0, seen
    return user.path("tuneop-results/quickstart")


def test_a_fifo_in_place_of_a_trial_file_does_not_hang_summary_report_or_export(
    user: User,
) -> None:
    folder = finished_quickstart(user)
    trial = folder / "trials" / "trial-000001.json"
    trial.unlink()
    os.mkfifo(trial)

    summary = user.tuneop("summary", str(folder), timeout=PATIENCE)
    report = user.tuneop("report", str(folder), "-o", "r.html", timeout=PATIENCE)
    export = user.tuneop(
        "export", str(folder), "--optuna-storage", "sqlite:///s.db", timeout=PATIENCE
    )

    for seen in (summary, report, export):
        assert seen.code == 0, seen
        assert "Traceback" not in seen.both
    assert "29 trials" in report.out, report  # the other 29 of 30, the FIFO passed over
    assert "exported 29 trials" in export.out, export
    assert "x=3" in summary.out.replace(" ", "") or '"x": 3' in summary.out, summary


def test_a_fifo_in_place_of_session_json_does_not_hang_summary(user: User) -> None:
    folder = finished_quickstart(user)
    (folder / "session.json").unlink()
    os.mkfifo(folder / "session.json")

    seen = user.tuneop("summary", str(folder), timeout=PATIENCE)

    assert seen.code == 0, seen
    assert "Traceback" not in seen.both
    assert "loss" in seen.out, seen


def test_a_fifo_in_place_of_spec_json_does_not_hang_report_or_export(user: User) -> None:
    # The report and the export read the declared space from spec.json: a FIFO there is
    # no recorded space, and the space of the values tried is used instead.
    folder = finished_quickstart(user)
    (folder / "spec.json").unlink()
    os.mkfifo(folder / "spec.json")

    report = user.tuneop("report", str(folder), "-o", "r.html", timeout=PATIENCE)
    export = user.tuneop(
        "export", str(folder), "--optuna-storage", "sqlite:///s.db", timeout=PATIENCE
    )

    for seen in (report, export):
        assert seen.code == 0, seen
        assert "Traceback" not in seen.both
    assert "30 trials" in report.out, report
    assert "exported 30 trials" in export.out, export


@pytest.fixture
def hung_redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    server.start()
    yield server
    if server.proc is not None:
        os.kill(server.proc.pid, signal.SIGCONT)
    server.stop()


@pytest.mark.parametrize(
    "command",
    [
        ["watch", "default/quickstart"],
        ["results", "default/quickstart", "-o", "fetched"],
        ["summary", "default/quickstart"],
    ],
    ids=["watch", "results", "summary"],
)
def test_a_hung_redis_does_not_hang_a_reading_command(
    user: User, hung_redis: RedisServer, command: list[str]
) -> None:
    finished_quickstart(user, "--redis-url", hung_redis.url)
    assert hung_redis.proc is not None
    os.kill(hung_redis.proc.pid, signal.SIGSTOP)  # accepts connections, never answers

    seen = user.tuneop(*command, "--redis-url", hung_redis.url, timeout=PATIENCE)

    assert seen.code == 2, seen
    assert "Traceback" not in seen.both
    lines = seen.err.strip().splitlines()
    assert len(lines) == 1, seen
    assert "Redis did not answer within 5 s" in lines[0], seen
    assert hung_redis.url not in seen.both  # a URL may hold a password
    assert seen.seconds < 30, seen
