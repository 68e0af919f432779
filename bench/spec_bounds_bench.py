"""Hostile and largest-allowed spec files through ``tuneop plan``: CPU seconds and peak RSS.

Each case is a file at or past a bound of docs/concepts.md ("Spec and Katib files"):
the largest real session that plans (32 parameters of 1,024 values, every output),
a file just inside the YAML value budget that the model then refuses, 200,000
unknown fields, a 15 MiB comment, a billion-laughs document, 100,000 explicit
trials as YAML (refused) and as a JSONL job plan (planned). Each runs as a
process; its CPU time comes from ``os.wait4`` and its peak RSS from ``VmHWM``
in ``/proc/PID/status`` read while it runs (``ru_maxrss`` would count this
process's own memory, which Linux carries across ``exec``), so a busy machine
changes the wall time but not the figures. Target: every case within 200 MB
peak RSS and 5 s of CPU. The load average is printed beside the figures.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench.common import header, save

TUNEOP = Path(sys.executable).parent / "tuneop"
HEAD = """apiVersion: tuneop.dev/v1alpha1
kind: TuningSession
metadata: {name: bench}
spec:
  objective: {metric: loss}
  optimizer: {type: random}
  totalTrials: 400
  maxParallel: 200
  runner: {image: tuneop/runner:0.1.0, objective: "m:f"}
"""
SEARCH = "  searchSpace: [{name: x, type: float, min: 0, max: 1}]\n"


def categorical() -> str:
    values = ",".join(f"v{i}" for i in range(1024))
    rows = "".join(
        f"  - {{name: p{j}, type: categorical, values: [{values}]}}\n" for j in range(32)
    )
    return HEAD + "  searchSpace:\n" + rows


def laughs() -> str:
    rows = ["  l0: &l0 [" + ",".join(["lol"] * 9) + "]\n"]
    rows += [f"  l{k}: &l{k} [" + ",".join([f"*l{k - 1}"] * 9) + "]\n" for k in range(1, 9)]
    return HEAD + SEARCH + "  x:\n" + "".join(rows)


CASES: list[tuple[str, str, Callable[[], str], list[str]]] = [
    ("32 x 1,024 categorical values", "s.yaml", categorical, []),
    ("  the same, -o yaml", "s.yaml", categorical, ["-o", "yaml"]),
    ("  the same, -o json", "s.yaml", categorical, ["-o", "json"]),
    (
        "99,900 values in one unknown field",
        "s.yaml",
        lambda: HEAD + SEARCH + "  u: [" + ",".join(["1"] * 99_900) + "]\n",
        [],
    ),
    (
        "200,000 unknown fields",
        "s.yaml",
        lambda: HEAD + SEARCH + "".join(f"  u{i}: 1\n" for i in range(200_000)),
        [],
    ),
    ("15 MiB comment", "s.yaml", lambda: "#" + "x" * (15 * 2**20) + "\n" + HEAD + SEARCH, []),
    ("billion laughs", "s.yaml", laughs, []),
    (
        "100,000 explicit trials, YAML",
        "s.yaml",
        lambda: HEAD.replace("  optimizer: {type: random}\n  totalTrials: 400\n", "")
        + "  trials:\n"
        + "".join(f"  - {{x: {i}}}\n" for i in range(100_000)),
        [],
    ),
    (
        "100,000 explicit trials, --jobs-file",
        "p.jsonl",
        lambda: "".join(json.dumps({"x": i, "y": i / 2}) + "\n" for i in range(100_000)),
        ["-o", "json"],
    ),
]


def measure(file: str, extra: list[str]) -> dict[str, float]:
    """``tuneop plan`` on ``file`` in the current folder, its output thrown away."""
    args = ["--jobs-file", file] if file.endswith(".jsonl") else [file]
    t0 = time.monotonic()
    proc = subprocess.Popen(
        [str(TUNEOP), "plan", *args, *extra],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    peak_kib = 0
    while True:
        try:
            status_lines = Path(f"/proc/{proc.pid}/status").read_text().splitlines()
        except OSError:
            status_lines = []
        for line in status_lines:
            if line.startswith("VmHWM:"):
                peak_kib = max(peak_kib, int(line.split()[1]))
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        time.sleep(0.02)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return {
        "exit": proc.returncode,
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
        "peak_mb": round(peak_kib / 1024, 1),
        "wall_s": round(time.monotonic() - t0, 2),
    }


def main() -> None:
    header("tuneop plan on hostile and largest-allowed spec files")
    out: dict[str, dict[str, float]] = {}
    here = Path.cwd()
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)
        try:
            for title, file, make, extra in CASES:
                Path(file).write_text(make())
                figures = measure(file, extra)
                out[title] = figures
                load = os.getloadavg()[0]
                print(
                    f"{title:40} exit {figures['exit']}  {figures['cpu_s']:5.2f} s CPU"
                    f"  {figures['peak_mb']:6.1f} MB peak  ({figures['wall_s']:.1f} s wall,"
                    f" load {load:.1f})",
                    flush=True,
                )
        finally:
            os.chdir(here)
    save("spec_bounds_bench", {"cases": out, "load": os.getloadavg()})


if __name__ == "__main__":
    main()
