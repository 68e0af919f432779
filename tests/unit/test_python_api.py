"""The Python API builds the spec the YAML builds: one model, the same rules, read back equal.

Each session here is written twice, as an example's YAML file and in Python, and the two
must be equal; every example survives ``to_yaml`` and ``from_yaml``; what the spec refuses
the Python API refuses with the same field named; a Python objective is accepted only
when a worker could import it by name.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tuneop.api.status import SessionStatus, TrialCounts, TrialRef
from tuneop.sdk import (
    Categorical,
    Float,
    Int,
    ObjectiveNotImportable,
    Progress,
    Results,
    Session,
    SpecError,
    Trial,
    maximize,
    minimize,
    objective_path,
    optimizer,
)
from tuneop_runner.objectives.functions import branin, quadratic

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

WRITTEN_IN_PYTHON: list[tuple[str, Callable[[], Session]]] = [
    (
        "quickstart.yaml",
        lambda: Session(
            "quickstart",
            objective=minimize("loss"),
            space=[Int("x", 0, 5), Float("y", -2.0, 0.0, step=0.5)],
            optimizer="grid",
            function=quadratic,
            max_parallel=3,
            trial_timeout_seconds=30,
            deadline_seconds=600,
        ),
    ),
    (
        "branin-random.yaml",
        lambda: Session(
            "branin-random",
            objective="value",
            space=[Float("x1", -5, 10), Float("x2", 0, 15)],
            optimizer=optimizer("random", seed=42),
            total_trials=40,
            function=branin,
            workers=4,
            maxParallel=4,  # a field by its YAML name
        ),
    ),
    (
        "sklearn-sgd-pruning.yaml",
        lambda: Session(
            "sklearn-sgd-pruning",
            objective=maximize("accuracy"),
            space=[
                Float("alpha", 1e-6, 1e-1, log=True),
                Float("eta0", 1e-5, 1.0, log=True),
                Categorical("loss", ["hinge", "log_loss", "modified_huber"]),
            ],
            optimizer=optimizer("random", seed=0),
            total_trials=30,
            workers=2,
            max_parallel=2,
            trial_timeout_seconds=600,
            early_stopping={"type": "successiveHalving", "minResource": 1, "reductionFactor": 3},
            function="examples.sklearn.sgd_epochs:objective",
        ),
    ),
    (
        "conditional-optimizer.yaml",
        lambda: Session(
            "conditional-optimizer",
            objective=minimize("loss"),
            space=[
                Categorical("optimizer", ["sgd", "adam"]),
                Float("lr", 0.001, 0.1, log=True),
                Float("momentum", 0.5, 0.99, when={"optimizer": "sgd"}),
                Float("beta1", 0.8, 0.99, when={"optimizer": ["adam"]}),
            ],
            optimizer=optimizer("bayesian", seed=7),
            total_trials=16,
            max_parallel=4,
            trial_timeout_seconds=30,
            deadline_seconds=600,
            function="tuneop_runner.objectives.functions:conditional",
        ),
    ),
]


@pytest.mark.parametrize(("example", "build"), WRITTEN_IN_PYTHON, ids=lambda v: str(v)[:30])
def test_a_session_written_in_python_is_the_yaml_files_session(
    example: str, build: Callable[[], Session]
) -> None:
    assert build() == Session.from_file(EXAMPLES / example)


def test_a_template_session_is_built_with_its_template_and_no_runner_image() -> None:
    from_file = Session.from_file(EXAMPLES / "sklearn-gbm.yaml")
    wire = from_file.manifest()["spec"]
    fields = {k: v for k, v in wire.items() if k not in ("objective", "searchSpace")}
    built = Session(
        "sklearn-gbm",
        objective=maximize("accuracy"),
        space=from_file.spec.search_space,
        **fields,
    )
    assert built == from_file


@pytest.mark.parametrize("example", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.name)
def test_every_example_reads_back_equal_from_its_yaml(example: Path) -> None:
    session = Session.from_file(example)
    assert Session.from_yaml(session.to_yaml()) == session


def inline(params: dict[str, Any]) -> dict[str, float]:
    return {"loss": 0.0}


def nested() -> Callable[[dict[str, Any]], dict[str, float]]:
    def objective(params: dict[str, Any]) -> dict[str, float]:
        return {"loss": 0.0}

    return objective


@pytest.mark.parametrize(
    ("function", "named"),
    [
        (quadratic, "tuneop_runner.objectives.functions:quadratic"),
        ("my_module:train", "my_module:train"),  # as written; the spec checks its form
        (inline, "test_python_api:inline"),
    ],
)
def test_an_importable_function_is_named_module_colon_function(function: Any, named: str) -> None:
    assert objective_path(function) == named


def in_main(params: dict[str, Any]) -> dict[str, float]:
    return {}


in_main.__module__ = "__main__"  # as a notebook's cell defines it


def replaced(params: dict[str, Any]) -> dict[str, float]:
    return {}


REPLACED = replaced


def replaced(params: dict[str, Any]) -> dict[str, float]:
    return {"loss": 1.0}  # (a notebook's module reloaded: the name now holds another)


@pytest.mark.parametrize(
    ("function", "says"),
    [
        (in_main, "in_main is defined in __main__ (a notebook cell or the script run)"),
        (lambda p: p, "is not a function at the top level of its module"),
        (nested(), "nested.<locals>.objective is not a function at the top level"),
        (Session.run, "Session.run is not a function at the top level"),
        (REPLACED, "test_python_api:replaced does not name this function when imported"),
        (functools.partial(quadratic), "has no module and name"),
    ],
    ids=["main", "lambda", "nested", "method", "replaced", "partial"],
)
def test_a_function_a_worker_cannot_import_is_refused_saying_why(function: Any, says: str) -> None:
    with pytest.raises(ObjectiveNotImportable, match=None) as refused:
        Session("s", objective="loss", space=[Int("x", 0, 3)], optimizer="grid", function=function)
    assert says in str(refused.value)


@pytest.mark.parametrize(
    ("build", "says"),
    [
        (lambda: Int("x", 3, 0), "searchSpace[x].min: must be <= max (3 > 0)"),
        (lambda: Float("lr", 0.0, 1.0, log=True), "searchSpace[lr]"),
        (lambda: Categorical("c", []), "searchSpace[c]."),
        (lambda: minimize(""), "objective.metric"),
        (lambda: optimizer("annealing"), "optimizer.type"),
        (
            lambda: Session(
                "s", objective="loss", space=[Int("x", 0, 3)], optimizer="grid", max_paralel=3
            ),
            "spec.maxParalel",
        ),
        (
            lambda: Session("s", objective="loss", space=[Int("x", 0, 3)], optimizer="random"),
            "totalTrials",
        ),
        (
            lambda: Session(
                "s",
                objective="loss",
                space=[Int("x", 0, 3)],
                optimizer="grid",
                function=quadratic,
                command=["python3", "t.py"],
            ),
            "objective",
        ),
        (
            lambda: Session(
                "Not A Name", objective="loss", space=[Int("x", 0, 3)], optimizer="grid"
            ),
            "metadata.name",
        ),
        (lambda: Session.from_yaml("a: [1"), "manifest: not valid YAML"),
        (lambda: Session.from_yaml("kind: Other\n"), "manifest: expected one TuningSession"),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_what_the_spec_refuses_is_refused_naming_the_field(
    build: Callable[[], object], says: str
) -> None:
    with pytest.raises(SpecError) as refused:
        build()
    assert says in str(refused.value)


def test_a_change_is_checked_again_and_keeps_the_rest() -> None:
    session = WRITTEN_IN_PYTHON[1][1]()
    bigger = session.with_changes(total_trials=80)
    assert bigger.spec.total_trials == 80 and bigger.spec.workers == 4
    assert bigger.in_namespace("team-a").ref.key == "team-a/branin-random"
    with pytest.raises(SpecError, match="totalTrials"):
        session.with_changes(total_trials=0)


RECORD: dict[str, Any] = {
    "session": "default/s",
    "trial": 4,
    "jobIndex": 2,
    "params": {"x": 3, "kind": "a"},
    "metrics": {"loss": 0.5, "x": 3.0},
    "outcome": "Succeeded",
    "error": None,
    "durationSeconds": 1.25,
    "objective": {"metric": "loss", "direction": "minimize", "value": 0.5},
}


def test_a_record_is_a_typed_trial_and_a_dataframe_row() -> None:
    failed = {**RECORD, "trial": 1, "outcome": "Failed", "error": "boom", "objective": None}
    status = SessionStatus(best=TrialRef(trial=4, value=0.5))
    results = Results.of("default/s", status, [RECORD, failed])
    assert [t.trial for t in results] == [1, 4]
    assert results.best == Trial(
        trial=4,
        params={"x": 3, "kind": "a"},
        value=0.5,
        metrics={"loss": 0.5, "x": 3.0},
        outcome="Succeeded",
        duration_seconds=1.25,
        job_index=2,
    )
    frame = results.to_dataframe()
    assert list(frame.columns) == [
        "trial", "outcome", "value", "duration_seconds", "error",
        "params.x", "params.kind", "metrics.loss", "metrics.x",
    ]  # fmt: skip
    assert frame["outcome"].tolist() == ["Failed", "Succeeded"]
    assert frame["error"][0] == "boom"


def test_progress_reads_the_status_counts_and_best() -> None:
    status = SessionStatus(
        phase="Running",
        trials=TrialCounts(total=10, succeeded=3, failed=1, running=2),
        best=TrialRef(trial=2, value=0.25, params={"x": 1}),
    )
    seen = Progress.of(status)
    assert (seen.phase, seen.done, seen.total, seen.running, seen.failed) == (
        "Running", 4, 10, 2, 1,
    )  # fmt: skip
    assert (seen.best_value, seen.best_params, seen.terminal) == (0.25, {"x": 1}, False)


def test_to_yaml_writes_an_int_parameters_bounds_and_step_as_ints() -> None:
    import yaml

    session = Session(
        "ints",
        objective="loss",
        space=[Int("x", 0, 10, step=2), Float("lr", 0.5, 1.0)],
        optimizer="random",
        total_trials=4,
        command=["python3", "train.py"],
    )
    text = session.to_yaml()
    x, lr = yaml.safe_load(text)["spec"]["searchSpace"]
    assert (x["min"], x["max"], x["step"]) == (0, 10, 2)
    assert all(type(x[k]) is int for k in ("min", "max", "step")), text
    assert type(lr["min"]) is float
    assert Session.from_yaml(text) == session
