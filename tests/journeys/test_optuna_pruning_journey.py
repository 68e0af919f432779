"""Optuna's pruners for a script that only prints its loss (`metricsCollector.kind:
StdOut`): `tuneop run --local` of `examples/asha-stdout.yaml` reads each running trial's
output, asks Optuna's SuccessiveHalvingPruner about its curve so far and stops the trials
it prunes: they end Pruned with their curve up to that step, the summary says so, and
`tuneop plan` takes the session without saying that nothing would be pruned.
"""

from __future__ import annotations

import json

from user import User

EPOCHS = 12  # what examples/asha_stdout/train.py prints when it runs to its end


def test_trials_the_pruner_prunes_are_stopped_and_recorded_pruned(user: User) -> None:
    seen = user.tuneop("run", "examples/asha-stdout.yaml", "--local", "--no-report")
    assert seen.code == 0, seen
    assert "pruned" in seen.out, seen
    folder = user.path("tuneop-results/asha-stdout/trials")
    got = [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]
    assert len(got) == 8, got
    pruned = [r for r in got if r["outcome"] == "Pruned"]
    succeeded = [r for r in got if r["outcome"] == "Succeeded"]
    assert pruned and succeeded, got
    best = min(r["metrics"]["loss"] for r in succeeded)
    for r in pruned:
        assert len(r["intermediate"]) < EPOCHS, r  # stopped before its end
        assert "SuccessiveHalvingPruner" in r["error"], r
        assert r["metrics"]["loss"] > best, r  # the bad configurations
    assert all(len(r["intermediate"]) == EPOCHS for r in succeeded), succeeded


def test_plan_takes_the_session_and_warns_of_nothing(user: User) -> None:
    seen = user.tuneop("plan", "examples/asha-stdout.yaml")
    assert seen.code == 0, seen
    assert "no trial is pruned" not in seen.out + seen.err, seen
