"""The watchdog of a local session: what its workers started dies with tuneop too.

Workers die with tuneop by their parent-death signal
(``tuneop.adapters.processes.spawn``), but what *they* started does not: a
DataLoader's workers, a shell's children, the runner's command. This small
process, started by tuneop for the session, reads a pipe only tuneop holds
open: each worker it starts is announced there (``<pid> <start time>``).
Every second it walks ``/proc`` and notes every process below a worker, and
every process in a worker's session; once noted, a process stays noted
(checked by pid and start time) even after it was re-parented. When the pipe
ends without tuneop's ``bye`` (tuneop was killed, even by ``kill -9``), it
sends SIGTERM to every noted process still alive and to every process in a
worker's session, then SIGKILL after a grace period, and exits.

Not reached: a process that left its worker's session (``setsid``, a daemon's
double fork) in the second before tuneop died, and anything it started. This
file uses the standard library only and is run as a script (``python -I -S``),
so it starts in milliseconds.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import sys
import time

__all__ = ["GRACE_SECONDS", "SCAN_SECONDS", "Watch", "main", "stop_all"]

SCAN_SECONDS = 1.0
GRACE_SECONDS = 2.0
_POLL = 0.05

Stat = tuple[int, int, str, str]  # parent pid, session id, state, start time


def _procs() -> dict[int, Stat]:
    out: dict[int, Stat] = {}
    try:
        names = [n for n in os.listdir("/proc") if n.isdigit()]
    except OSError:
        return out
    for name in names:
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                text = f.read().decode(errors="replace")
        except OSError:
            continue
        fields = text[text.rfind(")") + 2 :].split()
        if len(fields) >= 20:
            out[int(name)] = (int(fields[1]), int(fields[3]), fields[0], fields[19])
    return out


def _same(procs: dict[int, Stat], pid: int, start: str) -> bool:
    """Whether ``pid`` is still the process that started at ``start``."""
    return pid in procs and procs[pid][3] == start


class Watch:
    """The workers announced, and every process noted below them."""

    def __init__(self) -> None:
        self.workers: dict[int, str] = {}
        self.noted: dict[int, str] = {}

    def announce(self, line: str) -> None:
        parts = line.split()
        if len(parts) == 2 and parts[0].isdigit():
            self.workers[int(parts[0])] = parts[1]

    def scan(self, procs: dict[int, Stat]) -> None:
        """Note what is below the workers and in their sessions; forget what has ended
        (a worker that ended is forgotten once what was left in its session is noted, so
        a later process given its pid is never taken for it)."""
        alive = {p: s for p, s in {**self.workers, **self.noted}.items() if _same(procs, p, s)}
        children: dict[int, list[int]] = {}
        for pid, (ppid, _, _, _) in procs.items():
            children.setdefault(ppid, []).append(pid)
        todo = list(alive)
        while todo:
            pid = todo.pop()
            for child in children.get(pid, []):
                if child not in self.noted and child not in self.workers:
                    self.noted[child] = procs[child][3]
                    todo.append(child)
        sessions = set(self.workers)
        for pid, (_, sid, _, start) in procs.items():
            if sid in sessions and pid not in self.workers:
                self.noted.setdefault(pid, start)
        self.noted = {p: s for p, s in self.noted.items() if _same(procs, p, s)}
        self.workers = {p: s for p, s in self.workers.items() if _same(procs, p, s)}

    def targets(self, procs: dict[int, Stat]) -> list[int]:
        every = {**self.workers, **self.noted}
        out = [p for p, s in every.items() if _same(procs, p, s) and procs[p][2] != "Z"]
        sessions = set(self.workers)
        out += [
            p for p, st in procs.items() if st[1] in sessions and p not in every and st[2] != "Z"
        ]
        return out


def _signal(pids: list[int], sig: signal.Signals) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


def stop_all(watch: Watch, grace: float = GRACE_SECONDS) -> None:
    watch.scan(_procs())
    _signal(watch.targets(_procs()), signal.SIGTERM)
    end = time.monotonic() + grace
    while watch.targets(_procs()) and time.monotonic() < end:
        time.sleep(_POLL)
    _signal(watch.targets(_procs()), signal.SIGKILL)


def main() -> int:
    """Watch until tuneop says ``bye`` (exit 0) or dies (stop its workers' processes)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a terminal's Ctrl-C is tuneop's to handle
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    watch = Watch()
    pending = b""
    while True:
        ready, _, _ = select.select([0], [], [], SCAN_SECONDS)
        if ready:
            data = os.read(0, 65536)
            if not data:
                stop_all(watch)
                return 0
            pending += data
            *lines, pending = pending.split(b"\n")
            for line in lines:
                if line.strip() == b"bye":
                    return 0
                watch.announce(line.decode(errors="replace"))
            pending = pending[-4096:]
        if watch.workers:
            watch.scan(_procs())


if __name__ == "__main__":
    sys.exit(main())
