"""``tuneop --help`` answers without loading what no command has asked for yet.

The user types ``tuneop --help`` (or a subcommand's ``--help``): Python's own import
report (``PYTHONPROFILEIMPORTTIME``, what ``python -X importtime`` prints) shows which
packages that loaded. Building the command line needs none of pydantic, rich, PyYAML,
Optuna or the Kubernetes client; each command loads them when it runs
(bench/startup_bench.py times it).
"""

from __future__ import annotations

from user import User

HEAVY = ("pydantic", "rich", "yaml", "optuna", "numpy", "kubernetes", "kopf", "plotly")


def loaded_packages(stderr: str) -> set[str]:
    names = set()
    for line in stderr.splitlines():
        if line.startswith("import time:") and line.count("|") == 2:
            names.add(line.rsplit("|", 1)[1].strip().split(".")[0])
    return names


def test_tuneop_help_loads_no_heavy_package(user: User) -> None:
    user.env["PYTHONPROFILEIMPORTTIME"] = "1"
    for args in (["--help"], ["run", "--help"], ["plan", "--help"]):
        seen = user.tuneop(*args)
        assert seen.code == 0, seen
        assert "usage: tuneop" in seen.out
        loaded = loaded_packages(seen.err)
        assert "tuneop" in loaded, seen.err[-2000:]
        assert loaded & set(HEAVY) == set(), (args, loaded & set(HEAVY))


def test_a_command_still_loads_what_it_needs(user: User) -> None:
    user.env["PYTHONPROFILEIMPORTTIME"] = "1"
    seen = user.tuneop("plan", "examples/quickstart.yaml")
    assert seen.code == 0, seen
    assert {"pydantic", "yaml"} <= loaded_packages(seen.err)
    # At a terminal rich draws the tables (off one, test_plan_speed_journey: plain text).
    at_terminal = user.terminal("plan", "examples/quickstart.yaml")
    assert at_terminal.code == 0, at_terminal
    assert "rich" in loaded_packages(at_terminal.out)
