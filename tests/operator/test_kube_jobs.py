"""``KubeJobs``: Job JSON → ObservedJob, log harvest, idempotent create and delete."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client
from operator_fakes import (
    FakeApi,
    condition,
    fake_kube,
    grid_spec,
    http_error,
    job_json,
    pod_json,
)

from tuneop.adapters.kube import job_deletes
from tuneop.adapters.kube import jobs as kube_jobs
from tuneop.adapters.kube.job_status import infra_reason, observed_job
from tuneop.adapters.kube.jobs import KubeJobs
from tuneop.api.session import SessionRef
from tuneop.api.spec import SessionSpec
from tuneop.core.jobs.manifests import selector
from tuneop.core.jobs.observed import JobState, Observed, ObservedJob
from tuneop.core.planning.planner import plan
from tuneop.core.results.harvest import JobLogs
from tuneop.ports import Rejected, TransientError

REF = SessionRef(namespace="ns", name="demo", uid="uid-1")


def spec() -> SessionSpec:
    return grid_spec(trialsPerJob=2)


def test_an_active_job_maps_index_trials_and_params() -> None:
    job = observed_job(job_json(spec(), REF, 3, (6, 7), [{"x": 6}, {"x": 7}], active=1, ready=1))
    assert job == ObservedJob(
        index=3,
        name="demo-3",
        trials=(6, 7),
        state=JobState.ACTIVE,
        params=({"x": 6}, {"x": 7}),
        started_at=job.started_at if job else None,
    )
    assert job is not None and job.started_at is not None and not job.finished


def test_a_complete_job_is_succeeded_with_its_completion_time() -> None:
    data = job_json(
        spec(),
        REF,
        0,
        (0, 1),
        conditions=[condition("Complete")],
        completionTime="2026-01-01T12:04:00Z",
    )
    job = observed_job(data)
    assert job is not None and job.state is JobState.SUCCEEDED and job.reason is None
    assert job.finished_at is not None and job.finished_at.minute == 4
    assert job.infra_reason is None


@pytest.mark.parametrize("reason", ["BackoffLimitExceeded", "DeadlineExceeded"])
def test_a_failed_job_keeps_the_condition_reason(reason: str) -> None:
    job = observed_job(job_json(spec(), REF, 0, (0, 1), conditions=[condition("Failed", reason)]))
    assert job is not None and job.state is JobState.FAILED and job.reason == reason
    assert job.infra_reason is None  # no pods seen: nothing blames the platform


def test_conditions_that_are_not_true_leave_the_job_active() -> None:
    cond = {"type": "Failed", "status": "False", "reason": "x"}
    job = observed_job(job_json(spec(), REF, 0, (0, 1), conditions=[cond]))
    assert job is not None and job.state is JobState.ACTIVE


def test_an_evicted_newest_pod_is_an_infrastructure_failure() -> None:
    data = job_json(
        spec(), REF, 0, (0, 1), conditions=[condition("Failed", "BackoffLimitExceeded")]
    )
    pods = [
        pod_json("demo-0-a", "demo-0", "2026-01-01T12:00:00Z", phase="Failed"),
        pod_json(
            "demo-0-b",
            "demo-0",
            "2026-01-01T12:01:00Z",
            phase="Failed",
            reason="Evicted",
            message="The node was low on resource: memory.",
        ),
    ]
    job = observed_job(data, pods)
    assert job is not None and job.infra_reason is not None
    assert "Evicted" in job.infra_reason and "demo-0-b" in job.infra_reason


def test_only_the_newest_pod_decides() -> None:
    evicted = pod_json("a", "j", "2026-01-01T12:00:00Z", reason="Evicted")
    crashed = pod_json("b", "j", "2026-01-01T12:01:00Z", phase="Failed")
    assert infra_reason([crashed, evicted]) is None
    assert infra_reason([evicted]) is not None


@pytest.mark.parametrize(
    "waiting", ["ImagePullBackOff", "ErrImagePull", "CreateContainerConfigError"]
)
def test_a_container_stuck_on_its_image_or_config_is_infrastructure(waiting: str) -> None:
    pod = pod_json(
        "p",
        "j",
        containerStatuses=[
            {"name": "runner", "state": {"waiting": {"reason": waiting, "message": "nope"}}}
        ],
    )
    reason = infra_reason([pod])
    assert reason is not None and waiting in reason


def test_an_unschedulable_pod_is_infrastructure_but_oomkilled_is_not() -> None:
    unscheduled = pod_json(
        "p",
        "j",
        conditions=[{"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}],
    )
    oom = pod_json(
        "q",
        "j",
        containerStatuses=[{"name": "runner", "state": {"terminated": {"reason": "OOMKilled"}}}],
    )
    assert infra_reason([unscheduled]) is not None
    assert infra_reason([oom]) is None


def test_a_v1job_model_maps_the_same_as_its_json() -> None:
    data = job_json(spec(), REF, 1, (2, 3), conditions=[condition("Complete")])
    model = client.ApiClient().deserialize(_Raw(data), "V1Job")
    wire = client.ApiClient().sanitize_for_serialization(model)
    assert observed_job(wire) == observed_job(data)


class _Raw:
    def __init__(self, obj: Any) -> None:
        import json

        self.data = json.dumps(obj)


def test_jobs_without_index_or_trials_are_ignored() -> None:
    data = job_json(spec(), REF, 0, (0, 1))
    del data["metadata"]["labels"]["tuneop.dev/job-index"]
    assert observed_job(data) is None


def test_params_come_from_the_env_when_the_annotation_is_missing() -> None:
    data = job_json(spec(), REF, 0, (4, 5), [{"x": 4}, {"x": 5}])
    del data["metadata"]["annotations"]
    job = observed_job(data)
    assert job is not None and job.trials == (4, 5) and job.params == ({"x": 4}, {"x": 5})


# --- the backend over the fake API ---


def backend(api: FakeApi) -> KubeJobs:
    return KubeJobs(fake_kube(api))


def launch(api: FakeApi, n: int = 2, trials_per_job: int = 2) -> list[str]:
    s = grid_spec(trialsPerJob=trials_per_job)
    first = plan(s, Observed(session=REF), now=_now())
    jobs = KubeJobs(fake_kube(api))
    for c in first.create[:n]:
        jobs.create_job(REF, c)
    return [c.name for c in first.create[:n]]


def _now() -> Any:
    from datetime import UTC, datetime

    return datetime(2026, 1, 1, tzinfo=UTC)


def test_list_jobs_uses_the_server_side_selector_and_sorts_by_index() -> None:
    api = FakeApi()
    launch(api, 2)
    jobs = backend(api).list_jobs(REF)
    assert [j.name for j in jobs] == ["demo-0", "demo-1"]
    assert api.names("list_namespaced_job") == [selector("demo")]
    assert api.names("list_namespaced_pod") == []  # no failed Job: no pod listing


def test_list_jobs_skips_jobs_of_an_earlier_session_with_the_same_name() -> None:
    api = FakeApi()
    launch(api, 1)
    assert backend(api).list_jobs(SessionRef("ns", "demo", uid="uid-2")) == []


def test_list_jobs_finds_infra_failures_on_the_pods_of_failed_jobs() -> None:
    api = FakeApi()
    launch(api, 1)
    api.finish("ns", "demo-0", "", state="Failed", reason="BackoffLimitExceeded")
    pod = api.job_pods("ns", "demo-0")[-1]
    pod["status"] = {"phase": "Failed", "reason": "Evicted", "message": "disk pressure"}
    (job,) = backend(api).list_jobs(REF)
    assert job.state is JobState.FAILED and job.infra_reason is not None
    assert "Evicted" in job.infra_reason


@pytest.mark.parametrize(
    ("status", "container", "condition_", "listed", "found"),
    [
        ({"ready": 1}, None, None, False, None),
        ({}, "ImagePullBackOff", None, True, "ImagePullBackOff"),
        ({}, "ErrImagePull", None, True, "ErrImagePull"),
        ({}, None, "Unschedulable", True, "Unschedulable"),
        ({}, None, None, True, None),
    ],
    ids=["ready-no-pod-listing", "image-back-off", "image-pull", "unschedulable", "only-slow"],
)
def test_a_job_not_ready_past_its_start_timeout_has_its_pods_looked_at(
    status: dict[str, Any],
    container: str | None,
    condition_: str | None,
    listed: bool,
    found: str | None,
) -> None:
    api = FakeApi()
    launch(api, 1)
    api.jobs["ns", "demo-0"]["status"] = {
        "startTime": "2026-01-01T12:00:00Z",
        "active": 1,
        **status,
    }
    pod = api.job_pods("ns", "demo-0")[-1]
    pod["status"] = {"phase": "Pending"}
    if container:
        waiting = {"reason": container, "message": "no such image"}
        pod["status"]["containerStatuses"] = [{"name": "runner", "state": {"waiting": waiting}}]
    if condition_:
        pod["status"]["conditions"] = [
            {"type": "PodScheduled", "status": "False", "reason": condition_}
        ]
    (job,) = backend(api).list_jobs(REF)
    assert bool(api.names("list_namespaced_pod")) is listed
    assert job.pods_ready is ("ready" in status)
    assert (job.not_started[0] if job.not_started else None) == found


def test_a_job_not_ready_within_its_start_timeout_costs_no_pod_listing() -> None:
    api = FakeApi()
    launch(api, 1)
    from datetime import UTC, datetime

    just_now = datetime.now(UTC).isoformat()
    api.jobs["ns", "demo-0"]["status"] = {"startTime": just_now, "active": 1}
    (job,) = backend(api).list_jobs(REF)
    assert api.names("list_namespaced_pod") == []
    assert not job.pods_ready and job.not_started is None


def test_disrupted_pods_are_counted_at_harvest() -> None:
    api = FakeApi()
    launch(api, 1)
    job = api.jobs["ns", "demo-0"]
    first = api.job_pods("ns", "demo-0")[0]
    first["status"] = {
        "phase": "Failed",
        "reason": "Evicted",
        "conditions": [
            {"type": "DisruptionTarget", "status": "True", "reason": "EvictionByEvictionAPI"}
        ],
    }
    api.add_pod(job, b"second attempt\n")
    api.finish("ns", "demo-0", "second attempt\n")
    logs = backend(api).read_logs(REF, observed(api))
    # The evicted pod printed nothing; the one that replaced it, its report.
    assert logs == JobLogs(("", "second attempt\n"), disruptions=1)


def test_create_posts_the_manifest_and_409_is_success() -> None:
    api = FakeApi()
    s = spec()
    c = plan(s, Observed(session=REF), now=_now()).create[0]
    jobs = backend(api)
    jobs.create_job(REF, c)
    jobs.create_job(REF, c)
    assert api.names("create_namespaced_job") == ["demo-0", "demo-0"]
    assert len(api.jobs) == 1
    assert api.jobs["ns", "demo-0"]["metadata"]["annotations"]["tuneop.dev/trials"] == "0-1"


def test_409_for_a_job_of_an_earlier_session_is_transient() -> None:
    api = FakeApi()
    launch(api, 1)
    c = plan(spec(), Observed(session=SessionRef("ns", "demo", uid="uid-2")), now=_now()).create[0]
    with pytest.raises(TransientError, match="earlier session"):
        backend(api).create_job(SessionRef("ns", "demo", uid="uid-2"), c)


def test_create_maps_api_errors() -> None:
    api = FakeApi()
    c = plan(spec(), Observed(session=REF), now=_now()).create[0]
    api.fail_next("create_namespaced_job", http_error(500), http_error(422, "bad"))
    with pytest.raises(TransientError):
        backend(api).create_job(REF, c)
    with pytest.raises(Rejected, match="bad"):
        backend(api).create_job(REF, c)


def test_delete_is_background_and_404_is_success() -> None:
    api = FakeApi()
    launch(api, 1)
    jobs = backend(api)
    jobs.delete_job(REF, "demo-0")
    jobs.delete_job(REF, "demo-0")
    assert api.names("delete_namespaced_job") == [("demo-0", "Background")] * 2
    assert api.jobs == {}


@pytest.mark.parametrize(
    ("deleted", "collection_calls", "single_calls"),
    [
        pytest.param(["demo-0"], [], [("demo-0", "Background")], id="one-job-its-own-delete"),
        pytest.param(
            ["demo-0", "demo-2"],
            [(f"{selector('demo')},tuneop.dev/job-index in (0,2)", "Background")],
            [],
            id="several-one-delete-of-the-collection",
        ),
        pytest.param(
            ["demo-0", "someone-else-7"],
            [],
            [("demo-0", "Background"), ("someone-else-7", "Background")],
            id="a-name-not-of-the-session-form-each-its-own",
        ),
    ],
)
def test_a_harvested_batch_is_deleted_in_one_request_and_only_those_jobs(
    deleted: list[str], collection_calls: list[Any], single_calls: list[Any]
) -> None:
    api = FakeApi()
    launch(api, 3, trials_per_job=1)
    jobs = backend(api)
    jobs.delete_jobs(REF, deleted)
    assert api.names("delete_collection_namespaced_job") == collection_calls
    assert api.names("delete_namespaced_job") == single_calls
    left = {"demo-0", "demo-1", "demo-2"} - set(deleted)
    assert {name for _, name in api.jobs} == left


def test_a_deletion_batch_larger_than_the_selector_bound_takes_several_requests(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(job_deletes, "DELETE_BATCH", 2)
    api = FakeApi()
    names = launch(api, 3, trials_per_job=1)
    backend(api).delete_jobs(REF, names)
    assert len(api.names("delete_collection_namespaced_job")) == 2
    assert api.jobs == {}


def test_a_refused_delete_of_the_collection_falls_back_to_each_job_once_per_process(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An RBAC without deletecollection (an older chart) answers 403: that batch and every
    later one are deleted Job by Job, the collection never asked again, said once."""
    api = FakeApi()
    names = launch(api, 5, trials_per_job=1)
    api.fail_next("delete_collection_namespaced_job", http_error(403, "forbidden"))
    jobs = backend(api)
    with caplog.at_level("WARNING", logger="tuneop.adapters.kube.job_deletes"):
        jobs.delete_jobs(REF, names[:2])
        jobs.delete_jobs(REF, names[2:])
    assert len(api.names("delete_collection_namespaced_job")) == 1  # the refused one
    assert [n for n, _ in api.names("delete_namespaced_job")] == names
    assert api.jobs == {}
    assert [r.getMessage() for r in caplog.records] == [
        "deleting Jobs one by one from now on: the API server refused deletecollection"
        " on jobs in ns (403; the operator's RBAC lacks it, e.g. an older chart)"
    ]


