"""Process trees: finding and stopping every process a worker started.

A worker runs in its own process group, but what it starts may leave it: a
child that calls ``setsid`` is in another group, and once its parent exits
it is re-parented away from the worker. Two things keep such processes in
reach. ``become_subreaper`` makes this process a child subreaper (Linux
``PR_SET_CHILD_SUBREAPER``): an orphan below it is re-parented to it, not to
PID 1, so it stays one of its descendants. ``descendants`` walks ``/proc``
(every process's parent) from a root; ``stop_tree`` sends SIGTERM to a
snapshot of a tree, SIGKILL to what is left after a grace period, and reaps
the children it leaves behind. Cgroups would also do, but are not writable on
every machine a local session runs on; ``/proc`` is there on every Linux.
Elsewhere these are no-ops beyond the worker's process group.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import time
from collections.abc import Collection, Iterable
from pathlib import Path

__all__ = [
    "KILL_GRACE_SECONDS",
    "become_subreaper",
    "descendants",
    "kill_group",
    "process_start",
    "stop_tree",
]

KILL_GRACE_SECONDS = 2.0
PR_SET_CHILD_SUBREAPER = 36
_POLL_SECONDS = 0.05


def become_subreaper(enable: bool = True) -> bool:
    """Make orphans below this process its children (or no longer, with ``enable`` off);
    False where the OS cannot."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(PR_SET_CHILD_SUBREAPER, int(enable), 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False


def _stat(pid: str) -> tuple[int, str, str] | None:
    """(parent pid, state, start time) of a process, or None when it is gone."""
    try:
        text = (Path("/proc") / pid / "stat").read_text(errors="replace")
    except OSError:
        return None
    fields = text[text.rfind(")") + 2 :].split()
    if len(fields) < 20:
        return None
    return int(fields[1]), fields[0], fields[19]


def process_start(pid: int) -> str | None:
    """The kernel's start time of ``pid``: with the pid, it names one process for good."""
    st = _stat(str(pid))
    return st[2] if st else None


def descendants(
    root: int, live_only: bool = True, skip: Collection[int] = frozenset()
) -> list[int]:
    """Every process below ``root`` (not ``root`` itself), except ``skip`` and what is
    below them; zombies left out by default."""
    children: dict[int, list[int]] = {}
    states: dict[int, str] = {}
    try:
        entries = [p.name for p in Path("/proc").iterdir() if p.name.isdigit()]
    except OSError:
        return []
    for name in entries:
        st = _stat(name)
        if st is not None:
            children.setdefault(st[0], []).append(int(name))
            states[int(name)] = st[1]
    found: list[int] = []
    todo = list(children.get(root, []))
    while todo:
        pid = todo.pop()
        if pid in skip:
            continue
        found.append(pid)
        todo.extend(children.get(pid, []))
    return [p for p in found if not live_only or states.get(p) != "Z"]


def _signal(pids: Iterable[int], sig: signal.Signals) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


def _reap_children(pids: Iterable[int]) -> None:
    """Reap the zombies among ``pids`` that are this process's own children (orphans
    re-parented here: nothing else waits for them)."""
    me = os.getpid()
    for pid in pids:
        st = _stat(str(pid))
        if st is not None and st[0] == me and st[1] == "Z":
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)


def stop_tree(
    root: int, grace: float, include_root: bool = False, keep: Collection[int] = frozenset()
) -> int:
    """Stop every process below ``root`` but ``keep`` (and theirs): SIGTERM, then SIGKILL
    after ``grace`` seconds.

    The tree is taken before the first signal, so a process re-parented while
    dying is still stopped; returns how many processes were signalled.
    """
    snapshot = set(descendants(root, skip=keep))
    if include_root:
        snapshot.add(root)
    starts = {p: process_start(p) for p in snapshot}

    def alive() -> list[int]:
        out = []
        for p in snapshot:
            st = _stat(str(p))
            if st is not None and st[2] == starts[p] and st[1] != "Z":
                out.append(p)
        return out

    _signal(alive(), signal.SIGTERM)
    end = time.monotonic() + grace
    while alive() and time.monotonic() < end:
        _reap_children(snapshot)
        time.sleep(_POLL_SECONDS)
    for _ in range(40):
        left = alive()
        if not left:
            break
        _signal(left, signal.SIGKILL)
        _reap_children(snapshot)
        time.sleep(_POLL_SECONDS)
    _reap_children(snapshot)
    return len(snapshot)


def kill_group(proc: subprocess.Popen[bytes], grace: float = KILL_GRACE_SECONDS) -> None:
    """SIGTERM the process group, then SIGKILL what is left after ``grace`` seconds; then
    every process still below the worker (``setsid`` children), the same way."""
    stop_tree(proc.pid, grace)
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    except ProcessLookupError:
        pass
