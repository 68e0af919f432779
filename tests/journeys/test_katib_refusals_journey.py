"""What Katib's webhook refuses, ``tuneop import katib`` refuses too, in one line naming the
field, rather than reading it some other way: an objective without its type (it was read
as minimize: an accuracy run the wrong way), no algorithm (random search), a list or
bounds a parameter's type has no use for (dropped), a collector format Katib has not
(dropped), a template given twice (one ignored). A collector without a path reads Katib's
default file, as Katib does.
"""

from __future__ import annotations

import json

import pytest
import yaml
from capped import Capped, capped
from test_spec_edges import KATIB
from user import User

DROP = object()
SPACE = ["parameters", 0, "feasibleSpace"]
MC = ["metricsCollectorSpec"]
FILE = {"collector": {"kind": "File"}, "source": {"fileSystemPath": {"kind": "File"}}}
CONFIGMAP = {"configMapName": "c", "configMapNamespace": "n", "templatePath": "t"}
REFUSED = [
    pytest.param(["objective", "type"], DROP, "spec.objective.type", id="objective-no-type"),
    pytest.param(
        ["objective", "additionalMetricNames"],
        ["acc", "loss"],
        "should not contain spec.objective.objectiveMetricName",
        id="objective-twice",
    ),
    pytest.param(["maxFailedTrialCount"], -1, "should not be less than 0", id="failed-negative"),
    pytest.param(["maxTrialCount"], 0, "must be greater than 0", id="max-trials-zero"),
    pytest.param(["algorithm"], DROP, "spec.algorithm.algorithmName", id="no-algorithm"),
    pytest.param(["algorithm", "algorithmName"], "TPE", "it is tpe", id="algorithm-in-upper-case"),
    pytest.param(["parameters", 0, "parameterType"], DROP, "required", id="no-parameter-type"),
    pytest.param(["parameters"], DROP, "spec.parameters: required", id="no-parameters"),
    pytest.param([*SPACE, "list"], ["0.1", "0.2"], "feasibleSpace.list", id="list-on-double"),
    pytest.param([*SPACE, "max"], DROP, "max and min must be specified", id="double-no-max"),
    pytest.param(
        SPACE,
        {"min": "0.01", "max": "1", "step": "0.01", "distribution": "logUniform"},
        "feasibleSpace: logUniform with a step",
        id="log-with-step",
    ),
    pytest.param(
        [*SPACE, "distribution"], "gaussian", "not one of Katib's", id="unknown-distribution"
    ),
    pytest.param(["metricsCollectorSpec"], {"collector": {"kind": "Stdout"}}, "invalid", id="kind"),
    pytest.param(
        MC,
        {**FILE, "source": {"fileSystemPath": {"path": "/m.log", "format": "XML"}}},
        "must be TEXT or JSON",
        id="file-format-xml",
    ),
    pytest.param(
        MC,
        {**FILE, "source": {"fileSystemPath": {"path": "m.log"}}},
        "must be an absolute path",
        id="file-path-relative",
    ),
    pytest.param(
        MC,
        {
            **FILE,
            "source": {
                "fileSystemPath": {"path": "/m.log", "format": "JSON"},
                "filter": {"metricsFormat": ["([a-z]+)=(.*)"]},
            },
        },
        "filter: must be empty when the format is JSON",
        id="json-with-filter",
    ),
    pytest.param(
        MC,
        {
            **FILE,
            "source": {
                "fileSystemPath": {"path": "/m.log", "format": "JSON"},
                "filter": {"metricsFormat": []},
            },
        },
        "filter: must be empty when the format is JSON",
        id="json-with-an-empty-filter",
    ),
    pytest.param(
        MC,
        {
            "collector": {"kind": "Custom", "customCollector": {"name": "c", "image": "i"}},
            "source": {"fileSystemPath": {"path": "metrics.log", "kind": "File"}},
        },
        "must be an absolute path",
        id="custom-path-relative",
    ),
    pytest.param(
        ["trialTemplate", "configMap"], CONFIGMAP, "only one of", id="trialSpec-and-configMap"
    ),
    pytest.param(["trialTemplate", "trialSpec", "apiVersion"], "batch/v2", "batch/v1", id="job-v2"),
]


