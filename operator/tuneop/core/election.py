"""Leader election over a ``coordination.k8s.io/v1`` Lease: the decisions, as pure data.

Several operator replicas compete for one Lease; the one named in its ``holderIdentity``
is the leader and the only one that reconciles. The I/O (reading and writing the Lease
with its resourceVersion, so two writers cannot both win) is the Kubernetes adapter's
(``tuneop.adapters.kube.lease``); the process around it is ``tuneop.controller.leadership``.
Here is only what to do, given what was read:

- ``decide``: create the Lease, acquire it (released, expired, or held by an earlier
  life of this candidate's pod), renew it (held by us), or stand by (held by another,
  still valid) — or, for a leader that finds another holder, ``LOST``.
- ``must_stop``: a leader that has not renewed for ``renew_deadline`` seconds stops
  acting, before the Lease could pass to another.
- ``released``: the record a leader writes on a graceful stop so a standby takes over
  at once (as controller-runtime's ``ReleaseOnCancel``).

Expiry is judged on the candidate's own monotonic clock, from the moment it first saw
the current version of the record (as client-go does), never by comparing the
``renewTime`` written by another machine with its own wall clock: clocks of different
nodes may disagree by more than a lease. The leader, in turn, counts its renew deadline
from the moment it *sent* its last successful renewal, which is no later than the moment
any standby can have seen it; so with ``renew_deadline < lease_duration`` the leader has
stopped ``lease_duration - renew_deadline`` seconds before any standby may acquire.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum

__all__ = [
    "MAX_LEASE_SECONDS",
    "Action",
    "Decision",
    "Election",
    "LeaseRecord",
    "Observation",
    "Timing",
    "decide",
    "must_stop",
    "observe",
    "previous_life",
    "released",
    "timing_error",
]

# A lease read from the cluster may claim any duration; longer than this is not trusted
# (a bad or hostile record would otherwise keep every standby waiting for ever).
MAX_LEASE_SECONDS = 3600


@dataclass(frozen=True)
class Timing:
    """The election's durations, in seconds (documented in docs/concepts.md)."""

    # How long a Lease stays valid after its last renewal, as written into the Lease
    # (whole seconds: the Lease's field is an integer).
    lease_duration: int = 10
    # A leader that could not renew for this long stops acting (exits the process).
    renew_deadline: float = 7.0
    # How often the leader renews.
    retry_period: float = 2.0
    # How often a standby reads the Lease (a GET, no write): a released Lease is taken
    # over within this, which bounds the handover after a graceful stop.
    standby_poll: float = 0.5


def timing_error(timing: Timing) -> str | None:
    """The rule a set of durations breaks (None when they are sound)."""
    if int(timing.lease_duration) != timing.lease_duration:
        return "lease duration must be a whole number of seconds"
    if not 1 <= timing.lease_duration <= MAX_LEASE_SECONDS:
        return f"lease duration must be between 1 and {MAX_LEASE_SECONDS} seconds"
    if not 0 < timing.renew_deadline < timing.lease_duration:
        return "renew deadline must be > 0 and shorter than the lease duration"
    if not 0 < timing.retry_period < timing.renew_deadline:
        return "retry period must be > 0 and shorter than the renew deadline"
    if not 0 < timing.standby_poll <= timing.retry_period:
        return "standby poll must be > 0 and no longer than the retry period"
    return None


@dataclass(frozen=True)
class LeaseRecord:
    """The election's part of a Lease: ``spec`` and the version it was read at."""

    holder: str | None
    lease_seconds: int
    acquire_time: datetime | None
    renew_time: datetime | None
    transitions: int
    resource_version: str | None = None


@dataclass(frozen=True)
class Observation:
    """A Lease as a candidate saw it: the record and when (its monotonic clock) it first
    saw this version of it. ``record`` is None when there is no Lease."""

    record: LeaseRecord | None
    since: float


