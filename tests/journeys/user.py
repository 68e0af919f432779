"""A user at a terminal: runs the ``tuneop`` command (and the shell lines the README and
``docs/`` give) as a subprocess in a fresh folder, and hands back what they would see.

Journeys never call the Python function behind a command: a journey types the command,
reads the exit code, stdout and stderr (or a terminal's screen through a pseudo-terminal),
and looks at the files the command left in the folder. ``doc_block`` reads a shell block
out of a document by the id in the marker before it (``<!-- journey: ID -->``), so a
journey runs the text the user copies, not a paraphrase of it.
"""

from __future__ import annotations

import os
import pty
import re
import select
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "BIN",
    "REPO",
    "Block",
    "Seen",
    "User",
    "clone_repository",
    "doc_block",
    "notebook_argv",
    "python_blocks",
    "shell_blocks",
]

REPO = Path(__file__).resolve().parents[2]
# The venv the suite runs in: its `tuneop` and `python` are the ones a user installed.
BIN = Path(sys.executable).parent

FENCE = re.compile(r"^```(sh|bash|shell|console)\s*$")
PYTHON_FENCE = re.compile(r"^```python\s*$")
MARKER = re.compile(r"^<!--\s*(journey|not run):\s*(.+?)\s*-->\s*$")


@dataclass(frozen=True)
class Block:
    """One shell block of a document, with the marker line just above its fence."""

    doc: str
    line: int  # 1-based line of the opening fence
    text: str
    kind: str | None  # "journey", "not run" or None (no marker)
    value: str  # the journey id or the reason


def shell_blocks(doc: Path, fence: re.Pattern[str] = FENCE) -> list[Block]:
    """Every fenced shell block of a Markdown file, with its marker if it has one."""
    lines = doc.read_text().splitlines()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        if fence.match(lines[i]):
            start = i
            body: list[str] = []
            i += 1
            while i < len(lines) and lines[i].strip() != "```":
                body.append(lines[i])
                i += 1
            marker = MARKER.match(lines[start - 1]) if start > 0 else None
            blocks.append(
                Block(
                    doc=str(doc.relative_to(REPO)),
                    line=start + 1,
                    text="\n".join(body) + "\n",
                    kind=marker.group(1) if marker else None,
                    value=marker.group(2) if marker else "",
                )
            )
        i += 1
    return blocks


def python_blocks(doc: Path) -> list[Block]:
    """Every fenced Python block of a Markdown file (a notebook's cells), with its marker."""
    return shell_blocks(doc, PYTHON_FENCE)


# A notebook's kernel: the cells (JSON on stdin) run in order in one namespace named
# __main__, with the folder it starts in on sys.path; a line before each cell's output.
_KERNEL = """
import json, sys
cells = json.load(sys.stdin)
namespace = {"__name__": "__main__"}
for i, cell in enumerate(cells):
    print(f"--- cell {i}", flush=True)
    exec(compile(cell, f"<cell {i}>", "exec"), namespace)
"""


def notebook_argv() -> list[str]:
    """The command that runs a notebook's cells given as a JSON list on its stdin."""
    return [str(BIN / "python"), "-c", _KERNEL]


