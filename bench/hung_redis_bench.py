"""A local session against a hung Redis: what a Redis that never answers costs a session.

A hung Redis is a real listener on loopback that accepts connections and never
answers. The same 30-trial local session runs three ways: without Redis, with
a hung Redis as its mirror (``--redis-url``), and with a real, healthy Redis
for reference when ``redis-server`` is installed. Target: the hung case within
1.5x of the session without Redis (the mirror waits one short timeout, then
backs off instead of waiting on every write).
"""

from __future__ import annotations

import shutil
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from rich.console import Console

from bench.common import header, save, stats
from tuneop.adapters.redis_mirror import RedisMirror
from tuneop.api.session import parse_manifest
from tuneop.cli.run import run_local

TRIALS = 30


def hung_listener() -> tuple[socket.socket, str]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    held: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                held.append(sock.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    return sock, f"redis://127.0.0.1:{sock.getsockname()[1]}/0"


def session_seconds(redis_url: str | None) -> float:
    doc: dict[str, Any] = {
        "apiVersion": "tuneop.dev/v1alpha1",
        "kind": "TuningSession",
        "metadata": {"name": "hung-redis"},
        "spec": {
            "objective": {"metric": "loss"},
            "trials": [{"x": t % 7} for t in range(TRIALS)],
            "maxParallel": 4,
            "runner": {
                "image": "tuneop/runner:0.1.0",
                "objective": "tuneop_runner.objectives.functions:quadratic",
            },
        },
    }
    with tempfile.TemporaryDirectory() as tmp:
        mirrors = [RedisMirror.from_url(redis_url)] if redis_url else []
        start = time.perf_counter()
        out = run_local(
            parse_manifest(doc),
            Path(tmp),
            Console(quiet=True),
            progress=False,
            extra_mirrors=mirrors,
        )
        elapsed = time.perf_counter() - start
    assert out.status.phase == "Succeeded", out.status.message
    return elapsed


def healthy_redis() -> tuple[Any, str] | None:
    if shutil.which("redis-server") is None:
        return None
    from minicluster.redis_server import RedisServer

    server = RedisServer(Path(tempfile.mkdtemp()))
    server.start()
    return server, server.url


def main() -> int:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    header(f"local session of {TRIALS} trivial trials against a hung Redis")
    listener, hung_url = hung_listener()
    figures: dict[str, Any] = {
        "without": stats([session_seconds(None) for _ in range(runs)]),
        "hung": stats([session_seconds(hung_url) for _ in range(runs)]),
    }
    listener.close()
    healthy = healthy_redis()
    if healthy is not None:
        server, url = healthy
        figures["healthy"] = stats([session_seconds(url) for _ in range(runs)])
        server.stop()
    ratio = figures["hung"]["median"] / figures["without"]["median"]
    for case, f in figures.items():
        print(f"{case:>8}: median {f['median']:.2f} s (min {f['min']:.2f}, max {f['max']:.2f})")
    print(f"hung / without = {ratio:.2f}x (target <= 1.5x, runs {runs})")
    print(f"raw: {save('hung-redis', {'trials': TRIALS, 'figures': figures, 'ratio': ratio})}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
