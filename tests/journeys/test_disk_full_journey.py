"""Issue 25 item 7 (the disk-full fault): a disk that fills mid-run is one line, exit 2.

The results folder is on a real 1 MiB tmpfs (the machine's CI runs as root); where mounting is
not permitted the run gets a file size limit instead (`prlimit --fsize`, EFBIG), handled the
same way. Each trial prints 200 kB, so the disk fills a few trials in. The user sees one line
naming the file and the error, the run stops cleanly, and after freeing space the same command
resumes: every result collected before the fault is still there, and the session finishes.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from user import BIN, User

FLOOD = """\
apiVersion: tuneop.dev/v1alpha1
kind: TuningSession
metadata:
  name: flood
spec:
  objective:
    metric: loss
  searchSpace:
    - name: x
      type: int
      min: 0
      max: 11
  optimizer:
    type: grid
  maxParallel: 1
  trialTimeoutSeconds: 60
  runner:
    image: tuneop/runner:0.1.0
    objectiveCommand:
      - python
      - -c
      - >-
        import json, os; print('y' * 200000);
        print(json.dumps({'loss': int(os.environ['TUNEOP_PARAM_X'])}))
"""


@pytest.fixture
def small_disk(user: User) -> Iterator[tuple[Path, list[str]]]:
    """A 1 MiB results disk, and the prefix of the command that runs on it."""
    disk = user.path("disk")
    disk.mkdir()
    mounted = (
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(disk)],
            capture_output=True,
            check=False,
        ).returncode
        == 0
    )
    if mounted:
        yield disk, []
        subprocess.run(["umount", "-l", str(disk)], check=False)
    elif shutil.which("prlimit"):
        yield disk, ["prlimit", "--fsize=150000", "--"]  # one log of 200 kB is past it
    else:
        pytest.skip("needs root to mount a tmpfs, or prlimit")


def trial_files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((folder / "trials").glob("trial-*.json"))}


def test_a_disk_that_fills_mid_run_is_one_line_and_the_rerun_resumes(
    user: User, small_disk: tuple[Path, list[str]]
) -> None:
    disk, prefix = small_disk
    user.write("flood.yaml", FLOOD)
    argv = ["run", "flood.yaml", "--local", "--results-dir", str(disk / "res"), "--no-report"]

    seen = user.run([*prefix, str(BIN / "tuneop"), *argv], timeout=300)

    assert seen.code == 2, seen
    assert "Traceback" not in seen.both
    lines = seen.err.strip().splitlines()
    assert len(lines) == 1, seen
    assert str(disk / "res" / "flood") in lines[0], seen
    assert "ENOSPC" in lines[0] or "EFBIG" in lines[0], seen
    folder = disk / "res" / "flood"
    kept = trial_files(folder)
    assert len(kept) < 12

    if prefix:  # a file size limit: the rerun simply runs without it
        rerun = user.tuneop(*argv, timeout=300)
    else:
        subprocess.run(["mount", "-o", "remount,size=64m", str(disk)], check=True)
        rerun = user.tuneop(*argv, timeout=300)

    assert rerun.code == 0, rerun
    assert "Traceback" not in rerun.both
    after = trial_files(folder)
    assert len(after) == 12
    assert {name: after[name] for name in kept} == kept  # nothing collected was lost
    values = sorted(json.loads(b)["objective"]["value"] for b in after.values())
    assert values == list(range(12))
