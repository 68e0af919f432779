"""Trial resources of any kind over the one transport: discovery, state, primary pod."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tuneop.adapters.kube.ratelimit import TokenBucket
from tuneop.adapters.kube.transport import Answer, Kube, Request
from tuneop.adapters.kube.trial_resources import (
    Discovery,
    observed_resource,
    primary_pod_selector,
)
from tuneop.api.trial_resource import TrialResource
from tuneop.core.jobs.observed import JobState
from tuneop.ports import Rejected

DISCOVERY = {
    "/apis/jobset.x-k8s.io/v1alpha2": {
        "resources": [
            {"name": "jobsets", "kind": "JobSet", "namespaced": True},
            {"name": "jobsets/status", "kind": "JobSet", "namespaced": True},
        ]
    },
    "/apis/example.com/v1": {
        "resources": [{"name": "things", "kind": "Thing", "namespaced": False}]
    },
}


class Sender:
    def __init__(self) -> None:
        self.seen: list[Request] = []

    def __call__(self, request: Request) -> Answer:
        self.seen.append(request)
        doc = DISCOVERY.get(request.path)
        if doc is None:
            return Answer(404, iter([b'{"kind":"Status","code":404}']), "Not Found")
        return Answer(200, iter([json.dumps(doc).encode()]), "OK")


def _kube(sender: Sender) -> Kube:
    return Kube(send=sender, limiter=TokenBucket(qps=1e9, burst=1_000_000))


def test_a_kinds_path_comes_from_discovery_once_per_group_version() -> None:
    sender = Sender()
    discovery = Discovery(_kube(sender))
    for _ in range(3):
        path = discovery.path("jobset.x-k8s.io/v1alpha2", "JobSet", "team a", "s-0")
        assert path == "/apis/jobset.x-k8s.io/v1alpha2/namespaces/team%20a/jobsets/s-0"
    assert len(sender.seen) == 1


@pytest.mark.parametrize(
    ("api_version", "kind", "words"),
    [
        ("jobset.x-k8s.io/v1alpha2", "Nope", "the cluster does not serve this kind"),
        ("kubeflow.org/v1", "PyTorchJob", "the cluster does not serve this kind"),
        ("example.com/v1", "Thing", "cluster-scoped"),
    ],
)
def test_a_kind_the_cluster_cannot_hold_a_trial_in_is_rejected(
    api_version: str, kind: str, words: str
) -> None:
    with pytest.raises(Rejected, match=words):
        Discovery(_kube(Sender())).path(api_version, kind, "ns")


def _jobset(**status: Any) -> dict[str, Any]:
    return {
        "apiVersion": "jobset.x-k8s.io/v1alpha2",
        "kind": "JobSet",
        "metadata": {
            "name": "s-3",
            "creationTimestamp": "2026-01-01T00:00:00Z",
            "labels": {"tuneop.dev/session": "s", "tuneop.dev/job-index": "3"},
            "annotations": {"tuneop.dev/trials": "3"},
        },
        "spec": {"replicatedJobs": [{"name": "leader"}]},
        "status": status,
    }


RESOLVED = TrialResource.model_validate({"manifest": _jobset()}).resolved()


def test_a_jobset_is_observed_as_a_job_from_its_conditions() -> None:
    running = observed_resource(_jobset(), RESOLVED)
    assert running is not None
    assert (running.index, running.trials, running.state) == (3, (3,), JobState.ACTIVE)
    done = observed_resource(
        _jobset(
            conditions=[
                {
                    "type": "Completed",
                    "status": "True",
                    "lastTransitionTime": "2026-01-01T00:05:00Z",
                }
            ]
        ),
        RESOLVED,
    )
    assert done is not None and done.state is JobState.SUCCEEDED
    assert done.finished_at is not None and done.finished_at.minute == 5
    unschedulable = {
        "metadata": {"name": "p", "creationTimestamp": "2026-01-01T00:00:01Z"},
        "status": {
            "phase": "Pending",
            "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}],
        },
    }
    failed = observed_resource(
        _jobset(conditions=[{"type": "Failed", "status": "True"}]), RESOLVED, [unschedulable]
    )
    assert failed is not None and failed.state is JobState.FAILED
    assert failed.reason == "FailureCondition" and failed.infra_reason is not None


def test_the_primary_pod_is_selected_by_its_labels_and_the_resources_name() -> None:
    assert primary_pod_selector(RESOLVED, "s", 3, "s-3") == (
        "batch.kubernetes.io/job-completion-index=0,jobset.sigs.k8s.io/job-index=0,"
        "jobset.sigs.k8s.io/jobset-name=s-3,jobset.sigs.k8s.io/replicatedjob-name=leader"
    )
    custom = TrialResource.model_validate(
        {
            "manifest": {"apiVersion": "example.com/v1", "kind": "Thing", "spec": {}},
            "successCondition": "true",
            "failureCondition": "false",
            "primaryPodLabels": {"role": "main"},
        }
    ).resolved()
    assert primary_pod_selector(custom, "s", 3, "s-3") == (
        "role=main,tuneop.dev/job-index=3,tuneop.dev/session=s"
    )