def test_every_write_waits_for_the_rate_limiter() -> None:
    api = FakeApi()
    kube = fake_kube(api)
    waits: list[None] = []
    kube.limiter.acquire = lambda: waits.append(None) or 0.0  # type: ignore[method-assign]
    jobs = KubeJobs(kube)
    c = plan(spec(), Observed(session=REF), now=_now()).create[0]
    jobs.create_job(REF, c)
    jobs.list_jobs(REF)
    jobs.delete_job(REF, c.name)
    assert len(waits) == 2  # the create and the delete; reads are not limited


# --- logs ---


def observed(api: FakeApi, name: str = "demo-0") -> ObservedJob:
    return next(j for j in backend(api).list_jobs(REF) if j.name == name)


def test_logs_are_read_from_every_pod_oldest_first_as_one_stream_each() -> None:
    api = FakeApi()
    launch(api, 1)
    job = api.jobs["ns", "demo-0"]
    api.logs["ns", api.job_pods("ns", "demo-0")[0]["metadata"]["name"]] = b"first attempt\n"
    api.add_pod(job, b"second attempt\n")
    api.finish("ns", "demo-0", "second attempt\n")
    logs = backend(api).read_logs(REF, observed(api))
    assert logs == JobLogs(("first attempt\n", "second attempt\n"))
    reads = api.names("read_namespaced_pod_log")
    assert len(reads) == 2 and all(c == "runner" and limit is None for _, c, limit, _ in reads)


