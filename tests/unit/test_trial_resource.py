"""spec.trialResource's model and the CEL outcome of an observed object (issue 29)."""

from __future__ import annotations

from typing import Any

import pytest

from tuneop.api.trial_resource import TrialResource, cel_problem
from tuneop.core.jobs.trialresource import (
    MAX_OBJECT_VALUES,
    outcome,
    render_trial_resource,
    suspended,
)


def _resource(api_version: str, kind: str, **fields: Any) -> TrialResource:
    return TrialResource.model_validate(
        {"manifest": {"apiVersion": api_version, "kind": kind, "spec": {}}, **fields}
    )


def _with(kind: str, status: str) -> dict[str, Any]:
    return {"status": {"conditions": [{"type": kind, "status": status}]}}


@pytest.mark.parametrize(
    ("api_version", "kind", "done", "failed"),
    [
        ("jobset.x-k8s.io/v1alpha2", "JobSet", _with("Completed", "True"), _with("Failed", "True")),
        (
            "trainer.kubeflow.org/v1alpha1",
            "TrainJob",
            _with("Complete", "True"),
            _with("Failed", "True"),
        ),
        ("kubeflow.org/v1", "PyTorchJob", _with("Succeeded", "True"), _with("Failed", "True")),
        ("kubeflow.org/v1", "MPIJob", _with("Succeeded", "True"), _with("Failed", "True")),
        (
            "argoproj.io/v1alpha1",
            "Workflow",
            {"status": {"phase": "Succeeded"}},
            {"status": {"phase": "Error"}},
        ),
        ("tekton.dev/v1", "PipelineRun", _with("Succeeded", "True"), _with("Succeeded", "False")),
        (
            "tekton.dev/v1beta1",
            "PipelineRun",
            _with("Succeeded", "True"),
            _with("Succeeded", "False"),
        ),
    ],
)
def test_a_well_known_kinds_defaults_read_its_own_status(
    api_version: str, kind: str, done: dict[str, Any], failed: dict[str, Any]
) -> None:
    resolved = _resource(api_version, kind).resolved()
    assert outcome(resolved, done) == "Succeeded"
    assert outcome(resolved, failed) == "Failed"
    for running in ({}, {"status": {}}, _with("Running", "True"), {"status": {"phase": "Running"}}):
        assert outcome(resolved, running) is None


def test_a_custom_kind_needs_its_conditions_and_they_decide() -> None:
    with pytest.raises(ValueError, match=r"successCondition: required for example\.com/v1 Thing"):
        _resource("example.com/v1", "Thing", failureCondition="false")
    resolved = _resource(
        "example.com/v1",
        "Thing",
        successCondition="self.status.state == 'Done'",
        failureCondition="self.status.state == 'Lost'",
    ).resolved()
    assert outcome(resolved, {"status": {"state": "Done"}}) == "Succeeded"
    assert outcome(resolved, {"status": {"state": "Lost"}}) == "Failed"
    assert outcome(resolved, {"status": {"state": 1}}) is None


def test_a_condition_that_yields_no_boolean_is_no_verdict() -> None:
    resolved = _resource(
        "example.com/v1", "Thing", successCondition="1", failureCondition="'yes'"
    ).resolved()
    assert outcome(resolved, {"status": {}}) is None


def test_an_object_too_large_to_evaluate_is_not_evaluated() -> None:
    resolved = _resource("jobset.x-k8s.io/v1alpha2", "JobSet").resolved()
    big = _with("Completed", "True")
    big["status"]["filler"] = list(range(MAX_OBJECT_VALUES))
    assert outcome(resolved, big) is None


@pytest.mark.parametrize(
    ("expression", "problem"),
    [
        ("self.a == 1", None),
        ("self.(", "not valid CEL (at character 6)"),
        ("x" * 1025, "longer than 1024 characters"),
        ("self.a.all(x, x.b.all(y, y.c.all(z, z)))", "comprehensions nest deeper than 2"),
        ("self.a.all(x, x.b.all(y, y))", None),
    ],
)
def test_conditions_are_bounded_before_and_after_parsing(
    expression: str, problem: str | None
) -> None:
    assert cel_problem(expression) == problem


def test_a_rendered_resource_keeps_its_labels_under_tuneops_and_fills_params() -> None:
    resource = TrialResource.model_validate(
        {
            "manifest": {
                "apiVersion": "jobset.x-k8s.io/v1alpha2",
                "kind": "JobSet",
                "metadata": {"name": "ignored", "labels": {"team": "a", "tuneop.dev/session": "x"}},
                "spec": {"args": ["--lr=${params.lr}", "${params.other}"]},
            }
        }
    )
    meta = {"name": "s-0", "namespace": "ns", "labels": {"tuneop.dev/session": "s"}}
    out = render_trial_resource(resource, meta, {"lr": 0.5})
    assert out["metadata"]["name"] == "s-0" and out["metadata"]["namespace"] == "ns"
    assert out["metadata"]["labels"] == {"team": "a", "tuneop.dev/session": "s"}
    assert out["spec"]["args"] == ["--lr=0.5", "${params.other}"]
    assert resource.manifest["spec"]["args"][0] == "--lr=${params.lr}"


@pytest.mark.parametrize(
    ("api_version", "kind", "held"),
    [
        ("batch/v1", "Job", {"spec": {"suspend": True}}),
        ("jobset.x-k8s.io/v1alpha2", "JobSet", {"spec": {"suspend": True}}),
        ("trainer.kubeflow.org/v1alpha1", "TrainJob", {"spec": {"suspend": True}}),
        ("kubeflow.org/v1", "PyTorchJob", {"spec": {"runPolicy": {"suspend": True}}}),
        ("argoproj.io/v1alpha1", "Workflow", {"spec": {}}),
        ("example.com/v1", "Thing", {"spec": {}}),
    ],
)
def test_a_kind_kueue_admits_is_created_suspended_where_that_kind_says_so(
    api_version: str, kind: str, held: dict[str, Any]
) -> None:
    manifest: dict[str, Any] = {"apiVersion": api_version, "kind": kind, "spec": {}}
    now = suspended(manifest, True)
    assert {"spec": manifest["spec"]} == held
    assert now is (held != {"spec": {}}) and suspended(manifest) is now
