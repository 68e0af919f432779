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
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

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
