"""One composition root, clients in their rooms, the controller in layers (issue 26, 1/2/8).

These items change no output: what they change is where things are wired and which
import may exist. So the journeys walk two users' ways. The person who runs
``tuneop run --local`` gets the same run, and Python's own import trace of that very
command (``PYTHONPROFILEIMPORTTIME``) shows every adapter it loads loaded by
``tuneop.assembly``. The developer who runs ``lint-imports`` (as ``scripts/test.sh``
does) sees the contracts kept, and sees one broken, named, the moment a copy of the
package gets an import the contracts forbid.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest
from user import BIN, REPO, Seen, User

PLANTED = {
    # a front end talking to Kubernetes itself
    "kubernetes in the CLI": (
        "cli/plan.py",
        "import kubernetes  # noqa\n",
        "kubernetes only in the Kubernetes adapter",
    ),
    # a front end building an adapter instead of asking the assembly
    "an adapter in the controller": (
        "controller/metrics.py",
        "import tuneop.adapters.memory  # noqa\n",
        "Front ends never import an adapter",
    ),
    # the reconciler reaching for Redis
    "redis in the reconciler": (
        "reconciler.py",
        "import redis  # noqa\n",
        "The reconciler, the ports, the core and the API import no client",
    ),
    # kopf leaking out of the controller
    "kopf in the assembly": (
        "assembly/stores.py",
        "import kopf  # noqa\n",
        "kopf only in the controller",
    ),
    # the scheduling reaching back up to the runtime that holds it (the old cycle)
    "the scheduler importing its runtime": (
        "controller/scheduling.py",
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
        "    from tuneop.controller.runtime import Runtime  # noqa\n",
        "The controller in layers",
    ),
}


def lint_imports(user: User, src: Path | None = None) -> Seen:
    """``lint-imports`` with the repository's contracts, over ``src``'s copy of tuneop
    when given (it comes first on the path), else over the repository's own."""
    path = f"PYTHONPATH={src} " if src is not None else ""
    return user.sh(
        f"{path}{BIN}/lint-imports --no-cache --config {REPO}/pyproject.toml", timeout=300
    )


def kept(seen: Seen) -> int:
    found = re.search(r"Contracts: (\d+) kept, (\d+) broken", seen.out)
    assert found, seen
    return int(found.group(1))


# Put on PYTHONPATH as sitecustomize: Python imports it at start-up, and it notes, for
# each tuneop adapter module the command loads, the tuneop module whose code imported
# it (the nearest frame outside the adapters), then writes that down at exit.
PROBE = """
import atexit, json, os, sys

_seen = {}


class _Probe:
    def find_spec(self, name, path=None, target=None):
        if name.startswith("tuneop.adapters.") and name not in _seen:
            frame = sys._getframe(1)
            while frame is not None:
                module = frame.f_globals.get("__name__") or ""
                if module.startswith("tuneop.") and not module.startswith("tuneop.adapters"):
                    break
                frame = frame.f_back
            _seen[name] = module if frame is not None else "(no tuneop module)"
        return None


def _write():
    if _seen:
        with open(os.path.join(os.environ["IMPORT_PROBE_OUT"], f"{os.getpid()}.json"), "w") as f:
            json.dump(_seen, f)


sys.meta_path.insert(0, _Probe())
atexit.register(_write)
"""


def adapter_importers(user: User, *args: str) -> tuple[Seen, dict[str, str]]:
    """``tuneop ARGS``, and which tuneop module imported each adapter module it loaded."""
    user.write("probe/sitecustomize.py", PROBE)
    notes = user.path("probe-notes")
    notes.mkdir()
    env = dict(user.env)
    path = os.pathsep.join(p for p in (str(user.path("probe")), env.get("PYTHONPATH")) if p)
    user.env.update(PYTHONPATH=path, IMPORT_PROBE_OUT=str(notes))
    try:
        seen = user.tuneop(*args)
    finally:
        user.env = env
    found: dict[str, str] = {}
    for note in notes.glob("*.json"):
        found.update(json.loads(note.read_text()))
    return seen, found


def test_a_local_run_gets_every_adapter_it_uses_from_the_assembly(user: User) -> None:
    args = ("run", "examples/quickstart.yaml", "--local", "--no-report")
    seen, importers = adapter_importers(user, *args)
    assert seen.code == 0, seen
    assert "session quickstart: Succeeded" in seen.out, seen
    # Its workers, its results folder, its in-memory status: several adapters at work.
    assert len(importers) >= 5, importers
    wired_elsewhere = {
        adapter: by for adapter, by in importers.items() if not by.startswith("tuneop.assembly")
    }
    assert wired_elsewhere == {}
    again = user.tuneop(*args)
    assert again.code == 0, again
    assert "quickstart" in again.out, again


def test_lint_imports_keeps_the_contracts_that_hold_each_client_in_its_room(user: User) -> None:
    seen = lint_imports(user)
    assert seen.code == 0, seen
    assert kept(seen) >= 6
    for contract in (
        "kubernetes only in the Kubernetes adapter",
        "redis only in the Redis adapter",
        "kopf only in the controller",
        "Front ends never import an adapter",
        "The reconciler, the ports, the core and the API import no client",
        "Layers: entry point, front ends, assembly",
        "The controller in layers",
    ):
        assert re.search(re.escape(contract) + r".*KEPT", seen.out), (contract, seen)


@pytest.mark.parametrize("what", sorted(PLANTED))
def test_a_forbidden_import_breaks_lint_imports_naming_its_contract(
    user: User, tmp_path: Path, what: str
) -> None:
    module, line, contract = PLANTED[what]
    src = tmp_path / "src"
    shutil.copytree(REPO / "operator" / "tuneop", src / "tuneop")
    target = src / "tuneop" / module
    text = target.read_text()
    # After the module's docstring and ``from __future__``: the first import line.
    first = re.search(r"^(from|import) (?!__future__)", text, re.MULTILINE)
    assert first is not None
    target.write_text(text[: first.start()] + line + text[first.start() :])
    seen = lint_imports(user, src)
    assert seen.code != 0, seen
    assert re.search(re.escape(contract) + r".*BROKEN", seen.out), seen
    assert "Traceback" not in seen.both
