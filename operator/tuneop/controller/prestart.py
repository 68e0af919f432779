"""The operator's wiring built, and the API server asked, while kopf is still importing.

``tuneop operator`` imports kopf (with aiohttp and its handlers) after its own settings:
a few tenths of a second of CPU in which the process would otherwise do nothing else.
``Prestart`` uses them: a thread builds the wiring (``operator_loop``: the clients, the
caches, the reconciler) and asks the API server whether it serves TuningSessions and
Jobs, so the first request leaves during the import and kopf's startup handler finds the
wiring made. With ``--leader-elect`` the candidate stands first (``begin``), so the
Lease is read, and taken when free, during the import too. Nothing here imports kopf,
and only the elector writes (its Lease). A failure is kept and raised where the startup
handler would have met it, and a check that found the API server not serving yet is
simply made again there (``wait_until_served``).

Log records made before kopf configures logging are held (``HeldLogs``) and handed to
kopf's handler then, so they come out formatted like every other line.
"""

from __future__ import annotations

import logging
import logging.handlers
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from tuneop.core.clock import SYSTEM_CLOCK, Clock

if TYPE_CHECKING:
    from tuneop.assembly.operator import OperatorConfig, OperatorLoop
    from tuneop.controller.leadership import Candidate

__all__ = ["HELD_RECORDS", "SERVED_FRESH_SECONDS", "HeldLogs", "Prestart", "begin"]

# At most this many records wait for kopf's logging (the start logs a handful).
HELD_RECORDS = 1000

# A "served" answer older than this is asked again (a standby may wait hours to lead).
SERVED_FRESH_SECONDS = 30.0


class Prestart:
    """The wiring of ``config``, built in a thread from the moment it is made."""

    def __init__(
        self,
        config: OperatorConfig,
        build: Callable[[OperatorConfig, Clock], OperatorLoop] | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.config, self.clock = config, clock
        self.candidate: Candidate | None = None
        self.logs: HeldLogs | None = None
        self._build = build or _operator_loop
        self._wired: OperatorLoop | None = None
        self._error: BaseException | None = None
        self._served_at: float | None = None
        self._thread = threading.Thread(target=self._run, name="prestart", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._wired = self._build(self.config, self.clock)
            if self._wired.ready():
                self._served_at = self.clock.monotonic()
        except BaseException as err:  # raised again by ``wired`` in the startup handler
            self._error = err

    def wired(self) -> OperatorLoop:
        """The wiring, once built (blocks until then); the build's error, raised again."""
        self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._wired is not None
        return self._wired

    def served(self) -> bool:
        """Whether the API server was found serving sessions and Jobs, recently enough."""
        self._thread.join()
        at = self._served_at
        return at is not None and self.clock.monotonic() - at <= SERVED_FRESH_SECONDS


def _operator_loop(config: OperatorConfig, clock: Clock) -> OperatorLoop:
    from tuneop.assembly.operator import operator_loop
    from tuneop.controller.metrics import REDIS_UP

    return operator_loop(config, clock, on_redis_health=REDIS_UP.set)


class HeldLogs(logging.handlers.MemoryHandler):
    """The root logger's records until kopf's handler is in place (``hand_over``).

    Flushed to stderr as they are if the process ends first (the elector's ``lose``
    flushes every root handler before it exits).
    """

    def __init__(self) -> None:
        super().__init__(HELD_RECORDS, flushLevel=logging.CRITICAL + 1, flushOnClose=False)
        self.setTarget(logging.StreamHandler())

    def emit(self, record: logging.LogRecord) -> None:
        # Never flushed by count: the first HELD_RECORDS are kept, later ones dropped.
        if len(self.buffer) < HELD_RECORDS:
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
        self.acquire()  # the handler's lock (``logging.Handler``)
        try:
            held, self.buffer = self.buffer, []
        finally:
            self.release()
        for record in held:
            root.handle(record)


def begin(config: OperatorConfig) -> Prestart:
    """What ``tuneop operator`` starts before it imports kopf: logs held, the candidate
    standing (with ``--leader-elect``), the wiring being built."""
    logs = HeldLogs().hold()
    candidate = None
    if config.election is not None:
        from tuneop.controller.leadership import stand

        candidate = stand(config.election, config.kubeconfig, config.liveness)
    early = Prestart(config)
    early.candidate, early.logs = candidate, logs
    return early
