"""Where a Python process's memory goes: tracemalloc, driven by SIGUSR1.

Python imports ``sitecustomize`` at start-up from its path: the rss measurement puts this
directory first on the operator's ``PYTHONPATH`` and names an output file stem in
``TUNEOP_BENCH_TRACE``. The first SIGUSR1 starts tracing (so start-up is left out); each
later one writes what was allocated since and is still alive, by the code that owns it, to
``<stem>.<n>`` (written whole, then renamed, so a reader never sees half a file).
"""

from __future__ import annotations

import json
import os
import signal
import tracemalloc
from types import FrameType

_OUT = os.environ.get("TUNEOP_BENCH_TRACE")
_dumps = 0


def _key(filename: str) -> str:
    if "site-packages/" in filename:
        return "/".join(filename.split("site-packages/", 1)[1].split("/")[:3])
    if "/operator/tuneop/" in filename:
        return "tuneop/" + filename.split("/operator/tuneop/", 1)[1]
    if "/lib/python3." in filename:
        rest = filename.split("/lib/python3.", 1)[1].split("/", 1)[-1]
        return "stdlib:" + rest.split("/", 1)[0]
    return filename


def _owner(traceback: tracemalloc.Traceback) -> str:
    # The most recent frame outside the standard library made (or asked for) the block.
    site = None
    for frame in reversed(traceback):
        key = _key(frame.filename)
        site = site or key
        if not (key.startswith("stdlib:") or key.startswith("<")):
            return key if key == site else key + " via " + site
    return site or "?"


def _signal(signum: int, frame: FrameType | None) -> None:
    global _dumps
    _dumps += 1
    sizes: dict[str, int] = {}
    if not tracemalloc.is_tracing():
        tracemalloc.start(16)
    else:
        for stat in tracemalloc.take_snapshot().statistics("traceback"):
            key = _owner(stat.traceback)
            sizes[key] = sizes.get(key, 0) + stat.size
    tmp = f"{_OUT}.{_dumps}.tmp"
    with open(tmp, "w") as handle:
        json.dump({"traced": tracemalloc.get_traced_memory(), "by": sizes}, handle)
    os.rename(tmp, f"{_OUT}.{_dumps}")


if _OUT:
    signal.signal(signal.SIGUSR1, _signal)