def test_the_log_read_is_the_trial_container_the_template_names() -> None:
    api = FakeApi()
    containers = [{"name": "sidecar", "image": "s"}, {"name": "train", "image": "t"}]
    s = grid_spec(runner={"container": "train"}, template={"spec": {"containers": containers}})
    KubeJobs(fake_kube(api)).create_job(REF, plan(s, Observed(session=REF), now=_now()).create[0])
    api.finish("ns", "demo-0", "loss=1\n")
    assert backend(api).read_logs(REF, observed(api)) == JobLogs(("loss=1\n",))
    assert [c for _, c, _, _ in api.names("read_namespaced_pod_log")] == ["train"]


def test_every_result_line_of_a_log_far_past_the_limit_is_harvested() -> None:
    from tuneop.core.results.harvest import harvest_job
    from tuneop.core.wire.contract import RESULT_PREFIX

    api = FakeApi()
    launch(api, 1, trials_per_job=5)
    noise = "x" * 1023 + "\n"
    body = "".join(
        noise * 2048  # 2 MB of stderr before each result
        + RESULT_PREFIX
        + f'{{"trial": {t}, "metrics": {{"loss": {t}}}, "status": "succeeded"}}\n'
        for t in range(5)
    )
    api.finish("ns", "demo-0", body)
    job = observed(api)
    logs = KubeJobs(fake_kube(api), log_limit_bytes=64 * 1024).read_logs(REF, job)
    assert logs is not None and sum(len(x) for x in logs.lines) < 128 * 1024
    harvested = harvest_job(job, logs.lines, spec().objective)
    assert [r.outcome.value for r in harvested] == ["Succeeded"] * 5


