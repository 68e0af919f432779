"""``tuneop results``, ``summary`` and ``report`` on a session reference, and ``export``.

A local session mirrored into a real Redis stands in for a cluster session: the
operator writes the same keys. ``results`` must give back the folder the local
run wrote; ``export`` must give back every trial from a real Optuna storage.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import optuna
import pytest
import yaml
from tests.component.results_builders import mixed_session, results_folder

from tuneop.adapters.results_folder.folder import load_records
from tuneop.cli.main import main

TRIALS = [{"x": 1}, {"x": "oops"}, {"x": -2}, {"x": 0.5}]


def mirrored_run(tmp_path: Path, redis_url: str, name: str = "fetched") -> Path:
    doc = {
        "apiVersion": "tuneop.dev/v1alpha1",
        "kind": "TuningSession",
        "metadata": {"name": name},
        "spec": {
            "objective": {"metric": "value", "direction": "minimize"},
            "trials": TRIALS,
            "runner": {
                "image": "tuneop/runner:0.1.0",
                "objective": "tuneop_runner.objectives.functions:sphere",
            },
        },
    }
    spec = tmp_path / f"{name}.yaml"
    spec.write_text(yaml.safe_dump(doc))
    args = ["run", str(spec), "--local", "--no-progress", "--no-report", "--redis-url", redis_url]
    assert main([*args, "--results-dir", str(tmp_path / "local")]) == 1  # "oops" fails
    return tmp_path / "local" / name


def csv_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def test_results_writes_a_redis_session_in_the_layout_of_a_local_run(
    redis_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    local = mirrored_run(tmp_path, redis_url)
    capsys.readouterr()
    assert (
        main(["results", "default/fetched", "--redis-url", redis_url, "-o", str(tmp_path / "f")])
        == 0
    )
    fetched = tmp_path / "f" / "fetched"
    assert capsys.readouterr().out.startswith(f"results: {fetched} (4 trials, Succeeded)")

    assert load_records(fetched) == load_records(local)
    assert csv_rows(fetched / "results.csv") == csv_rows(local / "results.csv")
    ours, theirs = (json.loads((d / "session.json").read_text()) for d in (fetched, local))
    same = ("session", "phase", "total", "attempted", "succeeded", "failed", "exit_code")
    assert {k: ours[k] for k in same} == {k: theirs[k] for k in same}
    assert ours["errors"] == theirs["errors"]
    assert ours["best"]["trial"] == theirs["best"]["trial"] == 3


def test_summary_and_report_take_a_session_reference_like_a_folder(
    redis_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    local = mirrored_run(tmp_path, redis_url, "ref")
    capsys.readouterr()
    assert main(["summary", str(local), "--csv"]) == 0
    from_folder = capsys.readouterr().out
    for reference in ("default/ref", "ref"):
        assert main(["summary", reference, "--redis-url", redis_url, "--csv"]) == 0
        assert capsys.readouterr().out == from_folder
    page = tmp_path / "ref.html"
    assert main(["report", "default/ref", "--redis-url", redis_url, "-o", str(page)]) == 0
    assert "plot-history" in page.read_text()


def test_export_writes_every_trial_into_an_optuna_sqlite_storage(tmp_path: Path) -> None:
    records = mixed_session()
    folder = results_folder(tmp_path, records)
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    assert main(["export", str(folder), "--optuna-storage", storage]) == 0

    study = optuna.load_study(study_name="default/demo", storage=storage)
    assert study.direction == optuna.study.StudyDirection.MINIMIZE
    by_trial = {t.user_attrs["tuneop.trial"]: t for t in study.trials}
    assert sorted(by_trial) == sorted(r["trial"] for r in records)
    for r in records:
        t = by_trial[r["trial"]]
        assert t.params == pytest.approx(r["params"]), r["trial"]
        assert t.user_attrs["tuneop.outcome"] == r["outcome"]
        assert t.user_attrs["tuneop.error"] == r["error"]
        if r["outcome"] == "Succeeded":
            assert (t.state, t.value) == (optuna.trial.TrialState.COMPLETE, r["objective"]["value"])
        else:
            assert (t.state, t.value) == (optuna.trial.TrialState.FAIL, None)
    assert study.best_trial.user_attrs["tuneop.trial"] == 0


def bad(tmp_path: Path, redis_url: str) -> dict[str, tuple[list[str], str]]:
    folder = str(results_folder(tmp_path, mixed_session()))
    taken = f"sqlite:///{tmp_path / 'taken.db'}"
    optuna.create_study(storage=taken, study_name="default/demo")
    return {
        "a study of that name is there": (
            ["export", folder, "--optuna-storage", taken],
            "a study named 'default/demo' is already there",
        ),
        "a storage URL that is none": (
            ["export", folder, "--optuna-storage", "nonsense://user:s3cret@host/db"],
            "--optuna-storage: no database of that name",
        ),
        "a database without its driver": (
            ["export", folder, "--optuna-storage", "postgresql://user:s3cret@127.0.0.1:9/db"],
            "the database driver this URL needs is not installed",
        ),
        "a session Redis does not hold": (
            ["results", "default/nope", "--redis-url", redis_url],
            "no session default/nope in Redis",
        ),
        "a reference without Redis": (
            ["report", "default/nope", "--redis-url", ""],
            "default/nope: no such results folder; for a session in Redis give --redis-url",
        ),
        "a Redis URL of another scheme": (
            ["results", "default/x", "--redis-url", "http://user:s3cret@host"],
            "--redis-url: not a Redis URL",
        ),
    }


CASES = [
    "a study of that name is there",
    "a storage URL that is none",
    "a database without its driver",
    "a session Redis does not hold",
    "a reference without Redis",
    "a Redis URL of another scheme",
]


@pytest.mark.parametrize("case", CASES)
def test_bad_source_or_storage_is_one_line_without_the_url(
    case: str, redis_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv, expected = bad(tmp_path, redis_url)[case]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and expected in err, err
    assert "s3cret" not in err and "Traceback" not in err


def test_a_session_reference_reads_nothing_from_a_folder_of_that_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # A path that exists is a folder, whatever it looks like: here "demo" is both.
    results_folder(tmp_path, mixed_session())
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TUNEOP_REDIS_URL", raising=False)
    assert main(["summary", "demo", "--csv"]) == 0
    assert len(capsys.readouterr().out.splitlines()) > 5
