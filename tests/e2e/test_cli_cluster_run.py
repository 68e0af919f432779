"""``tuneop run FILE`` against a real API server: apply, follow, summary, exit codes.

The command runs as a user runs it (a subprocess with the cluster's kubeconfig); the
module's operator serves its namespaces with a Redis mirror (a real redis-server), so a run
given ``--redis-url`` ends with every trial in a results folder and the report.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from minicluster.harness import Cluster
from minicluster.kube import Json
from minicluster.redis_server import RedisServer
from tests.e2e.operator_support import (
    EXAMPLES,
    Served,
    explicit_session,
    get_session,
    serve_namespaces,
)


@pytest.fixture(scope="module")
def served(
    cluster: Cluster, crd: Json, redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    workdir = tmp_path_factory.mktemp("operator-cli-run")
    with serve_namespaces(cluster, workdir, ["run"], ["--redis-url", redis_server.url]) as served:
        yield served


def tuneop_run(
    cluster: Cluster, tmp_path: Path, manifest: Json | Path, *args: str
) -> subprocess.Popen[str]:
    path = manifest if isinstance(manifest, Path) else tmp_path / "session.yaml"
    if not isinstance(manifest, Path):
        path.write_text(yaml.safe_dump(manifest))
    return subprocess.Popen(
        [sys.executable, "-m", "tuneop", "run", str(path), "--no-progress", *args],
        env={**os.environ, "KUBECONFIG": str(cluster.kubeconfig)},
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finished(proc: subprocess.Popen[str], timeout: float = 180) -> tuple[int, str]:
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out + err


def test_run_follows_a_cluster_session_to_its_summary_report_and_exit_code(
    served: Served, redis_server: RedisServer, tmp_path: Path
) -> None:
    ns = served.ns("run")
    args = ["-n", ns, "--redis-url", redis_server.url, "--results-dir", str(tmp_path / "r")]
    code, out = finished(tuneop_run(served.cluster, tmp_path, EXAMPLES / "quickstart.yaml", *args))
    assert code == 0, out + served.explain(ns, "quickstart")
    assert f"{ns}/quickstart: applied, generation 1" in out
    assert "session quickstart: Succeeded" in out and "Top 5 by loss (minimize)" in out
    assert 'best parameters: {"x": 3, "y": -1.0}' in out
    assert len(list((tmp_path / "r" / "quickstart" / "trials").glob("trial-*.json"))) == 30
    assert f"report: {tmp_path / 'r' / 'quickstart' / 'report.html'}" in out
    assert (tmp_path / "r" / "quickstart" / "report.html").stat().st_size > 1_000_000

    # The same spec again: already finished for this generation, so at once the same result,
    # this time from the status's leaderboard (no Redis given).
    code, again = finished(
        tuneop_run(served.cluster, tmp_path, EXAMPLES / "quickstart.yaml", "-n", ns), 60
    )
    assert code == 0, again
    assert "session quickstart: Succeeded" in again and "the status's leaderboard" in again


def test_run_exits_1_when_trials_fail_as_a_local_run_does(served: Served, tmp_path: Path) -> None:
    ns = served.ns("run")
    trials = [{"x": 1}, {"x": 2, "fail": True}, {"x": 3}]
    manifest = explicit_session("some-fail", "testing:fail_when", trials, maxParallel=3)
    code, out = finished(tuneop_run(served.cluster, tmp_path, manifest, "-n", ns))
    assert code == 1, out + served.explain(ns, "some-fail")
    assert "session some-fail: Succeeded" in out


def test_no_wait_and_dry_run_return_after_the_apply(served: Served, tmp_path: Path) -> None:
    ns = served.ns("run")
    slow = explicit_session("later", "testing:sleep", [{"seconds": 3}])
    code, out = finished(tuneop_run(served.cluster, tmp_path, slow, "-n", ns, "--dry-run"), 60)
    assert code == 0 and "validated by the API server (dry run)" in out, out
    assert get_session(served.cluster, ns, "later") is None
    code, out = finished(tuneop_run(served.cluster, tmp_path, slow, "-n", ns, "--no-wait"), 60)
    assert code == 0 and f"{ns}/later: applied" in out, out
    assert get_session(served.cluster, ns, "later") is not None
    served.wait_phase(ns, "later", "Succeeded", timeout=120)


@pytest.mark.parametrize(
    ("args", "code", "suspended"),
    [([], 130, False), (["--cancel-on-interrupt"], 2, True)],
    ids=["leaves-it-running", "cancel-on-interrupt"],
)
def test_ctrl_c_stops_following(
    served: Served, tmp_path: Path, args: list[str], code: int, suspended: bool
) -> None:
    ns = served.ns("run")
    name = "interrupted-" + ("cancel" if suspended else "left")
    manifest = explicit_session(name, "testing:sleep", [{"seconds": 20}] * 4, maxParallel=1)
    proc = tuneop_run(served.cluster, tmp_path, manifest, "-n", ns, *args)
    served.wait_phase(ns, name, "Running", timeout=60)
    time.sleep(1)  # the command is following by now: it polls every second
    proc.send_signal(signal.SIGINT)
    got, out = finished(proc, 60)
    assert got == code, out
    session = get_session(served.cluster, ns, name) or {}
    assert bool(session["spec"].get("suspend")) is suspended, session["spec"]
    served.cluster.kube.delete(f"/apis/tuneop.dev/v1alpha1/namespaces/{ns}/tuningsessions/{name}")
