"""The files a session runs, found among its commands' words (``tuneop.core.jobs.runfiles``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tuneop.api.spec import SessionSpec, parse_spec
from tuneop.cli.inputs import load_session
from tuneop.core.jobs.runfiles import (
    Command,
    command_files,
    command_modules,
    module_paths,
    session_commands,
)

REPO = Path(__file__).resolve().parents[2]
ON_DISK = {"train.py", "scripts/x.sh", "conf/a.yaml", "run.sh", "/abs/data.csv", "w/train.py"}


def on_disk(path: str) -> bool:
    return path in ON_DISK


@pytest.mark.parametrize(
    ("argv", "working_dir", "found"),
    [
        (["python", "train.py"], None, ["train.py"]),
        (["bash", "scripts/x.sh", "--fast"], None, ["scripts/x.sh"]),
        (["./run.sh"], None, ["run.sh"]),
        (["python", "train.py", "--config", "conf/a.yaml"], None, ["train.py", "conf/a.yaml"]),
        (["python", "train.py", "--config=conf/a.yaml"], None, ["train.py", "conf/a.yaml"]),
        (["python", "train.py", "train.py", "./train.py"], None, ["train.py"]),
        (["python", "train.py"], "w", ["w/train.py"]),
        (["python", "/abs/data.csv"], "w", ["/abs/data.csv"]),
        (["python", "missing.py", "--lr=0.1", "3"], None, []),
        # A program by bare name is looked up on PATH, not in the working directory.
        (["run.sh"], None, []),
        # Filled in per trial: no fixed file.
        (["python", "$(SCRIPT)", "${params.x}"], None, []),
        ([], None, []),
    ],
)
def test_the_files_among_a_commands_words(
    argv: list[str], working_dir: str | None, found: list[str]
) -> None:
    assert command_files(argv, working_dir, on_disk) == found


def test_only_words_that_name_files_are_asked_about() -> None:
    asked: list[str] = []

    def is_file(p: str) -> bool:
        asked.append(p)
        return False

    command_files(["python", "-u", "a.py", "--lr=0.1", "--flag"], "wd", is_file)
    assert asked == ["wd/a.py", "wd/0.1"]


@pytest.mark.parametrize(
    ("argv", "modules"),
    [
        (["python", "-m", "pkg.train", "--lr", "1"], ["pkg.train"]),
        (["/usr/bin/python3", "-u", "-m", "train"], ["train"]),
        (["python", "train.py", "-m", "x"], []),  # -m of the script, not of python
        (["bash", "-m", "x"], []),
        (["python", "-m"], []),
    ],
)
def test_the_module_of_python_dash_m(argv: list[str], modules: list[str]) -> None:
    assert command_modules(argv) == modules


def test_a_module_is_a_file_or_a_package_below_a_search_folder() -> None:
    assert module_paths("pkg.sub.obj") == ["pkg/sub/obj.py", "pkg/sub/obj/__init__.py"]


def spec(**more: Any) -> SessionSpec:
    doc = {
        "objective": {"metric": "loss", "direction": "minimize"},
        "searchSpace": [{"name": "x", "type": "int", "min": 0, "max": 3}],
        "optimizer": {"type": "grid"},
        **more,
    }
    return parse_spec(doc)


def test_a_template_sessions_command_is_its_trial_containers() -> None:
    session = load_session(str(REPO / "examples" / "sklearn-gbm.yaml"))
    (command,) = session_commands(session.spec)
    assert command.argv[:2] == ("python", "examples/sklearn/train_gbm.py")
    assert command_files(command.argv, command.working_dir, lambda p: (REPO / p).is_file()) == [
        "examples/sklearn/train_gbm.py"
    ]


def test_the_trial_container_of_a_template_with_a_working_dir() -> None:
    container = {
        "name": "trial",
        "image": "x",
        "command": ["python"],
        "args": ["train.py", "--epochs=${params.x}"],
        "workingDir": "w",
    }
    sidecar = {"name": "proxy", "image": "y", "command": ["./proxy.sh"]}
    template = {"spec": {"containers": [sidecar, container]}}
    found = session_commands(spec(template=template))
    assert found == [Command(("python", "train.py", "--epochs=${params.x}"), "w")]
    assert command_files(found[0].argv, found[0].working_dir, on_disk) == ["w/train.py"]


def test_a_short_form_runner_runs_its_command_and_its_objective_command() -> None:
    found = session_commands(
        spec(runner={"image": "r:1", "objectiveCommand": ["python", "scripts/train.py"]})
    )
    assert found == [Command(("tuneop-runner",)), Command(("python", "scripts/train.py"))]
