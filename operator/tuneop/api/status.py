"""The TuningSession status: a bounded summary, whatever the trial count.

Status holds phase, counters, the best trial and a top-5 leaderboard,
conditions, ``observedGeneration`` and the exit code. It also holds the
*ledger* the planner needs to resume after Jobs are gone: the set of harvested
Job indexes (as compressed ranges), the launch watermark, and the trial ranges
of Jobs launched but not yet harvested. Per-trial results never live here;
they go to the result stores. ``status_bytes`` measures what the API server
would store.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from tuneop.api.spec import Scalar

Phase = Literal["Pending", "Running", "Suspended", "Succeeded", "Failed", "Cancelled"]
TERMINAL_PHASES = frozenset({"Succeeded", "Failed", "Cancelled"})
LEADERBOARD_SIZE = 5
# Leaderboard entries past the best one drop params larger than this (the result
# stores keep them); this is what bounds the status for wide search spaces.
MAX_ENTRY_PARAMS_BYTES = 1024


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
    running: int = 0
    pending: int = Field(default=0, description="Not launched yet.")

    @property
    def done(self) -> int:
        return self.succeeded + self.failed + self.lost + self.infra_failed + self.cancelled


class JobCounts(_Status):
    total: int = Field(default=0, description="Worker Jobs the budget needs.")
    launched: int = 0
    active: int = 0
    harvested: int = 0


class TrialRef(_Status):
    trial: int
    value: float
    job_index: int | None = None
    params: dict[str, Scalar] | None = None
    params_omitted: bool | None = None


class SessionStatus(_Status):
    phase: Phase = "Pending"
    message: str = ""
    observed_generation: int | None = None
    start_time: datetime | None = None
    completion_time: datetime | None = None
    progress: str = "0/0"
    exit_code: int | None = None
    trials: TrialCounts = Field(default_factory=TrialCounts)
    jobs: JobCounts = Field(default_factory=JobCounts)
    best: TrialRef | None = None
    leaderboard: list[TrialRef] = Field(default_factory=list, max_length=LEADERBOARD_SIZE)
    conditions: list[Condition] = Field(default_factory=list)
    # The ledger: what the planner must remember once Jobs are deleted.
    # The patterns keep a hand-edited, garbled ledger out: the API server refuses it.
    harvested_jobs: str = Field(
        default="",
        pattern=r"^([0-9]+(-[0-9]+)?(,[0-9]+(-[0-9]+)?)*)?$",
        description="Harvested Job indexes, e.g. 0-41,43.",
    )
    next_job: int = Field(default=0, description="Jobs launched so far (the next Job index).")
    next_trial: int = Field(default=0, description="Trials launched so far.")
    inflight: str = Field(
        default="",
        pattern=r"^([0-9]+=[0-9]+(-[0-9]+)?(,[0-9]+=[0-9]+(-[0-9]+)?)*)?$",
        description="Launched, unharvested Jobs and their trials: job=first-last,...",
    )

    @property
    def terminal(self) -> bool:
        return self.phase in TERMINAL_PHASES


def status_from_wire(data: Any) -> SessionStatus:
    """Read a stored status leniently: a garbled ledger must not wedge the session."""
    if not isinstance(data, dict):
        return SessionStatus()
    try:
        return SessionStatus.model_validate(data)
    except ValueError:
        return SessionStatus()


def status_to_wire(status: SessionStatus) -> dict[str, Any]:
    return status.model_dump(by_alias=True, exclude_none=True, mode="json")


def status_bytes(status: SessionStatus) -> int:
    return len(json.dumps(status_to_wire(status), separators=(",", ":")).encode())


def parse_inflight(text: str) -> dict[int, tuple[int, int]]:
    """``"5=12-15,6=16"`` → {5: (12, 15), 6: (16, 16)}; first and last trial, inclusive."""
    out: dict[int, tuple[int, int]] = {}
    for part in filter(None, text.split(",")):
        job, _, trials = part.partition("=")
        lo, sep, hi = trials.partition("-")
        out[int(job)] = (int(lo), int(hi) if sep else int(lo))
    return out


def format_inflight(jobs: dict[int, tuple[int, int]]) -> str:
    return ",".join(f"{j}={a}" if a == b else f"{j}={a}-{b}" for j, (a, b) in sorted(jobs.items()))
