"""Trials of any kind through ``tuneop`` (issue 29): plan, run --local, refusals.

Each example of docs/trial-kinds.md plans with its kind named; a JobSet session's
primary container runs here as a process; a trial whose primary container needs
its controller (Tekton's own substitutions) is refused in one line; a condition
that is not CEL, an unknown kind without conditions, a trial resource packed
several trials to one are each one line naming the field.
"""

from __future__ import annotations

import json

import pytest
import yaml
from user import REPO, User, doc_block

KINDS = {
    "kinds-jobset.yaml": "JobSet",
    "kinds-trainjob.yaml": "TrainJob",
    "kinds-pytorchjob.yaml": "PyTorchJob",
    "kinds-tfjob.yaml": "TFJob",
    "kinds-mpijob.yaml": "MPIJob",
    "kinds-xgboostjob.yaml": "XGBoostJob",
    "kinds-workflow.yaml": "Workflow",
    "kinds-pipelinerun.yaml": "PipelineRun",
    "kinds-custom.yaml": "Experiment",
}


def test_every_trial_kind_example_is_planned_with_its_kind(user: User) -> None:
    assert sorted(KINDS) == sorted(p.name for p in (REPO / "examples").glob("kinds-*.yaml"))
    for name, kind in KINDS.items():
        seen = user.tuneop("plan", f"examples/{name}")
        assert seen.code == 0, seen
        assert f"each trial runs as a {kind} (" in seen.out, seen
        assert f"4 trials in 4 {kind}s (one trial each)" in seen.out, seen
        assert "succeeded when: " in seen.out and "failed when: " in seen.out, seen


def test_the_docs_plan_of_a_jobset_session_shows_its_defaults(user: User) -> None:
    seen = user.sh(doc_block("docs/trial-kinds.md", "plan-jobset"))
    assert seen.code == 0, seen
    assert "each trial runs as a JobSet (jobset.x-k8s.io/v1alpha2)" in seen.out, seen
    assert "c.type == 'Completed' && c.status == 'True'" in seen.out, seen
    assert "jobset.sigs.k8s.io/replicatedjob-name=leader" in seen.out, seen


