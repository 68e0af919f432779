"""``one_blas_thread``: numpy imported in the block starts OpenBLAS without its thread per
core (in a fresh interpreter: this one has numpy already); the variable lasts only the
block, and a user's own setting is theirs."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

THREADS = "print([l.split()[1] for l in open('/proc/self/status') if l.startswith('Threads')][0])"
IN_BLOCK = (
    "import os\n"
    "from tuneop.core.imports import one_blas_thread\n"
    "with one_blas_thread():\n"
    "    inside = os.environ.get('OPENBLAS_NUM_THREADS')\n"
    "    import numpy\n"
    "print(inside, os.environ.get('OPENBLAS_NUM_THREADS'))\n"
)
pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


def run(script: str, **env: str) -> list[str]:
    clean = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    proc = subprocess.run(
        [sys.executable, "-c", script + THREADS],
        capture_output=True,
        text=True,
        env={**clean, **env},
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout.split()


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="OpenBLAS starts no thread on one core")
def test_numpy_alone_starts_a_thread_per_core() -> None:
    # What the block avoids: without it, OpenBLAS's threads are there after the import.
    assert int(run("import numpy\n")[-1]) > 1


@pytest.mark.parametrize(
    ("given", "inside", "after", "threads"),
    [
        ({}, "1", "None", "1"),  # one thread, and the variable gone with the block
        ({"OPENBLAS_NUM_THREADS": "1"}, "1", "1", "1"),  # the user's own setting, kept
    ],
    ids=["set-for-the-block-only", "users-own-setting-kept"],
)
def test_numpy_imported_in_the_block_runs_on_one_thread(
    given: dict[str, str], inside: str, after: str, threads: str
) -> None:
    assert run(IN_BLOCK, **given) == [inside, after, threads]


def test_a_numpy_already_imported_is_left_as_it_is() -> None:
    out = run("import numpy\n" + IN_BLOCK)
    assert out[:2] == ["None", "None"]
