"""A session of JobSet trials through the real reconciler and ``KubeJobs`` over a fake API server.

The JobSet is the trial resource here (any kind goes the same way): created with its
deterministic name, counted against maxParallel, its primary pod's log harvested before it is
deleted, a failed one retried by creating a new one, one a killed operator created adopted,
and a failure told apart as the platform's or the trial's from its pods.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

import pytest

from tuneop.adapters.kube.jobs import KubeJobs
from tuneop.adapters.kube.ratelimit import TokenBucket
from tuneop.adapters.kube.transport import Answer, Kube, Request
from tuneop.api.errors import SpecError
from tuneop.api.session import SessionRef
from tuneop.api.spec import SessionSpec, parse_spec
from tuneop.core.jobs.observed import JobState
from tuneop.reconciler import Reconciler
from tuneop.testing import FakeStatus, FrozenClock, MemoryEvents, MemoryResults

Json = dict[str, Any]
REF = SessionRef(namespace="ns", name="sets", uid="uid-1")
T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
API = "/apis/jobset.x-k8s.io/v1alpha2"
COLLECTION = f"{API}/namespaces/ns/jobsets"
NAME_LABEL = "jobset.sigs.k8s.io/jobset-name"
MASTER = {"jobset.sigs.k8s.io/replicatedjob-name": "master"}


def _stamp(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def _matches(labels: dict[str, str], selector: str) -> bool:
    """Equality terms and one ``key in (a,b)`` term, as tuneop writes them."""
    if " in (" in selector:
        key, _, rest = selector.partition(" in (")
        return labels.get(key) in rest.rstrip(")").split(",")
    return all(labels.get(k) == v for k, _, v in (t.partition("=") for t in selector.split(",")))


@dataclass
class JobSetApi:
    """JobSets and their pods, as the API server and JobSet's controller keep them."""

    now: Callable[[], datetime]
    objects: dict[str, Json] = field(default_factory=dict)
    pods: dict[str, Json] = field(default_factory=dict)
    logs: dict[str, bytes] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)
    # The API server refuses every create as invalid (its schema).
    refuse: bool = False

    def __call__(self, request: Request) -> Answer:
        status, payload = self._route(request)
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        return Answer(status, iter([body]), "OK" if status < 300 else "Error")

    def _route(self, req: Request) -> tuple[int, Any]:
        path, query = unquote(req.path), dict(req.query)
        if path == API:
            resources = [{"name": "jobsets", "kind": "JobSet", "namespaced": True}]
            return 200, {"resources": resources}
        if path.count("/") == 3:  # another group version's discovery: not served here
            return 404, {"kind": "Status", "code": 404}
        if path == "/api/v1/namespaces/ns/pods":
            sel = query.get("labelSelector", "")
            self.calls.append(f"list pods {sel}")
            items = [p for p in self.pods.values() if _matches(p["metadata"]["labels"], sel)]
            return 200, {"items": items}
        if path.startswith("/api/v1/namespaces/ns/pods/"):
            pod = path.split("/")[-2]
            self.calls.append(f"log {pod} {query.get('container')}")
            return (200, self.logs[pod]) if pod in self.logs else (404, {})
        name = path[len(COLLECTION) + 1 :] if path.startswith(COLLECTION + "/") else None
        return self._jobsets(req, name, query)

    def _jobsets(self, req: Request, name: str | None, query: dict[str, str]) -> tuple[int, Any]:
        if req.method == "POST":
            name = req.body["metadata"]["name"]
            self.calls.append(f"create {name}")
            if self.refuse:
                return 422, {"kind": "Status", "code": 422, "message": "spec.bad: unknown field"}
            if name in self.objects:
                return 409, {"kind": "Status", "code": 409}
            self.add(req.body)
            return 201, self.objects[name]
        if req.method == "DELETE":
            self.calls.append(f"delete {name}")
            gone = self.objects.pop(str(name), None)
            for pod in [
                p for p, o in self.pods.items() if o["metadata"]["labels"][NAME_LABEL] == name
            ]:
                del self.pods[pod]
            return (200, {}) if gone else (404, {})
        if name is not None:
            return (200, self.objects[name]) if name in self.objects else (404, {})
        sel = query.get("labelSelector", "")
        return 200, {
            "items": [o for o in self.objects.values() if _matches(o["metadata"]["labels"], sel)]
        }

    def add(self, body: Json) -> None:
        """A JobSet is created; its controller starts its master pod."""
        obj = copy.deepcopy(body)
        name = obj["metadata"]["name"]
        obj["metadata"]["creationTimestamp"] = _stamp(self.now())
        self.objects[name] = obj
        self.pods[f"{name}-master-0"] = {
            "metadata": {
                "name": f"{name}-master-0",
                "labels": {NAME_LABEL: name, **MASTER},
                "creationTimestamp": _stamp(self.now()),
            },
            "spec": {"containers": [{"name": "master"}]},
            "status": {"phase": "Running"},
        }

    def end(self, name: str, state: str, log: str = "", **pod_status: Any) -> None:
        cond = {"type": state, "status": "True", "lastTransitionTime": _stamp(self.now())}
        self.objects[name]["status"] = {"conditions": [cond]}
        self.logs[f"{name}-master-0"] = log.encode()
        if pod_status:
            self.pods[f"{name}-master-0"]["status"] = pod_status

    def params(self, name: str) -> Json:
        return dict(json.loads(self.objects[name]["metadata"]["annotations"]["tuneop.dev/params"]))


