"""``tuneop plan`` and ``tuneop crd``, run in-process."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from builders import line, manifest
from tuneop.api.crd import crd_yaml
from tuneop.cli.main import main

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((REPO / "examples").glob("*.yaml"))
JOB_PLAN = REPO / "examples" / "arbitrage-plan.jsonl"
QUICKSTART = REPO / "examples" / "quickstart.yaml"


@pytest.fixture(autouse=True)
def plain_console(monkeypatch: pytest.MonkeyPatch) -> None:
    """No colour codes in captured output, whatever the developer's terminal settings."""
    for var in ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "200")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def write(tmp_path: Path, name: str, doc: Any) -> str:
    path = tmp_path / name
    path.write_text(doc if isinstance(doc, str) else yaml.safe_dump(doc))
    return str(path)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_plan_of_each_example_exits_0_and_shows_the_first_wave(
    capsys: pytest.CaptureFixture[str], path: Path
) -> None:
    code, out, err = run(capsys, "plan", str(path))
    assert (code, err) == (0, "")
    name = yaml.safe_load(path.read_text())["metadata"]["name"]
    assert f"default/{name}" in out
    assert f"{name}-0" in out and "create" in out
    assert "phase Running" in out


@pytest.mark.parametrize(
    ("fmt", "load"), [("yaml", yaml.safe_load), ("json", json.loads)], ids=["yaml", "json"]
)
def test_machine_readable_plan_holds_session_trials_jobs_manifests_status(
    capsys: pytest.CaptureFixture[str], fmt: str, load: Any
) -> None:
    code, out, err = run(capsys, "plan", str(QUICKSTART), "-o", fmt)
    assert (code, err) == (0, "")
    data = load(out)
    assert {"session", "trials", "jobs", "manifests", "status"} <= set(data)
    assert data["session"]["name"] == "quickstart"
    assert data["session"]["spec"]["maxParallel"] == 3
    # quickstart: x in 0..5 (6 values) times y in -2..0 step 0.5 (5 values), one trial per Job;
    # every trial is listed (fewer than 200), and the first wave's Jobs (maxParallel 3).
    assert (data["totalTrials"], data["totalJobs"]) == (30, 30)
    assert len(data["trials"]) == 30 and len(data["jobs"]) == 3
    assert data["session"]["spec"]["searchSpace"][0]["max"] == 5  # an int, as written
    assert data["trials"][1] == {"trial": 1, "job": 1, "params": {"x": 0, "y": -1.5}}
    assert data["jobs"][1] == {"index": 1, "name": "quickstart-1", "first": 1, "count": 1}
    assert [m["metadata"]["name"] for m in data["manifests"]] == [
        "quickstart-0",
        "quickstart-1",
        "quickstart-2",
    ]
    assert data["status"]["phase"] == "Running"
    assert data["status"]["progress"] == "0/30"


def test_yaml_output_has_no_anchors_or_aliases(capsys: pytest.CaptureFixture[str]) -> None:
    # The first wave's params appear under trials and in the manifests: written out twice.
    code, out, _ = run(capsys, "plan", str(QUICKSTART), "-o", "yaml")
    assert code == 0
    assert not re.search(r"[&*]id\d+", out)


def test_more_trials_are_listed_on_request(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "plan", str(QUICKSTART), "-o", "json", "--trials", "12")
    data = json.loads(out)
    assert code == 0
    assert [t["trial"] for t in data["trials"]] == list(range(12))
    assert data["trials"][11] == {"trial": 11, "job": 11, "params": {"x": 2, "y": -1.5}}


@pytest.mark.parametrize(
    ("packing", "trials", "jobs", "listed"),
    [
        ({}, 10_000_000, 10_000_000, list(range(200))),
        ({"trialsPerJob": 1000}, 10_000_000, 10_000, list(range(200))),
        ({"workers": 3}, 10_000_000, 3, []),  # 3 Jobs of 3.3 million trials: only counted
    ],
    ids=["one-per-job", "trials-per-job", "workers"],
)
def test_a_huge_budget_is_counted_not_listed(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    packing: dict[str, int],
    trials: int,
    jobs: int,
    listed: list[int],
) -> None:
    doc = manifest(
        optimizer={"type": "random"},
        totalTrials=trials,
        maxParallel=4,
        searchSpace=[{"name": "x", "type": "float", "min": 0, "max": 1}],
        **packing,
    )
    code, out, err = run(capsys, "plan", write(tmp_path, "huge.yaml", doc), "-o", "json")
    if packing.get("workers"):
        assert code == 2 and "trials per Job" in err  # more than one Job may hold
        return
    data = json.loads(out)
    assert code == 0, err
    assert (data["totalTrials"], data["totalJobs"]) == (trials, jobs)
    assert [t["trial"] for t in data["trials"]] == listed


def test_bayesian_trials_are_suggested_at_run_time(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys, "plan", str(REPO / "examples" / "branin-bayesian.yaml"), "-o", "json"
    )
    data = json.loads(out)
    assert code == 0
    first_wave = [t for t in data["trials"] if t["params"] is not None]
    assert [t["trial"] for t in first_wave] == [0]  # the example runs one trial at a time
    assert len(data["trials"]) == 40  # the others are listed, to be suggested at run time
    assert all(-5 <= t["params"]["x1"] <= 10 and 0 <= t["params"]["x2"] <= 15 for t in first_wave)


