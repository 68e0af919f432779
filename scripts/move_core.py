"""Move ``tuneop.core``'s flat modules into rooms, and every reference with them.

``tuneop.core`` holds the pure decisions; its modules live in rooms named for their
role (``planning``, ``suggest``, ``results``, ``jobs``, ``wire``, ``conversions``) and
a few shared ones stay at its top level. ``TABLE`` says where each module goes. The
script ``git mv``s every module still at its old place, gives each room an
``__init__.py``, and rewrites every reference in the repository's sources, tests,
benchmarks, harness, docs and ``pyproject.toml``:

- dotted names, with or without ``tuneop.``: ``tuneop.core.planner.plan``, mock paths
  (``"tuneop.core.bayesian.gp_available"``), ``-m`` module names, ``core.ledger`` in prose;
- ``from tuneop.core import a, b`` (one line or parenthesized), split per room;
- file paths: ``operator/tuneop/core/planner.py``, ``core/katib.py``;
- relative imports inside ``tuneop/core`` (made absolute first).

It is re-runnable: a room's name is never an old module's name, so a rewritten
reference never matches again, and a second run changes nothing. Run it again after
merging branches that still use the old paths. ``bench/results/`` is left alone: it
records what past runs measured, under the names they had then (and so are this
script's tests, which hold old paths on purpose).

    python scripts/move_core.py [--check]

``--check`` changes nothing; it lists what a run would move or rewrite and exits 1 if
anything (a unit test runs it, so an old path cannot come back unnoticed). The Python
files it rewrites get their imports sorted again (``ruff check --select I --fix``).
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

__all__ = ["ROOMS", "STAYS", "TABLE", "main", "rewrite"]

ROOT = Path(__file__).resolve().parents[1]
CORE = ROOT / "operator" / "tuneop" / "core"
SCANNED = ("operator", "runner_image", "testing", "tests", "bench", "docs", "scripts")
SCANNED_FILES = ("pyproject.toml", "README.md", "Makefile", "Dockerfile")
# Past runs' records, and the script and its tests (old paths on purpose).
SKIPPED = (
    "bench/results/",
    "scripts/move_core.py",
    "tests/journeys/test_core_move_journey.py",
    "tests/unit/test_core_rooms.py",
)
TEXT = (".py", ".md", ".toml", ".txt", ".cfg", ".ini", ".yaml", ".yml", ".sh", ".json")

# Each room's docstring, in the order of the layers contract (a room imports only
# rooms below it, and the top-level modules).
ROOMS = {
    "planning": "Planning: one reconcile's decisions, the planner and its steps.\n\n"
    "The ledger folds what finished, ``stop`` decides whether to stop, ``launch``\n"
    "which Jobs to create (packed by ``packing``, retried by ``retry``), ``phase``\n"
    "the new status; ``queueing`` and ``starting`` watch Jobs that wait or never\n"
    "start, ``events`` words what happened, ``resume`` runs a session again.",
    "conversions": "Other formats turned into a session: Katib Experiments and JSONL\n"
    "job plans. Nothing else in the core imports them.",
    "suggest": "Suggestions: each trial's parameters, from a grid, random or\n"
    "quasi-random points (``search``), or Optuna's samplers over the history\n"
    "(``bayesian``, ``samplers``), warm-started from an earlier session's records.",
    "results": "Results: harvested from a Job's logs, read back bounded from files\n"
    "and Redis, ranked, summarized, as a Pareto front and as an Optuna study.",
    "jobs": "Worker Jobs: what a reconcile observed of them, their manifest (the\n"
    "Job wire format) and pod, what a local run makes of that pod, the files it\n"
    "runs, and what a worker is told for early stopping.",
    "wire": "What a worker reports, and how it is read: the result contract, the\n"
    "runner's frames, result lines, intermediate reports, Katib's StdOut metrics,\n"
    "a worker log of any size read in bounded memory.",
}

# Old module (``tuneop.core.<old>``) -> new place under ``tuneop.core``.
TABLE = {
    # planning
    "planner": "planning.planner",
    "ledger": "planning.ledger",
    "stop": "planning.stop",
    "launch": "planning.launch",
    "phase": "planning.phase",
    "packing": "planning.packing",
    "retry": "planning.retry",
    "queueing": "planning.queueing",
    "starting": "planning.starting",
    "events": "planning.events",
    "resume": "planning.resume",
    # conversions
    "katib": "conversions.katib",
    "jobsfile": "conversions.jobsfile",
    # suggest
    "search": "suggest.search",
    "samplers": "suggest.samplers",
    "bayesian": "suggest.bayesian",
    "warmstart": "suggest.warmstart",
    # results
    "harvest": "results.harvest",
    "records": "results.records",
    "ranking": "results.ranking",
    "summary": "results.summary",
    "pareto": "results.pareto",
    "study": "results.study",
    # jobs
    "observed": "jobs.observed",
    "manifests": "jobs.manifests",
    "podtemplate": "jobs.podtemplate",
    "localpod": "jobs.localpod",
    "runfiles": "jobs.runfiles",
    "pruning": "jobs.pruning",
    # wire
    "contract": "wire.contract",
    "framing": "wire.framing",
    "resultline": "wire.resultline",
    "intermediate": "wire.intermediate",
    "stdout_metrics": "wire.stdout_metrics",
    "logscan": "wire.logscan",
}

# Shared by several rooms and imported by none of them in return: these stay on top.
STAYS = (
    "boundedyaml",
    "clock",
    "election",
    "extras",
    "fingerprint",
    "imports",
    "ranges",
    "untrusted",
)

_NAME = r"[A-Za-z_]\w*"
# ``tuneop.core.x`` or ``core.x`` (not ``np.core.x``, not ``_core.x``).
_DOTTED = re.compile(rf"(?<![\w.])((?:tuneop\.)?core)\.({_NAME})(?!\w)")
# ``operator/tuneop/core/x.py``, ``tuneop/core/x.py``, ``core/x.py``.
_PATH = re.compile(rf"(?<![\w.])((?:operator/)?(?:tuneop/)?core)/({_NAME})\.py(?!\w)")
_FROM_CORE = re.compile(
    r"^(?P<indent>[ \t]*)from tuneop\.core import "
    r"(?:\((?P<group>[^)]*)\)|(?P<line>[^\n(\\#]+?))(?P<tail>[ \t]*(?:#[^\n]*)?)$",
    re.MULTILINE,
)
_RELATIVE = re.compile(r"^([ \t]*from )(\.+)(\w*)( import )", re.MULTILINE)


def _check_table() -> None:
    """The table's rule that makes the move re-runnable: no room is an old name."""
    clash = set(ROOMS) & (set(TABLE) | set(STAYS))
    rooms = {new.split(".")[0] for new in TABLE.values()}
    if clash or not rooms <= set(ROOMS):
        sys.exit(f"move_core: rooms {sorted(clash)} clash, or unknown rooms in {sorted(rooms)}")


