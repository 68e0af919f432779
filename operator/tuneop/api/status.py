"""The TuningSession status: a bounded summary, whatever the trial count.

Status holds phase, counters, the best trial and a top-5 leaderboard (or,
for a session of several objectives, a Pareto front of at most 10 trials),
conditions, ``observedGeneration`` and the exit code. It also holds the
*ledger* the planner needs to resume after Jobs are gone: the set of harvested
Job indexes (as compressed ranges), the launch watermark, and the trial ranges
of Jobs launched but not yet harvested. Per-trial results never live here;
they go to the result stores. ``status_bytes`` measures what the API server
would store. ``set_condition`` updates a condition the Kubernetes way; the
words it is given (types, reasons, phases) are in ``tuneop.api.vocabulary``.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationError,
    WithJsonSchema,
)
from pydantic.alias_generators import to_camel

from tuneop.api import vocabulary as V
from tuneop.api.spec import Scalar
from tuneop.api.vocabulary import TERMINAL_PHASES, Phase

__all__ = [
    "LEADERBOARD_SIZE",
    "MAX_ENTRY_PARAMS_BYTES",
    "MAX_MESSAGE",
    "PARETO_FRONT_SIZE",
    "Condition",
    "InfraEvents",
    "JobCounts",
    "ParetoEntry",
    "SessionStatus",
    "StatusUnreadable",
    "TrialCounts",
    "TrialRef",
    "set_condition",
    "status_bytes",
    "status_from_wire",
    "status_to_wire",
]

# The phase is written inline (not a $defs reference) so the generated CRD schema
# reads as it always has, and as a plain string: a status copied with a bare
# "Running" serializes the same as one built with Phase.RUNNING.
PhaseField = Annotated[
    Phase,
    WithJsonSchema({"enum": [p.value for p in Phase], "type": "string"}),
    PlainSerializer(str, return_type=str),
]
LEADERBOARD_SIZE = 5
# Leaderboard entries past the best one drop params larger than this (the result
# stores keep them); this is what bounds the status for wide search spaces.
MAX_ENTRY_PARAMS_BYTES = 1024
MAX_MESSAGE = 256
# A session of several objectives keeps at most this many trials of its Pareto front.
PARETO_FRONT_SIZE = 10


class _Status(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")


class Condition(_Status):
    type: str
    status: Literal["True", "False", "Unknown"]
    reason: str
    message: str = ""
    last_transition_time: datetime | None = None
    observed_generation: int | None = None


class TrialCounts(_Status):
    total: int = Field(default=0, description="The budget after the search space caps it.")
    succeeded: int = 0
    failed: int = Field(default=0, description="Trial failures of any kind (spend the budget).")
    timed_out: int = 0
    metrics_unavailable: int = 0
    lost: int = Field(default=0, description="ResultsLost: the Job vanished before harvest.")
    infra_failed: int = Field(default=0, description="Eviction, image pull, deleted pod.")
    cancelled: int = 0
    retried: int = Field(
        default=0, description="Failed trials launched again (spec.retries); not outcomes."
    )
    pruned: int = Field(
        default=0, description="Ended early by spec.earlyStopping; neither failed nor succeeded."
    )
    running: int = 0
    queued: int = Field(default=0, description="In Jobs waiting for admission (queueName).")
    pending: int = Field(default=0, description="Not launched yet.")

    @property
    def done(self) -> int:
        done = self.succeeded + self.failed + self.lost + self.infra_failed + self.cancelled
        return done + self.pruned


class InfraEvents(_Status):
    """What the platform did to the workers, apart from the trials' own outcomes."""

    evictions: int = Field(
        default=0, description="Worker pods disrupted (drain, preemption); re-run, not counted."
    )
    pods_not_started: int = Field(
        default=0, description="Worker Jobs ended because their pod never started."
    )


class JobCounts(_Status):
    total: int = Field(default=0, description="Worker Jobs the budget needs.")
    launched: int = 0
    active: int = 0
    queued: int = Field(default=0, description="Of the active Jobs, those waiting for admission.")
    harvested: int = 0


class TrialRef(_Status):
    trial: int
    value: float
    job_index: int | None = None
    params: dict[str, Scalar] | None = None
    params_omitted: bool | None = None


