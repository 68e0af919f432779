"""The ``tuneop`` command leaves its objects to the operating system at exit: they are
frozen (``gc.freeze``) before Python's finalization would walk them all (70 ms of a
short local run), after every other exit handler the command registered has run."""

from __future__ import annotations

import subprocess
import sys

import pytest

# An exit handler registered before the command's runs after it (last in, first out):
# it sees whether the objects were frozen by then, and that it still ran.
SCRIPT = """
import atexit, gc, sys
atexit.register(lambda: print("frozen", gc.get_freeze_count() > 0, flush=True))
from tuneop.main import main
if sys.argv[1] == "command":
    try:
        main(["--help"])
    except SystemExit:
        pass
"""


@pytest.mark.parametrize(
    ("how", "frozen"),
    [("command", "frozen True"), ("imported only", "frozen False")],
    ids=["the command freezes at exit", "importing it does not"],
)
def test_the_command_freezes_its_objects_at_exit(how: str, frozen: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, how], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == frozen


def test_asking_twice_registers_the_freeze_once() -> None:
    script = (
        "import atexit, gc\n"
        "from tuneop.core.imports import walk_nothing_at_exit\n"
        "calls = []\n"
        "real = gc.freeze\n"
        "gc.freeze = lambda: calls.append(1)\n"
        "walk_nothing_at_exit(); walk_nothing_at_exit()\n"
        "atexit._run_exitfuncs()\n"
        "print(len(calls))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False
    )
    assert proc.stdout.strip() == "1", proc.stderr