def _dotted(match: re.Match[str]) -> str:
    prefix, name = match.group(1), match.group(2)
    return f"{prefix}.{TABLE[name]}" if name in TABLE else match.group(0)


def _path(match: re.Match[str]) -> str:
    prefix, name = match.group(1), match.group(2)
    return f"{prefix}/{TABLE[name].replace('.', '/')}.py" if name in TABLE else match.group(0)


def _from_core(match: re.Match[str]) -> str:
    """``from tuneop.core import a, b as c`` split into one import per room."""
    body = match.group("group") if match.group("group") is not None else match.group("line")
    names = [n.strip() for n in body.replace("\n", " ").split(",") if n.strip()]
    if not any(n.split()[0] in TABLE for n in names):
        return match.group(0)
    by_package: dict[str, list[str]] = {}
    for name in names:
        new = TABLE.get(name.split()[0])
        package = "tuneop.core" + ("." + new.rsplit(".", 1)[0] if new else "")
        by_package.setdefault(package, []).append(name)
    indent, tail = match.group("indent"), match.group("tail")
    lines = [f"{indent}from {p} import {', '.join(ns)}" for p, ns in by_package.items()]
    return "\n".join(lines) + tail


def rewrite(text: str) -> str:
    """Every reference to an old core module in ``text``, pointed at its new place."""
    text = _FROM_CORE.sub(_from_core, text)
    text = _DOTTED.sub(_dotted, text)
    return _PATH.sub(_path, text)


