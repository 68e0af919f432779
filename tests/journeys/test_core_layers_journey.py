"""A developer's change reaches up from one room of the core into a room above it, or adds
a module to the core's top level without giving it a place: ``lint-imports`` (run by
``scripts/test.sh``) says which import or module breaks the core's layers contract."""

from __future__ import annotations

import re
import shutil

from user import REPO, User

ANSI = re.compile(r"\x1b\[[0-9;]*m")
LINT = "PYTHONPATH=operator lint-imports"
ROOMS = "Core rooms: planning | conversions, then suggest, results, jobs, wire, shared modules"


def copy_of_the_project(user: User) -> None:
    shutil.copytree(
        REPO / "operator", user.path("operator"), ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copy(REPO / "pyproject.toml", user.path("pyproject.toml"))


def test_an_import_up_the_core_rooms_or_a_module_without_a_room_breaks_lint_imports(
    user: User,
) -> None:
    copy_of_the_project(user)
    kept = user.sh(LINT)
    assert kept.code == 0, kept
    assert f"{ROOMS} KEPT" in ANSI.sub("", kept.out)

    framing = user.path("operator/tuneop/core/wire/framing.py")
    framing.write_text(framing.read_text() + "\nfrom tuneop.core.planning import events  # noqa\n")
    user.write("operator/tuneop/core/newthing.py", '"""A module without a room."""\n')
    broken = user.sh(LINT)
    out = ANSI.sub("", broken.out)
    assert broken.code == 1, broken
    assert f"{ROOMS} BROKEN" in out
    assert "tuneop.core.wire.framing -> tuneop.core.planning.events" in out
    assert "tuneop.core.newthing" in out
