"""The TuningSession spec and manifest: defaults, and one named problem per mistake."""

from __future__ import annotations

from typing import Any

import pytest

from builders import DROP, TWO_OBJECTIVES, manifest, spec, spec_data
from tuneop.api.session import parse_manifest
from tuneop.api.spec import SpecError, parse_spec, spec_to_wire

INT_X = {"name": "x", "type": "int", "min": 0, "max": 9}


def problems_of(data: Any) -> list[str]:
    with pytest.raises(SpecError) as err:
        parse_spec(data)
    return err.value.problems


def test_minimal_spec_gets_the_documented_defaults() -> None:
    s = spec()
    assert s.max_parallel == 4
    assert s.trial_timeout_seconds == 7 * 24 * 3600  # model training is not cut short
    assert s.deadline_seconds is None  # no session deadline unless asked for
    assert s.retries == 0
    assert s.objective.direction == "minimize"
    assert s.objective.on_goal == "Finish"
    assert s.runner.command == ["tuneop-runner"]
    assert s.suspend is False
    assert s.job_cleanup == "Delete"
    assert s.workers is None and s.trials_per_job is None


def test_optimizer_defaults_to_random_with_seed_zero() -> None:
    s = spec(optimizer=DROP, totalTrials=5)
    assert (s.optimizer.type, s.optimizer.seed) == ("random", 0)


def test_wire_form_is_camel_case_with_defaults_filled() -> None:
    wire = spec_to_wire(spec())
    assert wire["maxParallel"] == 4
    assert wire["trialTimeoutSeconds"] == 7 * 24 * 3600
    assert "deadlineSeconds" not in wire
    assert wire["runner"]["command"] == ["tuneop-runner"]
    assert "totalTrials" not in wire  # unset optionals are left out, not null
    assert parse_spec(wire) == spec()  # and it reads back to the same spec


def p(**fields: Any) -> list[dict[str, Any]]:
    """A one-parameter search space."""
    return [fields]