def test_a_planned_trial_resource_carries_the_jobs_labels_params_and_queue(user: User) -> None:
    doc = yaml.safe_load(user.path("examples/kinds-pytorchjob.yaml").read_text())
    doc["spec"]["queueName"] = "team-a"
    user.write("s.yaml", yaml.safe_dump(doc))
    seen = user.tuneop("plan", "s.yaml", "-o", "json")
    assert seen.code == 0, seen
    data = json.loads(seen.out)
    first = data["manifests"][0]
    assert (first["apiVersion"], first["kind"]) == ("kubeflow.org/v1", "PyTorchJob")
    meta = first["metadata"]
    assert meta["name"] == "kinds-pytorchjob-0"
    assert meta["labels"]["tuneop.dev/session"] == "kinds-pytorchjob"
    assert meta["labels"]["tuneop.dev/job-index"] == "0"
    assert meta["labels"]["kueue.x-k8s.io/queue-name"] == "team-a"
    assert meta["annotations"]["tuneop.dev/trials"] == "0"
    lr = data["trials"][0]["params"]["lr"]
    master = first["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]["containers"][0]
    assert f"lr = {lr};" in master["command"][2]


def test_a_jobset_sessions_primary_container_runs_here(user: User) -> None:
    seen = user.tuneop("run", "examples/kinds-jobset.yaml", "--local", "--no-report")
    assert seen.code == 0, seen
    assert "4/4 trials succeeded" in seen.out, seen
    notices = [line for line in seen.err.splitlines() if line.startswith("notice: trialResource")]
    assert len(notices) == 1 and "primary container train alone" in notices[0], seen
    assert "Traceback" not in seen.err


def test_a_missing_script_of_a_trial_resource_is_named_where_the_manifest_holds_it(
    user: User,
) -> None:
    doc = yaml.safe_load(user.path("examples/kinds-pytorchjob.yaml").read_text())
    replicas = doc["spec"]["trialResource"]["manifest"]["spec"]["pytorchReplicaSpecs"]
    replicas["Master"]["template"]["spec"]["containers"][0]["command"] = ["python3", "gone.py"]
    user.write("s.yaml", yaml.safe_dump(doc))
    seen = user.tuneop("run", "s.yaml", "--local", "--no-report")
    assert seen.code == 2, seen
    error = [line for line in seen.err.splitlines() if line.startswith("error:")]
    where = "spec.trialResource.manifest.spec.pytorchReplicaSpecs.Master.template.spec"
    assert len(error) == 1 and f"s.yaml: {where}.containers[0]: the script file" in error[0]
    assert "spec.template" not in seen.err, seen  # the session has none


def test_a_trial_only_its_controller_can_fill_in_is_refused_locally_in_one_line(
    user: User,
) -> None:
    doc = yaml.safe_load(user.path("examples/kinds-pipelinerun.yaml").read_text())
    step = doc["spec"]["trialResource"]["manifest"]["spec"]["pipelineSpec"]["tasks"][0]
    step["taskSpec"]["steps"][0]["command"].append("--lr=$(params.lr)")
    user.write("s.yaml", yaml.safe_dump(doc))
    seen = user.tuneop("run", "s.yaml", "--local", "--no-report")
    assert seen.code == 2, seen
    lines = seen.err.strip().splitlines()
    assert len(lines) == 1 and "cannot run locally" in lines[0], seen
    assert "PipelineRun's own substitutions" in lines[0], seen


@pytest.mark.parametrize(
    ("name", "resource", "words"),
    [
        pytest.param(
            "kinds-jobset.yaml",
            {"successCondition": "self.status.(("},
            "spec.trialResource.successCondition: not valid CEL (at character 13)",
            id="not-cel",
        ),
        pytest.param(
            "kinds-jobset.yaml",
            {"failureCondition": "self.a.all(x, x.b.all(y, y.c.exists(z, z)))"},
            "spec.trialResource.failureCondition: comprehensions nest deeper than 2",
            id="too-costly",
        ),
        pytest.param(
            "kinds-jobset.yaml",
            {"successCondition": "x" * 1025},
            "spec.trialResource.successCondition",
            id="too-long",
        ),
        pytest.param(
            "kinds-custom.yaml",
            {"successCondition": None},
            "spec.trialResource.successCondition: required for example.com/v1 Experiment",
            id="unknown-kind",
        ),
        pytest.param(
            "kinds-jobset.yaml",
            {"manifest": {"apiVersion": "jobset.x-k8s.io/v1alpha2", "kind": "JobSet"}},
            "spec.trialResource.manifest.spec: required",
            id="no-spec",
        ),
    ],
)
def test_a_bad_trial_resource_is_one_line_naming_the_field(
    user: User, name: str, resource: dict[str, object], words: str
) -> None:
    doc = yaml.safe_load(user.path(f"examples/{name}").read_text())
    for key, value in resource.items():
        if value is None:
            doc["spec"]["trialResource"].pop(key, None)
        else:
            doc["spec"]["trialResource"][key] = value
    user.write("s.yaml", yaml.safe_dump(doc))
    seen = user.tuneop("plan", "s.yaml")
    assert seen.code == 2, seen
    lines = seen.err.strip().splitlines()
    assert len(lines) == 1 and words in lines[0], seen
    assert "Traceback" not in seen.err


def test_a_trial_resource_with_several_trials_each_is_refused(user: User) -> None:
    doc = yaml.safe_load(user.path("examples/kinds-trainjob.yaml").read_text())
    doc["spec"]["trialsPerJob"] = 2
    doc["spec"]["metricsCollector"] = {"kind": "TuneopResult"}
    user.write("s.yaml", yaml.safe_dump(doc))
    seen = user.tuneop("plan", "s.yaml")
    assert seen.code == 2, seen
    assert "a trial resource runs one trial" in seen.err, seen