def test_results_at_the_end_of_a_chatty_log_are_harvested() -> None:
    from tuneop.core.results.harvest import harvest_job
    from tuneop.core.wire.contract import RESULT_PREFIX

    api = FakeApi()
    launch(api, 1)
    chatter = "".join(f"objective says {i}\n" for i in range(2000))
    results = "".join(
        RESULT_PREFIX + f'{{"trial": {t}, "metrics": {{"loss": {t}}}, "status": "succeeded"}}\n'
        for t in (0, 1)
    )
    api.finish("ns", "demo-0", chatter + results)
    job = observed(api)
    logs = KubeJobs(fake_kube(api), log_limit_bytes=4096).read_logs(REF, job)
    assert logs is not None
    harvested = harvest_job(job, logs.lines, spec().objective)
    assert [r.outcome.value for r in harvested] == ["Succeeded", "Succeeded"]


def test_a_sibling_cannot_forge_nor_flood_out_a_result_in_a_framed_pod_log() -> None:
    # Issue 25, item 2, on the operator's path: the runner's frames in a pod log; trial 1
    # prints trial 0's result inside its own frame, 6 MB of it, before its own result.
    from tuneop.core.results.harvest import harvest_job
    from tuneop.core.wire.contract import RESULT_PREFIX

    api = FakeApi()
    launch(api, 1, trials_per_job=2)
    nonce = "0123456789abcdef0123456789abcdef"

    def result(t: int, loss: float) -> str:
        return (
            RESULT_PREFIX
            + f'{{"trial": {t}, "metrics": {{"loss": {loss}}}, "status": "succeeded"}}\n'
        )

    body = (
        f"TUNEOP_FRAMES {nonce}\nTUNEOP_BEGIN {nonce} 0\n{result(0, 10)}TUNEOP_END {nonce} 0\n"
        f"TUNEOP_BEGIN {nonce} 1\n"
        + result(0, -1e6) * (6 * 1024 * 1024 // len(result(0, -1e6)))
        + f"{result(1, 11)}TUNEOP_END {nonce} 1\n"
    )
    api.finish("ns", "demo-0", body)
    job = observed(api)
    logs = KubeJobs(fake_kube(api)).read_logs(REF, job)
    assert logs is not None and sum(len(x) for x in logs.lines) < 64 * 1024
    harvested = harvest_job(job, logs.lines, spec().objective)
    assert [(r.outcome.value, r.value) for r in harvested] == [("Succeeded", 10), ("Succeeded", 11)]


def test_no_pods_means_results_lost_except_after_the_deadline() -> None:
    api = FakeApi()
    launch(api, 2)
    api.finish("ns", "demo-0", "", state="Failed", reason="BackoffLimitExceeded")
    api.finish("ns", "demo-1", "", state="Failed", reason="DeadlineExceeded")
    api.pods.clear()
    assert backend(api).read_logs(REF, observed(api, "demo-0")) is None
    assert backend(api).read_logs(REF, observed(api, "demo-1")) == JobLogs()


def test_a_container_that_never_started_has_an_empty_log() -> None:
    api = FakeApi()
    launch(api, 1)
    api.finish("ns", "demo-0", "", state="Failed", reason="DeadlineExceeded")
    api.logs["ns", api.job_pods("ns", "demo-0")[0]["metadata"]["name"]] = None  # → 400
    assert backend(api).read_logs(REF, observed(api)) == JobLogs(("",))


def test_a_pod_deleted_after_the_listing_is_skipped() -> None:
    api = FakeApi()
    launch(api, 1)
    api.finish("ns", "demo-0")
    api.fail_next("read_namespaced_pod_log", http_error(404))
    assert backend(api).read_logs(REF, observed(api)) is None


def test_api_errors_on_logs_are_transient_until_given_up() -> None:
    api = FakeApi()
    launch(api, 1)
    api.finish("ns", "demo-0")
    jobs = backend(api)
    job = observed(api)
    api.fail_next("read_namespaced_pod_log", *[http_error(500)] * kube_jobs.MAX_LOG_ATTEMPTS)
    for _ in range(kube_jobs.MAX_LOG_ATTEMPTS - 1):
        with pytest.raises(TransientError):
            jobs.read_logs(REF, job)
    assert jobs.read_logs(REF, job) is None  # the node is gone for good: stop waiting
