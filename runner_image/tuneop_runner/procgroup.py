"""The process group of a command the runner started: signalling it and ending it.

A command runs as the leader of its own group (``start_new_session``), so everything it
started is ended with it: SIGTERM to the group, then SIGKILL after a grace period, the
group's zombies reaped when the runner is a container's PID 1.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time

__all__ = ["signal_group", "terminate_group"]

_POLL_SECONDS = 0.02


def signal_group(pgid: int, signum: int) -> bool:
    """Send ``signum`` to the group; False when no process of it is left."""
    try:
        os.killpg(pgid, signum)
    except ProcessLookupError:
        return False
    except PermissionError:
        # macOS reports EPERM for a group of only zombies; nothing left to stop.
        return False
    return True


def _reap_orphans() -> None:
    # As PID 1 of a container the runner inherits every orphaned grandchild;
    # reaping them keeps zombies from counting as a live process group.
    if os.getpid() != 1:
        return
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _group_has_live_members(pgid: int) -> bool:
    """Whether any process of the group is still running (zombies do not count).

    ``killpg(pgid, 0)`` also succeeds for zombies, and an orphan's zombie lingers
    until whoever adopted it reaps it, which some init processes do slowly; so
    where ``/proc`` exists, look at the members' states instead.
    """
    if not signal_group(pgid, 0):
        return False
    try:
        entries = os.listdir("/proc")
    except OSError:
        return True
    wanted = str(pgid).encode()
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as stat:
                # Fields after the parenthesised name: state, ppid, pgrp, ...
                fields = stat.read().rsplit(b")", 1)[-1].split()
        except OSError:
            continue
        if len(fields) >= 3 and fields[2] == wanted and fields[0] not in (b"Z", b"X"):
            return True
    return False


def terminate_group(proc: subprocess.Popen[bytes], grace: float) -> None:
    """End every process in ``proc``'s group: SIGTERM, then SIGKILL after ``grace``."""
    pgid = proc.pid  # start_new_session made the command its group's leader
    if signal_group(pgid, signal.SIGTERM):
        give_up = time.monotonic() + grace
        while time.monotonic() < give_up:
            proc.poll()  # reap the leader so its zombie does not keep the group alive
            _reap_orphans()
            if not _group_has_live_members(pgid):
                break
            time.sleep(_POLL_SECONDS)
        # Unconditional: a no-op for zombies, and a safety net should /proc
        # have shown a different PID namespace than the one we signal.
        signal_group(pgid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=grace)
    _reap_orphans()
