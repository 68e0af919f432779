"""Numbers at the edges, raw bytes and floods of messages, through ``tuneop`` (issue 25, 4, 8, 9).

A range up to 1e308 or a boolean where a number goes is refused with one line
naming the field; an escape in a namespace or a metric never reaches the
terminal raw, in any output of ``plan``; a thousand bad values are five lines,
not four thousand; and a Katib Experiment's malformed fields are one line each.
"""

from __future__ import annotations

import json
import sys

import pytest
import yaml
from capped import capped, raw_control_bytes
from user import User

SPEC = {
    "apiVersion": "tuneop.dev/v1alpha1",
    "kind": "TuningSession",
    "metadata": {"name": "edges"},
    "spec": {
        "objective": {"metric": "loss"},
        "searchSpace": [{"name": "x", "type": "float", "min": 0, "max": 5}],
        "optimizer": {"type": "random"},
        "totalTrials": 3,
        "runner": {
            "image": "tuneop/runner:0.1.0",
            "objective": "tuneop_runner.objectives.functions:quadratic",
        },
    },
}


def write_spec(user: User, name: str = "s.yaml", **spec: object) -> str:
    doc = json.loads(json.dumps(SPEC))
    doc["spec"].update(spec)
    user.write(name, yaml.safe_dump(doc, allow_unicode=True, sort_keys=False))
    return name


def one_line(seen: object, *words: str) -> None:
    from capped import Capped

    assert isinstance(seen, Capped)
    assert seen.seen.code == 2 and "Traceback" not in seen.seen.err, seen
    assert len(seen.lines) == 1 and seen.lines[0].startswith("error: "), seen
    assert all(w in seen.lines[0] for w in words), seen


EDGES = [
    pytest.param("grid", {"type": "int", "min": 0, "max": 1e308}, "max", id="grid-int"),
    pytest.param("random", {"type": "float", "min": -1e308, "max": 1e308}, "min", id="random"),
    pytest.param("bayesian", {"type": "float", "min": 0, "max": 1e308}, "max", id="bayesian"),
    pytest.param("qmc", {"type": "int", "min": -1e308, "max": 1e308}, "min", id="qmc-int"),
    pytest.param("cmaes", {"type": "float", "min": -1e308, "max": 0}, "min", id="cmaes"),
]


@pytest.mark.parametrize(("optimizer", "bounds", "field"), EDGES)
def test_a_range_up_to_1e308_is_refused_with_one_line(
    user: User, optimizer: str, bounds: dict[str, object], field: str
) -> None:
    space = [{"name": "x", **bounds}]
    name = write_spec(user, searchSpace=space, optimizer={"type": optimizer}, totalTrials=3)
    for args in (["plan", name], ["run", name, "--local", "--no-report"]):
        one_line(capped(user, *args), f"spec.searchSpace[0].{field}", "must be within")


@pytest.mark.parametrize("optimizer", ["random", "bayesian", "qmc", "cmaes", "grid"])
def test_the_widest_range_allowed_plans_and_runs(user: User, optimizer: str) -> None:
    space = [{"name": "x", "type": "float", "min": -1e300, "max": 1e300, "step": 1e299}]
    if optimizer != "grid":
        space[0].pop("step")
    # The objective scales x down: a value the trial can square without overflowing.
    score = "import json,sys; x=json.load(sys.stdin)['x']; "
    score += "print(json.dumps({'loss': (x/1e300)**2}))"
    runner = {"image": "tuneop/runner:0.1.0", "objectiveCommand": [sys.executable, "-c", score]}
    name = write_spec(user, searchSpace=space, optimizer={"type": optimizer}, runner=runner)
    seen = capped(user, "plan", name, "--trials", "3", "-o", "json")
    assert seen.seen.code == 0, seen
    for row in json.loads(seen.seen.out)["trials"]:
        assert row["params"] is None or -1e300 <= row["params"]["x"] <= 1e300
    ran = capped(user, "run", name, "--local", "--no-report", "--no-progress", timeout=600)
    assert ran.seen.code == 0 and "Traceback" not in ran.seen.both, ran
    trials = sorted(user.path("tuneop-results/edges/trials").glob("*.json"))
    assert len(trials) == 3
    for trial in trials:
        record = json.loads(trial.read_text())
        assert record["outcome"] == "Succeeded" and -1e300 <= record["params"]["x"] <= 1e300


