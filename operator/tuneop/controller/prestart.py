"""What ``tuneop operator`` starts before it imports kopf, to overlap that import.

``tuneop operator`` imports kopf (with aiohttp and its handlers) after its own settings:
a few tenths of a second in which the process would otherwise wait on nothing but
itself. ``begin`` uses them:

- the wiring (``operator_loop``: the clients, the caches, the reconciler) is built in the
  main thread, so every module it needs is imported there, and a thread asks the API
  server whether it serves TuningSessions and Jobs (``Prestart``): the first request
  leaves during the import, and kopf's startup handler finds the wiring made;
- with ``--leader-elect`` the candidate stands (``leadership.stand``): the Lease is read,
  and taken when free, meanwhile. A SIGTERM or SIGINT from then until kopf's own handlers
  are in place is noted (``stop_requested``), not lost: the elector stops and gives the
  Lease back instead of leaving it to run out;
- log records made before kopf configures logging are held (``HeldLogs``) and handed to
  kopf's handler then, so they come out formatted like every other line.

Nothing here imports kopf, and only the elector writes (its Lease). A build that failed
is raised once where the startup handler asks for it; kopf's retry of that handler then
builds afresh. A check that found the API server not serving yet, or that is too old
(``SERVED_FRESH_SECONDS``: a standby may lead hours later), is made again there
(``wait_until_served``).
"""

from __future__ import annotations

import logging
import logging.handlers
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import TYPE_CHECKING

from tuneop.core.clock import SYSTEM_CLOCK, Clock

if TYPE_CHECKING:
    from tuneop.assembly.operator import OperatorConfig, OperatorLoop
    from tuneop.controller.leadership import Candidate

__all__ = ["HELD_RECORDS", "SERVED_FRESH_SECONDS", "HeldLogs", "Prestart", "begin", "note_signals"]

# At most this many records wait for kopf's logging (the start logs a handful).
HELD_RECORDS = 1000

# A "served" answer older than this is asked again (a standby may wait hours to lead).
SERVED_FRESH_SECONDS = 30.0


class Prestart:
    """The wiring of ``config``, built now; the API server asked in a thread."""

    def __init__(
        self,
        config: OperatorConfig,
        build: Callable[[OperatorConfig, Clock], OperatorLoop] | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.config, self.clock = config, clock
        self.candidate: Candidate | None = None
        self.logs: HeldLogs | None = None
        self._wired: OperatorLoop | None = None
        self._error: BaseException | None = None
        self._served_at: float | None = None
        try:
            self._wired = (build or _operator_loop)(config, clock)
        except Exception as err:  # raised where kopf's startup handler asks (``wired``)
            self._error = err
        self._thread = threading.Thread(target=self._ask, name="prestart", daemon=True)
        self._thread.start()

    def _ask(self) -> None:
        if self._wired is None:
            return
        try:
            if self._wired.ready():
                self._served_at = self.clock.monotonic()
        except Exception:  # asked again by the startup handler, which reports it
            logging.getLogger(__name__).debug("early check of the API server", exc_info=True)

    def wired(self) -> OperatorLoop:
        """The wiring; the build's error instead, raised this once (kopf retries the
        startup handler, which then builds anew)."""
        error, self._error = self._error, None
        if error is not None:
            raise error
        if self._wired is None:
            raise RuntimeError("the early wiring was used already")
        return self._wired

    def served(self) -> bool:
        """Whether the API server was found serving sessions and Jobs, recently enough."""
        self._thread.join()
        at = self._served_at
        return at is not None and self.clock.monotonic() - at <= SERVED_FRESH_SECONDS

    def abandon(self) -> None:
        """The start failed before kopf ran: give back a Lease the candidate took."""
        if self.candidate is not None:
            self.candidate.elector.release()


class HeldLogs(logging.handlers.MemoryHandler):
    """The root logger's records until kopf's handler is in place (``hand_over``).

    Flushed to stderr as they are if the process ends first (the elector's ``lose``
    flushes every root handler before it exits). A record that reaches it after the hand
    over (another thread, mid-way through the root's handlers) went to kopf's handler
    too, which comes after this one: it is dropped here.
    """

    def __init__(self) -> None:
        super().__init__(HELD_RECORDS, flushLevel=logging.CRITICAL + 1, flushOnClose=False)
        self.setTarget(logging.StreamHandler())
        self.handed_over = False

    def emit(self, record: logging.LogRecord) -> None:
        # Never flushed by count: the first HELD_RECORDS are kept, later ones dropped.
        if not self.handed_over and len(self.buffer) < HELD_RECORDS:
            self.buffer.append(record)

    def hold(self) -> HeldLogs:
        root = logging.getLogger()
        root.addHandler(self)
        if root.level > logging.INFO or root.level == logging.NOTSET:
            root.setLevel(logging.INFO)
        return self

    def hand_over(self) -> None:
        """Hand what was held to the root logger's handlers (kopf's, by now)."""
        root = logging.getLogger()
        root.removeHandler(self)
        self.acquire()  # the handler's lock (``logging.Handler``), which ``emit`` runs under
        try:
            held, self.buffer, self.handed_over = self.buffer, [], True
        finally:
            self.release()
        for record in held:
            root.handle(record)


def begin(config: OperatorConfig) -> Prestart:
    """What ``tuneop operator`` starts before it imports kopf: logs held, the candidate
    standing (with ``--leader-elect``), the wiring built and the API server asked."""
    logs = HeldLogs().hold()
    candidate = None
    if config.election is not None:
        from tuneop.controller.leadership import stand

        candidate = stand(config.election, config.kubeconfig, config.liveness)
        note_signals(candidate.stop_requested)
    early = Prestart(config)
    early.candidate, early.logs = candidate, logs
    return early


def note_signals(stop: threading.Event) -> None:
    """Until asyncio's handlers replace these (``leadership._lead``), a SIGTERM or SIGINT
    sets ``stop`` rather than ending the process with the Lease held."""

    def note(signum: int, frame: FrameType | None) -> None:
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, note)


def _operator_loop(config: OperatorConfig, clock: Clock) -> OperatorLoop:
    from tuneop.assembly.operator import operator_loop
    from tuneop.controller.metrics import REDIS_UP

    return operator_loop(config, clock, on_redis_health=REDIS_UP.set)