# (overrides, field path the message must name, words of the rule)
BAD_SPECS = [
    pytest.param(
        {"searchSpace": p(name="x", type="int", min=5, max=3)},
        "spec.searchSpace[0].min",
        "must be <= max",
        id="min-above-max",
    ),
    pytest.param(
        {"searchSpace": p(name="x", type="float", max=3, step=1)},
        "spec.searchSpace[0].min and max",
        "required",
        id="missing-min",
    ),
    pytest.param(
        {"searchSpace": p(name="x", type="int", min=0)},
        "spec.searchSpace[0].min and max",
        "required",
        id="missing-max",
    ),
    pytest.param(
        {"searchSpace": p(name="c", type="categorical")},
        "spec.searchSpace[0].values",
        "required",
        id="categorical-without-values",
    ),
    pytest.param(
        {"searchSpace": p(name="c", type="categorical", values=[])},
        "spec.searchSpace[0].values",
        "at least 1",
        id="categorical-empty-values",
    ),
    pytest.param(
        {"searchSpace": p(name="c", type="categorical", values=["a", "a"])},
        "spec.searchSpace[0].values",
        "distinct",
        id="categorical-repeated-values",
    ),
    pytest.param(
        {"searchSpace": [INT_X, {"name": "y", "type": "int", "min": 0, "max": 1}, INT_X]},
        "spec.searchSpace",
        "unique (x)",
        id="duplicate-names",
    ),
    pytest.param(
        {"workers": 2, "trialsPerJob": 3},
        "spec.workers and trialsPerJob",
        "set one, not both",
        id="workers-and-trialsPerJob",
    ),
    pytest.param(
        {"trials": [{"x": 1}]},
        "spec.trials and searchSpace",
        "set one, not both",
        id="trials-and-searchSpace",
    ),
    pytest.param(
        {"optimizer": {"type": "random"}},
        "spec.totalTrials",
        "required for the random and bayesian optimizers",
        id="random-without-totalTrials",
    ),
    pytest.param(
        {"optimizer": {"type": "bayesian"}},
        "spec.totalTrials",
        "required for the random and bayesian optimizers",
        id="bayesian-without-totalTrials",
    ),
    pytest.param(
        {"searchSpace": [INT_X, {"name": "lr", "type": "float", "min": 0, "max": 1}]},
        "spec.searchSpace[1].step",
        "required for a float parameter in a grid",
        id="float-grid-without-step",
    ),
    pytest.param({"maxParalel": 3}, "spec.maxParalel", "not permitted", id="unknown-top-field"),
    pytest.param(
        {"searchSpace": p(name="x", type="int", min=0, max=9, stpe=2)},
        "spec.searchSpace[0].stpe",
        "not permitted",
        id="unknown-nested-field",
    ),
    pytest.param(
        {"searchSpace": p(name="lr", type="float", min=0, max=1, log=True), "totalTrials": 3},
        "spec.searchSpace[0].log",
        "min > 0",
        id="log-with-zero-min",
    ),
    pytest.param(
        {"searchSpace": p(name="lr", type="float", min=-1, max=1, log=True), "totalTrials": 3},
        "spec.searchSpace[0].log",
        "min > 0",
        id="log-with-negative-min",
    ),
    pytest.param(
        {"searchSpace": p(name="lr", type="float", min=0.1, max=1, log=True, step=0.1)},
        "spec.searchSpace[0].log and step",
        "no step",
        id="log-with-float-step",
    ),
    pytest.param(
        {"maxParallel": 0}, "spec.maxParallel", "greater than or equal to 1", id="maxParallel-zero"
    ),
    pytest.param(
        {"maxParallel": 201},
        "spec.maxParallel",
        "less than or equal to 200",
        id="maxParallel-too-big",
    ),
    pytest.param(
        {"totalTrials": 0}, "spec.totalTrials", "greater than or equal to 1", id="totalTrials-zero"
    ),
    pytest.param(
        {"retries": -1}, "spec.retries", "greater than or equal to 0", id="retries-negative"
    ),
    pytest.param(
        {"runner": {"image": "i", "env": [{"name": "TUNEOP_TRIALS", "value": "[]"}]}},
        "spec.runner.env",
        "reserved (TUNEOP_TRIALS)",
        id="reserved-env-name",
    ),
    pytest.param(
        {"runner": {"image": "i", "objective": "m:f", "objectiveCommand": ["run"]}},
        "spec.runner.objective and objectiveCommand",
        "set one, not both",
        id="objective-and-objectiveCommand",
    ),
    pytest.param(
        {"runner": {"image": "i", "objective": "not a callable"}},
        "spec.runner.objective",
        "pattern",
        id="objective-not-module-colon-function",
    ),
    pytest.param({"runner": {}}, "spec.runner.image", "required", id="runner-without-image"),
    pytest.param({"runner": DROP}, "spec.runner.image", "required", id="no-runner"),
    pytest.param(
        {"objective": DROP},
        "spec.objective and objectives",
        "set exactly one",
        id="no-objective",
    ),
    pytest.param(
        {"objective": {"metric": "loss", "direction": "down"}},
        "spec.objective.direction",
        "'minimize' or 'maximize'",
        id="direction-not-an-enum-value",
    ),
    pytest.param(
        {"objective": {"metric": "loss", "onGoal": "Halt"}},
        "spec.objective.onGoal",
        "'Finish' or 'Stop'",
        id="onGoal-not-an-enum-value",
    ),
    pytest.param(
        {"searchSpace": p(name="x", type="int", min=0.5, max=3)},
        "spec.searchSpace[0].min and max",
        "whole numbers",
        id="int-with-fractional-bound",
    ),
    pytest.param(
        {"searchSpace": p(name="x y", type="int", min=0, max=3)},
        "spec.searchSpace[0].name",
        "pattern",
        id="parameter-name-with-space",
    ),
    pytest.param(
        {"searchSpace": p(name="x", type="int", min=0, max=3, values=[1, 2])},
        "spec.searchSpace[0].values",
        "only for categorical",
        id="values-on-an-int",
    ),
    pytest.param(
        {"searchSpace": [], "trials": DROP},
        "spec.searchSpace",
        "required",
        id="empty-search-space",
    ),
    pytest.param(
        {
            "searchSpace": [
                {"name": f"p{i}", "type": "int", "min": 0, "max": 1} for i in range(33)
            ],
        },
        "spec.searchSpace",
        "at most 32",
        id="too-many-parameters",
    ),
    pytest.param(
        {"searchSpace": DROP, "trials": [{"x": 1}], "optimizer": {"type": "bayesian"}},
        "spec.optimizer.type",
        "needs a searchSpace",
        id="bayesian-with-explicit-trials",
    ),
    pytest.param(
        {"jobCleanup": "Never"}, "spec.jobCleanup", "'Delete', 'KeepFailed' or 'Keep'", id="cleanup"
    ),
    # ---- several objectives
    pytest.param(
        {"objective": DROP, "objectives": TWO_OBJECTIVES[:1]},
        "spec.objectives",
        "at least 2",
        id="objectives-of-one",
    ),
    pytest.param(
        {
            "objective": DROP,
            "objectives": [{"metric": f"m{i}", "direction": "minimize"} for i in range(9)],
        },
        "spec.objectives",
        "at most 8",
        id="objectives-of-nine",
    ),
    pytest.param(
        {"objective": DROP, "objectives": [{"metric": "loss"}, TWO_OBJECTIVES[1]]},
        "spec.objectives[0].direction",
        "required",
        id="objective-without-a-direction",
    ),
    pytest.param(
        {"objective": DROP, "objectives": [{**TWO_OBJECTIVES[0], "goal": 1.0}, TWO_OBJECTIVES[1]]},
        "spec.objectives[0].goal",
        "not permitted",
        id="objectives-take-no-goal",
    ),
    pytest.param(
        {"objective": DROP, "objectives": TWO_OBJECTIVES, "optimizer": {"sampler": "nsga2"}},
        "spec.optimizer.sampler",
        "only with type bayesian",
        id="sampler-of-the-default-random",
    ),
    pytest.param(
        {"optimizer": {"type": "bayesian", "sampler": "cmaes"}, "totalTrials": 3},
        "spec.optimizer.sampler",
        "'tpe' or 'nsga2'",
        id="sampler-not-an-enum-value",
    ),
    pytest.param(
        {"optimizer": {"type": "bayesian", "sampler": "nsga2", "populationSize": 1}},
        "spec.optimizer.populationSize",
        "greater than or equal to 2",
        id="population-of-one",
    ),
]


