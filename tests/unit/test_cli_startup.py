"""What the command line imports before a command runs: only what building it needs.

``tuneop --help`` (and every command's parsing) must not pay for pydantic, rich, PyYAML,
Optuna, numpy, the Kubernetes client, kopf, redis or plotly: each command imports what
it needs when it runs. Checked in a fresh interpreter, on ``sys.modules``: behaviour,
not timing (bench/startup_bench.py times it).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

HEAVY = (
    "pydantic",
    "rich",
    "yaml",
    "optuna",
    "numpy",
    "kubernetes",
    "kopf",
    "redis",
    "plotly",
    "scipy",
    "jsonschema",
    "prometheus_client",
    "sqlalchemy",
)

PROBE = """
import contextlib, io, json, sys
from tuneop.main import main
with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
    try:
        main(sys.argv[1:])
    except SystemExit:
        pass
print(json.dumps(sorted({m.split(".")[0] for m in sys.modules})))
"""


def loaded(*argv: str) -> set[str]:
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, *argv], cwd=REPO, capture_output=True, text=True, check=True
    )
    return set(json.loads(proc.stdout.splitlines()[-1]))


@pytest.mark.parametrize(
    "argv",
    [["--help"], ["--version"], ["run", "--help"], ["plan", "--help"], ["operator", "--help"]],
    ids=" ".join,
)
def test_the_command_line_is_built_without_heavy_packages(argv: list[str]) -> None:
    assert loaded(*argv) & set(HEAVY) == set()


def test_a_command_still_imports_what_it_needs_when_it_runs() -> None:
    # The probe can see a heavy import: plan loads the API model and the YAML reader.
    assert {"pydantic", "yaml"} <= loaded("plan", "examples/quickstart.yaml")
