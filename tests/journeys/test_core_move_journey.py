"""A developer moves the core into its rooms with ``scripts/move_core.py``, on a tree of
the old layout (as the lead does on a merged main), and runs it again.

The tree is a small repository in the old flat layout, with every form of reference the
script rewrites; the script is the repository's own, run as a subprocess from the tree.
"""

from __future__ import annotations

import shutil

from user import REPO, User, doc_block

OLD_TEST = '''"""Uses the old paths: ``core.planner`` and tuneop/core/search.py."""

from tuneop.core import events, untrusted
from tuneop.core.planner import plan
from tuneop.core.search import point


def test_gp(monkeypatch):
    monkeypatch.setattr("tuneop.core.bayesian.gp_available", lambda: False)
    import tuneop.core.katib as katib
    assert plan and point and events and untrusted and katib
'''

OLD_DOC = """Run `python -m tuneop.core.summary`; the planner is `operator/tuneop/core/planner.py`
(`core.ledger.open_ledger`), numpy's `np.core.records` and `numpy/_core/x.py` are not ours.
"""

MODULES = (
    "__init__",
    "planner",
    "search",
    "untrusted",
    "events",
    "bayesian",
    "katib",
    "summary",
    "ledger",
)


# Enough lines that git sees a module whose import was rewritten as the same file, moved.
BODY = "".join(f"VALUE_{i} = {i}\n" for i in range(40))


def old_tree(user: User) -> None:
    for name in MODULES:
        user.write(f"operator/tuneop/core/{name}.py", f'"""{name}."""\n\n{BODY}')
    relative = f'"""planner."""\n\nfrom .ledger import x\n{BODY}'
    user.write("operator/tuneop/core/planner.py", relative)
    user.write("operator/tuneop/core/brandnew.py", '"""A module no table knows."""\n')
    user.write("tests/test_old.py", OLD_TEST)
    user.write("docs/old.md", OLD_DOC)
    user.write("bench/results/old.json", '{"import": "tuneop.core.planner"}\n')
    user.path("scripts").mkdir()
    shutil.copy(REPO / "scripts" / "move_core.py", user.path("scripts/move_core.py"))
    user.sh("git init -q && git add -A && git -c user.name=t -c user.email=t@t commit -qm old")


def test_the_core_move_moves_once_then_a_rerun_changes_nothing(user: User) -> None:
    old_tree(user)
    due = user.sh("python scripts/move_core.py --check")
    assert due.code == 1, due
    core = "operator/tuneop/core"
    assert f"due: move {core}/planner.py -> {core}/planning/planner.py" in due.out
    assert user.path("operator/tuneop/core/planner.py").exists(), "--check moved a file"

    moved = user.sh("python scripts/move_core.py")
    assert moved.code == 0, moved
    assert "core/brandnew.py is in no room" in moved.err
    status = user.sh("git add -A && git status --porcelain").out
    assert f"R  {core}/planner.py -> {core}/planning/planner.py" in status
    assert f"R  {core}/search.py -> {core}/suggest/search.py" in status
    assert user.path("operator/tuneop/core/untrusted.py").exists()  # it stays on top
    assert user.path("operator/tuneop/core/planning/__init__.py").read_text().startswith('"""')

    test = user.path("tests/test_old.py").read_text()
    assert "from tuneop.core.planning.planner import plan" in test
    assert "from tuneop.core.suggest.search import point" in test
    assert "from tuneop.core.planning import events" in test
    assert "from tuneop.core import untrusted" in test
    assert '"tuneop.core.suggest.bayesian.gp_available"' in test
    assert "import tuneop.core.conversions.katib as katib" in test
    assert "``core.planning.planner`` and tuneop/core/suggest/search.py" in test
    doc = user.path("docs/old.md").read_text()
    assert "python -m tuneop.core.results.summary" in doc
    assert "operator/tuneop/core/planning/planner.py" in doc
    assert "`core.planning.ledger.open_ledger`" in doc
    assert "`np.core.records` and `numpy/_core/x.py`" in doc
    planner = user.path("operator/tuneop/core/planning/planner.py").read_text()
    assert "from tuneop.core.planning.ledger import x" in planner
    assert "tuneop.core.planner" in user.path("bench/results/old.json").read_text()

    user.sh("git add -A && git -c user.name=t -c user.email=t@t commit -qm moved")
    again = user.sh("python scripts/move_core.py")
    assert again.code == 0, again
    assert "0 moves, 0 files rewritten" in again.out
    assert user.sh("git status --porcelain").out == ""
    assert user.sh("python scripts/move_core.py --check").code == 0


def test_the_core_move_is_done_on_this_tree(user: User) -> None:
    """The repository itself, checked as docs/development.md says: nothing left at an old
    place, no old reference anywhere, no top-level module without a room."""
    check = user.sh(f"cd {REPO} && " + doc_block("docs/development.md", "core-move-check"))
    assert check.code == 0, check
    assert "0 moves, 0 files rewritten due" in check.out
    assert "in no room" not in check.err
