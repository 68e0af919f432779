"""A trial's output is untrusted: whatever it prints, the session finishes and keeps its data.

Local sessions end to end with objectives that print rich markup, terminal
escapes and megabytes of noise (``objectives_fixture``): the session reaches
a terminal phase, every result is harvested and stored, and what reaches the
terminal is text, with control characters escaped.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
import redis
import yaml
from rich.console import Console

from builders import RUNNER_IMAGE, session_doc
from tuneop.adapters.local.folder import load_records
from tuneop.adapters.local.processes import copy_capped, harvestable
from tuneop.adapters.redis_mirror import Keys
from tuneop.api.session import parse_manifest
from tuneop.cli.main import main
from tuneop.cli.run import run_local
from tuneop.cli.watch import watch
from tuneop.core.wire.contract import parse_log

HERE = Path(__file__).parent


def session(**spec: Any) -> dict[str, Any]:
    runner = {"image": RUNNER_IMAGE, **spec.pop("runner", {})}
    return session_doc(
        "hostile",
        {
            "objective": {"metric": "value"},
            "trialTimeoutSeconds": 60,
            **spec,
            "runner": runner,
        },
    )


@pytest.fixture(autouse=True)
def _fixture_objectives(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHONPATH", str(HERE))


def run_cli(
    tmp_path: Path, doc: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> tuple[int, str]:
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(doc))
    code = main(
        ["run", str(path), "--local", "--no-progress", "--results-dir", str(tmp_path / "r")]
    )
    out, err = capsys.readouterr()
    return code, out + err


def test_markup_and_escapes_in_a_failure_are_printed_as_text(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = session(
        trials=[{"x": i} for i in range(6)],
        maxParallel=2,
        runner={"objective": "objectives_fixture:raises_markup"},
    )
    code, shown = run_cli(tmp_path, doc, capsys)
    assert code == 2  # the same error every time: stopped early (RepeatedTrialError), no crash
    assert "[/data]" in shown and "\\x1b[2J" in shown and "\\x07" in shown
    assert "\x1b" not in shown and "\x07" not in shown
    record = yaml.safe_load((tmp_path / "r" / "hostile" / "session.json").read_text())
    assert record["phase"] == "Failed" and record["attempted"] < 6  # budget not burnt


def test_a_metric_named_like_markup_is_summarized(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = session(
        trials=[{"x": 1}, {"x": 2}], runner={"objective": "objectives_fixture:markup_metric"}
    )
    code, shown = run_cli(tmp_path, doc, capsys)
    assert code == 0 and "acc[/]" in shown
    assert main(["summary", str(tmp_path / "r"), "--metric", "acc[/]"]) == 0
    assert "acc[/]" in capsys.readouterr().out


def test_every_result_is_harvested_from_a_log_far_larger_than_the_cap(tmp_path: Path) -> None:
    # Five trials in one Job, each writing 2 MB of noise: 10 MB of log against a 1 MB cap.
    doc = session(
        trials=[{"x": i, "mb": 2} for i in range(5)],
        trialsPerJob=5,
        runner={"objective": "objectives_fixture:noisy"},
    )
    out = run_local(parse_manifest(doc), tmp_path / "r", Console(quiet=True), log_cap_bytes=1 << 20)
    assert out.status.phase == "Succeeded", out.status.message
    assert sorted(r["trial"] for r in load_records(out.session_dir)) == [0, 1, 2, 3, 4]
    (log,) = (out.session_dir / "logs").iterdir()
    assert log.stat().st_size < 2 << 20
    text = log.read_text()
    assert "is not kept; result lines are" in text and "bytes of output were not kept" in text


def test_the_capped_copy_keeps_result_lines_after_the_cap() -> None:
    noise = b"x" * 99 + b"\n"
    src = io.BytesIO(noise * 50 + b"TUNEOP_RESULT {}\n" + noise * 50 + b"TUNEOP_RESULT []\n")
    dst = io.BytesIO()
    dropped = copy_capped(src, dst, cap=1000)
    kept = dst.getvalue()
    assert dropped == 90 * 100
    assert kept.count(b"TUNEOP_RESULT") == 2 and kept.count(noise) == 10


def test_the_harvest_reads_every_result_line_and_only_a_tail_of_the_rest(tmp_path: Path) -> None:
    log = tmp_path / "w.log"
    result = 'TUNEOP_RESULT {{"trial": {}, "status": "succeeded"}}\n'
    lines = [result.format(i) + "n" * 1000 + "\n" for i in range(50)]
    log.write_text("".join(lines))
    text = harvestable(log, tail=5000)
    assert text.count("TUNEOP_RESULT") == 50
    assert sorted(parse_log(text).reports) == list(range(50))
    assert len(text) < 5000 + 50 * 60


def test_watch_prints_what_redis_holds_as_text(redis_url: str) -> None:
    # A finished session in Redis whose events carry markup, escapes and a broken record.
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    k = Keys("tuneop", "default/hostile")
    client.sadd(k.index, "default/hostile")
    client.hset(
        k.hash,
        mapping={
            "phase": "Failed",
            "progress": "2/2",
            "failed": "2",
            "exit_code": "1",
            "direction": "minimize",
            "metric": "acc[/]",
        },
    )
    for data in ('{"trial": 0, "outcome": "Failed", "error": "[/data] \\u001b[2J"}', "[[[", "7"):
        client.xadd(k.events, {"type": "trial_failed", "data": data})
    client.zadd(k.leaderboard, {"not-a-trial": 1.0})
    out = io.StringIO()
    code = watch(client, "default/hostile", Console(file=out, width=200), timeout=5)
    shown = out.getvalue()
    assert code == 1
    assert "[/data]" in shown and "\\x1b[2J" in shown and "\x1b[2J" not in shown


def test_a_spec_the_planner_refuses_is_one_line_on_stderr_for_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = session(trials=[{"x": i} for i in range(2001)], workers=1)  # 2001 trials in one Job
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(doc))
    code = main(["run", str(path), "--local", "--no-progress", "--results-dir", str(tmp_path)])
    out, err = capsys.readouterr()
    assert code == 2 and "trials per Job" in err and len(err.splitlines()) == 1
    assert "trials per Job" not in out


def test_a_poisoned_result_line_spoils_only_its_trial_in_a_local_session(tmp_path: Path) -> None:
    doc = session(
        trials=[{"x": i, "poison": i == 1} for i in range(4)],
        trialsPerJob=2,
        runner={"objective": "objectives_fixture:poison"},
    )
    out = run_local(parse_manifest(doc), tmp_path / "r", Console(quiet=True))
    assert out.status.phase == "Succeeded" and out.status.trials.succeeded == 4
