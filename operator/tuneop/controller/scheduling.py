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

The second half is the ``Scheduler``, the object that owns a session's
reconciles: its coalescer, the reconciles requeued for when something comes
due, and when each session was last reconciled. ``reconcile_session`` (a body
is at hand) and ``reconcile_named`` (only a name, from a Job's owner) run
``reconcile_body`` (parse the spec, reject an invalid one, else one
``Reconciler.reconcile`` in a worker thread) under ``guarded``, which maps
what a reconcile raised to what kopf should do about it, then ``requeue``
looks again when something comes due before the timer. It is handed what it
calls (the reconciler, the session reader, the phase gauge, what to forget of
a session gone) and knows nothing of the runtime that holds it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any

import kopf

from tuneop.api.session import SessionRef, parse_manifest
from tuneop.api.spec import SpecError
from tuneop.api.vocabulary import TERMINAL_PHASES
from tuneop.controller.metrics import RECONCILE_SECONDS, PhaseTracker, record_plan
from tuneop.core.clock import SYSTEM_CLOCK
from tuneop.core.planning.planner import Plan
from tuneop.ports import Rejected, SessionGone, TransientError
from tuneop.reconciler import Reconciler

__all__ = [
    "TIMER_SECONDS",
    "TRANSIENT_DELAY",
    "UNEXPECTED_DELAY",
    "Coalescer",
    "Job",
    "Scheduler",
    "plain",
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


@dataclass
class Scheduler:
    """When and how a session is reconciled: one at a time, bursts folded, errors mapped
    for kopf, a requeue when something comes due, and the time of each last reconcile."""

    reconciler: Reconciler
    # Read a session's whole object by name (None when gone): Job events know only the name.
    fetch: Callable[[SessionRef], dict[str, Any] | None]
    phases: PhaseTracker
    # Called with a session's key when a reconcile finds the session gone.
    on_gone: Callable[[str], None] = lambda key: None
    monotonic: Callable[[], float] = SYSTEM_CLOCK.monotonic
    serial: Coalescer = field(default_factory=Coalescer)
    last_reconciled: dict[str, float] = field(default_factory=dict)
    # Reconciles scheduled for when something comes due (a session deadline).
    requeues: dict[str, asyncio.TimerHandle] = field(default_factory=dict)
    # A finished Job's reconcile waits until this long after the session's last reconcile
    # (``reconcile_finished``); 0: at once.
    harvest_window: float = 0.0
    # Per session, the reconcile a finished Job is waiting for (its window not over yet).
    _batched: dict[str, asyncio.Task[Plan | None]] = field(default_factory=dict)
    # Sessions whose reconcile is running now: a Job finishing meanwhile waits the window.
    _running: set[str] = field(default_factory=set)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def background(self, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` as a task kept alive until it ends (asyncio keeps weak references)."""
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def quiet_for(self, key: str) -> float:
        """Seconds since the session ``key`` was last reconciled (infinite: never)."""
        return self.monotonic() - self.last_reconciled.get(key, float("-inf"))

    def forget(self, key: str) -> None:
        """Drop the requeue and the timestamp of a deleted session."""
        handle = self.requeues.pop(key, None)
        if handle is not None:
            handle.cancel()
        self.last_reconciled.pop(key, None)

    async def reconcile_session(self, body: Mapping[str, Any], logger: kopf.Logger) -> Plan | None:
        """Reconcile the session ``body``; None when there was nothing to plan (invalid, gone)."""
        ref = session_ref(body)
        run = self.serial.run(ref.key, lambda: self.reconcile_body(body, logger))
        plan = await self.guarded(ref.key, run, logger)
        self.requeue(ref, plan, logger)
        return plan

    async def reconcile_named(
        self, namespace: str, name: str, logger: kopf.Logger, quiet: bool = False
    ) -> Plan | None:
        """Reconcile a session known by name only (from a Job): its body is read first.
        ``quiet``: a Job's finishing asked (``Reconciler.reconcile``)."""
        ref = SessionRef(namespace=namespace, name=name)

        async def fetch_and_reconcile() -> Plan | None:
            body = await asyncio.to_thread(self.fetch, ref)
            return None if body is None else await self.reconcile_body(body, logger, quiet)

        plan = await self.guarded(ref.key, self.serial.run(ref.key, fetch_and_reconcile), logger)
        self.requeue(ref, plan, logger)
        return plan

    async def reconcile_finished(
        self, namespace: str, name: str, logger: kopf.Logger
    ) -> Plan | None:
        """Reconcile a session one of whose Jobs finished, batching finishes on purpose.

        Each harvest costs a status write and a delete, whatever the number of Jobs it
        takes, so on a quiet cluster, where Jobs finish one at a time, harvesting each at
        once pays both per trial. A Job finishing within ``harvest_window`` of the
        session's last reconcile, or while one runs, waits for the window's end instead,
        and every Job that finishes meanwhile joins the same reconcile. The first finish
        after a quiet spell is reconciled at once, and a reconcile launches into the slots
        it frees at once: only a Job finishing right behind another waits, at most the
        window. A reconcile that finds such a Job already harvested writes nothing
        (``quiet``).
        """
        key = SessionRef(namespace=namespace, name=name).key
        since = 0.0 if key in self._running else self.quiet_for(key)
        wait = self.harvest_window - since
        pending = self._batched.get(key)
        if pending is None and wait <= 0:
            return await self.reconcile_named(namespace, name, logger, quiet=True)
        if pending is None:

            async def when_due() -> Plan | None:
                await asyncio.sleep(wait)
                self._batched.pop(key, None)  # a finish from now on asks for a new run
                return await self.reconcile_named(namespace, name, logger, quiet=True)

            pending = asyncio.get_running_loop().create_task(when_due())
            pending.add_done_callback(_consume)
            self._batched[key] = pending
        return await asyncio.shield(pending)

    def requeue(self, ref: SessionRef, plan: Plan | None, log: kopf.Logger) -> None:
        """Look again when the plan says something comes due (a session deadline) before the
        timer would: the deadline then stops the session on time, not up to a timer late."""
        old = self.requeues.pop(ref.key, None)
        if old is not None:
            old.cancel()
        if plan is None or plan.requeue_after is None or plan.requeue_after >= TIMER_SECONDS:
            return

        async def again() -> None:
            self.requeues.pop(ref.key, None)
            try:
                await self.reconcile_named(ref.namespace, ref.name, log)
            except (kopf.TemporaryError, kopf.PermanentError) as err:
                log.warning("reconcile of %s when due failed: %s", ref.key, err)

        loop = asyncio.get_running_loop()
        # A little past the due time, so the plan sees it as passed.
        due = plan.requeue_after + 0.2
        self.requeues[ref.key] = loop.call_later(due, lambda: self.background(again()))

    async def reconcile_body(
        self, body: Mapping[str, Any], logger: kopf.Logger, quiet: bool = False
    ) -> Plan | None:
        ref = session_ref(body)
        if (body.get("metadata") or {}).get("deletionTimestamp"):
            return None  # being deleted: its Jobs go with it (ownerReferences)
        start, outcome = self.monotonic(), "error"
        self._running.add(ref.key)
        try:
            try:
                session = parse_manifest(plain(body), with_status=False)
                # Also a SpecError: what only the run can check (warmStart.from, gp's PyTorch).
                reconcile = self.reconciler.reconcile
                plan = await asyncio.to_thread(reconcile, session.ref, session.spec, quiet=quiet)
            except SpecError as err:
                outcome = "invalid"
                logger.warning("invalid spec: %s", "; ".join(err.shown()))
                status = await asyncio.to_thread(self.reconciler.reject, ref, err.shown())
                self.phases.set(ref.key, status.phase)
                return None
            outcome = "ok"
            record_plan(plan)
            self.phases.set(ref.key, plan.status.phase)
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
            RECONCILE_SECONDS.labels(result=outcome).observe(self.monotonic() - start)
            self.last_reconciled[ref.key] = self.monotonic()
            self._running.discard(ref.key)

    async def guarded(
        self, key: str, run: Awaitable[Plan | None], logger: kopf.Logger
    ) -> Plan | None:
        """Map what a reconcile raised to what kopf should do about it."""
        try:
            return await run
        except SessionGone as err:
            logger.info("%s", err)
            self.on_gone(key)
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
