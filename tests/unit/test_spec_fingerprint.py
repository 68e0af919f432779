"""A spec's fingerprint: what schedules or bounds the work leaves it as it was (a rerun with
another budget or retry policy resumes the session); what decides a trial changes it."""

from __future__ import annotations

from typing import Any

import pytest

from tuneop.api.spec import parse_spec
from tuneop.core.fingerprint import spec_hash

BASE: dict[str, Any] = {
    "objective": {"metric": "loss"},
    "searchSpace": [{"name": "x", "type": "float", "min": 0, "max": 1}],
    "totalTrials": 4,
    "runner": {"image": "tuneop/runner:0.1.0", "objective": "m:f"},
}


@pytest.mark.parametrize(
    "change",
    [
        {"totalTrials": 40},
        {"maxParallel": 1},
        {"retries": 3},
        {"retryOn": ["Failed"]},  # a field added later: specs written before keep their hash
        {"trialTimeoutSeconds": 60},
        {"maxFailedTrials": 2},
    ],
    ids=lambda c: next(iter(c)),
)
def test_scheduling_fields_leave_the_fingerprint(change: dict[str, Any]) -> None:
    assert spec_hash(parse_spec({**BASE, **change})) == spec_hash(parse_spec(BASE))


@pytest.mark.parametrize(
    "change",
    [
        {"objective": {"metric": "acc", "direction": "maximize"}},
        {"searchSpace": [{"name": "x", "type": "float", "min": 0, "max": 2}]},
        {"optimizer": {"type": "random", "seed": 9}},
    ],
    ids=lambda c: next(iter(c)),
)
def test_what_decides_a_trial_changes_the_fingerprint(change: dict[str, Any]) -> None:
    assert spec_hash(parse_spec({**BASE, **change})) != spec_hash(parse_spec(BASE))
