"""Katib's 7 example Experiments of other trial kinds, imported by ``tuneop import katib``.

Each imports with exit 0, passes ``tuneop plan``, and carries Katib's trial
template field by field: the manifest (its ``${trialParameters.x}`` placeholders
as ``${params.<reference>}``), the success and failure conditions (GJSON
translated to CEL, or Katib's default for the kind, which is tuneop's), the
primary pod labels (given, or Katib's default) and the primary container.
The files are Katib v0.19.0's, unchanged (tests/data/katib-kinds/README.md).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from user import REPO, User

DATA = REPO / "tests" / "data" / "katib-kinds"
FILES = sorted(p.name for p in DATA.glob("*.yaml"))
# Katib's defaults for the kinds whose examples leave them out
# (pkg/apis/controller/experiments/v1beta1/constants.go, v0.19.0), as GJSON.
KATIB_DEFAULTS = {
    "TrainJob": (
        'status.conditions.#(type=="Complete")#|#(status=="True")#',
        'status.conditions.#(type=="Failed")#|#(status=="True")#',
        {
            "jobset.sigs.k8s.io/replicatedjob-name": "node",
            "batch.kubernetes.io/job-completion-index": "0",
        },
    ),
    "training-operator": (
        'status.conditions.#(type=="Succeeded")#|#(status=="True")#',
        'status.conditions.#(type=="Failed")#|#(status=="True")#',
        {"training.kubeflow.org/job-role": "master"},
    ),
}


def _gjson_holds(gjson: str, obj: dict[str, object]) -> bool:
    """Katib's two GJSON shapes, read directly: the reference the CEL is checked against."""
    tests = re.findall(r'#\((\w+)=="([^"]*)"\)#', gjson)
    if ".[@this]." in gjson:
        status = obj.get("status") or {}
        return all(isinstance(status, dict) and status.get(k) == v for k, v in tests)
    conditions = (obj.get("status") or {}).get("conditions") or []  # type: ignore[union-attr]
    return any(all(c.get(k) == v for k, v in tests) for c in conditions)


def _objects() -> list[dict[str, object]]:
    """Statuses a controller writes: none yet, running, each condition, each phase."""
    out: list[dict[str, object]] = [{}, {"status": {}}]
    for kind in ("Complete", "Completed", "Succeeded", "Failed", "Running", "Created"):
        for status in ("True", "False"):
            out.append({"status": {"conditions": [{"type": kind, "status": status}]}})
    out += [
        {"status": {"phase": p}} for p in ("Pending", "Running", "Succeeded", "Failed", "Error")
    ]
    return out


@pytest.mark.parametrize("name", FILES)
def test_a_katib_experiment_of_another_kind_imports_plans_and_keeps_its_trial_template(
    user: User, name: str
) -> None:
    seen = user.tuneop("import", "katib", str(DATA / name), "-o", "session.yaml")
    assert seen.code == 0, seen
    assert "Traceback" not in seen.err
    planned = user.tuneop("plan", "session.yaml", "-o", "json")
    assert planned.code == 0, planned

    katib = yaml.safe_load((DATA / name).read_text())["spec"]["trialTemplate"]
    trial = katib["trialSpec"]
    resource = yaml.safe_load(user.path("session.yaml").read_text())["spec"]["trialResource"]
    manifest = resource["manifest"]
    assert (manifest["apiVersion"], manifest["kind"]) == (trial["apiVersion"], trial["kind"])
    refs = {p["name"]: p["reference"] for p in katib["trialParameters"]}
    expected = json.dumps(trial)
    for param, ref in refs.items():
        expected = expected.replace("${trialParameters." + param + "}", "${params." + ref + "}")
    assert json.dumps(manifest) == expected
    assert resource.get("primaryContainer") == katib["primaryContainerName"]

    family = "TrainJob" if trial["kind"] == "TrainJob" else "training-operator"
    defaults = (
        KATIB_DEFAULTS.get(family)
        if trial["apiVersion"].startswith(("kubeflow.org", "trainer."))
        else None
    )
    success = katib.get("successCondition") or (defaults[0] if defaults else None)
    failure = katib.get("failureCondition") or (defaults[1] if defaults else None)
    labels = katib.get("primaryPodLabels") or (defaults[2] if defaults else {})
    assert success and failure, (
        "every Katib example of another kind has conditions, given or default"
    )

    # What the plan shows is the resolved trial resource: the same labels, and conditions
    # that hold on exactly the statuses Katib's GJSON holds on.
    out = user.tuneop("plan", "session.yaml").out
    shown = dict(re.findall(r"^  (succeeded|failed) when: (.*)$", out, re.M))
    assert set(shown) == {"succeeded", "failed"}, out
    pairs = ", ".join(f"{k}={v}" for k, v in labels.items())
    assert f"the pod labelled {pairs}, container {katib['primaryContainerName']}" in out, out
    import celpy

    env = celpy.Environment()
    for cel, gjson in ((shown["succeeded"], success), (shown["failed"], failure)):
        program = env.program(env.compile(cel))
        for obj in _objects():
            try:
                value = bool(program.evaluate({"self": celpy.json_to_cel(obj)}))
            except celpy.CELEvalError:
                value = False
            assert value == _gjson_holds(gjson, obj), (name, cel, gjson, obj)


def test_seven_katib_examples_of_other_kinds_are_vendored_with_katibs_licence() -> None:
    assert len(FILES) == 7
    assert "Apache License" in (DATA / "LICENSE").read_text()
    kinds = {
        yaml.safe_load((DATA / f).read_text())["spec"]["trialTemplate"]["trialSpec"]["kind"]
        for f in FILES
    }
    assert kinds == {
        "Workflow",
        "PyTorchJob",
        "TFJob",
        "MPIJob",
        "XGBoostJob",
        "TrainJob",
        "PipelineRun",
    }


def test_a_gjson_condition_cel_cannot_state_is_a_note_and_the_kinds_default_stands(
    user: User,
) -> None:
    doc = yaml.safe_load((DATA / "pytorchjob-mnist.yaml").read_text())
    doc["spec"]["trialTemplate"]["successCondition"] = "status.conditions.#.type"
    user.write("exp.yaml", yaml.safe_dump(doc))
    seen = user.tuneop("import", "katib", "exp.yaml", "-o", "session.yaml")
    assert seen.code == 0, seen
    notes = [line for line in seen.err.splitlines() if "successCondition" in line]
    assert len(notes) == 1 and "has no CEL translation" in notes[0], seen
    assert (
        "successCondition"
        not in yaml.safe_load(Path(user.path("session.yaml")).read_text())["spec"]["trialResource"]
    )
