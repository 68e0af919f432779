#!/usr/bin/env python3
"""Rename ``tuneop.adapters.local`` for what it holds: a results folder and local processes.

Re-runnable (the lead runs it again on the merged main, after branches that still
say ``adapters.local``): each module still at its old place is ``git mv``'d, then
every reference in the tree is rewritten; a second run changes nothing.

    python scripts/move_adapters.py          # from the repository's root
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

OLD = "tuneop.adapters.local"
# module under adapters/local -> its new dotted place below tuneop.adapters
MOVES = {
    "folder": "results_folder.folder",
    "claim": "results_folder.claim",
    "runfiles": "results_folder.runfiles",
    "jobrecords": "results_folder.jobrecords",
    "safefs": "results_folder.safefs",
    "logs": "results_folder.logs",
    "processes": "processes.jobs",
    "spawn": "processes.spawn",
    "warm": "processes.warm",
    "watchdog": "processes.watchdog",
    "watchdog_client": "processes.watchdog_client",
    "gpus": "processes.gpus",
    "proctree": "processes.proctree",
}
PACKAGES = {
    "results_folder": "The results folder a local run writes and every reader reads: its\n"
    "files, its claim, its logs.",
    "processes": "Local processes: worker Jobs run as processes on this machine, warm workers,\n"
    "their trees and the watchdog.",
}
ROOTS = ("operator", "runner_image", "testing", "tests", "bench", "docs", "scripts", "charts")
FILES = ("pyproject.toml", "README.md", "Makefile")
SUFFIXES = {".py", ".md", ".toml", ".txt", ".yaml", ".yml", ".cfg", ".ini", ".sh", ""}


def git(*args: str) -> None:
    subprocess.run(["git", *args], check=True)


def move_files(base: Path) -> None:
    old_dir = base / "operator/tuneop/adapters/local"
    for package, doc in PACKAGES.items():
        pkg = base / "operator/tuneop/adapters" / package
        pkg.mkdir(exist_ok=True)
        init = pkg / "__init__.py"
        if not init.exists():
            init.write_text(f'"""{doc}"""\n\n__all__: list[str] = []\n')
            git("add", str(init))
    for module, new in MOVES.items():
        src = old_dir / f"{module}.py"
        if src.exists():
            git(
                "mv",
                str(src),
                str(base / "operator/tuneop/adapters" / (new.replace(".", "/") + ".py")),
            )
    init = old_dir / "__init__.py"
    if init.exists() and not any(p.suffix == ".py" and p != init for p in old_dir.iterdir()):
        git("rm", "-q", str(init))


def rewrite(text: str) -> str:
    for module, new in MOVES.items():
        package, _, leaf = new.partition(".")
        # "from tuneop.adapters.local import X" names the package X moved to
        text = re.sub(
            rf"from tuneop\.adapters\.local import {module}\b(?! as)",
            f"from tuneop.adapters.{package} import {leaf}"
            + ("" if leaf == module else f" as {module}"),
            text,
        )
        text = re.sub(rf"\b(tuneop\.)?adapters\.local\.{module}\b", rf"\1adapters.{new}", text)
        text = re.sub(
            rf"\badapters/local/{module}\.py\b", f"adapters/{new.replace('.', '/')}.py", text
        )
    return text


def main() -> int:
    base = Path.cwd()
    if not (base / "operator/tuneop").is_dir():
        print("run from the repository's root", file=sys.stderr)
        return 2
    move_files(base)
    changed = 0
    paths = [base / f for f in FILES] + [
        p for root in ROOTS for p in (base / root).rglob("*") if p.is_file()
    ]
    for path in paths:
        if not path.exists() or path.suffix not in SUFFIXES or ".venv" in path.parts:
            continue
        if path.name == "move_adapters.py":
            continue
        try:
            text = path.read_text()
        except (UnicodeDecodeError, OSError):
            continue
        new = rewrite(text)
        if new != text:
            path.write_text(new)
            changed += 1
    print(f"rewrote {changed} files")
    return 0


if __name__ == "__main__":
    sys.exit(main())