def test_several_objectives_read_back_with_the_first_as_the_objective() -> None:
    s = spec(objective=DROP, objectives=TWO_OBJECTIVES, optimizer={"type": "grid"})
    assert s.multi_objective and s.single_objective is None
    assert (s.objective.metric, s.objective.direction, s.objective.goal) == (
        "loss",
        "minimize",
        None,
    )
    assert [(o.metric, o.direction) for o in s.all_objectives] == [
        ("loss", "minimize"),
        ("score", "maximize"),
    ]
    wire = spec_to_wire(s)
    assert "objective" not in wire and wire["objectives"] == TWO_OBJECTIVES
    assert parse_spec(wire) == s


def test_one_objective_is_all_objectives_and_no_front() -> None:
    s = spec()
    assert not s.multi_objective and s.all_objectives == (s.objective,)


@pytest.mark.parametrize(("overrides", "path", "rule"), BAD_SPECS)
def test_bad_spec_is_reported_with_its_field_path_and_rule(
    overrides: dict[str, Any], path: str, rule: str
) -> None:
    problems = problems_of(spec_data(**overrides))
    named = [x for x in problems if x.startswith(f"{path}: ")]
    assert named, f"no problem names {path}: {problems}"
    assert any(rule in x for x in named), f"{path} does not state the rule {rule!r}: {named}"


def test_every_problem_is_reported_not_just_the_first() -> None:
    problems = problems_of(spec_data(maxParallel=0, retries=-1, deadlineSeconds=0))
    paths = sorted(x.split(":")[0] for x in problems)
    assert paths == ["spec.deadlineSeconds", "spec.maxParallel", "spec.retries"]


@pytest.mark.parametrize("data", [None, [], "spec", 3], ids=["null", "list", "string", "number"])
def test_spec_that_is_not_a_mapping_is_rejected(data: Any) -> None:
    assert problems_of(data) == ["spec: must be a mapping"]


@pytest.mark.parametrize(
    "param",
    [
        pytest.param({"name": "lr", "type": "float", "min": 1e-5, "max": 1, "log": True}, id="log"),
        pytest.param({"name": "n", "type": "int", "min": 1, "max": 64, "log": True}, id="int-log"),
        pytest.param(
            {"name": "n", "type": "int", "min": 1, "max": 64, "log": True, "step": 1},
            id="int-log-step-1",
        ),
        pytest.param({"name": "x", "type": "int", "min": 3, "max": 3}, id="min-equals-max"),
        pytest.param({"name": "c", "type": "categorical", "values": [1, True, "1"]}, id="mixed"),
    ],
)
def test_edge_parameters_that_are_valid(param: dict[str, Any]) -> None:
    s = spec(searchSpace=[param], optimizer={"type": "random"}, totalTrials=2)
    assert s.search_space[0].name == param["name"]


