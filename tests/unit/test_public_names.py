"""Every module says what it offers (``__all__``), and nothing reaches past that.

``__all__`` is each module's public surface, the names ``docs/development.md``
speaks of. These tests keep it honest: every module of the operator and the
runner declares it, every name in it exists, and every ``from tuneop... import
name`` anywhere in the repository (package, tests, benchmarks, harness) takes a
public name or a submodule, never a private helper.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SOURCES = {"tuneop": REPO / "operator", "tuneop_runner": REPO / "runner_image"}
USERS = [REPO / d for d in ("operator", "runner_image", "tests", "bench", "testing")]


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> list[tuple[str, Path]]:
    found = []
    for package, root in SOURCES.items():
        for path in sorted((root / package).rglob("*.py")):
            if path.name != "__main__.py":
                found.append((module_name(path, root), path))
    return found


def declared_all(path: Path) -> list[str] | None:
    for node in ast.parse(path.read_text()).body:
        targets = node.targets if isinstance(node, ast.Assign) else []
        if isinstance(node, ast.AnnAssign) and node.value is not None:
            targets = [node.target]
        if any(isinstance(t, ast.Name) and t.id == "__all__" for t in targets):
            assert isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None
            value = ast.literal_eval(node.value)
            assert isinstance(value, list), f"{path}: __all__ must be a list"
            return [str(v) for v in value]
    return None


@pytest.mark.parametrize(("name", "path"), modules(), ids=[m for m, _ in modules()])
def test_every_module_declares_its_public_names_and_they_exist(name: str, path: Path) -> None:
    public = declared_all(path)
    assert public is not None, f"{name} has no __all__"
    assert len(public) == len(set(public)), f"{name}: __all__ repeats a name"
    module = importlib.import_module(name)
    missing = [n for n in public if not hasattr(module, n)]
    assert not missing, f"{name}.__all__ names what it does not define: {missing}"


def imports_of_our_modules() -> list[tuple[Path, int, str, str]]:
    found = []
    for root in USERS:
        for path in root.rglob("*.py"):
            if ".venv" in path.parts:
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                if not isinstance(node, ast.ImportFrom) or not node.module:
                    continue
                if node.module.split(".")[0] not in SOURCES:
                    continue
                found.extend((path, node.lineno, node.module, a.name) for a in node.names)
    return found


def test_nothing_imports_a_name_a_module_does_not_offer() -> None:
    offered: dict[str, set[str]] = {name: set(declared_all(path) or ()) for name, path in modules()}
    submodules = {name for name, _ in modules()}
    wrong = [
        f"{path.relative_to(REPO)}:{line}: {module}.{name}"
        for path, line, module, name in imports_of_our_modules()
        if name not in offered.get(module, set()) and f"{module}.{name}" not in submodules
    ]
    assert not wrong, "private names imported:\n" + "\n".join(sorted(wrong))
