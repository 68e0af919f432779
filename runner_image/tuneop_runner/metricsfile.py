"""``tuneop-metrics-file``: a trial's metrics file streamed to this program's stdout.

A program that writes its metrics to a file rather than printing them (Katib's File
and TensorFlowEvent collectors) is read by this follower, run beside it: on a
cluster as a native sidecar of the trial's pod (an init container with
``restartPolicy: Always`` sharing the file's directory through an emptyDir), on
this machine as a process next to the trial's. Whatever reads the follower's
output (the operator's harvest, a local run's) reads text lines, as from a
program printing its metrics.

- ``--kind File``: the lines of the file at ``--path`` as they are written
  (``name=value`` text, hypertune JSON lines or anything a custom regex reads: the
  reader parses them), each line at most ``MAX_LINE_BYTES``.
- ``--kind TensorFlowEvent``: every event file under the directory ``--path``
  (``tuneop_runner.tfevents``), each scalar of a ``--metric`` printed as
  ``metric=value``, matched as Katib's TensorFlowEvent collector matches them: the
  tag starts with the metric's last path component and, for a metric such as
  ``test/accuracy``, the file's directory ends with ``test``.

Each line it prints starts with ``METRICS_PREFIX``, so a reader tells them from
anything else in the same log (on this machine the trial's own output shares it).
It polls every ``--poll`` seconds and, on SIGTERM or SIGINT (the kubelet stops a
sidecar once the trial container has exited), reads what is left, the last
unfinished line too, and exits 0. A file that never appears prints nothing; a
file cut shorter (rewritten) is read again from its start.

``--run -- PROGRAM ARGS...`` is the local form: it runs the trial itself, follows
the file while it runs, reads the rest once it has exited and exits with its code.
What the file or directory already held before the trial started is not the
trial's (an earlier trial's, in a folder that outlives it): a metrics file is removed
and event files already there are read from their end, as an emptyDir starts empty;
a directory missing is made, as the emptyDir is mounted there.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import FrameType
from typing import TextIO

from tuneop_runner.tfevents import TFRecordError, read_records, scalars

__all__ = [
    "MAX_FILES",
    "MAX_LINE_BYTES",
    "METRICS_PREFIX",
    "Follower",
    "main",
    "should_consider",
]

# tuneop.core.jobs.podtemplate.METRICS_PREFIX is the same text (a test holds them equal).
METRICS_PREFIX = "TUNEOP_METRICS_FILE "

MAX_LINE_BYTES = 4096
MAX_FILES = 1000  # event files followed under one directory
_CHUNK = 1 << 20


def should_consider(tag: str, metric: str, file_dir: str) -> bool:
    """Katib v0.19.0's ``_should_consider`` (tfevent_loader.py)."""
    parts = metric.split("/")
    wanted_dir = os.path.dirname(metric) if len(parts) >= 2 else file_dir
    return tag.startswith(parts[-1]) and file_dir.endswith(wanted_dir)