def test_invalid_file_reports_each_problem_on_one_line_and_exits_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    doc = manifest(
        searchSpace=[{"name": "x", "type": "int", "min": 5, "max": 3}],
        maxParallel=0,
        retries=-1,
    )
    path = write(tmp_path, "bad.yaml", doc)
    code, out, err = run(capsys, "plan", path)
    assert code == 2
    assert out == ""
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 3
    pattern = re.compile(rf"^error: {re.escape(path)}: spec\.[A-Za-z\[\]0-9. ]+: \S.*$")
    assert all(pattern.match(x) for x in lines), lines
    assert sorted(x.split(": ")[2] for x in lines) == [
        "spec.maxParallel",
        "spec.retries",
        "spec.searchSpace[0].min",
    ]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        pytest.param("spec: [unclosed\n", "not valid YAML", id="bad-yaml"),
        pytest.param("kind: ConfigMap\n", "expected one TuningSession, found 0", id="no-session"),
        pytest.param(
            yaml.safe_dump_all([manifest(), manifest(name="other")]),
            "expected one TuningSession, found 2",
            id="two-sessions",
        ),
    ],
)
def test_unusable_file_is_one_clear_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, content: str, message: str
) -> None:
    path = write(tmp_path, "in.yaml", content)
    code, out, err = run(capsys, "plan", path)
    assert code == 2 and out == ""
    assert err.startswith(f"error: {path}") and message in err
    assert len(err.splitlines()) == 1 and "Traceback" not in err


def test_missing_file_exits_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, err = run(capsys, "plan", str(tmp_path / "nope.yaml"))
    assert code == 2 and out == ""
    assert err.startswith("error: ") and "cannot read" in err and "Traceback" not in err


def test_no_file_and_no_jobs_file_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "plan")
    assert code == 2 and "--jobs-file" in err


def test_jobs_file_alone_builds_an_explicit_trials_session(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = run(capsys, "plan", "--jobs-file", str(JOB_PLAN), "-o", "json")
    data = json.loads(out)
    assert code == 0
    assert data["session"]["name"] == "arbitrage-plan"
    assert [t["params"]["min_spread_pct"] for t in data["trials"]] == [0.15, 0.3, 0.45, 0.6]
    assert data["trials"][0]["params"]["job_id"] == "a1"  # kept, to find the trial by it


def test_jobs_file_with_a_session_file_keeps_the_session_and_takes_the_trials(
    capsys: pytest.CaptureFixture[str],
) -> None:
    grid = REPO / "examples" / "arbitrage-grid.yaml"
    code, out, _ = run(capsys, "plan", str(grid), "--jobs-file", str(JOB_PLAN), "-o", "json")
    data = json.loads(out)
    assert code == 0
    spec = data["session"]["spec"]
    assert data["session"]["name"] == "arbitrage-grid"
    assert not spec.get("searchSpace") and len(spec["trials"]) == 4
    assert (spec["objective"]["metric"], spec["trialsPerJob"]) == ("pnl", 4)
    assert len(data["jobs"]) == 1  # four trials, four per Job


def test_bad_jobs_file_names_the_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = write(tmp_path, "plan.jsonl", '{"params": {"a": 1}}\n{broken\n')
    code, _, err = run(capsys, "plan", "--jobs-file", path)
    assert code == 2
    assert err.startswith(f"error: {path}:2: not JSON")


def test_observed_finished_jobs_move_progress_and_free_slots(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    observed = [
        {"index": 0, "state": "Succeeded", "logs": f"{line(0, 4.0)}\n"},
        {"index": 1, "state": "Failed", "logs": "Traceback: boom\n"},
        {"index": 2, "state": "Active"},
    ]
    obs = write(tmp_path, "observed.yaml", observed)
    code, out, _ = run(capsys, "plan", str(QUICKSTART), "--observed", obs, "-o", "json")
    data = json.loads(out)
    assert code == 0
    st = data["status"]
    assert st["progress"] == "2/30"
    assert (st["trials"]["succeeded"], st["trials"]["failed"]) == (1, 1)
    assert st["best"]["trial"] == 0 and st["best"]["value"] == 4.0
    assert [m["metadata"]["name"] for m in data["manifests"]] == ["quickstart-3", "quickstart-4"]
    assert sorted(data["delete"]) == ["quickstart-0", "quickstart-1"]


def test_observed_with_a_bad_state_exits_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    obs = write(tmp_path, "observed.yaml", [{"index": 0, "state": "Exploded"}])
    code, _, err = run(capsys, "plan", str(QUICKSTART), "--observed", obs)
    assert code == 2 and err.startswith("error: observed.jobs[0].state")


def test_crd_prints_the_custom_resource_definition(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "crd")
    assert (code, err) == (0, "")
    assert yaml.safe_load(out)["kind"] == "CustomResourceDefinition"
    assert out == crd_yaml()
