"""Which process may take back a Lease held by an earlier life of its own.

A leader killed and started again (an OOM kill, a crash, a container restarted in its
pod) is a new candidate with a new identity (``leadership.identity``: a name and a random
suffix per life), and its earlier life's Lease would keep it, and every standby, waiting
until the Lease ran out. When that earlier life has certainly ended, the new life may
take the Lease at once: ``core.election.decide`` does, for a holder of the same *lineage*
(the name before the suffix).

The lineage's name is the pod's (``POD_NAME``, which the chart sets); without it, the
host's name, its boot and its network namespace, so that two machines of one name, or
two containers of one host name, are never one lineage. The name alone proves nothing:
a process started by hand in the pod (``kubectl exec``) inherits ``POD_NAME``, and two
processes on one machine share a host name. So a lineage is *claimed*: by binding a
Linux abstract socket named after it, which exists in the network namespace (a pod's
outlives its containers' restarts and is shared with ``kubectl exec``) for as long as
the process that bound it lives, and which the kernel drops when it ends. Only the
holder of the claim is of the lineage; a process that finds it taken is a candidate like
any other (its identity adds its process id), so it can neither take a lineage's Lease
early nor be taken from early. Where there are no abstract sockets (not Linux), nothing
is claimed and a restarted process waits for the Lease like any other candidate.
"""

from __future__ import annotations

import hashlib
import os
import socket
import sys
from dataclasses import dataclass
from pathlib import Path

__all__ = ["BOOT_ID", "NET_NS", "Lineage", "claim", "lineage_name"]

BOOT_ID = Path("/proc/sys/kernel/random/boot_id")
NET_NS = Path("/proc/self/ns/net")


@dataclass(frozen=True)
class Lineage:
    """A claimed lineage: its name, and the bound socket that claims it (kept open)."""

    name: str
    claim: socket.socket


def lineage_name(
    pod: str | None, hostname: str, boot_id: Path = BOOT_ID, net_ns: Path = NET_NS
) -> str | None:
    """The pod's name; else host name, boot and network namespace; None if unknown."""
    if pod:
        return pod
    try:
        boot = boot_id.read_text().strip().replace("-", "")[:12]
        ns = os.stat(net_ns).st_ino
    except OSError:
        return None
    return f"{hostname[:120]}~{boot}~{ns}" if boot else None


def claim(name: str | None) -> Lineage | None:
    """Claim the lineage ``name`` for this process's life; None without a name, where
    abstract sockets do not exist, or when another living process holds it."""
    if not name or not sys.platform.startswith("linux"):
        return None
    digest = hashlib.sha256(name.encode()).hexdigest()[:32]
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(f"\0tuneop-lineage-{digest}")
    except OSError:
        sock.close()
        return None
    return Lineage(name, sock)