@dataclass
class Follower:
    """What has been read of the followed file(s) so far."""

    path: str
    kind: str
    metrics: Sequence[str]
    out: TextIO
    offsets: dict[str, int] = field(default_factory=dict)
    pending: bytes = b""

    def poll(self, final: bool = False) -> None:
        if self.kind == "File":
            self._text(final)
        else:
            for name in self._event_files():
                self._events(name)
        self.out.flush()

    def skip_existing(self) -> None:
        """What is there now is not the trial's. A metrics file left by an earlier trial is
        removed (a trial rewriting it to the same length would otherwise go unseen), as
        each pod's emptyDir starts empty; event files, named per writer, are read from
        their current end."""
        # The directory is there, as the emptyDir mounted at it is on a cluster.
        with contextlib.suppress(OSError):
            os.makedirs(os.path.dirname(self.path) if self.kind == "File" else self.path)
        if self.kind == "File":
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)
            return
        for name in self._event_files():
            with contextlib.suppress(OSError):
                self.offsets[name] = os.stat(name).st_size

    def _read_new(self, name: str) -> bytes:
        at = self.offsets.get(name, 0)
        try:
            with open(name, "rb") as f:
                if os.fstat(f.fileno()).st_size < at:  # rewritten from its start
                    at = 0
                    self.pending = b""
                f.seek(at)
                data = f.read(_CHUNK)
        except OSError:
            return b""
        self.offsets[name] = at + len(data)
        return data

    def _text(self, final: bool) -> None:
        while data := self._read_new(self.path):
            self.pending += data
            *lines, self.pending = self.pending.split(b"\n")
            for line in lines:
                self._print(line)
            if len(self.pending) > MAX_LINE_BYTES:  # a line with no end: keep its start
                self._print(self.pending)
                self.pending = b""
        if final and self.pending:
            self._print(self.pending)
            self.pending = b""

    def _print(self, line: bytes) -> None:
        text = line[:MAX_LINE_BYTES].decode("utf-8", "replace").rstrip("\r")
        self.out.write(METRICS_PREFIX + text + "\n")

    def _event_files(self) -> list[str]:
        found: list[str] = []
        for root, _dirs, files in os.walk(self.path):
            found += [os.path.join(root, f) for f in sorted(files) if "tfevents" in f]
            if len(found) >= MAX_FILES:
                break
        return sorted(found)[:MAX_FILES]

    def _events(self, name: str) -> None:
        start = self.offsets.get(name, 0)
        try:
            with open(name, "rb") as f:
                f.seek(start)
                data = f.read(_CHUNK * 16)
            records, used = read_records(data)
        except (OSError, TFRecordError) as err:
            print(f"tuneop-metrics-file: {name}: {err}", file=sys.stderr)
            self.offsets[name] = 1 << 62  # a broken file is read no further
            return
        self.offsets[name] = start + used
        file_dir = os.path.dirname(name)
        for record in records:
            for s in scalars(record):
                for metric in self.metrics:
                    if should_consider(s.tag, metric, file_dir):
                        self.out.write(f"{METRICS_PREFIX}{metric}={s.value!r}\n")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="tuneop-metrics-file", description=__doc__.split("\n")[0])
    p.add_argument("--path", required=True, help="the metrics file (File) or directory")
    p.add_argument("--kind", choices=["File", "TensorFlowEvent"], default="File")
    p.add_argument("--metric", action="append", default=[], help="TensorFlowEvent: a metric")
    p.add_argument("--poll", type=float, default=0.5, help="seconds between two reads")
    p.add_argument("--run", action="store_true", help="-- PROGRAM ARGS: run the trial too")
    return p


def _run(follower: Follower, argv: list[str], poll: float) -> int:
    """Run the trial while following its file. Its stdout goes to stderr: one stream per
    writer, so a reader pumping lines never sees the trial's half line joined to ours."""
    follower.skip_existing()
    try:
        child = subprocess.Popen(argv, stdout=sys.stderr.fileno())
    except OSError as err:
        print(f"tuneop-metrics-file: cannot start {argv[0]!r}: {err}", file=sys.stderr)
        return 127
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, _frame: child.send_signal(signum))
    while child.poll() is None:
        follower.poll()
        time.sleep(max(poll, 0.05))
    follower.poll(final=True)
    return child.returncode if child.returncode >= 0 else 128 - child.returncode


def main(argv: Sequence[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    # The trial's own words come after "--" and are never read as this program's options.
    program = words[words.index("--") + 1 :] if "--" in words else []
    args = _parser().parse_args(words[: words.index("--")] if "--" in words else words)
    follower = Follower(args.path, args.kind, args.metric, sys.stdout)
    if args.run:
        if not program:
            _parser().error("--run: give the program after --")
        return _run(follower, program, args.poll)
    stopping = False

    def stop(_signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while not stopping:
        follower.poll()
        time.sleep(max(args.poll, 0.05))
    follower.poll(final=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