# ---- the manifest envelope


def manifest_problems(doc: Any) -> list[str]:
    with pytest.raises(SpecError) as err:
        parse_manifest(doc)
    return err.value.problems


def with_(doc: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {**doc, **changes}


BAD_MANIFESTS = [
    pytest.param(with_(manifest(), apiVersion="tuneop.dev/v1"), "apiVersion", id="apiVersion"),
    pytest.param(with_(manifest(), apiVersion=None), "apiVersion", id="no-apiVersion"),
    pytest.param(with_(manifest(), kind="Job"), "kind", id="kind"),
    pytest.param(with_(manifest(), metadata={}), "metadata.name", id="no-name"),
    pytest.param(with_(manifest(), metadata=None), "metadata.name", id="no-metadata"),
    pytest.param(manifest(name="Demo"), "metadata.name", id="uppercase-name"),
    pytest.param(manifest(name="demo_1"), "metadata.name", id="underscore-name"),
    pytest.param(manifest(name="-demo"), "metadata.name", id="leading-dash"),
    pytest.param(manifest(name="a" * 254), "metadata.name", id="name-over-253"),
    pytest.param(with_(manifest(), spec=None), "spec", id="no-spec"),
]


@pytest.mark.parametrize(("doc", "path"), BAD_MANIFESTS)
def test_bad_manifest_names_the_field(doc: dict[str, Any], path: str) -> None:
    problems = manifest_problems(doc)
    assert any(x.startswith(f"{path}: ") for x in problems), problems


def test_manifest_problems_in_envelope_and_spec_are_reported_together() -> None:
    doc = with_(manifest(name="Bad", maxParallel=0), apiVersion="v1")
    paths = {x.split(":")[0] for x in manifest_problems(doc)}
    assert paths == {"apiVersion", "metadata.name", "spec.maxParallel"}


def test_manifest_that_is_not_a_mapping_is_rejected() -> None:
    assert manifest_problems(["not", "a", "manifest"]) == ["manifest: must be a mapping"]


def test_valid_manifest_gives_ref_spec_and_empty_status() -> None:
    s = parse_manifest(manifest(name="a" * 253))
    assert s.ref.name == "a" * 253
    assert (s.ref.namespace, s.ref.uid, s.ref.generation) == ("ns", "uid-1", 1)
    assert s.spec == spec()
    assert s.status.phase == "Pending"


def test_manifest_without_namespace_takes_the_default_namespace() -> None:
    doc = manifest()
    doc["metadata"] = {"name": "demo"}
    assert parse_manifest(doc, default_namespace="team-a").ref.namespace == "team-a"


def test_a_garbled_stored_status_is_named_unless_the_status_is_read_elsewhere() -> None:
    doc = with_(manifest(), status={"phase": "Exploded", "trials": "many"})
    # The operator reads the status through its status store, which reports it on the session.
    assert parse_manifest(doc, with_status=False).status.phase == "Pending"
    with pytest.raises(SpecError) as err:
        parse_manifest(doc)
    assert err.value.problems[0].startswith("status.")


@pytest.mark.parametrize(
    ("overrides", "warned"),
    [
        pytest.param(
            {"searchSpace": [INT_X, {"name": "X", "type": "int", "min": 0, "max": 1}]},
            "spec.searchSpace: x and X are both TUNEOP_PARAM_X",
            id="case",
        ),
        pytest.param(
            {
                "searchSpace": [
                    {"name": "learning-rate", "type": "int", "min": 0, "max": 1},
                    {"name": "learning_rate", "type": "int", "min": 0, "max": 1},
                ]
            },
            "spec.searchSpace: learning-rate and learning_rate are both TUNEOP_PARAM_LEARNING_RATE",
            id="punctuation",
        ),
        pytest.param(
            {"searchSpace": DROP, "trials": [{"a": 1}, {"a.b": 1, "a_b": 2}]},
            "spec.trials[1]: a.b and a_b are both TUNEOP_PARAM_A_B",
            id="explicit-trials",
        ),
        pytest.param({"searchSpace": [INT_X]}, "", id="distinct"),
    ],
)
def test_names_one_env_variable_carries_are_a_warning_not_a_rule(
    overrides: dict[str, Any], warned: str
) -> None:
    # Admitted (a session that ran with them before keeps running), and said.
    from tuneop.core.planning.planner import env_warnings

    found = env_warnings(spec(**overrides))
    assert found[0].startswith(warned) if warned else found == [], found