BOOLEANS = [
    pytest.param({"min": True}, "spec.searchSpace[0].min", id="min"),
    pytest.param({"step": True}, "spec.searchSpace[0].step", id="step"),
]


@pytest.mark.parametrize(("bad", "field"), BOOLEANS)
def test_a_boolean_where_a_number_goes_is_refused(
    user: User, bad: dict[str, object], field: str
) -> None:
    space = [{"name": "x", "type": "float", "min": 0, "max": 5, **bad}]
    one_line(capped(user, "plan", write_spec(user, searchSpace=space)), field)


def test_names_a_trial_reads_from_one_variable_are_warned_of(user: User) -> None:
    # learning-rate and learning_rate are both TUNEOP_PARAM_LEARNING_RATE in the trial's
    # environment: said by plan and run, which still run the session (one that ran with
    # such names before an upgrade goes on; its params by name tell them apart).
    space = [
        {"name": "x", "type": "float", "min": 0, "max": 5},  # the objective's own
        {"name": "learning-rate", "type": "float", "min": 0.01, "max": 0.02},
        {"name": "learning_rate", "type": "float", "min": 100, "max": 200},
    ]
    name = write_spec(user, searchSpace=space)
    for args in (["plan", name], ["run", name, "--local", "--no-report"]):
        seen = user.tuneop(*args)
        assert seen.code == 0, seen
        said = (seen.out + seen.err).splitlines()  # plan says it with the plan, run on stderr
        warned = [line for line in said if "TUNEOP_PARAM_LEARNING_RATE" in line]
        assert len(warned) == 1 and warned[0].startswith("warning: spec.searchSpace: "), seen


def test_a_yaml_1_2_exponent_is_a_number(user: User) -> None:
    user.write(
        "lr.yaml",
        yaml.safe_dump(SPEC).replace("max: 5", "max: 1e-1").replace("min: 0", "min: 1e-5"),
    )
    seen = capped(user, "plan", "lr.yaml", "-o", "json")
    assert seen.seen.code == 0, seen
    assert json.loads(seen.seen.out)["session"]["spec"]["searchSpace"][0]["min"] == 1e-5


def test_an_escape_in_the_namespace_never_reaches_the_terminal(user: User) -> None:
    doc = json.loads(json.dumps(SPEC))
    doc["metadata"]["namespace"] = "team\x1b[2J\x1b]0;owned\x07"
    user.write("ns.yaml", yaml.safe_dump(doc))
    for output in ("table", "yaml", "json"):
        seen = capped(user, "plan", "ns.yaml", "-o", output)
        one_line(seen, "metadata.namespace")
        assert not raw_control_bytes(seen.seen.out + seen.seen.err), seen
    flag = capped(user, "plan", write_spec(user), "-n", "a\x1b[31mb")
    one_line(flag, "metadata.namespace")
    assert not raw_control_bytes(flag.seen.err), flag


def test_control_and_bidi_characters_in_a_metric_stay_escaped_in_every_output(
    user: User,
) -> None:
    name = write_spec(user, objective={"metric": "loss\x9b2J\u202e\x1b[31m"})
    for output in ("table", "yaml", "json"):
        seen = capped(user, "plan", name, "-o", output)
        assert seen.seen.code == 0, seen
        assert not raw_control_bytes(seen.seen.out + seen.seen.err), (output, seen)
    data = json.loads(capped(user, "plan", name, "-o", "json").seen.out)
    assert data["session"]["spec"]["objective"]["metric"] == "loss\x9b2J\u202e\x1b[31m"
    data = yaml.safe_load(capped(user, "plan", name, "-o", "yaml").seen.out)
    assert data["session"]["spec"]["objective"]["metric"] == "loss\x9b2J\u202e\x1b[31m"


def test_a_thousand_bad_values_are_five_lines(user: User) -> None:
    space = [{"name": "c", "type": "categorical", "values": [[i] for i in range(1024)]}]
    name = write_spec(user, searchSpace=space, optimizer={"type": "grid"}, totalTrials=None)
    for args in (["plan", name], ["run", name, "--local", "--no-report"]):
        seen = capped(user, *args)
        assert seen.seen.code == 2 and "Traceback" not in seen.seen.err, seen
        assert len(seen.lines) == 5, seen
        rule = "must be a number, a string or true/false"
        assert seen.lines[0] == f"error: {name}: spec.searchSpace[0].values[0]: {rule}"
        assert seen.lines[-1] == "error: … and 1,020 more"


