"""Leader election for ``tuneop operator --leader-elect``: only the Lease's holder reconciles.

Every replica starts the same way: metrics up, a ``/healthz`` of its own up, then the
``Elector`` (a thread with blocking Lease calls, its own API connection, and a watchdog
thread) competes for the Lease (``tuneop.core.election`` decides; the I/O is
``tuneop.adapters.kube.lease``). A standby reads the Lease every ``standby_poll``
seconds and does nothing else: kopf is not started, so no watch, no handler, no write.
Once the Lease is acquired, kopf's operator starts in the same process (its handlers,
unchanged) and the elector renews every ``retry_period``.

How leading ends:

- The renewal fails for ``renew_deadline`` seconds (API server unreachable, a partition),
  or the Lease is found held by another: the watchdog logs it and ends the process at
  once with ``EXIT_LOST`` (``os._exit``: no clean-up that could still write), as
  controller-runtime does; Kubernetes starts the pod again, as a standby. The deadline
  runs out ``lease_duration - renew_deadline`` seconds before any standby may take the
  Lease, so the two never act together.
- SIGTERM/SIGINT: kopf stops, the reconciles still running in worker threads finish,
  then the Lease is released (no holder, a one-second lease) and a standby takes it
  within its poll (controller-runtime's ``ReleaseOnCancel``).

Metrics: ``tuneop_leader`` (1 while this process leads) and
``tuneop_leader_transitions_total`` (changes of the Lease's holder this process saw,
its own acquisition included). Each change is logged, and the new leader posts an Event
on the Lease. The identity is the lineage this process claimed (``tuneop.controller.
lineage``: the pod's name, Downward API ``POD_NAME``, or the host's) plus a random suffix
per life, so a life that finds the Lease held by an earlier life of its lineage takes it
back at once (that life has ended); a process that could not claim its lineage adds its
process id, and waits like any candidate.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import threading
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from prometheus_client import Counter, Gauge

from tuneop.controller.lineage import Lineage, claim, lineage_name
from tuneop.core.clock import SYSTEM_CLOCK
from tuneop.core.election import (
    Action,
    Election,
    LeaseRecord,
    Observation,
    Timing,
    decide,
    must_stop,
    observe,
    previous_life,
    released,
)
from tuneop.ports import Conflict, Lease, TransientError

__all__ = [
    "EXIT_LOST",
    "LEADER",
    "SA_NAMESPACE",
    "TRANSITIONS",
    "Candidate",
    "Election",
    "Elector",
    "identity",
    "lease_namespace",
    "pod_name",
    "run_elected",
    "serve_health",
    "stand",
]

log = logging.getLogger(__name__)

EXIT_LOST = 1
SA_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
WATCHDOG_PERIOD = 0.1

LEADER = Gauge("tuneop_leader", "1 while this operator process holds the leader Lease, else 0.")
TRANSITIONS = Counter(
    "tuneop_leader_transitions",
    "Changes of the leader Lease's holder this process saw (its own acquisition included).",
)


def identity(
    env: Mapping[str, str], hostname: str, pid: int, suffix: str, lineage: str | None = None
) -> str:
    """This candidate's name in the Lease: the lineage it claimed (``tuneop.controller.
    lineage``: every life of it names itself so), else the pod's name or the host's with
    its process id; and ``suffix`` (random, an input) so two lives are two candidates."""
    pod = pod_name(env)
    base = lineage or (f"{pod}.{pid}" if pod else f"{hostname}_{pid}")
    return f"{base[:200]}_{suffix}"


def pod_name(env: Mapping[str, str]) -> str | None:
    """The pod's name (Downward API ``POD_NAME``), as the Lease's identity uses it."""
    pod = env.get("POD_NAME", "").strip()
    return pod[:180] if pod else None


def lease_namespace(
    explicit: str | None, env: Mapping[str, str], namespaces: tuple[str, ...], sa_file: Path
) -> str:
    """The operator's own namespace: given, else the pod's (Downward API ``POD_NAMESPACE``,
    then its service account's), else the first it serves, else ``default``."""
    if explicit:
        return explicit
    if env.get("POD_NAMESPACE"):
        return env["POD_NAMESPACE"]
    try:
        return sa_file.read_text().strip() or "default"
    except OSError:
        pass
    return namespaces[0] if namespaces else "default"


class Elector:
    """Competes for the Lease in a thread; leads until stopped, or ends the process."""

    def __init__(
        self,
        lease: Lease,
        me: str,
        timing: Timing,
        *,
        monotonic: Callable[[], float] = SYSTEM_CLOCK.monotonic,
        wall: Callable[[], datetime] = SYSTEM_CLOCK.now,
        exit: Callable[[int], None] = os._exit,
        lineage: str | None = None,
    ) -> None:
        self.lease, self.me, self.timing = lease, me, timing
        self.lineage = lineage
        self.monotonic, self.wall, self.exit = monotonic, wall, exit
        self.acquired = threading.Event()
        self.stopping = threading.Event()
        self.leading = False
        self.last_renewed: float | None = None
        self.seen: Observation | None = None
        self.holder: str | None = None
        self._written: LeaseRecord | None = None  # the last record written, for the release
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        LEADER.set(0)
        for target, name in ((self._run, "elector"), (self._watch, "elector-watchdog")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def _run(self) -> None:
        while not self.stopping.is_set():
            try:
                self.step()
            except Exception:  # a surprise must not end the election: the watchdog guards
                log.exception("leader election: unexpected error; trying again")
            pause = self.timing.retry_period if self.leading else self.timing.standby_poll
            self.stopping.wait(pause)

    def step(self) -> None:
        """One read of the Lease and what follows from it."""
        # A renewal counts from before it was sent (the leader's deadline errs early), a
        # version read from after it arrived (a standby's expiry errs late): both safe.
        sent = self.monotonic()
        try:
            record = self.lease.read()
        except TransientError as err:
            log.warning("leader election: cannot read the lease: %s", err)
            return
        now = self.monotonic()
        self.seen = observe(self.seen, record, now)
        self._note_holder(record.holder if record else None)
        decision = decide(
            self.seen,
            self.me,
            now,
            self.wall(),
            self.timing,
            leading=self.leading,
            lineage=self.lineage,
        )
        if decision.action is Action.LOST:
            self.lose(f"the lease is held by {self.holder!r} now")
            return
        if decision.action is Action.STAND_BY or decision.write is None:
            return
        if (
            record is not None
            and record.holder
            and previous_life(record.holder, self.me, self.lineage)
        ):
            log.info(
                "leader election: %s held the lease in an earlier life of this lineage (%s)",
                record.holder,
                self.lineage,
            )
        try:
            if decision.action is Action.CREATE:
                written = self.lease.create(decision.write)
            else:
                written = self.lease.update(decision.write)
        except Conflict:
            return  # another candidate wrote first: read again on the next step
        except TransientError as err:
            log.warning("leader election: cannot %s the lease: %s", decision.action, err)
            return
        with self._lock:
            # Kept even when stopping meanwhile: ``release`` gives back what was taken.
            self._written = written
            self.last_renewed = sent
            self.seen = observe(self.seen, written, sent)
            if not self.leading:
                self._became_leader()

    def _became_leader(self) -> None:
        self.leading = True
        LEADER.set(1)
        self._note_holder(self.me)
        log.info("leader election: %s became the leader (lease %s)", self.me, self.lease.name)
        self.lease.announce("LeaderElection", f"{self.me} became leader", self.wall())
        self.acquired.set()

    def _note_holder(self, holder: str | None) -> None:
        if holder and holder != self.holder:
            log.info("leader election: the leader is %s", holder)
            TRANSITIONS.inc()
        self.holder = holder or self.holder

    def _watch(self) -> None:
        while not self.stopping.wait(WATCHDOG_PERIOD):
            self.check_deadline()

    def check_deadline(self) -> None:
        """The watchdog's look: a leader past its renew deadline stops acting."""
        with self._lock:
            late = self.leading and must_stop(self.last_renewed, self.monotonic(), self.timing)
        if late:
            self.lose(f"the lease was not renewed for {self.timing.renew_deadline:g}s")

    def lose(self, why: str) -> None:
        """Stop acting at once: the process ends (Kubernetes starts it again)."""
        LEADER.set(0)
        log.error("leader election: %s lost the lease (%s); exiting", self.me, why)
        for handler in logging.getLogger().handlers:
            handler.flush()
        self.exit(EXIT_LOST)

    def release(self) -> None:
        """Stop competing; if leading, give the Lease up so a standby takes it at once."""
        self.stopping.set()
        for thread in self._threads:
            thread.join(timeout=10)
        with self._lock:
            written, was_leading = self._written, self.leading
            self.leading = False
        LEADER.set(0)
        if not was_leading or written is None:
            return
        try:
            self.lease.update(released(written, self.wall()))
        except (Conflict, TransientError) as err:
            log.warning("leader election: the lease was not released: %s", err)
            return
        log.info("leader election: %s released the lease", self.me)


class _Health(BaseHTTPRequestHandler):
    path_served = "/healthz"

    def do_GET(self) -> None:
        ok = self.path.split("?")[0] == self.path_served
        body = b'{"ok": true}' if ok else b"not found"
        self.send_response(200 if ok else 404)
        self.send_header("Content-Type", "application/json" if ok else "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # probes every few seconds
        return


def serve_health(url: str | None) -> ThreadingHTTPServer | None:
    """The liveness endpoint, up on the standby and the leader alike (kopf's own is off)."""
    if not url:
        return None
    parts = urlsplit(url)
    handler = type("Health", (_Health,), {"path_served": parts.path or "/healthz"})
    server = ThreadingHTTPServer((parts.hostname or "0.0.0.0", parts.port or 80), handler)
    threading.Thread(target=server.serve_forever, name="healthz", daemon=True).start()
    return server


@dataclass
class Candidate:
    """This process standing for the Lease: its elector (already competing), the liveness
    endpoint it serves meanwhile, its lineage when it claimed one, and whether a
    signal asked it to stop before asyncio's handlers were in place."""

    elector: Elector
    health: ThreadingHTTPServer | None
    lineage: Lineage | None = None
    stop_requested: threading.Event = field(default_factory=threading.Event)


def stand(election: Election, kubeconfig: str | None, liveness: str | None) -> Candidate:
    """Start competing for the Lease now, in the elector's threads: ``tuneop operator``
    stands before it imports kopf, so the Lease is read (and taken, when free) meanwhile."""
    import _strptime  # noqa: F401  # the Lease's times; imported here, not in the elector's thread

    from tuneop.assembly.operator import election_lease

    host = socket.gethostname()
    mine = claim(lineage_name(pod_name(os.environ), host))
    lineage = mine.name if mine else None
    me = identity(os.environ, host, os.getpid(), os.urandom(4).hex(), lineage)
    elector = Elector(election_lease(kubeconfig, election), me, election.timing, lineage=lineage)
    health = serve_health(liveness)
    log.info("leader election: %s stands for lease %s/%s", me, election.namespace, election.name)
    elector.start()
    return Candidate(elector, health, mine)


def run_elected(candidate: Candidate, operate: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Stand by until leading, then run ``operate`` (kopf) until a signal; release."""
    try:
        asyncio.run(_lead(candidate.elector, operate, candidate.stop_requested))
    finally:
        candidate.elector.release()
        if candidate.health is not None:
            candidate.health.shutdown()


async def _lead(
    elector: Elector,
    operate: Callable[[], Coroutine[Any, Any, None]],
    requested: threading.Event,
) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if requested.is_set():  # a signal came while kopf was importing
        return
    while not elector.acquired.is_set():
        if stop.is_set():
            return
        # The elector's thread sets a threading.Event: look every tenth of a second.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.1)
    if stop.is_set():
        return
    # kopf installs its own SIGTERM/SIGINT handlers and returns once they fire. (Not
    # handed ``stop`` as its stop_flag: a flag never set stays a pending task kopf waits
    # 5 s for at shutdown. A signal in the instant before kopf's handlers are in place is
    # missed; the kubelet's SIGKILL then ends the process and the Lease runs out.)
    await operate()
    log.info("leader election: kopf stopped; waiting for reconciles in flight")
    # Reconciles still running in worker threads may write: let them end before the
    # Lease goes to another.
    await loop.shutdown_default_executor()
    log.info("leader election: reconciles in flight ended")
