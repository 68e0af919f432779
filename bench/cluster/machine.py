"""The machine under the benchmark: CPU and memory per process, and who else was running.

``cpu_seconds`` reads each process's CPU time from /proc (the node simulator's reaped
children are its pods); ``proc_status_kib`` reads a VmRSS/VmHWM line; ``PeakRss`` samples a
process's VmRSS in a thread; ``Neighbours`` samples the load average and any other cluster
or pytest run every few seconds, since they make the figures noisier.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

CLOCK_TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> tuple[float, float]:
    """(own CPU, reaped children's CPU) in seconds."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0, 0.0
    fields = text.rsplit(")", 1)[1].split()
    utime, stime, cutime, cstime = (int(x) for x in fields[11:15])
    return (utime + stime) / CLOCK_TICK, (cutime + cstime) / CLOCK_TICK


def cpu_seconds(pids: dict[str, int]) -> dict[str, float]:
    """CPU seconds used so far by each process (and, for the node simulator, by its pods)."""
    out: dict[str, float] = {}
    for name, pid in pids.items():
        own, children = _stat(pid)
        out[name] = own
        if name == "nodesim":
            out["pods"] = children
    usage = os.times()
    out["bench"] = usage.user + usage.system
    return out


def cpu_delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {k: round(after[k] - before.get(k, 0.0), 2) for k in after}


def proc_status_kib(pid: int, key: str) -> int | None:
    """A kB line of /proc/<pid>/status (``VmRSS``, ``VmHWM`` ...), None if unreadable."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


class PeakRss:
    """The largest VmRSS of a process seen by sampling it every 0.25 s, until it ends."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak_kib = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> PeakRss:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(0.25):
            rss = proc_status_kib(self.pid, "VmRSS")
            if rss is None:
                return
            self.peak_kib = max(self.peak_kib, rss)


class Neighbours:
    """Samples, every few seconds, the load average and other clusters or pytest runs."""

    def __init__(self, ours: Callable[[], Iterable[int]], every: float = 5.0) -> None:
        self.ours = ours
        self.every = every
        self.samples: list[dict[str, Any]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> Neighbours:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while True:
            self.samples.append(self.sample())
            if self._stop.wait(self.every):
                return

    def sample(self) -> dict[str, Any]:
        ours = set(self.ours())
        apiservers = pytest = 0
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) in ours:
                continue
            try:
                argv = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if argv and argv[0].endswith(b"kube-apiserver"):
                apiservers += 1
            elif any(a.endswith(b"pytest") or a == b"pytest" for a in argv[:3]):
                pytest += 1
        return {
            "t": time.time(),
            "load1": os.getloadavg()[0],
            "other_apiservers": apiservers,
            "pytest": pytest,
        }

    def summary(self) -> dict[str, Any]:
        if not self.samples:
            return {}
        loads = sorted(s["load1"] for s in self.samples)
        n = len(self.samples)
        return {
            "samples": n,
            "load1_median": loads[n // 2],
            "load1_max": loads[-1],
            "other_cluster_share": sum(1 for s in self.samples if s["other_apiservers"]) / n,
            "pytest_share": sum(1 for s in self.samples if s["pytest"]) / n,
        }
