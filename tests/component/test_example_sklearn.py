"""The README's real example, examples/sklearn-gbm.yaml, run locally on a small budget.

scikit-learn's gradient boosting on the dataset scikit-learn ships, tuned for
cross-validated accuracy by a plain training script in Katib's StdOut format.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from rich.console import Console

from tuneop.adapters.results_folder.folder import load_records
from tuneop.api.session import parse_manifest
from tuneop.cli.run import run_local

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "sklearn-gbm.yaml"

pytest.importorskip(
    "sklearn", reason="the example needs scikit-learn: pip install -e '.[examples]'"
)


@pytest.mark.component
def test_the_sklearn_example_tunes_a_real_model_locally(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    doc = yaml.safe_load(EXAMPLE.read_text())
    doc["spec"]["totalTrials"] = 3
    # Three folds and few trees keep the suite's copy to seconds; the README runs it whole.
    doc["spec"]["searchSpace"][1].update(min=25, max=50)
    doc["spec"]["template"]["spec"]["containers"][0]["args"].append("--folds=3")
    monkeypatch.chdir(REPO)  # the example's command names its script from the repository root

    out = run_local(parse_manifest(doc), tmp_path / "results", Console(quiet=True))

    records = load_records(out.session_dir)
    assert [r["outcome"] for r in records] == ["Succeeded"] * 3, records
    assert out.status.phase == "Succeeded" and out.status.best is not None
    assert out.status.best.value is not None and out.status.best.value > 0.9
    assert all(0.5 < r["objective"]["value"] <= 1.0 for r in records)


@pytest.mark.component
def test_the_sgd_pruning_example_stops_trials_of_a_real_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    doc = yaml.safe_load((REPO / "examples" / "sklearn-sgd-pruning.yaml").read_text())
    doc["spec"]["totalTrials"] = 8  # two workers of 4 trials: seconds, not the example's minute
    monkeypatch.chdir(REPO)  # the objective is a module of the repository's examples folder

    out = run_local(parse_manifest(doc), tmp_path / "results", Console(quiet=True))

    records = load_records(out.session_dir)
    outcomes = [r["outcome"] for r in records]
    assert set(outcomes) == {"Succeeded", "Pruned"}, records
    epochs = [len(r["intermediate"]) for r in records]
    assert sum(epochs) < 8 * 30 and max(epochs) == 30
    assert out.status.best is not None and out.status.best.value > 0.9
