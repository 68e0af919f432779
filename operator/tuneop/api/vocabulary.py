"""Status conditions: their types, their reasons, and how they are updated.

Conditions follow the Kubernetes convention (type, status, reason, message,
lastTransitionTime, observedGeneration). Reasons are constants here so the
planner, the docs and the tests all speak the same words.
"""

from __future__ import annotations

from datetime import datetime

from tuneop.api.status import Condition

# Condition types
PROGRESSING = "Progressing"
COMPLETE = "Complete"
FAILED = "Failed"
SUSPENDED = "Suspended"
SPEC_VALID = "SpecValid"

# Reasons
LAUNCHING = "Launching"
WAITING = "WaitingForWorkers"
BUDGET_EXHAUSTED = "BudgetExhausted"
GOAL_REACHED = "GoalReached"
SEARCH_SPACE_EXHAUSTED = "SearchSpaceExhausted"
MAX_FAILED_REACHED = "MaxFailedReached"
NO_TRIAL_SUCCEEDED = "NoTrialSucceeded"
DEADLINE_EXCEEDED = "DeadlineExceeded"
INVALID_SPEC = "InvalidSpec"
VALID = "Valid"
CANCELLED = "Cancelled"
SUSPENDED_BY_USER = "SuspendedByUser"
RESUMED = "Resumed"

MAX_MESSAGE = 256


def set_condition(
    conditions: list[Condition],
    type_: str,
    status: bool,
    reason: str,
    message: str,
    now: datetime,
    generation: int,
) -> list[Condition]:
    """Return ``conditions`` with ``type_`` set; the transition time moves only on a change."""
    value = "True" if status else "False"
    out = [c for c in conditions if c.type != type_]
    old = next((c for c in conditions if c.type == type_), None)
    changed = old is None or old.status != value
    out.append(
        Condition(
            type=type_,
            status=value,
            reason=reason,
            message=message[:MAX_MESSAGE],
            last_transition_time=(now if changed or old is None else old.last_transition_time),
            observed_generation=generation,
        )
    )
    order = [SPEC_VALID, PROGRESSING, SUSPENDED, COMPLETE, FAILED]
    return sorted(out, key=lambda c: order.index(c.type) if c.type in order else len(order))