def experiment(path: list[str | int], value: object) -> dict[str, object]:
    doc = json.loads(json.dumps(KATIB))
    node = doc["spec"]
    for key in path[:-1]:
        node = node[key]
    if value is DROP:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return doc


@pytest.mark.parametrize(("path", "value", "words"), REFUSED)
def test_what_katib_refuses_is_refused_in_one_line(
    user: User, path: list[str | int], value: object, words: str
) -> None:
    user.write("exp.yaml", yaml.safe_dump(experiment(path, value)))
    seen = capped(user, "import", "katib", "exp.yaml", "-o", "s.yaml")
    assert isinstance(seen, Capped)
    assert seen.seen.code == 2 and "Traceback" not in seen.seen.err, seen
    assert len(seen.lines) == 1 and seen.lines[0].startswith("error: exp.yaml: "), seen
    assert words in seen.lines[0], seen
    assert not user.path("s.yaml").exists()


@pytest.mark.parametrize(
    ("kind", "path"),
    [("File", "/var/log/katib/metrics.log"), ("TensorFlowEvent", "/var/log/katib/tfevent")],
)
def test_a_collector_without_a_path_reads_katibs_default_one(
    user: User, kind: str, path: str
) -> None:
    doc = experiment(["metricsCollectorSpec"], {"collector": {"kind": kind}})
    user.write("exp.yaml", yaml.safe_dump(doc))
    seen = user.tuneop("import", "katib", "exp.yaml", "--strict", "-o", "s.yaml")
    assert seen.code == 0 and "note:" not in seen.err, seen
    collector = yaml.safe_load(user.path("s.yaml").read_text())["spec"]["metricsCollector"]
    assert (collector["kind"], collector["path"]) == (kind, path), collector


def clashing(env: bool) -> dict[str, object]:
    """Two parameters one TUNEOP_PARAM_ variable carries, read by the trial's env values
    (``env``) or by its args only."""
    doc = experiment(["parameters"], [])
    spec = doc["spec"]
    assert isinstance(spec, dict)
    bounds = {"min": "0.01", "max": "0.02"}
    spec["parameters"] = [
        {"name": n, "parameterType": "double", "feasibleSpace": bounds}
        for n in ("learning-rate", "learning_rate")
    ]
    spec["trialTemplate"]["trialParameters"] = [
        {"name": "a", "reference": "learning-rate"},
        {"name": "b", "reference": "learning_rate"},
    ]
    container = spec["trialTemplate"]["trialSpec"]["spec"]["template"]["spec"]["containers"][0]
    container["command"] = ["python3", "t.py"]
    if env:
        container["env"] = [
            {"name": "A", "value": "${trialParameters.a}"},
            {"name": "B", "value": "${trialParameters.b}"},
        ]
    else:
        container["args"] = ["--a=${trialParameters.a}", "--b=${trialParameters.b}"]
    return doc


def test_env_values_of_two_parameters_one_variable_carries_are_refused(user: User) -> None:
    # Katib gives each its value; tuneop's env values read TUNEOP_PARAM_LEARNING_RATE for
    # both. In the args each is its own ${params.NAME}: that imports, with plan's warning.
    user.write("exp.yaml", yaml.safe_dump(clashing(env=True)))
    seen = user.tuneop("import", "katib", "exp.yaml", "-o", "s.yaml")
    assert seen.code == 2 and len(seen.err.splitlines()) == 1, seen
    assert "would both read TUNEOP_PARAM_LEARNING_RATE" in seen.err, seen
    user.write("exp.yaml", yaml.safe_dump(clashing(env=False)))
    seen = user.tuneop("import", "katib", "exp.yaml", "-o", "s.yaml")
    assert seen.code == 0, seen
    plan = user.tuneop("plan", "s.yaml")
    assert plan.code == 0 and "are both TUNEOP_PARAM_LEARNING_RATE" in plan.out, plan
