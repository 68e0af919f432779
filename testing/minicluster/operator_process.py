"""The operator under test as a real process: ``tuneop operator`` against a cluster.

``OperatorProcess`` runs the virtualenv's ``tuneop operator`` for the given namespaces with a
kubeconfig (the harness's admin, or any other identity), in a process group of its own that
dies with its starter (see ``processes``), its stdout and stderr appended to a log file. It
can be stopped (SIGTERM, then SIGKILL), killed outright (SIGKILL, as when a node dies) and
started again; every start and end is marked in the log, which failure messages quote
(``tail``). The end-to-end tests and the control-plane benchmark both drive the operator
through it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TypeVar

from minicluster import processes
from minicluster.controlplane import REPO_ROOT

T = TypeVar("T")

TUNEOP = str(Path(sys.executable).parent / "tuneop")


class OperatorExited(RuntimeError):
    """The operator process ended while it was expected to run."""


class OperatorProcess:
    """``tuneop operator --namespace NS ...`` as a child process, logging to a file."""

    def __init__(
        self,
        kubeconfig: Path,
        namespaces: Sequence[str],
        log_path: Path,
        extra_args: Sequence[str] = (),
        extra_env: Mapping[str, str] | None = None,
    ) -> None:
        self.kubeconfig = kubeconfig
        self.namespaces = list(namespaces)
        self.log_path = log_path
        self.extra_args = list(extra_args)
        self.extra_env = dict(extra_env or {})
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.started_wall = 0.0  # time.time() of the latest start

    @property
    def argv(self) -> list[str]:
        args = [TUNEOP, "operator"]
        for namespace in self.namespaces:
            args += ["--namespace", namespace]
        # Neither kopf's liveness endpoint nor the metrics port: the chart's operator pod
        # binds its own ports on this host, and two operators must not collide.
        return [*args, "--liveness", "", "--metrics-port", "0", *self.extra_args]

    @property
    def pid(self) -> int:
        assert self.process is not None, "the operator is not running"
        return self.process.pid

    def start(self) -> OperatorProcess:
        assert self.process is None, "the operator is running already"
        # Nothing of the starter's own cluster or settings: only the kubeconfig given.
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("KUBERNETES_", "TUNEOP_"))
        }
        env.update(KUBECONFIG=str(self.kubeconfig), PYTHONUNBUFFERED="1", **self.extra_env)
        self.starts += 1
        self._note(f"start #{self.starts}: {' '.join(self.argv)}")
        self.started_wall = time.time()
        self.process = processes.spawn(self.argv, log_path=self.log_path, env=env, cwd=REPO_ROOT)
        return self

    def wait_for(
        self, what: str, probe: Callable[[], T | None], timeout: float = 90.0, interval: float = 0.1
    ) -> T:
        """Poll ``probe`` until it is truthy; fail early, with the log, if the operator ends."""
        deadline = time.monotonic() + timeout
        while True:
            self.check()
            value = probe()
            if value:
                return value
            if time.monotonic() >= deadline:
                raise TimeoutError(
                    f"timed out after {timeout:.0f}s waiting for {what}\n{self.tail(40)}"
                )
            time.sleep(interval)

    def stop(self) -> int | None:
        """SIGTERM, then SIGKILL after a grace period; the exit code (None if not running)."""
        if self.process is None:
            return None
        code = processes.stop(self.process, grace=15.0)
        self.process = None
        self._note(f"stopped, exit code {code}")
        return code

    def kill(self) -> None:
        """SIGKILL: no clean-up at all, as when a node dies or the OOM killer strikes."""
        assert self.process is not None, "the operator is not running"
        processes.signal_group(self.process, signal.SIGKILL)
        self.process.wait()
        self.process = None
        self._note("killed with SIGKILL")

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def check(self) -> None:
        """Raise ``OperatorExited`` (with the log's tail) if the process has ended by itself."""
        if self.process is not None and self.process.poll() is not None:
            raise OperatorExited(
                f"the operator exited with {self.process.returncode}:\n{self.tail(40)}"
            )

    def tail(self, lines: int = 60) -> str:
        state = "running" if self.alive() else "NOT RUNNING"
        return f"--- operator log {self.log_path} ({state}), last {lines} lines ---\n" + (
            processes.tail(self.log_path, lines)
        )

    def log_text(self) -> str:
        """The whole log ('' before the first start)."""
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def errors(self) -> list[str]:
        """The ERROR lines of the log (kopf's text format)."""
        return [line for line in self.log_text().splitlines() if "[ERROR" in line]

    def _note(self, text: str) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("a") as log:
            log.write(f"===== {text}\n")
