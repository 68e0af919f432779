"""Hostile spec, plan and Katib files through the ``tuneop`` command (issue 25, items 3 and 7).

Each journey writes a file a user could be handed (an alias bomb, a document of a
few hundred thousand values, a line nested a hundred thousand deep), runs the
command under an address-space cap and a timeout, and asserts what the user
sees: exit 2, at most five lines on stderr naming the file and the rule, no
traceback, within 200 MB of peak RSS and a few seconds of CPU.
"""

from __future__ import annotations

import json

import pytest
from capped import PEAK_MB, Capped, capped
from user import User

HEAD = """apiVersion: tuneop.dev/v1alpha1
kind: TuningSession
metadata:
  name: hostile
spec:
  objective: {metric: loss}
  optimizer: {type: random}
  totalTrials: 4
  maxParallel: 4
"""
SEARCH = "  searchSpace: [{name: x, type: float, min: 0, max: 5}]\n"
RUNNER = """  runner:
    image: tuneop/runner:0.1.0
    objective: tuneop_runner.objectives.functions:quadratic
"""
CPU_SECONDS = 20  # a refusal takes well under a second of CPU; a bomb takes minutes


def laughs(indent: str, levels: int = 9) -> str:
    """A billion-laughs mapping: level k is nine aliases to level k-1 (9**levels leaves)."""
    rows = [f"{indent}l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"]
    for k in range(1, levels):
        rows.append(f"{indent}l{k}: &l{k} [" + ", ".join([f"*l{k - 1}"] * 9) + "]\n")
    return "".join(rows)


def refused(seen: Capped, file: str, *words: str) -> None:
    """Exit 2, one to five ``error:`` lines naming the file and the rule, bounded cost."""
    assert seen.seen.code == 2, seen
    assert "Traceback" not in seen.seen.err, seen
    assert 1 <= len(seen.lines) <= 5, seen
    assert all(line.startswith(f"error: {file}") for line in seen.lines), seen
    assert all(w in seen.seen.err for w in words), seen
    assert seen.peak_mb < PEAK_MB and seen.cpu_seconds < CPU_SECONDS, seen


BOMBS = [
    pytest.param(HEAD + SEARCH + RUNNER + "    resources:\n" + laughs("      "), id="resources"),
    pytest.param(
        HEAD + SEARCH + RUNNER + "    tolerations:\n    - key: k\n      x:\n" + laughs("        "),
        id="tolerations",
    ),
    pytest.param(
        HEAD
        + SEARCH
        + "  runner: {objective: tuneop_runner.objectives.functions:quadratic}\n"
        + "  template:\n    metadata:\n      annotations:\n"
        + laughs("        ")
        + "    spec:\n      containers: [{name: trial, image: tuneop/runner:0.1.0}]\n",
        id="template",
    ),
]


@pytest.mark.parametrize("text", BOMBS)
@pytest.mark.parametrize("command", ["plan", "run"])
def test_an_alias_bomb_is_refused_before_it_expands(user: User, text: str, command: str) -> None:
    user.write("bomb.yaml", text)
    args = ["run", "bomb.yaml", "--local", "--no-report"] if command == "run" else ["plan"]
    seen = capped(user, *args, *(["bomb.yaml"] if command == "plan" else []))
    refused(seen, "bomb.yaml", "aliases are expanded")
    assert not user.path("tuneop-results/hostile").exists()  # refused before any trial


def test_a_katib_alias_bomb_is_refused_by_the_import(user: User) -> None:
    user.write(
        "exp.yaml",
        "apiVersion: kubeflow.org/v1beta1\nkind: Experiment\nmetadata: {name: e}\n"
        "x:\n" + laughs("  ") + "spec:\n  objective: {objectiveMetricName: loss}\n"
        "  parameters: [{name: x, parameterType: double, feasibleSpace: {min: '0', max: '1'}}]\n"
        "  trialTemplate:\n    trialSpec:\n      apiVersion: batch/v1\n      kind: Job\n"
        "      spec:\n        template:\n          spec:\n            containers:\n"
        "            - {name: t, image: i, env: *l8}\n",
    )
    refused(capped(user, "import", "katib", "exp.yaml"), "exp.yaml", "aliases are expanded")


def test_an_alias_to_its_own_anchor_is_refused(user: User) -> None:
    user.write("loop.yaml", HEAD + SEARCH + RUNNER + "    resources: &r {limits: *r}\n")
    refused(capped(user, "plan", "loop.yaml"), "loop.yaml", "inside its own anchor")


