"""A spec's fingerprint: which results belong to which spec.

A results folder records the fingerprint of the spec its trials came from,
so a second run of the session resumes it and a run of another spec under
the same name is refused rather than mixed in. The fingerprint covers
everything that decides what a trial is and what its result means (the
objective, the search space or trial list, the optimizer and its seed, the
packing, the runner); it leaves out what only schedules or bounds the work
(the budget, parallelism, suspension, deadlines, timeouts, retries, clean-up),
so raising ``totalTrials`` extends the session instead of starting another.
"""

from __future__ import annotations

import hashlib
import json

from tuneop.api.spec import SessionSpec, spec_to_wire

__all__ = ["SCHEDULING_FIELDS", "spec_hash"]

# Wire names of the fields that change how the work runs, not what it computes.
SCHEDULING_FIELDS = frozenset(
    {
        "totalTrials",
        "maxParallel",
        "suspend",
        "deadlineSeconds",
        "trialTimeoutSeconds",
        "maxFailedTrials",
        "retries",
        "retryOn",
        "podStartTimeoutSeconds",
        "jobCleanup",
        "queueName",
        "admissionWarningSeconds",
    }
)


def spec_hash(spec: SessionSpec) -> str:
    """A short, stable hex digest of the spec's result-defining fields."""
    wire = {k: v for k, v in spec_to_wire(spec).items() if k not in SCHEDULING_FIELDS}
    text = json.dumps(wire, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]
