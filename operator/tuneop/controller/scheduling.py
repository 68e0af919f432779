"""One reconcile of a session at a time, and bursts of triggers folded into one.

A session is reconciled on many triggers: its own create/resume/update, a
timer, and every event of any of its Jobs. Two reconciles of the same session
must never overlap (they would race on the same Jobs and status), and a burst
of Job events (ten Jobs finishing together, the initial listing after a
restart) should cost one or two reconciles, not ten.

``Coalescer.run(key, fn)`` gives that. Runs for one key go one after another.
While a run is in progress, the first new request queues a follow-up run;
every further request joins that queued run instead of adding another, and the
newest request's ``fn`` is the one it will call (it carries the freshest
body). Each caller gets the result (or exception) of a run that *started after
its request*, so no trigger is ever answered by a reconcile that observed the
world before the trigger happened.

The runs are tasks owned by the coalescer, and callers await them through
``asyncio.shield``: a caller being cancelled (kopf cancels handlers on
shutdown or timeout) neither cancels the run others are waiting for nor
leaves them hanging. Keys with nothing running or queued are dropped, so the
table stays as small as the set of busy sessions.

The second half is what runs under the coalescer for one trigger:
``reconcile_session`` (a body is at hand) and ``reconcile_named`` (only a
name, from a Job's owner) run ``reconcile_body`` (parse the spec, reject an
invalid one, else one ``Reconciler.reconcile`` in a worker thread) under
``guarded``, which maps what a reconcile raised to what kopf should do about
it, then ``requeue`` looks again when something comes due before the timer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import kopf

from tuneop.api.session import SessionRef, parse_manifest
from tuneop.api.spec import SpecError
from tuneop.api.vocabulary import TERMINAL_PHASES
from tuneop.controller.metrics import RECONCILE_SECONDS, record_plan
from tuneop.core.planning.planner import Plan
from tuneop.ports import Rejected, SessionGone, TransientError

if TYPE_CHECKING:
    from tuneop.controller.runtime import Runtime

__all__ = [
    "TIMER_SECONDS",
    "TRANSIENT_DELAY",
    "UNEXPECTED_DELAY",
    "Coalescer",
    "Job",
    "guarded",
    "plain",
    "reconcile_body",
    "reconcile_named",
    "reconcile_session",
    "requeue",
    "session_ref",
    "settled",
]

TIMER_SECONDS = 30.0
TRANSIENT_DELAY = 10.0
UNEXPECTED_DELAY = 60.0

Job = Callable[[], Awaitable[Any]]


@dataclass
class _Slot:
    tail: asyncio.Task[Any] | None = None  # the latest run: queued or running
    queued: asyncio.Task[Any] | None = None  # a run that has not started yet
    fn: Job | None = None  # what the queued run will call


@dataclass
class Coalescer:
    _slots: dict[str, _Slot] = field(default_factory=dict)
    runs: int = 0  # runs started, for tests and debugging

    async def run(self, key: str, fn: Job) -> Any:
        slot = self._slots.setdefault(key, _Slot())
        slot.fn = fn
        if slot.queued is None:
            slot.queued = asyncio.create_task(self._run(key, slot, slot.tail))
            slot.queued.add_done_callback(_consume)
            slot.tail = slot.queued
        return await asyncio.shield(slot.queued)

    async def _run(self, key: str, slot: _Slot, previous: asyncio.Task[Any] | None) -> Any:
        me = asyncio.current_task()
        started = False
        try:
            if previous is not None:
                await asyncio.wait([previous])  # its outcome belongs to its own callers
            slot.queued = None  # from here on, new requests need a new run
            started = True
            fn = slot.fn
            assert fn is not None
            self.runs += 1
            return await fn()
        finally:
            if not started and slot.queued is me:
                # Cancelled while queued: a later request must still wait for ``previous``.
                slot.queued = None
                if slot.tail is me:
                    slot.tail = previous if previous is not None and not previous.done() else None
            if slot.tail in (me, None) and slot.queued is None and self._slots.get(key) is slot:
                del self._slots[key]

    def busy(self, key: str) -> bool:
        return key in self._slots

    def __len__(self) -> int:
        return len(self._slots)


def _consume(task: asyncio.Task[Any]) -> None:
    # Retrieve the outcome so a run nobody waits for anymore logs no "never retrieved" error.
    if not task.cancelled():
        task.exception()


def plain(body: Mapping[str, Any]) -> dict[str, Any]:
    """kopf's Body view as the plain dict ``parse_manifest`` expects."""
    return {key: body[key] for key in body}


def session_ref(body: Mapping[str, Any]) -> SessionRef:
    """The identity of a session, even one whose spec cannot be parsed."""
    meta = body.get("metadata") or {}
    return SessionRef(
        namespace=str(meta.get("namespace") or "default"),
        name=str(meta.get("name") or ""),
        uid=str(meta.get("uid") or ""),
        generation=int(meta.get("generation") or 1),
    )


