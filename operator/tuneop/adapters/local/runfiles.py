"""Fingerprints of the files a local session runs, recorded in its ``spec.json``.

``tuneop.core.jobs.runfiles`` names the files (the scripts among the commands'
words, the module of ``runner.objective`` or of ``python -m``); this module
finds them on disk and hashes them, so a rerun after an edit of one is refused
rather than resumed with results of the old code mixed in. A module is looked
for the way the runner imports it: in the working directory first, then on
``PYTHONPATH`` (the session's, then this process's), then on this
interpreter's module search path, then by its import finders (an editable
install's), asked without importing anything; a module found nowhere is not
hashed. A file larger than ``HASH_LIMIT_BYTES`` (a data set given as an
argument, say) is fingerprinted by its size and modification time instead of
read whole.
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from tuneop.api.spec import SessionSpec
from tuneop.core.jobs.runfiles import command_files, command_modules, module_paths, session_commands

__all__ = ["HASH_LIMIT_BYTES", "file_fingerprint", "session_files"]

HASH_LIMIT_BYTES = 64 * 1024 * 1024
_CHUNK = 1024 * 1024


def file_fingerprint(path: Path) -> str:
    """A short digest of the file's content (or its size and time, past the limit)."""
    try:
        info = path.stat()
        if info.st_size > HASH_LIMIT_BYTES:
            return f"size {info.st_size}, modified {info.st_mtime_ns}"
        digest = hashlib.sha256()
        with path.open("rb") as f:
            for chunk in iter(lambda: f.read(_CHUNK), b""):
                digest.update(chunk)
    except OSError as err:
        return f"unreadable ({err.strerror})"
    return digest.hexdigest()[:16]


def _search_path(spec: SessionSpec, working_dir: str | None, sys_path: Sequence[str]) -> list[str]:
    env = {e.name: e.value for e in spec.runner.env}
    extra = [env.get("PYTHONPATH", ""), os.environ.get("PYTHONPATH", "")]
    dirs = [working_dir or "."]
    dirs += [d for text in extra for d in text.split(os.pathsep) if d]
    dirs += [d for d in sys_path if d]
    return dirs


def _is_file(path: Path) -> bool:
    """Whether ``path`` is a file; a word no path can be (a ``python -c`` program too long
    for a file name, a NUL byte) is not one, rather than an error."""
    try:
        return path.is_file()
    except (OSError, ValueError):
        return False


def _module_file(module: str, dirs: Sequence[str], cwd: Path) -> str | None:
    for folder in dirs:
        for rel in module_paths(module):
            name = os.path.normpath(os.path.join(folder, rel))
            if _is_file(cwd / name):
                return name
    return _found_by_finders(module)


def _found_by_finders(module: str) -> str | None:
    """Where this interpreter's finders place ``module``. Only the top package is asked of
    them (finding runs no module code; ``importlib.util.find_spec`` would import the
    parents); the rest is looked for below the folders the package spans."""
    top, _, rest = module.partition(".")
    for finder in sys.meta_path:
        find = getattr(finder, "find_spec", None)
        try:
            found = find(top, None) if find is not None else None
        except Exception:  # a third-party finder's failure: not found, not fatal
            found = None
        if found is not None:
            break
    else:
        return None
    if not rest:
        return found.origin if found.origin and os.path.isfile(found.origin) else None
    for folder in found.submodule_search_locations or []:
        for rel in module_paths(rest):
            name = os.path.join(folder, rel)
            if os.path.isfile(name):
                return name
    return None


def _shown(name: str, cwd: Path) -> str:
    """A path as the user knows it: relative to the folder the run started in, if below it."""
    path = Path(name)
    if path.is_absolute():
        try:
            return str(path.relative_to(cwd))
        except ValueError:
            return name
    return name


def session_files(spec: SessionSpec, cwd: Path, sys_path: Sequence[str]) -> Mapping[str, str]:
    """Each file ``spec``'s workers run (started in ``cwd``), and its fingerprint."""
    names: list[str] = []
    commands = session_commands(spec)
    for command in commands:
        names += command_files(command.argv, command.working_dir, lambda p: _is_file(cwd / p))
    working_dir = commands[0].working_dir if commands else None
    modules = [m for c in commands for m in command_modules(c.argv)]
    if spec.runner.objective is not None:
        modules.append(spec.runner.objective.partition(":")[0])
    dirs = _search_path(spec, working_dir, sys_path)
    for module in modules:
        found = _module_file(module, dirs, cwd)
        if found is not None:
            names.append(found)
    files: dict[str, str] = {}
    for name in names:
        files.setdefault(_shown(name, cwd), file_fingerprint(cwd / name))
    return dict(sorted(files.items()))