def spec(**overrides: Any) -> SessionSpec:
    data: Json = {
        "objective": {"metric": "loss", "direction": "minimize"},
        "trials": [{"x": 1}, {"x": 2}, {"x": 3}, {"x": 4}],
        "metricsCollector": {"kind": "StdOut"},
        "maxParallel": 2,
        "trialResource": {
            "manifest": {
                "apiVersion": "jobset.x-k8s.io/v1alpha2",
                "kind": "JobSet",
                "spec": {"replicatedJobs": [{"name": "master", "replicas": 1}]},
            },
            "primaryPodLabels": MASTER,
            "primaryContainer": "master",
        },
        **overrides,
    }
    return parse_spec(data)


@dataclass
class Setup:
    api: JobSetApi
    clock: FrozenClock
    statuses: FakeStatus
    reconciler: Reconciler

    def reconcile(self, s: SessionSpec) -> None:
        self.reconciler.reconcile(REF, s)

    def loss(self, name: str) -> str:
        x = float(self.api.params(name)["x"])
        return f"loss={(x - 2) ** 2 + 0.5}\n"


def setup(statuses: FakeStatus | None = None) -> Setup:
    clock = FrozenClock(T0)
    api = JobSetApi(clock.now)
    kube = Kube(send=api, limiter=TokenBucket(qps=1e9, burst=1_000_000))
    jobs = KubeJobs(kube, clock=clock.now)
    statuses = statuses or FakeStatus()
    reconciler = Reconciler(
        jobs=jobs, statuses=statuses, store=MemoryResults(), events=MemoryEvents(), clock=clock
    )
    return Setup(api, clock, statuses, reconciler)


def test_jobset_trials_run_at_most_max_parallel_at_once_and_reach_the_best() -> None:
    s, session = setup(), spec()
    s.reconcile(session)
    assert sorted(s.api.objects) == ["sets-0", "sets-1"]
    s.reconcile(session)
    assert len(s.api.objects) == 2  # nothing more while both run
    for _ in range(4):
        for name in list(s.api.objects):
            s.api.end(name, "Completed", s.loss(name))
        s.reconcile(session)
        assert len(s.api.objects) <= 2
    status = s.statuses.status
    assert status.phase == "Succeeded", status
    assert status.best is not None and status.best.params == {"x": 2}
    assert status.best.value == 0.5


def test_the_primary_pods_log_is_read_before_its_jobset_is_deleted() -> None:
    s, session = setup(), spec(trials=[{"x": 2}], maxParallel=1)
    s.reconcile(session)
    s.api.end("sets-0", "Completed", s.loss("sets-0"))
    s.reconcile(session)
    calls = [c for c in s.api.calls if c.startswith(("log", "delete"))]
    assert calls == ["log sets-0-master-0 master", "delete sets-0"]
    assert s.statuses.status.trials.succeeded == 1


def test_a_failed_jobset_trial_is_retried_by_creating_a_new_jobset() -> None:
    s, session = setup(), spec(trials=[{"x": 3}], maxParallel=1, retries=1)
    s.reconcile(session)
    s.api.end("sets-0", "Failed", "boom\n", phase="Failed")
    s.reconcile(session)
    assert list(s.api.objects) == ["sets-1"]
    retry = s.api.objects["sets-1"]["metadata"]
    assert retry["labels"]["tuneop.dev/retry-of"] == "0" and s.api.params("sets-1") == {"x": 3}
    s.api.end("sets-1", "Completed", s.loss("sets-1"))
    s.reconcile(session)
    status = s.statuses.status
    assert status.phase == "Succeeded" and status.trials.retried == 1, status


