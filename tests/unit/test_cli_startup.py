"""What the command line imports before a command runs: only what building it needs.

``tuneop --help`` (and every command's parsing) must not pay for pydantic, rich, PyYAML,
Optuna, numpy, the Kubernetes client, kopf, redis or plotly: each command imports what
it needs when it runs. Checked in a fresh interpreter, on ``sys.modules``: behaviour,
not timing (bench/startup_bench.py times it).
"""

from __future__ import annotations

import json
import os
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


def _plan_in_a_fresh_interpreter(env: dict[str, str]) -> dict[str, object]:
    """``tuneop plan`` of the quickstart in a new process, with pydantic's plugin search
    watched: whether it read the installed distributions, and the switch afterwards."""
    script = f"""
import contextlib, io, json, os, sys
import pydantic.plugin._loader as loader
searched = []
if hasattr(loader, "importlib_metadata"):  # pydantic < 2.14 lists the distributions
    real = loader.importlib_metadata.distributions
    loader.importlib_metadata.distributions = lambda: searched.append(1) or real()
else:  # pydantic >= 2.14 asks for its entry-point group
    real_ep = loader.entry_points
    loader.entry_points = lambda **kw: searched.append(1) or real_ep(**kw)
from tuneop.main import main
with contextlib.redirect_stdout(io.StringIO()):
    code = main(["plan", {str(REPO / "examples" / "quickstart.yaml")!r}])
print(json.dumps({{"code": code, "searched": bool(searched),
                  "after": os.environ.get("PYDANTIC_DISABLE_PLUGINS")}}))
"""
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, env=env
    )
    result: dict[str, object] = json.loads(out.stdout)
    return result


def test_plan_builds_the_models_without_pydantics_plugin_search() -> None:
    env = {k: v for k, v in os.environ.items() if k != "PYDANTIC_DISABLE_PLUGINS"}
    seen = _plan_in_a_fresh_interpreter(env)
    # no entry points read, and the switch is gone again: a process started later (a
    # trial of tuneop run) gets the environment the user gave tuneop
    assert seen == {"code": 0, "searched": False, "after": None}


def test_a_users_own_plugin_setting_is_left_alone() -> None:
    env = {**os.environ, "PYDANTIC_DISABLE_PLUGINS": "logfire"}
    seen = _plan_in_a_fresh_interpreter(env)
    assert seen == {"code": 0, "searched": True, "after": "logfire"}
