"""A restarted operator adopts running sessions without writing what did not change.

Restart recovery is bound by the write limiter (20 writes/s): each write a new process
makes for a session it adopts delays every other session's recovery. What did not change
across the restart costs nothing: a session whose Jobs all still run gets no status write
and no Event, and a session whose Job finished during the outage gets its status written
(the harvest) and its next Job, but no routine Event (TrialsFinished, NewBest,
TrialsStarted) at once: the process before posted that session's routine Events, and they
are sampled from the adoption on, as within one process (``adapters/kube/events.py``).
"""

from __future__ import annotations

import time
from pathlib import Path

from minicluster.harness import Cluster
from minicluster.kube import Json
from minicluster.operator_process import OperatorProcess
from tests.e2e.operator_support import (
    apply,
    explain,
    explicit_session,
    is_finished,
    release_sessions,
    session_jobs,
    session_path,
    status_of,
    wait_with_log,
)

LONG = 600.0  # a trial that outlives the test: its session does not change
SHORT = 8.0  # a trial that ends while no operator runs


def tuneop_events(cluster: Cluster, ns: str) -> dict[str, tuple[str, str, str]]:
    """The Events tuneop posted in ``ns``: name -> (session, reason, message)."""
    items = cluster.kube.get(f"/api/v1/namespaces/{ns}/events").get("items") or []
    return {
        e["metadata"]["name"]: (e["involvedObject"]["name"], e["reason"], e["message"])
        for e in items
        if (e.get("source") or {}).get("component") == "tuneop"
    }


def jobs_of(status: Json, key: str) -> int:
    return int((status.get("jobs") or {}).get(key) or 0)


def test_a_restarted_operator_writes_nothing_for_what_did_not_change(
    cluster: Cluster, crd: Json, namespace: str, tmp_path: Path
) -> None:
    ns = namespace
    operator = OperatorProcess(cluster.kubeconfig, [ns], tmp_path / "operator.log")
    steady = explicit_session("steady", "testing:sleep", [{"seconds": LONG}] * 2, maxParallel=1)
    moved = explicit_session(
        "moved", "testing:sleep", [{"seconds": SHORT}, {"seconds": LONG}], maxParallel=1
    )
    try:
        operator.start()
        apply(cluster, ns, steady, moved)
        wait_with_log(
            cluster,
            operator,
            "both sessions to record their first Job",
            lambda: all(
                jobs_of(status_of(cluster, ns, n), "launched") >= 1 for n in ("steady", "moved")
            ),
            60,
        )
        operator.kill()
        at_kill = status_of(cluster, ns, "moved")
        assert jobs_of(at_kill, "harvested") == 0, f"moved-0 ended before the kill\n{at_kill}"
        wait_with_log(
            cluster,
            operator,
            "moved-0 to finish while no operator runs",
            lambda: all(is_finished(j) for j in session_jobs(cluster, ns, "moved")),
            90,
        )
        before = tuneop_events(cluster, ns)
        steady_before = status_of(cluster, ns, "steady")
        assert {s for s, _, _ in before.values()} == {"steady", "moved"}, before

        operator.start()
        wait_with_log(
            cluster,
            operator,
            "the new operator to harvest moved-0 and launch moved-1",
            lambda: jobs_of(status_of(cluster, ns, "moved"), "harvested") == 1
            and any(j["metadata"]["name"] == "moved-1" for j in session_jobs(cluster, ns, "moved")),
            90,
        )
        # Events are posted after the status write and the best ConfigMap: give them time.
        wait_with_log(
            cluster,
            operator,
            "moved's best ConfigMap",
            lambda: cluster.kube.get_or_none(f"/api/v1/namespaces/{ns}/configmaps/moved-best"),
            30,
        )
        time.sleep(3.0)
        why = explain(cluster, operator, ns, "moved")
        new = {k: v for k, v in tuneop_events(cluster, ns).items() if k not in before}
        assert new == {}, f"Events posted on adoption: {sorted(new.values())}\n{why}"
        assert status_of(cluster, ns, "steady") == steady_before, why
    finally:
        if operator.alive():
            for name in ("steady", "moved"):
                cluster.kube.delete(session_path(ns, name))
            wait_with_log(
                cluster,
                operator,
                f"the sessions of {ns} to be deleted",
                lambda: not (cluster.kube.get(session_path(ns)).get("items") or []),
            )
        else:
            release_sessions(cluster, ns)
        operator.stop()