class ParetoEntry(_Status):
    """A trial on the Pareto front: its value for each objective, in the spec's order."""

    trial: int
    values: list[float]
    job_index: int | None = None
    params: dict[str, Scalar] | None = None
    params_omitted: bool | None = None


class SessionStatus(_Status):
    phase: PhaseField = Phase.PENDING
    message: str = ""
    observed_generation: int | None = None
    start_time: datetime | None = None
    # The deadline's clock: seconds spent running before runningSince, and when the
    # clock last started (None while it is stopped: suspended, or finished).
    run_seconds: int = Field(
        default=0,
        ge=0,
        description="Seconds spent running up to runningSince; suspended time is not counted.",
    )
    running_since: datetime | None = Field(
        default=None, description="When the deadline's clock last started; unset while stopped."
    )
    completion_time: datetime | None = None
    progress: str = "0/0"
    exit_code: int | None = None
    trials: TrialCounts = Field(default_factory=TrialCounts)
    jobs: JobCounts = Field(default_factory=JobCounts)
    infrastructure: InfraEvents = Field(default_factory=InfraEvents)
    best: TrialRef | None = None
    leaderboard: list[TrialRef] = Field(default_factory=list, max_length=LEADERBOARD_SIZE)
    # Several objectives: no single best; the trials no other trial beats on every objective.
    pareto_front: list[ParetoEntry] = Field(
        default_factory=list,
        max_length=PARETO_FRONT_SIZE,
        description="Several objectives: non-dominated trials (at most 10, spread out).",
    )
    front_size: int | None = Field(
        default=None, ge=0, description="Several objectives: trials in paretoFront."
    )
    conditions: list[Condition] = Field(default_factory=list)
    # The ledger: what the planner must remember once Jobs are deleted.
    # The patterns keep a hand-edited, garbled ledger out: the API server refuses it.
    harvested_jobs: str = Field(
        default="",
        pattern=r"^([0-9]+(-[0-9]+)?(,[0-9]+(-[0-9]+)?)*)?$",
        description="Harvested Job indexes, e.g. 0-41,43.",
    )
    # Fail fast: the error the trials finished so far, none succeeded, failed with in a row.
    repeated_error: str = Field(default="", max_length=MAX_MESSAGE)
    repeated_error_count: int = Field(default=0, ge=0)
    next_job: int = Field(default=0, description="Jobs launched so far (the next Job index).")
    next_trial: int = Field(default=0, description="Trials launched so far.")
    retry_jobs: int = Field(
        default=0, ge=0, description="Retry Jobs among the Jobs launched (not in the packing)."
    )
    inflight: str = Field(
        default="",
        pattern=r"^([0-9]+=[0-9]+(-[0-9]+)?(,[0-9]+=[0-9]+(-[0-9]+)?)*)?$",
        description="Launched, unharvested Jobs and their trials: job=first-last,..."
        " (a retry Job of scattered trials has one entry per run).",
    )

    @property
    def terminal(self) -> bool:
        return self.phase in TERMINAL_PHASES


class StatusUnreadable(ValueError):
    """A stored status this model cannot read; ``str()`` names the field and the rule."""


def status_from_wire(data: Any) -> SessionStatus:
    """Read a stored status; no status yet is a fresh one.

    A status that cannot be read back (a field of the wrong shape, a garbled ledger) is
    ``StatusUnreadable``, never silently replaced: a fresh status would zero the ledger,
    and the session would launch its trials again.
    """
    if data is None:
        return SessionStatus()
    if not isinstance(data, dict):
        raise StatusUnreadable(f"status: must be a mapping, not {type(data).__name__}")
    try:
        return SessionStatus.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise StatusUnreadable(f"status.{where}: {first['msg']}"[:MAX_MESSAGE]) from None


def status_to_wire(status: SessionStatus) -> dict[str, Any]:
    return status.model_dump(by_alias=True, exclude_none=True, mode="json")


def status_bytes(status: SessionStatus) -> int:
    return len(json.dumps(status_to_wire(status), separators=(",", ":")).encode())


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
    order = [
        V.SPEC_VALID,
        V.PROGRESSING,
        V.SUSPENDED,
        V.INFRASTRUCTURE_DEGRADED,
        V.COMPLETE,
        V.FAILED,
    ]
    return sorted(out, key=lambda c: order.index(c.type) if c.type in order else len(order))
