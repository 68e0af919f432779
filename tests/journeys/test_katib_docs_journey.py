"""Issue 28, item 7: docs/katib.md's migration walk-through, run as written.

Katib's own ``hp-tuning/random.yaml`` in the user's folder; the page's blocks import it,
plan it and import it again with ``--strict``; the import names the command to run.
"""

from __future__ import annotations

import shutil

import yaml
from katib_census import KATIB
from user import User, doc_block


def test_the_katib_walk_through_imports_plans_and_says_how_to_run(user: User) -> None:
    shutil.copy(KATIB / "hp-tuning/random.yaml", user.path("random.yaml"))
    seen = user.sh(doc_block("docs/katib.md", "katib-import"))
    assert seen.code == 0, seen
    assert seen.err.splitlines() == [
        "run it: tuneop run random-session.yaml (add --local to run the trials on this machine)"
    ], seen
    assert "security defaults: none" in seen.out, seen
    spec = yaml.safe_load(user.path("random-session.yaml").read_text())["spec"]
    assert (spec["maxFailedTrials"], spec["retries"]) == (2, 6)
    assert spec["metricsCollector"]["metricStrategies"] == [{"name": "loss", "value": "min"}]

    strict = user.sh(doc_block("docs/katib.md", "katib-strict"))
    assert strict.code == 0 and "error" not in strict.err, strict