KATIB = {
    "apiVersion": "kubeflow.org/v1beta1",
    "kind": "Experiment",
    "metadata": {"name": "e"},
    "spec": {
        "objective": {"type": "minimize", "objectiveMetricName": "loss"},
        "algorithm": {"algorithmName": "random"},
        "maxTrialCount": 4,
        "parallelTrialCount": 2,
        "parameters": [
            {"name": "x", "parameterType": "double", "feasibleSpace": {"min": "0", "max": "1"}}
        ],
        "trialTemplate": {
            "primaryContainerName": "t",
            "trialSpec": {
                "apiVersion": "batch/v1",
                "kind": "Job",
                "spec": {"template": {"spec": {"containers": [{"name": "t", "image": "i"}]}}},
            },
        },
    },
}
POD = ["trialTemplate", "trialSpec", "spec", "template", "spec"]
MALFORMED = [
    pytest.param(["maxTrialCount"], "twelve", "spec.maxTrialCount", id="maxTrialCount-text"),
    pytest.param(["parallelTrialCount"], [3], "spec.parallelTrialCount", id="parallel-list"),
    pytest.param(["parallelTrialCount"], True, "spec.parallelTrialCount", id="parallel-bool"),
    pytest.param(
        ["algorithm", "algorithmSettings"],
        "random_state=3",
        "spec.algorithm.algorithmSettings",
        id="settings-string",
    ),
    pytest.param([*POD, "containers"], "t", ".template.spec.containers", id="containers-string"),
    pytest.param(
        [*POD, "containers", 0, "args"], {"a": 1}, ".containers[0].args", id="args-mapping"
    ),
    pytest.param(
        ["parameters", 0, "feasibleSpace", "max"], "1e400", "feasibleSpace.max", id="max-inf"
    ),
]


@pytest.mark.parametrize(("path", "value", "field"), MALFORMED)
def test_a_malformed_katib_field_is_one_line_naming_it(
    user: User, path: list[str | int], value: object, field: str
) -> None:
    doc = json.loads(json.dumps(KATIB))
    node = doc["spec"]
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    user.write("exp.yaml", yaml.safe_dump(doc))
    one_line(capped(user, "import", "katib", "exp.yaml"), "exp.yaml", field)


def test_a_katib_args_alias_is_one_line(user: User) -> None:
    doc = json.loads(json.dumps(KATIB))
    doc["spec"]["trialTemplate"]["trialSpec"]["spec"]["template"]["spec"]["containers"][0][
        "args"
    ] = "ALIAS"
    user.write("exp.yaml", "x: &x {a: 1}\n" + yaml.safe_dump(doc).replace("ALIAS", "*x"))
    one_line(capped(user, "import", "katib", "exp.yaml"), "containers[0].args")


def test_a_thousand_bad_katib_values_are_five_lines(user: User) -> None:
    doc = json.loads(json.dumps(KATIB))
    values = {"list": [[i] for i in range(1024)]}
    doc["spec"]["parameters"] = [
        {"name": "c", "parameterType": "categorical", "feasibleSpace": values}
    ]
    user.write("exp.yaml", yaml.safe_dump(doc))
    seen = capped(user, "import", "katib", "exp.yaml")
    assert seen.seen.code == 2 and len(seen.lines) == 5, seen
    assert "spec.searchSpace[0].values[0]: must be" in seen.lines[0]


@pytest.mark.parametrize(
    "where",
    [
        pytest.param({"objective": {"metric": "lo\x00ss"}}, id="metric"),
        pytest.param(
            {"searchSpace": [{"name": "x\x00", "type": "int", "min": 0, "max": 2}]},
            id="parameter-name",
        ),
    ],
)
@pytest.mark.parametrize("command", ["plan", "run"])
def test_a_nul_character_in_the_spec_is_refused_before_any_worker_starts(
    user: User, where: dict[str, object], command: str
) -> None:
    # A NUL cannot reach a worker's environment: once it crashed every warm worker.
    name = write_spec(user, **where)
    args = [command, name] + (["--local", "--no-report"] if command == "run" else [])
    seen = capped(user, *args)
    one_line(seen, "must not contain a NUL character")
    assert not (user.path("tuneop-results")).exists()
