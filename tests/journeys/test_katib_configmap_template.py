"""`tuneop import katib` with a trial template in a ConfigMap (`trialTemplate.configMap`):
the ConfigMap comes from a file (`--configmap FILE`) or from the cluster (`--from-cluster`),
and is checked as Katib's webhook checks it: every `${trialParameters.x}` declared.

Katib's own ConfigMap-source example with the ConfigMap Katib ships (both vendored, v0.19.0,
`katib_v0.19.0/`) is refused: the shipped template uses `${trialParameters.momentum}`, which
the example does not declare. A valid ConfigMap template imports and runs on this machine.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from stub_apiserver import StubApiServer
from user import User

KATIB = Path(__file__).parent / "katib_v0.19.0"

EXPERIMENT = """\
apiVersion: kubeflow.org/v1beta1
kind: Experiment
metadata: {name: from-configmap, namespace: ml}
spec:
  objective: {type: minimize, objectiveMetricName: loss}
  algorithm: {algorithmName: grid}
  parallelTrialCount: 2
  maxTrialCount: 3
  parameters:
    - {name: x, parameterType: int, feasibleSpace: {min: "0", max: "2"}}
  trialTemplate:
    primaryContainerName: training-container
    trialParameters:
      - {name: xValue, reference: x}
    configMap:
      configMapName: my-templates
      configMapNamespace: ml
      templatePath: train.yaml
"""

CONFIGMAP = {
    "apiVersion": "v1",
    "kind": "ConfigMap",
    "metadata": {"name": "my-templates", "namespace": "ml"},
    "data": {
        "train.yaml": (
            "apiVersion: batch/v1\nkind: Job\nspec:\n  template:\n    spec:\n"
            "      containers:\n        - name: training-container\n"
            "          image: registry.example.com/train:1\n"
            "          command: [python3, train.py, '--x=${trialParameters.xValue}']\n"
            "      restartPolicy: Never\n"
        )
    },
}

TRAIN = 'import sys\nx = int(sys.argv[-1].split("=")[1])\nprint(f"loss={(x - 1) ** 2}")\n'


def katib_files(user: User) -> None:
    for name in ("trial-configmap-source.yaml", "trial-templates.yaml"):
        shutil.copy(KATIB / name, user.path(name))


def error_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("error:")]


def test_katibs_configmap_example_is_refused_naming_the_undeclared_momentum(user: User) -> None:
    katib_files(user)
    seen = user.tuneop(
        "import", "katib", "trial-configmap-source.yaml", "--configmap", "trial-templates.yaml"
    )
    assert seen.code == 2, seen
    assert "Traceback" not in seen.err
    (line,) = error_lines(seen.err)
    assert "${trialParameters.momentum}" in line, line
    assert "spec.trialTemplate.trialParameters" in line
    assert seen.out == ""


def test_a_configmap_template_without_the_configmap_says_how_to_give_it(user: User) -> None:
    katib_files(user)
    seen = user.tuneop("import", "katib", "trial-configmap-source.yaml")
    assert seen.code == 2, seen
    (line,) = error_lines(seen.err)
    assert "kubeflow/trial-templates" in line and "--configmap FILE" in line, line


def test_a_configmap_file_without_that_configmap_is_one_line(user: User) -> None:
    user.write("exp.yaml", EXPERIMENT)
    user.write("other.yaml", yaml.safe_dump({**CONFIGMAP, "metadata": {"name": "other"}}))
    seen = user.tuneop("import", "katib", "exp.yaml", "--configmap", "other.yaml")
    assert seen.code == 2, seen
    (line,) = error_lines(seen.err)
    assert "holds no ConfigMap ml/my-templates" in line, line


def test_a_valid_configmap_template_imports_and_runs_here(user: User) -> None:
    user.write("exp.yaml", EXPERIMENT)
    user.write("cm.yaml", yaml.safe_dump(CONFIGMAP))
    user.write("train.py", TRAIN)
    seen = user.tuneop("import", "katib", "exp.yaml", "--configmap", "cm.yaml", "-o", "s.yaml")
    assert seen.code == 0, seen
    session = yaml.safe_load(user.path("s.yaml").read_text())
    container = session["spec"]["template"]["spec"]["containers"][0]
    assert container["command"][-1] == "--x=${params.x}"
    ran = user.tuneop("run", "s.yaml", "--local", "--no-report")
    assert ran.code == 0, ran
    trials = user.path("tuneop-results").glob("*/trials/*.json")
    records = [json.loads(p.read_text()) for p in trials]
    assert sorted(r["metrics"]["loss"] for r in records) == [0, 1, 1]


@pytest.fixture
def stub() -> Iterator[StubApiServer]:
    server = StubApiServer()
    server.thread.start()
    yield server
    server.httpd.shutdown()


def test_from_cluster_reads_the_configmap_through_the_api(user: User, stub: StubApiServer) -> None:
    user.write("exp.yaml", EXPERIMENT)
    path = "/api/v1/namespaces/ml/configmaps/my-templates"
    stub.answers[("GET", path)] = (200, json.dumps(CONFIGMAP).encode())
    config = str(stub.kubeconfig(user.path("kubeconfig")))
    seen = user.tuneop("import", "katib", "exp.yaml", "--from-cluster", "--kubeconfig", config)
    assert seen.code == 0, seen
    assert ("GET", path) in stub.seen
    assert "--x=${params.x}" in seen.out


def test_from_cluster_without_the_configmap_is_one_line(user: User, stub: StubApiServer) -> None:
    user.write("exp.yaml", EXPERIMENT)
    config = str(stub.kubeconfig(user.path("kubeconfig")))
    seen = user.tuneop("import", "katib", "exp.yaml", "--from-cluster", "--kubeconfig", config)
    assert seen.code == 2, seen
    (line,) = error_lines(seen.err)
    assert "ConfigMap ml/my-templates is not on the cluster" in line, line
