"""A real ``mlflow server`` on a free loopback port, for the MLflow tracker's tests.

``MlflowServer`` runs the MLflow package's server (the suite's venv has it: the
``dev`` extra) with a SQLite backend and its artifacts in a working directory of
its own, waits until ``/health`` answers, and on ``stop`` kills its process group
(the server runs workers). ``start`` again serves the same database on the same
port: an outage and its end. ``command`` is a shell line to start it with (a
documented one, ``$MLFLOW_PORT`` its port); without it, the server's own argv.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from minicluster.redis_server import free_port

__all__ = ["MlflowServer"]

START_TIMEOUT = 240.0  # the first start creates its tables: slow on a loaded machine


class MlflowServer:
    def __init__(self, workdir: Path, command: str | None = None) -> None:
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.command = command
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def argv(self) -> list[str]:
        if self.command is not None:
            return ["bash", "-euo", "pipefail", "-c", self.command]
        mlflow = str(Path(sys.executable).parent / "mlflow")
        return [
            mlflow,
            "server",
            "--backend-store-uri",
            f"sqlite:///{self.workdir / 'mlflow.db'}",
            "--artifacts-destination",
            str(self.workdir / "artifacts"),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--workers",
            "1",
        ]

    def start(self) -> None:
        env = {**os.environ, "MLFLOW_PORT": str(self.port)}
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
        log = (self.workdir / "server.log").open("ab")
        self.proc = subprocess.Popen(
            self.argv(),
            cwd=self.workdir,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + START_TIMEOUT
        while not self.answers():
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.stop()
                tail = (self.workdir / "server.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"mlflow server did not start on port {self.port}:\n{tail}")
            time.sleep(0.5)

    def answers(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/health", timeout=2) as r:
                return bool(r.status == 200)
        except (OSError, urllib.error.URLError):
            return False

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.proc = None
        deadline = time.monotonic() + 10
        while self.answers() and time.monotonic() < deadline:  # a worker that outlived it
            time.sleep(0.1)
