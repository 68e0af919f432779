"""The size limits of tuneop's code: modules, functions and their complexity.

No module over 400 lines, no function over 80 lines (its ``def`` to its last line,
docstring included), no function of a cyclomatic complexity over 20 as radon measures
it (McCabe's count plus one for each boolean operator, as ``radon cc`` prints it).
Run on ``operator/`` and ``runner_image/`` by ``scripts/test.sh`` and by a unit test;
other paths can be given.

    python scripts/check_sizes.py [PATH ...]

It prints one line per function or module over a limit (``path:line name: what``) and
exits 1 if there is any, 0 with a one-line tally if not. ``EXEMPT`` names functions
whose rewrite another branch owns; an exemption that is no longer needed is itself
reported, so the list only shrinks.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from radon.complexity import cc_visit

__all__ = ["EXEMPT", "MAX_COMPLEXITY", "MAX_FUNCTION_LINES", "MAX_MODULE_LINES", "Excess",
           "excesses", "main"]

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PATHS = ("operator", "runner_image")
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 80
MAX_COMPLEXITY = 20

# "path::name" -> why it waits. Each is rewritten on a branch in flight; the lead removes
# the line after merging it (the check reports a line whose function is back in bounds).
EXEMPT: dict[str, str] = {
}


@dataclass(frozen=True)
class Excess:
    """One module or function over a limit."""

    path: str
    line: int
    name: str
    what: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line} {self.name}: {self.what}"


def _sources(paths: list[Path]) -> Iterator[Path]:
    for path in paths:
        files = [path] if path.is_file() else sorted(path.rglob("*.py"))
        for file in files:
            if not any(part.startswith(".") or part.endswith(".egg-info") for part in file.parts):
                yield file


def _shown(file: Path) -> str:
    resolved = file.resolve()
    return str(resolved.relative_to(ROOT)) if resolved.is_relative_to(ROOT) else str(file)


def _functions(tree: ast.AST) -> Iterator[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]]:
    """Every function with its qualified name (``Class.method``, ``outer.inner``)."""
    stack: list[tuple[str, ast.AST]] = [("", tree)]
    while stack:
        prefix, node = stack.pop()
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                name = f"{prefix}{child.name}"
                if not isinstance(child, ast.ClassDef):
                    yield name, child
                stack.append((f"{name}.", child))
            else:
                stack.append((prefix, child))


def _file_excesses(file: Path) -> Iterator[Excess]:
    text = file.read_text()
    shown = _shown(file)
    lines = len(text.splitlines())
    if lines > MAX_MODULE_LINES:
        yield Excess(shown, 1, "(module)", f"{lines} lines > {MAX_MODULE_LINES}")
    for name, node in _functions(ast.parse(text, str(file))):
        length = (node.end_lineno or node.lineno) - node.lineno + 1
        if length > MAX_FUNCTION_LINES:
            yield Excess(shown, node.lineno, name, f"{length} lines > {MAX_FUNCTION_LINES}")
    # radon gives functions and methods, each with its nested functions ("closures").
    blocks = [(b.fullname, b) for b in cc_visit(text) if hasattr(b, "closures")]
    while blocks:
        name, block = blocks.pop()
        blocks.extend((f"{name}.{c.name}", c) for c in block.closures)
        if block.complexity > MAX_COMPLEXITY:
            yield Excess(shown, block.lineno, name,
                         f"complexity {block.complexity} > {MAX_COMPLEXITY}")


def excesses(paths: list[Path]) -> tuple[list[Excess], list[str]]:
    """What is over a limit (exemptions left out), and the exemptions no longer needed."""
    found = [e for file in _sources(paths) for e in _file_excesses(file)]
    keys = {f"{e.path}::{e.name}" for e in found}
    checked = {_shown(f) for f in _sources(paths)}
    stale = [k for k in EXEMPT if k.split("::")[0] in checked and k not in keys]
    return [e for e in found if f"{e.path}::{e.name}" not in EXEMPT], stale


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    paths = [Path(a) for a in args] or [ROOT / p for p in DEFAULT_PATHS]
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        print(f"check_sizes: no such path: {', '.join(missing)}", file=sys.stderr)
        return 2
    found, stale = excesses(paths)
    for excess in found:
        print(excess)
    for key in stale:
        print(f"{key}: within the limits now: remove it from EXEMPT in scripts/check_sizes.py")
    if found or stale:
        return 1
    print(f"check_sizes: {sum(1 for _ in _sources(paths))} files within {MAX_MODULE_LINES} lines, "
          f"functions within {MAX_FUNCTION_LINES} lines and complexity {MAX_COMPLEXITY} "
          f"({len(EXEMPT)} exempt)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
