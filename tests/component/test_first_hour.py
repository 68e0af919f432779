"""A new user's first hour: a broken objective or a missing runner named up front, trials
failing alike stopping the session early, and where the logs are."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from test_local_session import HERE, session

from tuneop.cli import preflight as preflight_module
from tuneop.cli.main import main


@pytest.fixture(autouse=True)
def _fixture_objectives(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(HERE), *sys.path]))


def run_cli(tmp_path: Path, doc: dict[str, Any], *extra: str) -> int:
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(doc))
    return main(["run", str(path), "--local", "--results-dir", str(tmp_path / "r"), *extra])


def grid(objective: str, **spec: Any) -> dict[str, Any]:
    return session(
        "first",
        searchSpace=[{"name": "x", "type": "int", "min": 0, "max": 9}],
        optimizer={"type": "grid"},
        runner={"objective": objective},
        **spec,
    )


@pytest.mark.parametrize(
    ("objective", "named"),
    [
        pytest.param("nosuchmodule:fn", "No module named 'nosuchmodule'", id="no-module"),
        pytest.param("objectives_fixture:nosuchfunction", "nosuchfunction", id="no-function"),
    ],
)
def test_an_objective_that_does_not_load_is_one_error_before_any_worker(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], objective: str, named: str
) -> None:
    assert run_cli(tmp_path, grid(objective)) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert "spec.runner.objective" in err and named in err and "Traceback" not in err
    assert not (tmp_path / "r" / "first").exists()  # no worker ran, nothing written


def test_a_missing_runner_is_named_with_the_package_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = importlib.util.find_spec

    def find_spec(name: str, *args: Any) -> Any:
        return None if name == "tuneop_runner" else real(name, *args)

    monkeypatch.setattr(preflight_module.importlib.util, "find_spec", find_spec)
    monkeypatch.setattr(preflight_module.shutil, "which", lambda name: None)
    from tuneop.api.session import parse_manifest

    problem = preflight_module.preflight(parse_manifest(grid("m:f")).spec)
    assert problem is not None
    assert "No module named tuneop_runner" in problem and "tuneop-runner" in problem


def test_trials_failing_alike_stop_the_session_early_and_name_the_logs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = run_cli(tmp_path, grid("objectives_fixture:raises_markup", maxParallel=1))
    out = capsys.readouterr().out
    assert code == 2, out
    record = yaml.safe_load((tmp_path / "r" / "first" / "session.json").read_text())
    assert record["phase"] == "Failed"
    reasons = [c["reason"] for c in record["status"]["conditions"] if c["type"] == "Failed"]
    assert reasons == ["RepeatedTrialError"]
    assert record["attempted"] < 10  # the budget was not burnt on one error
    assert f"logs of the failed trials: {tmp_path / 'r' / 'first' / 'logs'}" in out


def test_summary_ranks_by_the_session_s_own_metric_and_direction_wherever_it_reads(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = grid("objectives_fixture:markup_metric")
    doc["spec"]["objective"] = {"metric": "value", "direction": "maximize"}
    assert run_cli(tmp_path, doc) == 0
    folder = tmp_path / "r" / "first"
    for source in (folder, folder / "results.csv", folder / "session.json"):
        capsys.readouterr()
        assert main(["summary", str(source), "--top-n", "3", "--csv"]) == 0, source
        rows = capsys.readouterr().out.splitlines()
        assert rows[0].startswith("rank,session,trial,value"), source
        assert [r.split(",")[3] for r in rows[1:]] == ["9.0", "8.0", "7.0"], source


def test_summary_by_a_metric_no_trial_reports_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_cli(tmp_path, grid("objectives_fixture:markup_metric")) == 0
    capsys.readouterr()
    assert main(["summary", str(tmp_path / "r" / "first"), "--metric", "pnl"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "'pnl'" in err and "--metric" in err


def test_a_jobs_file_without_an_objective_is_one_error_before_any_worker(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = HERE.parents[1] / "examples" / "arbitrage-plan.jsonl"
    results = str(tmp_path / "r")
    assert main(["run", "--local", "--jobs-file", str(plan), "--results-dir", results]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "no objective" in err, err
    assert "template" in err and not (tmp_path / "r" / "arbitrage-plan").exists()


def test_the_bayesian_example_stops_early_at_its_goal_and_repeats_itself(tmp_path: Path) -> None:
    from rich.console import Console

    from tuneop.adapters.results_folder.folder import load_records
    from tuneop.api.session import parse_manifest
    from tuneop.cli.run import run_local

    example = HERE.parents[1] / "examples" / "branin-bayesian.yaml"
    session_ = parse_manifest(yaml.safe_load(example.read_text()))
    spec = session_.spec
    runs = [run_local(session_, tmp_path / f"r{n}", Console(quiet=True)) for n in (1, 2)]
    for out in runs:
        st = out.status
        assert st.phase == "Succeeded" and st.conditions[-1].reason == "GoalReached"
        assert st.trials.done < (spec.total_trials or 0)  # stopped early, as its comment says
        assert st.best is not None and spec.objective.goal is not None
        assert st.best.value <= spec.objective.goal
    first, second = (
        sorted((r["trial"], r["params"]["x1"], r["params"]["x2"]) for r in load_records(d))
        for d in (o.session_dir for o in runs)
    )
    assert first == second  # same seed, one trial at a time: same trials


@pytest.mark.parametrize("flags", [["--no-progress"], []], ids=["no-progress", "not-a-terminal"])
def test_a_run_without_a_progress_bar_starts_with_its_result_not_a_blank_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flags: list[str]
) -> None:
    assert run_cli(tmp_path, grid("objectives_fixture:markup_metric", totalTrials=2), *flags) == 0
    out = capsys.readouterr().out
    # Off a terminal the run prints plain progress lines (cli.progress) before its result.
    lines = [line for line in out.splitlines() if not line.startswith("progress: ")]
    assert lines[0].startswith("session first: Succeeded"), repr(out[:80])
    assert out.splitlines()[0].startswith("session first" if flags else "progress: 0/2 trials")
