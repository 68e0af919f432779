"""The files a session runs, found among the words of its commands.

A rerun resumes a session only when what its trials compute is unchanged: the
spec's fingerprint (``core.fingerprint``) and the files its workers run. Those
files are the trial container's script (``python train.py``, ``bash
scripts/x.sh``, ``./run.sh``, ``python -m pkg.train``), the runner's
``objectiveCommand`` script, and the module of ``runner.objective``. This
module finds them by name; whether a word names a file on disk is asked of an
``is_file`` the caller gives (the adapter hashes what is found), so the rules
are pure and the same for a short-form runner and a ``spec.template``.

A word is a file when it names one relative to the command's working directory
(or absolutely). Options are skipped, except the value of ``--opt=path``; the
program itself counts only when it is a path (``./run.sh``), as a bare name is
looked up on ``PATH``, not in the working directory. Words holding ``$(VAR)``
or ``${params.x}`` are filled in per trial, so they name no fixed file.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from tuneop.api.spec import SessionSpec
from tuneop.api.template import trial_container_index
from tuneop.core.jobs.podtemplate import short_form_template

__all__ = ["Command", "command_files", "command_modules", "module_paths", "session_commands"]

_PYTHONS = ("python", "python3")


@dataclass(frozen=True)
class Command:
    """A command a worker runs: its words and its working directory (None: the worker's)."""

    argv: tuple[str, ...]
    working_dir: str | None = None


def _where(word: str, working_dir: str | None) -> str:
    if posixpath.isabs(word) or not working_dir:
        return posixpath.normpath(word)
    return posixpath.normpath(posixpath.join(working_dir, word))


def command_files(
    argv: Sequence[str], working_dir: str | None, is_file: Callable[[str], bool]
) -> list[str]:
    """The files on disk among ``argv``'s words, as paths joined to ``working_dir``
    (relative ones stay relative: to the folder the run starts in), each once."""
    found: list[str] = []
    for n, word in enumerate(argv):
        if n == 0 and "/" not in word:
            continue  # a program name: found on PATH, not in the working directory
        if word.startswith("-"):
            word = word.partition("=")[2]
        if not word or "$(" in word or "${" in word:
            continue
        path = _where(word, working_dir)
        if path not in found and is_file(path):
            found.append(path)
    return found


def command_modules(argv: Sequence[str]) -> list[str]:
    """The module a ``python -m module`` command runs, if it is one."""
    if not argv or posixpath.basename(argv[0]) not in _PYTHONS:
        return []
    for n, word in enumerate(argv[1:-1], start=1):
        if word == "-m":
            return [argv[n + 1]]
        if not word.startswith("-"):
            break  # a script: python's own options end before it
    return []


def module_paths(module: str) -> list[str]:
    """Where ``module`` (dotted) is found below a folder of the module search path."""
    base = module.replace(".", "/")
    return [f"{base}.py", f"{base}/__init__.py"]


def session_commands(spec: SessionSpec) -> list[Command]:
    """The commands a worker of ``spec`` runs: the trial container's, and the runner's
    ``objectiveCommand`` (run by the runner in the container's working directory)."""
    template = spec.template if spec.template else short_form_template(spec)
    pod = template.get("spec") or {}
    name = spec.runner.container if spec.template else None
    index = trial_container_index(template, name)
    containers = pod.get("containers") or []
    if index is None or index >= len(containers):
        return []
    container = containers[index]
    words = [*(container.get("command") or []), *(container.get("args") or [])]
    working_dir = container.get("workingDir")
    commands = [Command(tuple(str(w) for w in words), working_dir)]
    if spec.runner.objective_command:
        commands.append(Command(tuple(spec.runner.objective_command), working_dir))
    return commands
