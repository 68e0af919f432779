"""``tuneop watch`` and ``summary --redis`` against a real Redis and a live local session."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis
import yaml
from rich.console import Console

from builders import RUNNER_IMAGE, session_doc
from tuneop.assembly.cli_clients import redis_results
from tuneop.cli.main import main
from tuneop.cli.watch import UnknownSession, watch


def session_file(tmp_path: Path, name: str, trials: list[dict[str, float]]) -> Path:
    doc = session_doc(
        name,
        {
            "objective": {"metric": "value", "direction": "minimize"},
            "trials": trials,
            "maxParallel": 2,
            "runner": {
                "image": RUNNER_IMAGE,
                "objective": "tuneop_runner.objectives.testing:sleep",
            },
        },
    )
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def start_run(path: Path, tmp_path: Path, redis_url: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tuneop",
            "run",
            str(path),
            "--local",
            "--no-progress",
            "--no-report",
            "--results-dir",
            str(tmp_path / "results"),
            "--redis-url",
            redis_url,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def wait_registered(url: str, key: str) -> None:
    client = redis.Redis.from_url(url)
    for _ in range(400):
        if client.sismember("tuneop:sessions", key):
            return
        time.sleep(0.05)
    raise AssertionError(f"{key} never appeared in Redis")


def test_watch_follows_a_live_session_and_exits_with_its_code(
    redis_url: str, tmp_path: Path
) -> None:
    trials = [{"seconds": s} for s in (0.4, 0.2, 0.6, 0.1)]
    proc = start_run(session_file(tmp_path, "live", trials), tmp_path, redis_url)
    wait_registered(redis_url, "default/live")
    console = Console(record=True, width=200)
    code = watch(redis_results(redis_url, "tuneop", 5.0), "live", console, timeout=60)
    assert proc.wait(timeout=30) == 0
    text = console.export_text()
    assert code == 0
    assert "default/live: Succeeded, 4/4 trials" in text
    assert [line for line in text.splitlines() if line.startswith("trial ")]
    ranked = [line.split("│")[2].strip() for line in text.splitlines() if line.startswith("│ ")]
    assert ranked[:2] == ["3", "1"]  # 0.1 s then 0.2 s: minimize


def test_summary_from_redis_ranks_like_the_results_folder(
    redis_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    trials = [{"seconds": s} for s in (0.03, 0.01, 0.02)]
    proc = start_run(session_file(tmp_path, "ranked", trials), tmp_path, redis_url)
    assert proc.wait(timeout=60) == 0
    assert main(["summary", str(tmp_path / "results"), "--csv"]) == 0
    from_folder = capsys.readouterr().out
    assert main(["summary", "--redis", redis_url, "--session", "default/ranked", "--csv"]) == 0
    assert capsys.readouterr().out == from_folder
    assert [row.split(",")[2] for row in from_folder.splitlines()[1:]] == ["1", "2", "0"]


def test_watch_of_an_unknown_session_is_a_clear_error(
    redis_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(UnknownSession):
        watch(redis_results(redis_url, "tuneop", 5.0), "nope/none", Console(quiet=True))
    assert main(["watch", "none", "--redis-url", redis_url]) == 2
    assert "matches none" in capsys.readouterr().err
