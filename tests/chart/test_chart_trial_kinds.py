"""The chart's trial kinds: RBAC for exactly the listed kinds, the admission policy, user roles.

The policy's behaviour is proven on the real control plane by
``tests/e2e/test_trial_kinds_admission.py``; here, what the chart renders for given values.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml
from tests.chart.test_helm_chart import CHART, is_user_role, of_kind, run_helm

Doc = dict[str, Any]
JOB = {"apiVersion": "batch/v1", "kind": "Job"}
JOBSET = {"apiVersion": "jobset.x-k8s.io/v1alpha2", "kind": "JobSet"}
TRAINJOB = {"apiVersion": "trainer.kubeflow.org/v1alpha1", "kind": "TrainJob"}
VERBS = ["create", "get", "list", "watch", "delete"]


def render(*args: str) -> list[Doc]:
    out = run_helm("template", "tuneop", str(CHART), "-n", "tuneop-system", *args)
    assert out.returncode == 0, out.stderr
    return [d for d in yaml.safe_load_all(out.stdout) if d]


def kinds(*items: dict[str, str]) -> list[str]:
    return ["--set-json", f"trialKinds={json.dumps(list(items))}"]


def trial_rules(docs: list[Doc]) -> list[tuple[str, str]]:
    """(group, resource) of every operator rule with the trial verbs, pods aside."""
    operator = of_kind(docs, "ClusterRole") + of_kind(docs, "Role")
    return sorted(
        (r["apiGroups"][0], r["resources"][0])
        for d in operator
        if not is_user_role(d)
        for r in d["rules"]
        if r["verbs"][: len(VERBS)] == VERBS
    )


def test_only_worker_jobs_may_be_deleted_by_collection() -> None:
    """A harvested batch of Jobs goes in one DELETE of the collection; other kinds are
    deleted one by one, so they get no deletecollection."""
    operator = of_kind(render(*kinds(JOB, JOBSET)), "ClusterRole") + of_kind(
        render(*kinds(JOB, JOBSET)), "Role"
    )
    verbs = {
        r["resources"][0]: r["verbs"]
        for d in operator
        if not is_user_role(d)
        for r in d["rules"]
        if r["verbs"][: len(VERBS)] == VERBS
    }
    assert verbs == {"jobs": [*VERBS, "deletecollection"], "jobsets": VERBS}


def policy(docs: list[Doc]) -> Doc:
    (found,) = of_kind(docs, "ValidatingAdmissionPolicy")
    return found


def variable(doc: Doc, name: str) -> str:
    (found,) = [v["expression"] for v in doc["spec"]["variables"] if v["name"] == name]
    return str(found)


def test_by_default_the_operator_is_granted_jobs_and_nothing_else() -> None:
    docs = render()
    assert trial_rules(docs) == [("batch", "jobs")]
    assert variable(policy(docs), "granted") == "{'batch/Job': 'jobs'}"


@pytest.mark.parametrize("mode", ["cluster", "namespaces"])
def test_the_operator_is_granted_exactly_the_listed_kinds(mode: str) -> None:
    where = ["--set", f"watch.mode={mode}", "--set", "watch.namespaces={team-a}"]
    docs = render(*where, *kinds(JOBSET, TRAINJOB))
    # Jobs are no longer granted once the list leaves them out.
    assert trial_rules(docs) == [
        ("jobset.x-k8s.io", "jobsets"),
        ("trainer.kubeflow.org", "trainjobs"),
    ]
    assert variable(policy(docs), "granted") == (
        "{'jobset.x-k8s.io/JobSet': 'jobsets', 'trainer.kubeflow.org/TrainJob': 'trainjobs'}"
    )


def test_a_kind_of_the_core_group_and_an_irregular_plural_render_as_told() -> None:
    odd = {"apiVersion": "v1", "kind": "Pod"}
    mpi = {"apiVersion": "kubeflow.org/v2beta1", "kind": "MPIJob", "resource": "mpijobs"}
    docs = render(*kinds(JOB, odd, mpi))
    assert trial_rules(docs) == [("", "pods"), ("batch", "jobs"), ("kubeflow.org", "mpijobs")]
    assert "'/Pod': 'pods'" in variable(policy(docs), "granted")


def test_the_policy_checks_the_requesting_user_and_names_the_value() -> None:
    doc = policy(render())
    [spec_chosen] = doc["spec"]["matchConditions"]
    assert "request.operation == 'CREATE'" in spec_chosen["expression"]
    rules = doc["spec"]["matchConstraints"]["resourceRules"]
    assert rules[0]["resources"] == ["tuningsessions"]
    granted_check, user_check = doc["spec"]["validations"]
    assert "trialKinds" in granted_check["messageExpression"]
    assert "authorizer.group(variables.group)" in user_check["expression"]
    assert ".check('create').allowed()" in user_check["expression"]
    assert doc["spec"]["failurePolicy"] == "Fail"


def test_the_binding_covers_the_watched_namespaces_only_in_namespaces_mode() -> None:
    (cluster_wide,) = of_kind(render(), "ValidatingAdmissionPolicyBinding")
    assert "matchResources" not in cluster_wide["spec"]
    assert cluster_wide["spec"]["validationActions"] == ["Deny"]
    docs = render("--set", "watch.mode=namespaces", "--set", "watch.namespaces={team-a,team-b}")
    (bound,) = of_kind(docs, "ValidatingAdmissionPolicyBinding")
    [expr] = bound["spec"]["matchResources"]["namespaceSelector"]["matchExpressions"]
    assert expr["values"] == ["team-a", "team-b"]


def test_user_roles_aggregate_into_edit_and_view() -> None:
    roles = {d["metadata"]["name"]: d for d in of_kind(render(), "ClusterRole") if is_user_role(d)}
    assert set(roles) == {"tuneop-edit", "tuneop-view"}
    edit_labels = roles["tuneop-edit"]["metadata"]["labels"]
    assert edit_labels["rbac.authorization.k8s.io/aggregate-to-edit"] == "true"
    assert edit_labels["rbac.authorization.k8s.io/aggregate-to-admin"] == "true"
    view = roles["tuneop-view"]
    assert view["metadata"]["labels"]["rbac.authorization.k8s.io/aggregate-to-view"] == "true"
    assert {v for r in view["rules"] for v in r["verbs"]} == {"get", "list", "watch"}


def test_policy_and_user_roles_can_be_turned_off() -> None:
    docs = render("--set", "admissionPolicy.enabled=false", "--set", "userRoles.enabled=false")
    assert not of_kind(docs, "ValidatingAdmissionPolicy")
    assert not of_kind(docs, "ValidatingAdmissionPolicyBinding")
    assert not [d for d in of_kind(docs, "ClusterRole") if is_user_role(d)]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("[]", "/trialKinds"),
        ('[{"kind": "Job"}]', "apiVersion"),
        ('[{"apiVersion": "batch/v1", "kind": "job"}]', "/trialKinds/0/kind"),
        ('[{"apiVersion": "batch/v1", "kind": "Job", "verbs": ["*"]}]', "verbs"),
    ],
    ids=["empty", "no_api_version", "lower_case_kind", "unknown_key"],
)
def test_a_bad_trial_kinds_value_fails_at_install_naming_it(value: str, message: str) -> None:
    out = run_helm("template", "tuneop", str(CHART), "--set-json", f"trialKinds={value}")
    assert out.returncode != 0
    assert message in out.stderr, out.stderr
