"""Local sessions end to end: real runner processes, real results folder."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from rich.console import Console

from builders import session_doc
from tuneop.adapters.results_folder.folder import load_records
from tuneop.api.session import parse_manifest
from tuneop.cli.main import main
from tuneop.cli.run import run_local

HERE = Path(__file__).parent


def session(name: str = "s", **spec: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "objective": {"metric": "value"},
        "runner": {"image": "tuneop/runner:0.1.0"},
        "trialTimeoutSeconds": 30,
    }
    runner = spec.pop("runner", {})
    base.update(spec)
    base["runner"].update(runner)
    return session_doc(name, base)


def run(doc: dict[str, Any], tmp_path: Path, **kw: Any):  # type: ignore[no-untyped-def]
    return run_local(parse_manifest(doc), tmp_path / "results", Console(quiet=True), **kw)


@pytest.fixture(autouse=True)
def _fixture_objectives(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # The tree's own runner (a path the caller set) stays importable beside the fixtures.
    inherited = os.environ.get("PYTHONPATH", "")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(HERE), inherited])))
    monkeypatch.setenv("TUNEOP_TEST_TIMELINE", str(tmp_path / "timeline"))
    (tmp_path / "state").mkdir()
    monkeypatch.setenv("TUNEOP_TEST_STATE", str(tmp_path / "state"))


SPHERE = {"objective": "tuneop_runner.objectives.functions:sphere"}


def test_grid_session_succeeds_with_one_result_file_per_trial(tmp_path: Path) -> None:
    doc = session(
        searchSpace=[{"name": "x", "type": "int", "min": -2, "max": 2}],
        optimizer={"type": "grid"},
        maxParallel=3,
        runner=SPHERE,
    )
    out = run(doc, tmp_path)
    assert out.status.phase == "Succeeded" and out.status.exit_code == 0
    files = sorted((out.session_dir / "trials").glob("trial-*.json"))
    assert len(files) == 5
    results = {json.loads(f.read_text())["trial"]: json.loads(f.read_text()) for f in files}
    assert {r["params"]["x"]: r["objective"]["value"] for r in results.values()} == {
        -2: 4.0,
        -1: 1.0,
        0: 0.0,
        1: 1.0,
        2: 4.0,
    }
    assert out.status.best is not None and out.status.best.params == {"x": 0}
    record = json.loads((out.session_dir / "session.json").read_text())
    assert (record["total"], record["attempted"], record["succeeded"], record["failed"]) == (
        5,
        5,
        5,
        0,
    )
    assert record["exit_code"] == 0 and len(record["job_ids"]) == 5
    csv_lines = (out.session_dir / "results.csv").read_text().splitlines()
    assert len(csv_lines) == 6 and "param.x" in csv_lines[0]


def test_packed_workers_run_every_trial_once(tmp_path: Path) -> None:
    doc = session(
        searchSpace=[{"name": "x", "type": "int", "min": 0, "max": 9}],
        optimizer={"type": "grid"},
        workers=3,
        runner=SPHERE,
    )
    out = run(doc, tmp_path)
    assert out.status.phase == "Succeeded"
    assert out.status.jobs.launched == 3
    logs = sorted(p.name for p in (out.session_dir / "logs").iterdir())
    assert logs == ["s-0.0.log", "s-1.0.log", "s-2.0.log"]
    records = load_records(out.session_dir)
    assert sorted(r["trial"] for r in records) == list(range(10))
    assert sorted(r["jobIndex"] for r in records) == [0] * 4 + [1] * 3 + [2] * 3


def _max_overlap(timeline: Path) -> int:
    spans = [tuple(map(float, line.split())) for line in timeline.read_text().splitlines()]
    points = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans])
    live = peak = 0
    for _, delta in points:
        live += delta
        peak = max(peak, live)
    return peak


@pytest.mark.parametrize("max_parallel", [1, 2])
def test_never_more_workers_than_max_parallel(tmp_path: Path, max_parallel: int) -> None:
    doc = session(
        trials=[{"x": i, "seconds": 0.3} for i in range(5)],
        maxParallel=max_parallel,
        runner={"objective": "objectives_fixture:timed"},
    )
    out = run(doc, tmp_path)
    assert out.status.phase == "Succeeded"
    assert _max_overlap(tmp_path / "timeline") == max_parallel


FAILURES = [
    (
        "objective_raises",
        {"objective": "tuneop_runner.objectives.testing:fail_when"},
        {"fail": True},
        "Failed",
        "ValueError",
    ),
    (
        "nan_metric",
        {"objective": "tuneop_runner.objectives.testing:nan"},
        {"x": 1},
        "MetricsUnavailable",
        "not finite",
    ),
    ("unknown_objective", {"objective": "no_such_module:fn"}, {"x": 1}, "Failed", "no_such_module"),
    (
        "command_not_found",
        {"objectiveCommand": ["tuneop-no-such-command"]},
        {"x": 1},
        "Failed",
        "not found",
    ),
    (
        "non_json_output",
        {"objectiveCommand": [sys.executable, "-c", "print('hello')"]},
        {"x": 1},
        "Failed",
        "JSON",
    ),
    (
        "hangs_past_timeout",
        {"objective": "tuneop_runner.objectives.testing:sleep"},
        {"seconds": 30},
        "TimedOut",
        "timed out",
    ),
]


@pytest.mark.parametrize(
    ("runner", "params", "outcome", "message"),
    [f[1:] for f in FAILURES],
    ids=[f[0] for f in FAILURES],
)
def test_bad_trials_are_classified_and_the_session_goes_on(
    tmp_path: Path, runner: dict[str, Any], params: dict[str, Any], outcome: str, message: str
) -> None:
    good = {"objective": "tuneop_runner.objectives.testing:fail_when"}
    doc = session(
        trials=[params, {"x": 5}],
        trialTimeoutSeconds=1,
        runner=runner,
    )
    out = run(doc, tmp_path)
    records = {r["trial"]: r for r in load_records(out.session_dir)}
    assert records[0]["outcome"] == outcome
    assert message in (records[0]["error"] or "")
    assert records[1]["outcome"] in {"Succeeded", outcome}  # same runner, other params
    assert out.status.exit_code == 1 or out.status.phase == "Failed"
    assert out.status.trials.done == 2
    del good


def test_one_bad_trial_in_a_packed_worker_loses_no_other_result(tmp_path: Path) -> None:
    doc = session(
        trials=[{"x": 1}, {"fail": True}, {"x": 3}],
        trialsPerJob=3,
        runner={"objective": "tuneop_runner.objectives.testing:fail_when"},
    )
    out = run(doc, tmp_path)
    outcomes = {r["trial"]: r["outcome"] for r in load_records(out.session_dir)}
    assert outcomes == {0: "Succeeded", 1: "Failed", 2: "Succeeded"}
    assert out.status.phase == "Succeeded" and out.status.exit_code == 1


def test_retries_rerun_each_trial_whose_worker_died_in_a_retry_job(tmp_path: Path) -> None:
    doc = session(
        trials=[{"x": 1}, {"x": 2}],
        retries=1,
        runner={"objective": "objectives_fixture:flaky_once"},
    )
    out = run(doc, tmp_path)
    assert out.status.phase == "Succeeded" and out.status.exit_code == 0
    assert (out.status.trials.retried, out.status.trials.failed) == (2, 0)
    # Each Job is one attempt (backoffLimit 0); the retries are Jobs 2 and 3.
    assert sorted(p.name for p in (out.session_dir / "logs").iterdir()) == [
        "s-0.0.log",
        "s-1.0.log",
        "s-2.0.log",
        "s-3.0.log",
    ]


def test_a_retry_runs_only_the_trial_of_a_packed_job_that_failed(tmp_path: Path) -> None:
    doc = session(
        trials=[{"x": 1}, {"x": 2, "flaky": True}, {"x": 3}],
        trialsPerJob=3,
        retries=1,
        runner={"objective": "objectives_fixture:fails_once_when_flaky"},
    )
    out = run(doc, tmp_path)
    assert out.status.phase == "Succeeded" and out.status.exit_code == 0
    state = tmp_path / "state"
    runs = {x: (state / f"runs-{x}").read_text().split() for x in (1, 2, 3)}
    assert runs == {1: ["0"], 2: ["0", "1"], 3: ["0"]}


def test_session_deadline_stops_running_workers(tmp_path: Path) -> None:
    doc = session(
        trials=[{"seconds": 30}, {"seconds": 30}],
        deadlineSeconds=1,
        runner={"objective": "tuneop_runner.objectives.testing:sleep"},
    )
    started = time.monotonic()
    out = run(doc, tmp_path)
    assert time.monotonic() - started < 10
    assert out.status.phase == "Failed" and out.status.exit_code == 2
    assert out.status.conditions[-1].reason == "DeadlineExceeded"
    assert out.status.trials.cancelled == 2


def _pids_with(marker: str) -> list[int]:
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if marker in (proc / "environ").read_bytes().decode(errors="replace"):
                    found.append(int(proc.name))
            except OSError:
                continue
    return found


def test_ctrl_c_cancels_cleanly_and_keeps_results(tmp_path: Path) -> None:
    doc = session(
        "cancel-me",
        trials=[{"seconds": 0}, {"seconds": 60}, {"seconds": 60}],
        maxParallel=3,
        runner={
            "objective": "tuneop_runner.objectives.testing:sleep",
            "env": [{"name": "CANCEL_MARKER", "value": str(tmp_path)}],
        },
    )
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(doc))
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tuneop",
            "run",
            str(path),
            "--local",
            "--no-progress",
            "--results-dir",
            str(tmp_path / "results"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    trial0 = tmp_path / "results" / "cancel-me" / "trials" / "trial-000000.json"
    deadline = time.monotonic() + 20
    while not trial0.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert trial0.exists(), "first trial never finished"
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=20)
    assert proc.returncode == 2, out.decode()
    record = json.loads((tmp_path / "results" / "cancel-me" / "session.json").read_text())
    assert record["phase"] == "Cancelled"
    assert record["succeeded"] == 1 and record["skipped"] == 2
    assert _pids_with(f"CANCEL_MARKER={tmp_path}") == []


def test_summary_ranks_a_results_folder_and_its_csv(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = session(
        searchSpace=[{"name": "x", "type": "int", "min": -3, "max": 3}],
        optimizer={"type": "grid"},
        runner=SPHERE,
    )
    out = run(doc, tmp_path)
    for source in (out.session_dir, out.session_dir / "results.csv"):
        assert main(["summary", str(source), "--top-n", "3", "--csv"]) == 0
        rows = capsys.readouterr().out.splitlines()
        assert rows[0].startswith("rank,session,trial,value")
        assert [r.split(",")[3] for r in rows[1:]] == ["0.0", "1.0", "1.0"]
        assert [r.split(",")[4] for r in rows[1:]] == ["0", "-1", "1"]


def test_summary_of_a_missing_folder_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["summary", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err
    assert "no such results folder" in err and "Traceback" not in err


def test_bayesian_session_completes_within_bounds(tmp_path: Path) -> None:
    doc = session(
        searchSpace=[
            {"name": "x1", "type": "float", "min": -5, "max": 10},
            {"name": "x2", "type": "float", "min": 0, "max": 15},
        ],
        optimizer={"type": "bayesian", "seed": 3},
        totalTrials=12,
        maxParallel=3,
        runner={"objective": "tuneop_runner.objectives.functions:branin"},
    )
    out = run(doc, tmp_path)
    records = load_records(out.session_dir)
    assert out.status.phase == "Succeeded" and len(records) == 12
    assert all(-5 <= r["params"]["x1"] <= 10 and 0 <= r["params"]["x2"] <= 15 for r in records)
    assert len({(r["params"]["x1"], r["params"]["x2"]) for r in records}) == 12


def test_a_worker_exiting_with_the_reserved_code_is_not_retried(tmp_path: Path) -> None:
    doc = session(
        trials=[{"x": 1}],
        retries=2,
        runner={"objective": "objectives_fixture:no_such_objective"},
    )
    out = run(doc, tmp_path)  # the runner cannot load it: exit 78
    assert (out.status.trials.failed, out.status.trials.retried) == (1, 0)
    assert [p.name for p in (out.session_dir / "logs").iterdir()] == ["s-0.0.log"]