async def reconcile_session(body: Mapping[str, Any], memo: Any, logger: kopf.Logger) -> Plan | None:
    """Reconcile the session ``body``; None when there was nothing to plan (invalid, gone)."""
    rt: Runtime = memo.runtime
    ref = session_ref(body)
    plan = await guarded(
        rt, ref.key, rt.serial.run(ref.key, lambda: reconcile_body(rt, body, logger)), logger
    )
    requeue(rt, ref, plan, memo, logger)
    return plan


async def reconcile_named(namespace: str, name: str, memo: Any, logger: kopf.Logger) -> Plan | None:
    """Reconcile a session known by name only (from a Job): its body is read first."""
    rt: Runtime = memo.runtime
    ref = SessionRef(namespace=namespace, name=name)

    async def fetch_and_reconcile() -> Plan | None:
        body = await asyncio.to_thread(rt.fetch, ref)
        return None if body is None else await reconcile_body(rt, body, logger)

    plan = await guarded(rt, ref.key, rt.serial.run(ref.key, fetch_and_reconcile), logger)
    requeue(rt, ref, plan, memo, logger)
    return plan


def requeue(rt: Runtime, ref: SessionRef, plan: Plan | None, memo: Any, log: kopf.Logger) -> None:
    """Look again when the plan says something comes due (a session deadline) before the
    timer would: the deadline then stops the session on time, not up to a timer late."""
    old = rt.requeues.pop(ref.key, None)
    if old is not None:
        old.cancel()
    if plan is None or plan.requeue_after is None or plan.requeue_after >= TIMER_SECONDS:
        return

    async def again() -> None:
        rt.requeues.pop(ref.key, None)
        try:
            await reconcile_named(ref.namespace, ref.name, memo, log)
        except (kopf.TemporaryError, kopf.PermanentError) as err:
            log.warning("reconcile of %s when due failed: %s", ref.key, err)

    loop = asyncio.get_running_loop()
    # A little past the due time, so the plan sees it as passed.
    rt.requeues[ref.key] = loop.call_later(plan.requeue_after + 0.2, lambda: rt.background(again()))


async def reconcile_body(rt: Runtime, body: Mapping[str, Any], logger: kopf.Logger) -> Plan | None:
    ref = session_ref(body)
    if (body.get("metadata") or {}).get("deletionTimestamp"):
        return None  # being deleted: its Jobs go with it (ownerReferences)
    start, outcome = rt.monotonic(), "error"
    try:
        try:
            session = parse_manifest(plain(body), with_status=False)
            # Also a SpecError: what only the run can check (warmStart.from, gp's PyTorch).
            plan = await asyncio.to_thread(rt.reconciler.reconcile, session.ref, session.spec)
        except SpecError as err:
            outcome = "invalid"
            logger.warning("invalid spec: %s", "; ".join(err.shown()))
            status = await asyncio.to_thread(rt.reconciler.reject, ref, err.shown())
            rt.phases.set(ref.key, status.phase)
            return None
        outcome = "ok"
        record_plan(plan)
        rt.phases.set(ref.key, plan.status.phase)
        return plan
    except TransientError:
        outcome = "transient"
        raise
    except Rejected:
        outcome = "rejected"
        raise
    except SessionGone:
        outcome = "gone"
        raise
    finally:
        RECONCILE_SECONDS.labels(result=outcome).observe(rt.monotonic() - start)
        rt.last_reconciled[ref.key] = rt.monotonic()


async def guarded(
    rt: Runtime, key: str, run: Awaitable[Plan | None], logger: kopf.Logger
) -> Plan | None:
    """Map what a reconcile raised to what kopf should do about it."""
    try:
        return await run
    except SessionGone as err:
        logger.info("%s", err)
        rt.forget(key)
        return None
    except TransientError as err:
        raise kopf.TemporaryError(str(err), delay=TRANSIENT_DELAY) from err
    except Rejected as err:
        raise kopf.PermanentError(str(err)) from err
    except (kopf.TemporaryError, kopf.PermanentError, asyncio.CancelledError):
        raise
    except Exception as err:
        logger.exception("unexpected error reconciling %s", key)
        raise kopf.TemporaryError(f"unexpected error: {err!r}", delay=UNEXPECTED_DELAY) from err


def settled(body: Mapping[str, Any]) -> bool:
    """Finished, and the status reflects the current spec: only a spec change can add work."""
    status = body.get("status") or {}
    generation = (body.get("metadata") or {}).get("generation")
    return status.get("phase") in TERMINAL_PHASES and status.get("observedGeneration") == generation
