"""Failure policy and per-trial retries on a real control plane.

Every worker Job carries a ``podFailurePolicy``; the Job controller of kube-controller-manager
1.37 applies it, and the node simulator plays the platform's part: it evicts a pod on request
(a ``DisruptionTarget`` condition, as a kubelet under node pressure), leaves a pod whose image
names its unpullable registry in ``ImagePullBackOff``, and a pod selecting its unschedulable
label unbound. The trials are command objectives that keep a record of every run in a folder
on the host (under /run, which the trial pod's /tmp mount does not hide), so a test can count
how many times each trial ran.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from minicluster.kube import Json
from minicluster.nodesim import EVICT_ANNOTATION, UNPULLABLE_REGISTRY, UNSCHEDULABLE_LABEL
from minicluster.watch import JobWatch
from tests.e2e.operator_support import (
    RUNNER_IMAGE,
    Served,
    apply,
    condition,
    running_pids,
    served_module,
    session_jobs,
    session_manifest,
    session_pods,
)

NAMESPACES = ("retries", "broken", "evicted", "stuck")

# A trial that records each run (its attempt, from TUNEOP_ATTEMPT) in RUNS/x<x>, fails the
# first time it sees x == FAIL_X, and sleeps on its first run when x == SLEEP_X.
TRIAL = """
import json, os, pathlib, sys, time
params = json.load(sys.stdin)
runs = pathlib.Path(os.environ["RUNS"]) / f"x{params['x']}"
with runs.open("a") as f:
    f.write(os.environ.get("TUNEOP_ATTEMPT", "0") + "\\n")
first = len(runs.read_text().split()) == 1
if first and params["x"] == int(os.environ.get("FAIL_X", "-1")):
    sys.exit("failing the first time")
if first and params["x"] == int(os.environ.get("SLEEP_X", "-1")):
    time.sleep(300)
print(json.dumps({"value": params["x"]}))
"""


served = served_module(*NAMESPACES)


@pytest.fixture
def runs() -> Iterator[Path]:
    folder = Path("/run") / f"tuneop-e2e-runs-{uuid.uuid4().hex[:8]}"
    folder.mkdir(mode=0o777)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def recorded(runs: Path) -> dict[int, list[str]]:
    """Each trial's runs, by its x: the attempt each run was given."""
    return {int(p.name[1:]): p.read_text().split() for p in sorted(runs.glob("x*"))}


def command_session(name: str, runs: Path, xs: list[int], **spec: Any) -> Json:
    env = [{"name": "RUNS", "value": str(runs)}, *spec.pop("env", [])]
    return session_manifest(
        name,
        objective={"metric": "value", "direction": "minimize"},
        trials=[{"x": x} for x in xs],
        runner={
            "image": spec.pop("image", RUNNER_IMAGE),
            "objectiveCommand": ["python", "-c", TRIAL],
            "env": env,
        },
        **spec,
    )


def test_a_retry_runs_only_the_trial_that_failed(served: Served, runs: Path) -> None:
    cluster, ns, name = served.cluster, served.ns("retries"), "three"
    session = command_session(
        name, runs, [1, 2, 3], trialsPerJob=3, retries=1, env=[{"name": "FAIL_X", "value": "2"}]
    )
    with JobWatch(cluster.kubeconfig, ns) as watch:
        apply(cluster, ns, session)
        done = served.wait_phase(ns, name, "Succeeded", "Failed", timeout=120)
    why = served.explain(ns, name)
    status = done["status"]
    assert status["phase"] == "Succeeded", why
    assert {k: status["trials"][k] for k in ("succeeded", "failed", "retried")} == {
        "succeeded": 3,
        "failed": 0,
        "retried": 1,
    }, why
    # The packed Job ran trials 1, 2 and 3 once; the retry Job ran trial 2 alone.
    assert watch.names() == {f"{name}-0", f"{name}-1"}, why
    assert not watch.duplicates()
    assert recorded(runs) == {1: ["0"], 2: ["0", "1"], 3: ["0"]}, why
    assert status["exitCode"] == 0, why