def test_a_jobset_a_killed_operator_created_is_adopted_not_doubled() -> None:
    first = setup()
    session = spec(trials=[{"x": 2}], maxParallel=1)
    first.reconcile(session)
    created = copy.deepcopy(first.api.objects["sets-0"])
    # The operator died after the create, before its status write: a new one starts fresh.
    again = setup()
    again.api.add(created)
    again.reconcile(session)
    assert list(again.api.objects) == ["sets-0"]
    again.api.end("sets-0", "Completed", again.loss("sets-0"))
    again.reconcile(session)
    assert again.statuses.status.phase == "Succeeded"
    assert again.statuses.status.trials.succeeded == 1


UNSCHEDULABLE: Json = {
    "phase": "Pending",
    "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}],
}
IMAGE_PULL: Json = {
    "phase": "Pending",
    "containerStatuses": [
        {"name": "master", "state": {"waiting": {"reason": "ImagePullBackOff", "message": "no"}}}
    ],
}


@pytest.mark.parametrize(
    ("pod_status", "platform"),
    [
        ({"phase": "Failed"}, None),
        ({"phase": "Failed", "reason": "Evicted", "message": "low memory"}, "Evicted"),
    ],
    ids=["the-trial-failed", "the-pod-was-evicted"],
)
def test_a_failed_jobset_is_blamed_on_the_platform_only_when_its_pods_say_so(
    pod_status: Json, platform: str | None
) -> None:
    s = setup()
    jobs = s.reconciler.jobs
    session = spec(trials=[{"x": 1}], maxParallel=1)
    s.reconcile(session)
    s.api.end("sets-0", "Failed", "", **pod_status)
    [job] = jobs.list_jobs(REF)
    assert job.state is JobState.FAILED
    assert (job.infra_reason is None) if platform is None else (platform in str(job.infra_reason))


@pytest.mark.parametrize(
    ("pod_status", "reason"),
    [(UNSCHEDULABLE, "Unschedulable"), (IMAGE_PULL, "ImagePullBackOff")],
    ids=["unschedulable", "image-pull"],
)
def test_a_jobset_whose_pod_does_not_start_says_why_after_the_start_timeout(
    pod_status: Json, reason: str
) -> None:
    s = setup()
    jobs = s.reconciler.jobs
    session = spec(trials=[{"x": 1}], maxParallel=1, podStartTimeoutSeconds=60)
    s.reconcile(session)
    s.api.pods["sets-0-master-0"]["status"] = pod_status
    [early] = jobs.list_jobs(REF)
    assert early.not_started is None  # not looked at before the timeout
    s.clock.advance(61)
    [late] = jobs.list_jobs(REF)
    assert late.not_started is not None and late.not_started[0] == reason


def test_a_jobset_past_the_trial_timeout_ends_timed_out_and_is_deleted() -> None:
    s = setup()
    session = spec(trials=[{"x": 1}], maxParallel=1, trialTimeoutSeconds=60)
    s.reconcile(session)
    s.clock.advance(200)
    s.reconcile(session)
    assert "delete sets-0" in s.api.calls
    assert s.statuses.status.phase in ("Failed", "Succeeded")
    assert s.statuses.status.trials.timed_out == 1, s.statuses.status.trials


@pytest.mark.parametrize(
    ("manifest", "words"),
    [
        (
            {"apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob", "spec": {}},
            "kubeflow.org/v1 PyTorchJob: the cluster does not serve this kind",
        ),
        (
            {"apiVersion": "jobset.x-k8s.io/v1alpha2", "kind": "JobSet", "spec": {"bad": 1}},
            "JobSet sets-0: ",
        ),
    ],
    ids=["its-crd-is-absent", "the-api-server-refuses-it"],
)
def test_a_kind_the_cluster_cannot_create_fails_the_session_in_one_line(
    manifest: Json, words: str
) -> None:
    s = setup()
    session = spec(trialResource={"manifest": manifest})
    s.api.refuse = manifest["spec"] == {"bad": 1}
    with pytest.raises(SpecError) as caught:
        s.reconcile(session)
    assert str(caught.value).startswith("spec.trialResource.manifest: ")
    assert words in str(caught.value) and "\n" not in str(caught.value)
    assert s.api.objects == {}


def test_with_a_queue_a_jobset_is_created_suspended_and_counted_as_queued() -> None:
    s = setup()
    s.reconcile(spec(trials=[{"x": 1}], maxParallel=1, queueName="trials"))
    created = s.api.objects["sets-0"]
    assert created["spec"]["suspend"] is True
    assert created["metadata"]["labels"]["kueue.x-k8s.io/queue-name"] == "trials"
    assert s.statuses.status.trials.queued == 1, s.statuses.status.trials
    created["spec"]["suspend"] = False  # Kueue admits it
    s.reconcile(spec(trials=[{"x": 1}], maxParallel=1, queueName="trials"))
    assert s.statuses.status.trials.running == 1, s.statuses.status.trials
