"""Warm start in local runs: real runner processes, real results folders.

A bayesian session on Branin runs first; a second session, warm-started from
its results folder, must reach its best value in fewer trials than the first
took, where the same session without the warm start does not. The seeds are
fixed and one trial runs at a time, so the runs are the same every time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from rich.console import Console
from tests.component.results_builders import record, results_folder

from builders import session_doc
from tuneop.adapters.local.folder import load_records
from tuneop.api.session import parse_manifest
from tuneop.cli.main import main
from tuneop.cli.run import run_local
from tuneop.cli.warmstart import LocalWarmStart
from tuneop.core.wire.contract import TrialResult

BRANIN_SPACE = [
    {"name": "x1", "type": "float", "min": -5, "max": 10},
    {"name": "x2", "type": "float", "min": 0, "max": 15},
]


def branin_session(name: str, seed: int, trials: int, **extra: Any) -> dict[str, Any]:
    return session_doc(
        name,
        {
            "objective": {"metric": "value"},
            "searchSpace": BRANIN_SPACE,
            "optimizer": {"type": "bayesian", "seed": seed},
            "totalTrials": trials,
            "maxParallel": 1,  # one trial at a time: the same suggestions every run
            "trialTimeoutSeconds": 60,
            "runner": {
                "image": "tuneop/runner:0.1.0",
                "objective": "tuneop_runner.objectives.functions:branin",
            },
            **extra,
        },
    )


def run(doc: dict[str, Any], results: Path):  # type: ignore[no-untyped-def]
    session = parse_manifest(doc)
    source = LocalWarmStart(None, "tuneop")
    return run_local(session, results, Console(quiet=True), warm_start=source)


def values_in_order(session_dir: Path) -> list[float]:
    records = sorted(load_records(session_dir), key=lambda r: r["trial"])
    return [r["objective"]["value"] for r in records]


def test_a_session_warm_started_from_an_earlier_one_reaches_its_best_in_fewer_trials(
    tmp_path: Path,
) -> None:
    first = run(branin_session("first", seed=1, trials=30), tmp_path / "results")
    earlier = values_in_order(first.session_dir)
    best = min(earlier)
    took = earlier.index(best) + 1

    warm = {"from": {"results": str(first.session_dir)}}
    second = run(branin_session("second", seed=2, trials=15, warmStart=warm), tmp_path / "results")
    later = values_in_order(second.session_dir)
    # The control: the same session without the warm start.
    control = run(branin_session("cold", seed=2, trials=15), tmp_path / "results")
    cold = values_in_order(control.session_dir)

    reached = next((i + 1 for i, v in enumerate(later) if v <= best), None)
    assert reached is not None and reached < took, (took, best, later)
    assert min(cold[:reached]) > best, (reached, best, cold)
    # The earlier trials informed the sampler but are not this session's trials.
    assert second.status.trials.succeeded == 15 and len(later) == 15


def test_warm_start_points_are_the_first_trials(tmp_path: Path) -> None:
    points = [{"x1": 3.14159, "x2": 2.275}, {"x1": -3.14159, "x2": 12.275}]
    doc = branin_session("points", seed=0, trials=4, warmStart={"points": points})
    out = run(doc, tmp_path / "results")
    records = sorted(load_records(out.session_dir), key=lambda r: r["trial"])
    assert [r["params"] for r in records[:2]] == points
    assert records[0]["objective"]["value"] == pytest.approx(0.397887, abs=1e-4)
    assert len(records) == 4 and out.status.trials.succeeded == 4


@pytest.mark.parametrize(
    ("source", "redis", "words"),
    [
        ({"results": "no-such-folder"}, [], "spec.warmStart.from.results: no-such-folder: no such"),
        ({"session": "default/earlier"}, [], "spec.warmStart.from.session: a session in Redis"),
    ],
    ids=["missing-folder", "session-without-redis"],
)
def test_a_warm_start_source_that_cannot_be_read_is_one_line_and_exit_2(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    source: dict[str, str],
    redis: list[str],
    words: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TUNEOP_REDIS_URL", raising=False)
    doc = branin_session("bad", seed=0, trials=2, warmStart={"from": source})
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(doc))
    code = main(["run", str(path), "--local", "--results-dir", str(tmp_path / "r"), *redis])
    err = capsys.readouterr().err
    assert code == 2 and words in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "r" / "bad" / "trials").exists()  # no trial ran


def test_of_a_results_folder_only_the_latest_trials_are_read(tmp_path: Path) -> None:
    """maxTrials 2 reads the 4 latest trial files, whatever they hold: here one success."""
    records = [record(t, x=t % 4, y=0.25 * t) for t in range(20)]
    for t in range(15, 19):
        records[t] = record(t, "Failed", error="boom", x=2, y=4.5)
    folder = results_folder(tmp_path, records)
    (folder / "trials" / "trial-000017.json").write_text("not a record")  # passed over
    space = [
        {"name": "x", "type": "int", "min": 0, "max": 3},
        {"name": "y", "type": "float", "min": 0, "max": 10},
    ]
    doc = session_doc(
        "later",
        {
            "objective": {"metric": "loss"},
            "searchSpace": space,
            "optimizer": {"type": "gp"},
            "totalTrials": 5,
            "warmStart": {"from": {"results": str(folder), "maxTrials": 2}},
            "runner": {"image": "tuneop/runner:0.1.0", "objective": "m:f"},
        },
    )
    session = parse_manifest(doc)
    prior = LocalWarmStart(None, "tuneop").prior(session.ref, session.spec)
    assert [(r.trial, r.params) for r in prior] == [(-1, {"x": 3, "y": 4.75})]
    assert all(isinstance(r, TrialResult) and r.value is not None for r in prior)
