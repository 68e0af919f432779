"""How many glibc malloc arenas the operator process may use.

glibc gives threads that allocate at the same time their own malloc arenas
(up to eight per core) and keeps memory freed in an arena for that arena's
later use. The operator runs its blocking Kubernetes calls in a pool of
worker threads, so each of them ends up holding its own reserve of JSON
bodies' worth of freed memory. Two arenas are plenty for a process whose
threads mostly wait on the network, and they keep the operator's peak RSS
lower (docs/performance.md has the cluster benchmark's figures). The limit must be set
before the worker threads start, so ``tuneop operator`` calls
``limit_arenas`` first. An explicit ``MALLOC_ARENA_MAX`` in the environment
wins, and on a C library other than glibc this does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

__all__ = ["DEFAULT_ARENAS", "M_ARENA_MAX", "limit_arenas"]

M_ARENA_MAX = -8  # glibc's mallopt parameter number, from <malloc.h>
DEFAULT_ARENAS = 2


def limit_arenas(arenas: int = DEFAULT_ARENAS) -> bool:
    """Cap the process's malloc arenas; True when the cap was set here."""
    if "MALLOC_ARENA_MAX" in os.environ:
        return False  # glibc read it at start-up: the operator's owner decided
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError):  # not glibc: no mallopt
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_ARENA_MAX, arenas))
