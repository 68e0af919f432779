"""Shared setup for the runner tests: the package on the path, a runner fixture."""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import pytest
from runner_harness import RUNNER_DIR, Run, run_runner

# The package is normally installed in editable mode; this keeps the in-process
# tests working from a bare checkout too.
if str(RUNNER_DIR) not in sys.path:
    sys.path.insert(0, str(RUNNER_DIR))


@pytest.fixture
def runner(tmp_path: Path) -> Callable[[Mapping[str, str], Sequence[str]], Run]:
    """Run the runner in ``tmp_path`` with the given env and arguments."""

    def run(env: Mapping[str, str], args: Sequence[str] = ()) -> Run:
        return run_runner(tmp_path, env, args)

    return run
