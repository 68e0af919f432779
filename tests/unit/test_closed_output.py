"""``tuneop.cli.closedout``: a process whose standard output (and error) pipe lost its
reader goes on writing, into ``/dev/null``, and exits as it would have."""

from __future__ import annotations

import subprocess
import sys

import pytest

SCRIPT = """
import sys, time
from tuneop.cli.closedout import outlive_closed_stdout
outlive_closed_stdout()
print("first", flush=True)
time.sleep(1)  # the reader (head -1) has gone by now
for _ in range(1000):
    print("more " * 100)
    print("on stderr " * 100, file=sys.stderr)
sys.stdout.flush()
sys.stderr.flush()
sys.exit(3)
"""


@pytest.mark.parametrize("streams", ["", "2>&1"], ids=["stdout", "stdout and stderr"])
def test_writes_after_the_reader_ended_neither_fail_nor_change_the_exit_code(
    streams: str,
) -> None:
    line = f'set +e; "{sys.executable}" -c "$SCRIPT" {streams} | head -1; echo "${{PIPESTATUS[0]}}"'
    proc = subprocess.run(
        ["bash", "-c", line],
        env={"SCRIPT": SCRIPT, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert proc.stdout.splitlines() == ["first", "3"], proc
    assert "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr, proc.stderr
