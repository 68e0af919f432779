"""Which process may take back a Lease held by an earlier life of its own pod.

A leader's container that the kubelet starts again (an OOM kill, a crash) is a new
candidate with a new identity (``leadership.identity``: the pod's name and a random
suffix), and its earlier life's Lease would keep it, and every standby, waiting until the
Lease ran out. The earlier life has ended, since a container starts again only after it
exited, so the new life may take the Lease at once: ``core.election.decide`` does, for a
holder of the same *lineage* (the pod's name before the suffix).

``POD_NAME`` alone does not prove the earlier life has ended: a process started by hand
in the pod (``kubectl exec``) inherits it, as may two processes on one machine. So a
lineage is claimed with a lock: an exclusive ``flock`` on a file named after the pod in
the temporary directory (the chart mounts an ``emptyDir`` there, which outlives the
container's restarts), held for the process's life and dropped by the kernel when it
ends. Only the holder of the lock is of the lineage; a process of the same pod that finds
it taken is a candidate like any other (its identity says so: ``<pod>.<pid>``), so it can
neither take a lineage's Lease early nor be taken from early.
"""

from __future__ import annotations

import fcntl
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import IO

__all__ = ["Lineage", "claim"]


@dataclass(frozen=True)
class Lineage:
    """A claimed lineage: the pod's name, and the open lock file that claims it."""

    name: str
    lock: IO[str]


def claim(pod: str | None, directory: Path) -> Lineage | None:
    """Claim the lineage of ``pod`` for this process's life; None without a pod name, or
    when another living process holds it (or the lock file cannot be made)."""
    if not pod:
        return None
    digest = hashlib.sha256(pod.encode()).hexdigest()[:16]
    try:
        lock = (directory / f"tuneop-lineage-{digest}.lock").open("a")
    except OSError:
        return None
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        lock.close()
        return None
    return Lineage(pod, lock)