def _absolute_imports(path: Path) -> str:
    """A core module's text with its relative imports made absolute."""
    package = ["tuneop", *path.parent.relative_to(CORE.parent).parts]

    def absolute(match: re.Match[str]) -> str:
        base = package[: len(package) - (len(match.group(2)) - 1)]
        module = ".".join([*base, match.group(3)] if match.group(3) else base)
        return f"{match.group(1)}{module}{match.group(4)}"

    return _RELATIVE.sub(absolute, path.read_text())


def _git(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)


def _moves(check: bool) -> list[str]:
    """Move every module still at its old place; the moves made (or due)."""
    done = []
    for room, doc in ROOMS.items():
        init = CORE / room / "__init__.py"
        if not init.exists():
            done.append(f"create {init.relative_to(ROOT)}")
            if not check:
                init.parent.mkdir(exist_ok=True)
                init.write_text(f'"""{doc}\n"""\n\n__all__: list[str] = []\n')
    for old, new in TABLE.items():
        source, target = CORE / f"{old}.py", CORE / f"{new.replace('.', '/')}.py"
        if not source.exists():
            continue
        if target.exists():
            print(f"move_core: both {source.relative_to(ROOT)} and {target.name} exist: merge "
                  "them by hand", file=sys.stderr)
            continue
        done.append(f"move {source.relative_to(ROOT)} -> {target.relative_to(ROOT)}")
        if not check:
            _move(source, target)
    return done


def _move(source: Path, target: Path) -> None:
    text = _absolute_imports(source)
    if text != source.read_text():
        source.write_text(text)
    if _git("mv", str(source), str(target)).returncode != 0:
        shutil.move(source, target)  # not tracked by git: move it all the same


def _files() -> Iterable[Path]:
    listed = _git("ls-files", "-co", "--exclude-standard", "--", *SCANNED, *SCANNED_FILES)
    for name in sorted(set(listed.stdout.splitlines())):
        path = ROOT / name
        if name.startswith(SKIPPED) or not path.is_file():
            continue
        if path.suffix in TEXT or path.name in SCANNED_FILES:
            yield path


def _rewrites(check: bool) -> list[Path]:
    """Rewrite every file that names an old module; the files rewritten (or due)."""
    changed = []
    for path in _files():
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            continue
        new = rewrite(text)
        if path.is_relative_to(CORE) and path.suffix == ".py":
            new = rewrite(_absolute_imports(path)) if "from ." in text else new
        if new != text:
            changed.append(path)
            if not check:
                path.write_text(new)
    return changed


def _tidy(paths: list[Path]) -> None:
    """Imports sorted again where a rewrite changed their order; long lines named."""
    python = [str(p) for p in paths if p.suffix == ".py"]
    found = [shutil.which("ruff"), Path(sys.executable).with_name("ruff"), ROOT / ".venv/bin/ruff"]
    ruff = next((str(r) for r in found if r and Path(r).exists()), None)
    if python and ruff is None:
        print("move_core: no ruff found: sort the imports with `ruff check --fix`", file=sys.stderr)
    elif python and ruff is not None:
        subprocess.run([ruff, "check", "--select", "I", "--fix", "-q", *python], cwd=ROOT,
                       check=False)
    moved = re.compile(rf"core[./](?:{'|'.join(ROOMS)})[./]")
    for path in paths:
        if path.suffix != ".py":
            continue
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if len(line) > 100 and moved.search(line):
                print(f"move_core: {path.relative_to(ROOT)}:{n} is over 100 characters")


def _unplaced() -> list[str]:
    """Top-level core modules the table does not place (new since it was written)."""
    known = set(TABLE) | set(STAYS) | {"__init__"}
    return sorted(p.stem for p in CORE.glob("*.py") if p.stem not in known)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if due")
    check = parser.parse_args(argv).check
    _check_table()
    moves = _moves(check)
    changed = _rewrites(check)
    if not check:
        _tidy(changed)
    for line in moves:
        print(("due: " if check else "") + line)
    for path in changed:
        print(("due: rewrite " if check else "rewrote ") + str(path.relative_to(ROOT)))
    for name in _unplaced():
        print(f"move_core: core/{name}.py is in no room: add it to TABLE or STAYS",
              file=sys.stderr)
    print(f"move_core: {len(moves)} moves, {len(changed)} files rewritten"
          + (" due" if check else ""))
    return 1 if check and (moves or changed) else 0


if __name__ == "__main__":
    sys.exit(main())
