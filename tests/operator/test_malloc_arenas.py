"""``limit_arenas``: the operator process uses at most two glibc malloc arenas."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

# Eight threads allocating at once, then glibc's own report: one "Arena N:" block per arena.
PROGRAM = """
import ctypes, ctypes.util, sys, threading
from tuneop.controller.process import limit_arenas
print(limit_arenas() if sys.argv[1] == "limit" else None, flush=True)
barrier = threading.Barrier(8)
def work():
    barrier.wait()
    keep = [bytearray(200_000) for _ in range(50)]
threads = [threading.Thread(target=work) for _ in range(8)]
for t in threads: t.start()
for t in threads: t.join()
ctypes.CDLL(ctypes.util.find_library("c")).malloc_stats()
"""

glibc = pytest.mark.skipif(
    not sys.platform.startswith("linux") or os.confstr("CS_GNU_LIBC_VERSION") is None,
    reason="glibc only",
)


def arenas(mode: str, env: dict[str, str] | None = None) -> tuple[str, int]:
    run_env = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"} | (env or {})
    done = subprocess.run(
        [sys.executable, "-c", PROGRAM, mode],
        capture_output=True,
        text=True,
        check=True,
        env=run_env,
    )
    return done.stdout.strip(), len(re.findall(r"^Arena \d+:", done.stderr, re.M))


@glibc
def test_the_cap_keeps_threads_to_two_arenas() -> None:
    said, capped = arenas("limit")
    _, free = arenas("none")
    assert said == "True"
    assert capped <= 2 < free


@glibc
def test_an_explicit_malloc_arena_max_wins() -> None:
    said, _ = arenas("limit", {"MALLOC_ARENA_MAX": "4"})
    assert said == "False"
