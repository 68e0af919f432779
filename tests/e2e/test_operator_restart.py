"""The operator killed with SIGKILL in the middle of a session, then started again.

The session must finish as if nothing happened: every worker Job created exactly once (the
restarted operator adopts the Jobs launched before the kill, and harvests the ones that
finished while it was down), every trial's result persisted, the counts right.
"""

from __future__ import annotations

import json
from pathlib import Path

from minicluster.harness import Cluster
from minicluster.kube import Json
from minicluster.operator_process import OperatorProcess
from minicluster.watch import JobWatch
from tests.e2e.operator_support import (
    apply,
    explain,
    explicit_session,
    is_finished,
    release_sessions,
    session_jobs,
    session_path,
    status_of,
    wait_phase,
    wait_with_log,
)

TRIALS = 12
MAX_PARALLEL = 3


def test_operator_killed_mid_session_resumes_without_duplicates_or_losses(
    cluster: Cluster, crd: Json, namespace: str, tmp_path: Path
) -> None:
    ns, name = namespace, "resumed"
    results = tmp_path / "results"
    operator = OperatorProcess(
        cluster.kubeconfig, [ns], tmp_path / "operator.log", ["--results-dir", str(results)]
    )
    manifest = explicit_session(
        name,
        "testing:sleep",
        [{"seconds": 1.0 + 0.1 * (i % 3)} for i in range(TRIALS)],
        maxParallel=MAX_PARALLEL,
    )

    def mid_session() -> Json | None:
        """Some Jobs harvested and some still running: the moment to pull the plug."""
        status = status_of(cluster, ns, name)
        running = [j for j in session_jobs(cluster, ns, name) if not is_finished(j)]
        harvested = (status.get("jobs") or {}).get("harvested", 0)
        return status if 3 <= harvested <= TRIALS - MAX_PARALLEL and running else None

    try:
        with JobWatch(cluster.kubeconfig, ns) as watch:
            operator.start()
            apply(cluster, ns, manifest)
            wait_with_log(cluster, operator, "some Jobs harvested, others running", mid_session, 60)
            operator.kill()

            # While the operator is down, the Jobs it launched run to their end, unharvested.
            wait_with_log(
                cluster,
                operator,
                "the Jobs running at the kill to finish",
                lambda: all(is_finished(j) for j in session_jobs(cluster, ns, name)),
                timeout=60,
            )
            left_at_restart = [j["metadata"]["name"] for j in session_jobs(cluster, ns, name)]

            operator.start()
            session = wait_phase(cluster, operator, ns, name, "Succeeded", "Failed", timeout=90)
            wait_with_log(
                cluster,
                operator,
                "the harvested Jobs to be deleted",
                lambda: not session_jobs(cluster, ns, name),
            )

        why = explain(cluster, operator, ns, name)
        status = session["status"]
        assert left_at_restart, f"no Job finished while the operator was down\n{why}"
        assert status["phase"] == "Succeeded", why
        # No duplicate: each Job name (= index) created once, and no more than maxParallel ran.
        assert watch.names() == {f"{name}-{i}" for i in range(TRIALS)}, why
        assert not watch.duplicates(), (watch.duplicates(), why)
        assert watch.peak_unfinished <= MAX_PARALLEL, why
        assert not watch.errors, watch.errors
        # No lost result: every trial counted once and persisted.
        trials = status["trials"]
        assert (trials["total"], trials["succeeded"]) == (TRIALS, TRIALS), why
        assert (trials["failed"], trials["lost"], trials["cancelled"]) == (0, 0, 0), why
        assert status["jobs"]["harvested"] == TRIALS, why
        assert status["harvestedJobs"] == f"0-{TRIALS - 1}", why
        folder = results / ns / name / "trials"
        records = [json.loads(p.read_text()) for p in sorted(folder.glob("trial-*.json"))]
        assert [r["trial"] for r in records] == list(range(TRIALS)), why
        assert all(r["outcome"] == "Succeeded" for r in records), records
        assert operator.starts == 2
    finally:
        if operator.alive():
            # Delete the session while kopf can still take its finalizer off.
            cluster.kube.delete(session_path(ns, name))
            wait_with_log(
                cluster,
                operator,
                f"session {ns}/{name} to be deleted",
                lambda: cluster.kube.get_or_none(session_path(ns, name)) is None,
            )
        else:
            release_sessions(cluster, ns)
        operator.stop()