def observe(previous: Observation | None, record: LeaseRecord | None, now: float) -> Observation:
    """Fold a fresh read into what was seen: the clock restarts only when the record
    changed (another resourceVersion, or the Lease appeared or went)."""
    if previous is not None and _version(previous.record) == _version(record):
        return Observation(record, previous.since)
    return Observation(record, now)


def _version(record: LeaseRecord | None) -> tuple[str | None, str | None] | None:
    if record is None:
        return None
    return (record.resource_version, record.holder)


class Action(StrEnum):
    CREATE = "create"  # no Lease: create it, holding it
    ACQUIRE = "acquire"  # released or expired: take it over (an update)
    RENEW = "renew"  # ours: write a new renewTime
    STAND_BY = "stand-by"  # another's, still valid: wait
    LOST = "lost"  # we led, and another holds it now: stop acting at once


@dataclass(frozen=True)
class Decision:
    action: Action
    # What to write (CREATE, ACQUIRE, RENEW), with the resourceVersion it was read at.
    write: LeaseRecord | None = None
    # For STAND_BY: seconds until the Lease expires, unless it is renewed meanwhile.
    expires_in: float | None = None


def decide(
    seen: Observation,
    identity: str,
    now: float,
    wall: datetime,
    timing: Timing,
    *,
    leading: bool = False,
    lineage: str | None = None,
) -> Decision:
    """What a candidate called ``identity`` does about the Lease it has ``seen``.

    ``now`` is its monotonic clock (for expiry), ``wall`` the time it writes into the
    Lease; ``leading``: whether it leads now. A leader that finds the Lease held by
    another, valid or not, has ``LOST``: it was taken over, so it stops rather than
    take it back. ``lineage`` is what every life of this candidate's pod puts before
    its own suffix (``previous_life``): a Lease held by an earlier life is taken at
    once, since that life has ended (a pod's container starts again only after it
    exited), so a leader killed in a loop does not wait out its own Lease each time.
    """
    record = seen.record
    duration = int(timing.lease_duration)
    if record is None:
        return Decision(Action.CREATE, LeaseRecord(identity, duration, wall, wall, 0))
    if record.holder == identity:
        renewed = replace(record, lease_seconds=duration, renew_time=wall)
        return Decision(Action.RENEW, renewed)
    if leading and record.holder:
        return Decision(Action.LOST)
    left = _lease_seconds(record) - (now - seen.since)
    if not record.holder or left <= 0 or previous_life(record.holder, identity, lineage):
        taken = LeaseRecord(
            identity, duration, wall, wall, record.transitions + 1, record.resource_version
        )
        return Decision(Action.ACQUIRE, taken)
    return Decision(Action.STAND_BY, expires_in=left)


def previous_life(holder: str, identity: str, lineage: str | None) -> bool:
    """Whether ``holder`` is an earlier life of the candidate ``identity``: the same
    ``lineage`` (its pod's name) before the last ``_``, another suffix after it."""
    if not lineage or holder == identity:
        return False
    return holder.rpartition("_")[0] == lineage and identity.rpartition("_")[0] == lineage


def _lease_seconds(record: LeaseRecord) -> float:
    """The holder's own duration, as it wrote it, bounded: a record's word, not ours."""
    return float(min(max(record.lease_seconds, 1), MAX_LEASE_SECONDS))


def must_stop(last_renewed: float | None, now: float, timing: Timing) -> bool:
    """Whether a leader whose last successful renewal was sent at ``last_renewed`` (its
    monotonic clock; None: it never led) must stop acting now."""
    return last_renewed is not None and now - last_renewed >= timing.renew_deadline


def released(record: LeaseRecord, wall: datetime) -> LeaseRecord:
    """The record a leader writes when it steps down: no holder, a one-second lease."""
    return replace(record, holder=None, lease_seconds=1, renew_time=wall)


@dataclass(frozen=True)
class Election:
    """Where the Lease is and how long it lasts (``tuneop operator --leader-elect*``)."""

    namespace: str
    name: str = "tuneop-operator"
    timing: Timing = field(default_factory=Timing)