def clone_repository(root: Path) -> Path:
    """``root`` filled with the repository's files as a user's clone has them (the tracked
    ones, and new ones not ignored, so a change under test is in the copy)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        src = REPO / name
        if src.is_file():  # a file deleted in the work tree is still listed as cached
            dst = root / name
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)
    return root


def doc_block(doc: str, block_id: str) -> str:
    """The text of the block marked ``<!-- journey: block_id -->`` in ``doc``."""
    blocks = [*shell_blocks(REPO / doc), *python_blocks(REPO / doc)]
    found = [b for b in blocks if b.kind == "journey" and b.value == block_id]
    assert len(found) == 1, f"{doc} has {len(found)} blocks marked journey: {block_id}"
    return found[0].text


@dataclass(frozen=True)
class Seen:
    """What the user saw of one command."""

    code: int
    out: str
    err: str
    seconds: float

    @property
    def both(self) -> str:
        return self.out + self.err

    def __str__(self) -> str:  # pytest shows this when an assertion on it fails
        return (
            f"exit {self.code} after {self.seconds:.1f}s\n"
            f"--- stdout\n{self.out}\n--- stderr\n{self.err}"
        )


class User:
    """A user in a fresh folder: ``examples/`` copied in, the suite's venv first on PATH."""

    def __init__(self, home: Path, copy_examples: bool = True) -> None:
        self.cwd = home
        if copy_examples:
            shutil.copytree(REPO / "examples", home / "examples")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TUNEOP_", "PYTEST"))}
        env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
        # pip keeps using the machine's wheel cache under the user's fresh HOME.
        env.setdefault("PIP_CACHE_DIR", str(Path.home() / ".cache" / "pip"))
        env["HOME"] = str(home / ".home")
        (home / ".home").mkdir()
        env["KUBECONFIG"] = str(home / ".home" / "no-kubeconfig")  # no cluster unless given
        env.pop("COLUMNS", None)
        self.env = env

    def path(self, name: str) -> Path:
        return self.cwd / name

    def write(self, name: str, text: str) -> Path:
        p = self.cwd / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
        return p

    def tuneop(self, *args: str, timeout: float = 300, stdin: str | None = None) -> Seen:
        """``tuneop ARGS`` with stdout and stderr piped (not a terminal: CI, ``| tee``)."""
        return self.run([str(BIN / "tuneop"), *args], timeout=timeout, stdin=stdin)

    def sh(self, script: str, timeout: float = 600) -> Seen:
        """A shell block, as the user pastes it into bash in this folder."""
        return self.run(["bash", "-euo", "pipefail", "-c", script], timeout=timeout)

    def run(self, argv: list[str], timeout: float = 300, stdin: str | None = None) -> Seen:
        t0 = time.monotonic()
        p = subprocess.run(
            argv,
            cwd=self.cwd,
            env=self.env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        return Seen(p.returncode, p.stdout, p.stderr, time.monotonic() - t0)

    def start(self, *args: str, stdin: int | None = None) -> subprocess.Popen[str]:
        """``tuneop ARGS`` left running in its own process group (Ctrl-C, ``kill -9``);
        ``stdin=subprocess.PIPE`` for input the user has not finished typing."""
        return subprocess.Popen(
            [str(BIN / "tuneop"), *args],
            cwd=self.cwd,
            env=self.env,
            stdin=stdin,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )

    def ctrl_c(self, proc: subprocess.Popen[str], timeout: float = 60) -> Seen:
        """What a terminal's Ctrl-C does: SIGINT to the whole foreground process group."""
        t0 = time.monotonic()
        os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=timeout)
        return Seen(proc.returncode, out, err, time.monotonic() - t0)

    def terminal(
        self, *args: str, timeout: float = 300, columns: int = 100, rows: int = 40
    ) -> Seen:
        """``tuneop ARGS`` on a pseudo-terminal of the given size; ``out`` is all it wrote."""
        import fcntl
        import struct
        import termios

        t0 = time.monotonic()
        leader, follower = pty.openpty()
        fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
        env = dict(self.env, TERM="xterm-256color", COLUMNS=str(columns), LINES=str(rows))
        proc = subprocess.Popen(
            [str(BIN / "tuneop"), *args],
            cwd=self.cwd,
            env=env,
            stdin=follower,
            stdout=follower,
            stderr=follower,
            start_new_session=True,
        )
        os.close(follower)
        chunks: list[bytes] = []
        deadline = t0 + timeout
        while True:
            ready, _, _ = select.select([leader], [], [], 0.2)
            if ready:
                try:
                    data = os.read(leader, 65536)
                except OSError:  # EIO: the program closed the terminal
                    data = b""
                if not data:
                    break
                chunks.append(data)
            elif proc.poll() is not None:
                continue  # drain what is left
            if time.monotonic() > deadline:
                os.killpg(proc.pid, signal.SIGKILL)
                raise TimeoutError(f"tuneop {' '.join(args)} still running after {timeout}s")
        os.close(leader)
        code = proc.wait()
        text = b"".join(chunks).decode("utf-8", "replace")
        return Seen(code, text, "", time.monotonic() - t0)
