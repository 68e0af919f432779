"""JSONL job plans: one trial's parameters per line."""

from __future__ import annotations

import pytest

from tuneop.api.session import parse_manifest
from tuneop.api.spec import SpecError
from tuneop.core.conversions.jobsfile import parse_jobs, session_from_jobs


def test_lines_give_params_either_wrapped_or_bare_skipping_comments_and_blanks() -> None:
    text = '# plan\n\n{"job_id": "a", "params": {"lr": 0.1}}\n  {"lr": 0.2, "opt": "sgd"}  \n'
    assert parse_jobs(text) == [{"lr": 0.1, "job_id": "a"}, {"lr": 0.2, "opt": "sgd"}]


@pytest.mark.parametrize(
    ("line", "params"),
    [
        pytest.param('{"job_id": "a7", "params": {"lr": 1}}', {"lr": 1, "job_id": "a7"}, id="text"),
        pytest.param('{"job_id": 7, "params": {"lr": 1}}', {"lr": 1, "job_id": 7}, id="number"),
        pytest.param('{"job_id": [7], "params": {"lr": 1}}', {"lr": 1}, id="not-a-scalar"),
        pytest.param(
            '{"job_id": "a", "params": {"job_id": "b"}}', {"job_id": "b"}, id="params-win"
        ),
    ],
)
def test_a_job_id_travels_with_its_trial_as_a_parameter(
    line: str, params: dict[str, object]
) -> None:
    assert parse_jobs(line) == [params]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        pytest.param('{"lr": 0.1}\n{lr: 2}\n', "plan.jsonl:2: not JSON", id="not-json"),
        pytest.param("[1, 2]\n", "plan.jsonl:1: params must be a non-empty JSON object", id="list"),
        pytest.param('{"params": {}}\n', "plan.jsonl:1: params must be a non-empty", id="empty"),
        pytest.param('{"params": 3}\n', "plan.jsonl:1: params must be a non-empty", id="scalar"),
        pytest.param(
            '{"lr": [0.1]}\n',
            "plan.jsonl:1: params.lr: must be a number, string or bool",
            id="list",
        ),
        pytest.param('{"lr": null}\n', "plan.jsonl:1: params.lr: must be", id="null"),
        pytest.param("# nothing\n\n", "plan.jsonl: no jobs in the file", id="no-jobs"),
    ],
)
def test_bad_lines_are_named_by_file_and_line(text: str, problem: str) -> None:
    with pytest.raises(SpecError) as err:
        parse_jobs(text, source="plan.jsonl")
    assert any(p.startswith(problem) for p in err.value.problems), err.value.problems


def test_every_bad_line_is_reported() -> None:
    with pytest.raises(SpecError) as err:
        parse_jobs('{x\n{}\n{"a": 1}\n[]\n', source="f")
    assert [p.split(":")[1] for p in err.value.problems] == ["1", "2", "4"]


def test_session_from_jobs_runs_exactly_the_listed_trials() -> None:
    trials = [{"lr": 0.1}, {"lr": 0.2}]
    s = parse_manifest(session_from_jobs(trials, name="plan"))
    assert s.spec.trials == trials and s.spec.total_trials == 2
    assert s.ref.name == "plan"


def test_session_from_jobs_replaces_a_template_s_search_and_keeps_the_rest() -> None:
    template = {
        "apiVersion": "tuneop.dev/v1alpha1",
        "kind": "TuningSession",
        "metadata": {"name": "tpl"},
        "spec": {
            "objective": {"metric": "acc", "direction": "maximize"},
            "searchSpace": [{"name": "lr", "type": "float", "min": 0, "max": 1}],
            "optimizer": {"type": "bayesian"},
            "totalTrials": 50,
            "runner": {"image": "i"},
        },
    }
    doc = session_from_jobs([{"lr": 0.3}], name="ignored", template=template)
    s = parse_manifest(doc)
    assert s.ref.name == "tpl"
    assert (s.spec.trials, s.spec.total_trials, s.spec.search_space) == ([{"lr": 0.3}], 1, [])
    assert s.spec.optimizer.type == "random"  # bayesian cannot run a fixed list
    assert s.spec.objective.direction == "maximize"
    assert template["spec"]["totalTrials"] == 50  # the template itself is not modified
