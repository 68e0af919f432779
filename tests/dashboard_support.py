"""optuna-dashboard as a test starts it: on a free loopback port, over a storage, read
through the JSON API its own pages read (``/api/studies``, ``/api/studies/<id>``).

optuna-dashboard opens an RDB storage without making its tables, so a test starts it
once the session's first write has made them (``has_study``).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from minicluster.redis_server import free_port

__all__ = ["Dashboard", "attrs", "has_study", "wait_for"]

BIN = Path(sys.executable).parent  # the suite's venv, where optuna-dashboard is installed


def wait_for(ready: Callable[[], Any], seconds: float, what: str) -> Any:
    """What ``ready`` returns once it is truthy; an AssertionError after ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        got = ready()
        if got:
            return got
        time.sleep(0.2)
    raise AssertionError(f"gave up waiting {seconds}s for {what}")


def has_study(db: Path) -> bool:
    """Whether the SQLite storage ``db`` has its tables and a study in them."""
    if not db.exists():
        return False
    with contextlib.closing(sqlite3.connect(db)) as conn:
        try:
            return bool(conn.execute("SELECT count(*) FROM studies").fetchone()[0])
        except sqlite3.Error:
            return False


def attrs(trial: Mapping[str, Any]) -> dict[str, str]:
    """A trial's user attributes as the dashboard serves them (values as text)."""
    return {a["key"]: a["value"] for a in trial["user_attrs"]}


class Dashboard:
    """optuna-dashboard serving ``storage``, its log in ``cwd/dashboard.log``."""

    def __init__(self, cwd: Path, env: Mapping[str, str], storage: str) -> None:
        self.port = free_port()
        self.log = (cwd / "dashboard.log").open("w")
        argv = [str(BIN / "optuna-dashboard"), storage, "--host", "127.0.0.1"]
        self.proc = subprocess.Popen(
            [*argv, "--port", str(self.port)],
            cwd=cwd,
            env=dict(env),
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_for(lambda: self.get("/api/studies") is not None, 60, "the dashboard to answer")

    def get(self, path: str) -> Any:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=5) as r:
                return json.load(r)
        except OSError:
            return None

    def trials(self, study: str) -> list[dict[str, Any]]:
        """The study's trials as the dashboard serves them (none before it exists)."""
        studies = (self.get("/api/studies") or {}).get("study_summaries", [])
        ids = [s["study_id"] for s in studies if s["study_name"] == study]
        if not ids:
            return []
        detail = self.get(f"/api/studies/{ids[0]}") or {}
        return list(detail.get("trials", []))

    def at_least(self, study: str, n: int) -> list[dict[str, Any]] | None:
        """The study's trials once the dashboard shows ``n`` of them, else None."""
        trials = self.trials(study)
        return trials if len(trials) >= n else None

    def stop(self) -> None:
        os.killpg(self.proc.pid, signal.SIGTERM)
        self.proc.wait(timeout=30)
        self.log.close()
