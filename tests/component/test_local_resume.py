"""Local sessions run again: resumed, extended, refused, started fresh; and stopped by
signals with every process of theirs gone."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml
from test_local_session import HERE, run, session

from tuneop.adapters.results_folder.claim import ForeignResults
from tuneop.adapters.results_folder.folder import load_records
from tuneop.cli.main import main


@pytest.fixture(autouse=True)
def _fixture_objectives(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # Keep what is already on the path: the tuneop under test, for `python -m tuneop`.
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(HERE), *sys.path]))
    (tmp_path / "state").mkdir()
    monkeypatch.setenv("TUNEOP_TEST_STATE", str(tmp_path / "state"))


COUNTED = {"objective": "objectives_fixture:slow_first_time"}


def counted(total: int, **spec: Any) -> dict[str, Any]:
    return session(
        "again",
        searchSpace=[{"name": "x", "type": "int", "min": 0, "max": 99}],
        optimizer={"type": "grid"},
        totalTrials=total,
        runner=COUNTED,
        **spec,
    )


def evaluations(tmp_path: Path) -> Counter[int]:
    path = tmp_path / "state" / "evaluations"
    lines = path.read_text().split() if path.exists() else []
    return Counter(int(x) for x in lines)


def trials_on_disk(folder: Path) -> list[int]:
    return sorted(int(r["trial"]) for r in load_records(folder))


def write_spec(tmp_path: Path, doc: dict[str, Any], name: str = "s.yaml") -> str:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(doc))
    return str(path)


def test_running_a_finished_session_again_runs_nothing_again(tmp_path: Path) -> None:
    first = run(counted(4), tmp_path)
    again = run(counted(4), tmp_path)
    assert (first.status.phase, again.status.phase) == ("Succeeded", "Succeeded")
    assert evaluations(tmp_path) == Counter({0: 1, 1: 1, 2: 1, 3: 1})
    assert again.status.trials.succeeded == 4


def test_raising_total_trials_extends_a_finished_local_session(tmp_path: Path) -> None:
    run(counted(3), tmp_path)
    out = run(counted(6, deadlineSeconds=1), tmp_path)  # a new allowance, not a stale one
    assert (out.status.phase, out.status.trials.succeeded) == ("Succeeded", 6)
    assert evaluations(tmp_path) == Counter(dict.fromkeys(range(6), 1))
    assert trials_on_disk(out.session_dir) == list(range(6))


@pytest.mark.parametrize(
    ("second", "rule"),
    [
        pytest.param(
            {"optimizer": {"type": "random", "seed": 1}}, "another spec", id="another-spec"
        ),
        pytest.param({"totalTrials": 2}, "below the 4 trials", id="a-smaller-budget"),
    ],
)
def test_results_of_another_spec_are_refused_naming_both_ways_out(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], second: dict[str, Any], rule: str
) -> None:
    results = str(tmp_path / "results")
    assert main(["run", write_spec(tmp_path, counted(4)), "--local", "--results-dir", results]) == 0
    doc = counted(4)
    doc["spec"].update(second)
    capsys.readouterr()
    code = main(["run", write_spec(tmp_path, doc, "b.yaml"), "--local", "--results-dir", results])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert rule in err and "--fresh" in err and "--results-dir" in err
    assert "Traceback" not in err
    assert trials_on_disk(tmp_path / "results" / "again") == [0, 1, 2, 3]  # untouched


@pytest.mark.parametrize(
    ("damage", "why"),
    [("gone", r"unknown spec \(no spec.json\)"), ("cut", r"unknown spec \(spec.json damaged\)")],
)
def test_a_folder_without_a_recorded_spec_is_refused(tmp_path: Path, damage: str, why: str) -> None:
    out = run(counted(2), tmp_path)
    spec_file = out.session_dir / "spec.json"
    if damage == "gone":
        spec_file.unlink()
    else:  # a write cut short: a file there, not one tuneop can read as its record
        spec_file.write_text(spec_file.read_text()[:40])
    with pytest.raises(ForeignResults, match=why):
        run(counted(2), tmp_path)


def test_fresh_archives_the_old_results_and_starts_over(tmp_path: Path) -> None:
    run(counted(3), tmp_path)
    doc = counted(2)
    doc["spec"]["optimizer"] = {"type": "random", "seed": 5}
    out = run(doc, tmp_path, fresh=True)
    assert out.status.phase == "Succeeded" and len(trials_on_disk(out.session_dir)) == 2
    archived = [p for p in (tmp_path / "results").iterdir() if ".archived-" in p.name]
    assert len(archived) == 1 and trials_on_disk(archived[0]) == [0, 1, 2]


def _tuneop(spec_file: str, results: Path, *extra: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tuneop",
            "run",
            spec_file,
            "--local",
            "--no-progress",
            "--results-dir",
            str(results),
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def _wait_for(check: Any, what: str, timeout: float = 30) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _result_lines(logs: Path) -> int:
    return sum(p.read_bytes().count(b"TUNEOP_RESULT") for p in logs.glob("*.log"))


def test_kill_9_then_run_again_collects_what_workers_wrote_and_runs_only_the_rest(
    tmp_path: Path,
) -> None:
    # Two workers of three trials; each hangs on its last trial the first time.
    trials = [{"x": x, "slow": int(x % 3 == 2)} for x in range(6)]
    doc = session("again", trials=trials, workers=2, maxParallel=2, runner=COUNTED)
    spec_file = write_spec(tmp_path, doc)
    proc = _tuneop(spec_file, tmp_path / "results")
    logs = tmp_path / "results" / "again" / "logs"
    _wait_for(lambda: _result_lines(logs) >= 4, "four results in the worker logs")
    _wait_for(lambda: evaluations(tmp_path).total() >= 6, "the hanging trials to start")
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    assert trials_on_disk(tmp_path / "results" / "again") == []  # nothing harvested yet
    out = run(doc, tmp_path)
    assert (out.status.phase, out.status.trials.succeeded) == ("Succeeded", 6)
    # Trials 0, 1, 3, 4 were collected from the killed run's logs; only 2 and 5 ran again.
    assert evaluations(tmp_path) == Counter({0: 1, 1: 1, 2: 2, 3: 1, 4: 1, 5: 2})
    assert trials_on_disk(out.session_dir) == list(range(6))
    assert _pids_with(f"TUNEOP_TEST_STATE={tmp_path}") == []  # the hung workers were stopped


def _pids_with(marker: str) -> list[int]:
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit() and int(proc.name) != os.getpid():
            try:
                if marker in (proc / "environ").read_bytes().decode(errors="replace"):
                    found.append(int(proc.name))
            except OSError:
                continue
    return found


STOP_SIGNALS = [signal.SIGINT, signal.SIGTERM, signal.SIGHUP]


@pytest.mark.parametrize("sig", STOP_SIGNALS, ids=lambda s: s.name)
def test_a_stop_signal_cancels_and_leaves_no_process_of_the_session(
    tmp_path: Path, sig: signal.Signals
) -> None:
    doc = session(
        "stop-me",
        trials=[{"x": 0, "seconds": 0}, {"x": 1, "seconds": 120}, {"x": 2, "seconds": 120}],
        maxParallel=3,
        runner={"objective": "objectives_fixture:spawns_daemon"},
    )
    proc = _tuneop(write_spec(tmp_path, doc), tmp_path / "results")
    folder = tmp_path / "results" / "stop-me"
    daemons = tmp_path / "state" / "daemons"
    _wait_for(lambda: (folder / "trials" / "trial-000000.json").exists(), "trial 0's result")
    _wait_for(lambda: len(daemons.read_text().split()) == 3, "three setsid grandchildren")
    proc.send_signal(sig)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 2, out.decode()
    record = json.loads((folder / "session.json").read_text())
    assert record["phase"] == "Cancelled"
    assert (record["succeeded"], record["skipped"]) == (1, 2)
    assert _pids_with(f"TUNEOP_TEST_STATE={tmp_path}") == []
    for pid in (int(p) for p in daemons.read_text().split()):
        assert not _alive(pid), f"setsid grandchild {pid} outlived the session"


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2] != "Z"
