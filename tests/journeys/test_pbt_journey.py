"""Population-based training as a user meets it: plan, run locally, import from Katib.

The user runs ``examples/pbt-toy.yaml`` (4 generations of 6 members), reads the
generations in ``tuneop plan``, and finds that every trial after the first generation
went on from its parent's checkpoint: the toy script saves its epoch count in
``TUNEOP_CHECKPOINT_DIR`` and starts from the state in ``TUNEOP_PARENT_CHECKPOINT_DIR``,
so a trial of generation g has trained 5 (g + 1) epochs. Katib's ``simple-pbt`` imports
as a pbt session.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from user import User, doc_block

EXAMPLE = "examples/pbt-toy.yaml"
KATIB_PBT = Path(__file__).parents[1] / "data/katib/hp-tuning/simple-pbt.yaml"


def test_the_docs_plan_block_prints_the_generations(user: User) -> None:
    seen = user.sh(doc_block("docs/spec.md", "pbt-plan"))
    assert seen.code == 0, seen
    assert "pbt generation 0: trials 0-5 drawn at random; generations 1-3 (trials 6-23)" in seen.out
    assert "pbt checkpoints: /tmp/tuneop-pbt-toy/<session>/trial-<n>" in seen.out


def test_each_generation_trains_on_from_its_parents_checkpoint_locally(user: User) -> None:
    doc = yaml.safe_load(user.path(EXAMPLE).read_text())
    checkpoints = user.path("checkpoints")
    doc["spec"]["optimizer"]["pbt"]["checkpointDir"] = str(checkpoints)
    user.write("pbt.yaml", yaml.safe_dump(doc))

    seen = user.tuneop("run", "pbt.yaml", "--local", "--no-report")

    assert seen.code == 0, seen
    folder = user.path("tuneop-results/pbt-toy/trials")
    records = [json.loads(f.read_text()) for f in sorted(folder.glob("trial-*.json"))]
    assert [r["trial"] for r in records] == list(range(24))
    for r in records:
        generation = r["pbt"]["generation"]
        assert generation == r["trial"] // 6 and r["pbt"]["member"] == r["trial"] % 6
        assert r["metrics"]["epochs"] == 5 * (generation + 1), r
        saved = json.loads(
            (checkpoints / "pbt-toy" / f"trial-{r['trial']}" / "state.json").read_text()
        )
        assert saved["accuracy"] == r["metrics"]["accuracy"]
    best = {
        g: max(r["metrics"]["accuracy"] for r in records if r["trial"] // 6 == g) for g in range(4)
    }
    assert best[3] > best[0], best  # training went on: the last generation is ahead


def test_katibs_pbt_example_imports_as_a_pbt_session(user: User) -> None:
    user.write("simple-pbt.yaml", KATIB_PBT.read_text())

    seen = user.tuneop("import", "katib", "simple-pbt.yaml", "-o", "session.yaml")

    assert seen.code == 0, seen
    optimizer = yaml.safe_load(user.path("session.yaml").read_text())["spec"]["optimizer"]
    assert optimizer == {
        "type": "pbt",
        "pbt": {
            "checkpointDir": "/var/log/katib/checkpoints/",
            "population": 40,
            "truncation": 0.2,
        },
    }
    assert "TUNEOP_PARENT_CHECKPOINT_DIR" in seen.err
    assert user.tuneop("plan", "session.yaml").code == 0