def test_the_reserved_exit_code_fails_the_job_at_once_without_retries(served: Served) -> None:
    cluster, ns, name = served.cluster, served.ns("broken"), "broken"
    # An objective that cannot be imported: the runner exits 78, its reserved code.
    session = session_manifest(
        name,
        objective={"metric": "value"},
        trials=[{"x": 1}],
        runner={"image": RUNNER_IMAGE, "objective": "tuneop_runner.objectives.testing:nope"},
        retries=3,
        jobCleanup="Keep",
    )
    with JobWatch(cluster.kubeconfig, ns) as watch:
        apply(cluster, ns, session)
        done = served.wait_phase(ns, name, "Succeeded", "Failed", timeout=90)
    why = served.explain(ns, name)
    status = done["status"]
    assert (status["phase"], status["trials"]["failed"]) == ("Failed", 1), why
    assert status["trials"].get("retried", 0) == 0, why
    assert watch.names() == {f"{name}-0"}, why
    (job,) = session_jobs(cluster, ns, name)
    failed = condition(job["status"], "Failed") or {}
    assert failed.get("reason") == "PodFailurePolicy", job["status"]
    assert len(session_pods(cluster, ns, name)) == 1  # one attempt, no pointless retries


def test_an_evicted_trial_runs_again_without_counting_as_a_failure(
    served: Served, runs: Path
) -> None:
    cluster, ns, name = served.cluster, served.ns("evicted"), "drained"
    session = command_session(
        name, runs, [7], maxFailedTrials=0, env=[{"name": "SLEEP_X", "value": "7"}]
    )
    with JobWatch(cluster.kubeconfig, ns) as watch:
        apply(cluster, ns, session)
        (pod,) = served.wait_for(
            "the trial to run",
            lambda: [p for p in session_pods(cluster, ns, name) if running_pids([p])]
            if recorded(runs)
            else None,
            timeout=60,
        )
        meta = pod["metadata"]
        cluster.kube.patch(
            f"/api/v1/namespaces/{ns}/pods/{meta['name']}",
            {"metadata": {"annotations": {EVICT_ANNOTATION: "The node was drained."}}},
        )
        done = served.wait_phase(ns, name, "Succeeded", "Failed", timeout=150)
    why = served.explain(ns, name)
    status = done["status"]
    assert status["phase"] == "Succeeded", why
    assert {k: status["trials"][k] for k in ("succeeded", "failed")} == {
        "succeeded": 1,
        "failed": 0,
    }, why
    assert status["infrastructure"]["evictions"] == 1, why
    assert watch.names() == {f"{name}-0"}, why  # Kubernetes replaced the pod; no retry Job
    assert recorded(runs) == {7: ["0", "0"]}, why


@pytest.mark.parametrize(
    ("image", "template_extra", "reason"),
    [
        (f"{UNPULLABLE_REGISTRY}/trainer:1", {}, "ImagePullBackOff"),
        (RUNNER_IMAGE, {"nodeSelector": {UNSCHEDULABLE_LABEL: "yes"}}, "Unschedulable"),
    ],
    ids=["image-pull-back-off", "unschedulable"],
)
def test_a_pod_that_never_starts_is_an_infrastructure_condition_not_a_trial_failure(
    served: Served, runs: Path, image: str, template_extra: Json, reason: str
) -> None:
    cluster, ns = served.cluster, served.ns("stuck")
    name = reason.lower()
    session = command_session(
        name, runs, [1], image=image, podStartTimeoutSeconds=3, maxFailedTrials=0
    )
    if template_extra:
        session["spec"]["runner"]["nodeSelector"] = template_extra["nodeSelector"]
    apply(cluster, ns, session)
    done = served.wait_phase(ns, name, "Succeeded", "Failed", timeout=90)
    why = served.explain(ns, name)
    status = done["status"]
    # Nothing succeeded, but no trial failed: the failure budget (0) was not what ended it.
    assert (status["phase"], (condition(status, "Failed") or {}).get("reason")) == (
        "Failed",
        "NoTrialSucceeded",
    ), why
    assert (status["trials"]["infraFailed"], status["trials"]["failed"]) == (1, 0), why
    assert status["infrastructure"]["podsNotStarted"] == 1, why
    degraded = condition(status, "InfrastructureDegraded") or {}
    assert (degraded.get("status"), degraded.get("reason")) == ("True", reason), why

    def event() -> Json | None:
        items = cluster.kube.get(f"/api/v1/namespaces/{ns}/events")["items"]
        return next(
            (e for e in items if e.get("reason") == reason and e["involvedObject"]["name"] == name),
            None,
        )

    # Events are posted after the status write: wait for it.
    posted = served.wait_for(f"a {reason} event on the session", event, timeout=30)
    assert posted["type"] == "Warning" and "not started" in posted["message"], posted
    assert recorded(runs) == {}, why  # the trial never ran
    served.wait_for("the stuck Job to be deleted", lambda: not session_jobs(cluster, ns, name))