LARGE = [
    pytest.param(
        lambda: HEAD + SEARCH + RUNNER + "".join(f"  u{i}: 1\n" for i in range(200_000)),
        "more than 100,000 values",
        id="200000-unknown-fields",
    ),
    pytest.param(
        lambda: HEAD
        + "  searchSpace: [{name: c, type: categorical, values: ["
        + ",".join(["1"] * 500_000)
        + "]}]\n"
        + RUNNER,
        "more than 100,000 values",
        id="500000-values",
    ),
    pytest.param(
        lambda: "#" + "x" * (15 * 2**20) + "\n" + HEAD + SEARCH + RUNNER,
        "larger than 4 MiB",
        id="15-MiB-comment",
    ),
    pytest.param(
        lambda: HEAD.replace("  optimizer: {type: random}\n  totalTrials: 4\n", "")
        + "  trials:\n"
        + "".join(f"  - {{x: {i}}}\n" for i in range(100_000))
        + RUNNER,
        "more than 100,000 values",
        id="100000-explicit-trials",
    ),
]


@pytest.mark.parametrize(("make", "rule"), LARGE)
def test_a_large_document_is_refused_quickly_in_bounded_memory(
    user: User, make: object, rule: str
) -> None:
    assert callable(make)
    user.write("large.yaml", make())
    refused(capped(user, "plan", "large.yaml"), "large.yaml", rule)


def test_a_hundred_thousand_explicit_trials_plan_from_a_jobs_file(user: User) -> None:
    jobs = ({"params": {"x": i, "y": i / 2}, "job_id": f"j{i}"} for i in range(100_000))
    lines = (json.dumps(job) for job in jobs)
    user.write("plan.jsonl", "\n".join(lines) + "\n")
    seen = capped(user, "plan", "--jobs-file", "plan.jsonl", "-o", "json")
    assert seen.seen.code == 0, seen
    assert json.loads(seen.seen.out)["totalTrials"] == 100_000
    assert seen.peak_mb < PEAK_MB and seen.cpu_seconds < CPU_SECONDS, seen


@pytest.mark.parametrize("command", ["plan", "run"])
def test_a_deeply_nested_jobs_file_line_is_one_line(user: User, command: str) -> None:
    user.write("deep.jsonl", '{"x": 1}\n{"x": ' + "[" * 100_000 + "]" * 100_000 + "}\n")
    extra = ["--local", "--no-report"] if command == "run" else []
    seen = capped(user, command, "--jobs-file", "deep.jsonl", *extra)
    refused(seen, "deep.jsonl:2", "nested too deeply")


@pytest.mark.parametrize("command", ["plan", "run"])
def test_a_300_deep_resources_mapping_is_one_line(user: User, command: str) -> None:
    deep = "{a: " * 300 + "1" + "}" * 300
    user.write("deep.yaml", HEAD + SEARCH + RUNNER + f"    resources: {deep}\n")
    args = ["plan", "deep.yaml", "-o", "yaml"] if command == "plan" else ["run", "deep.yaml"]
    seen = capped(user, *args, *(["--local", "--no-report"] if command == "run" else []))
    refused(seen, "deep.yaml", "nested too deeply")


def test_a_resources_mapping_40_deep_is_refused_by_the_spec_rule(user: User) -> None:
    deep = "{a: " * 40 + "1" + "}" * 40
    user.write("deep.yaml", HEAD + SEARCH + RUNNER + f"    resources: {deep}\n")
    refused(
        capped(user, "plan", "deep.yaml", "-o", "json"),
        "deep.yaml",
        "spec.runner.resources: nested too deeply",
    )


OBSERVED = [
    pytest.param("[{index: 0, trials: [a]}]", "observed.jobs[0].trials", id="trial-text"),
    pytest.param("[{index: 0, trials: [-5]}]", "observed.jobs[0].trials", id="trial-negative"),
    pytest.param("[{index: 0, state: Succeeded, logs: 5}]", "observed.jobs[0].logs", id="logs"),
    pytest.param("{jobs: 5}", "observed: must be a list", id="jobs-number"),
    pytest.param("[{index: 0, params: 5}]", "observed.jobs[0].params", id="params"),
    pytest.param("[{index: -1, trials: [0]}]", "observed.jobs[0].index", id="index"),
]


@pytest.mark.parametrize(("observed", "field"), OBSERVED)
def test_a_malformed_observed_file_is_one_line(user: User, observed: str, field: str) -> None:
    user.write("obs.yaml", observed + "\n")
    seen = capped(user, "plan", "examples/quickstart.yaml", "--observed", "obs.yaml")
    refused(seen, "", field)
