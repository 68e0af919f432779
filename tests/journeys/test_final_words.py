"""What a finished session says about itself: the goal it reached, its Pareto front, and
why nothing succeeded, in words that agree with the tables printed below them."""

from __future__ import annotations

import re

import yaml
from toy_sessions import session_yaml, with_toy
from user import User


def status_line(out: str, name: str) -> str:
    found = [line for line in out.splitlines() if line.startswith(f"session {name}: ")]
    assert len(found) == 1, out
    return found[0]


def test_a_reached_goal_is_announced_in_the_final_status_line(user: User) -> None:
    with_toy(user)
    spec = {
        "objective": {"metric": "loss", "direction": "minimize", "goal": 0.5},
        "trials": [{"x": 0}, {"x": 1}, {"x": 3}, {"x": 9}, {"x": 8}, {"x": 7}],
        "maxParallel": 1,
    }
    user.write("goal.yaml", session_yaml("goal", "bowl", spec))
    seen = user.tuneop("run", "goal.yaml", "--local", "--no-report")
    assert seen.code == 0, seen
    line = status_line(seen.out, "goal")
    assert "Succeeded" in line
    assert "goal reached" in line and "loss=0" in line and "0.5" in line, line
    assert "3 trials not run" in line, line  # the ones after the goal


def test_a_pareto_front_wider_than_the_status_is_not_counted_short(user: User) -> None:
    with_toy(user)
    spec = {
        "objectives": [
            {"metric": "f1", "direction": "minimize"},
            {"metric": "f2", "direction": "minimize"},
        ],
        "searchSpace": [{"name": "x", "type": "int", "min": 0, "max": 14}],
        "optimizer": {"type": "grid"},
        "maxParallel": 5,
    }
    user.write("line.yaml", session_yaml("line", "line", spec))
    seen = user.tuneop("run", "line.yaml", "--local", "--no-report")
    assert seen.code == 0, seen
    table = re.search(r"Pareto front: (\d+) trials no other beats", seen.out)
    assert table is not None and table.group(1) == "15", seen
    said = re.findall(r"Pareto front of (\d+) trials", seen.out)
    assert all(n == "15" for n in said), seen.out  # text and table agree, or text says less
    line = status_line(seen.out, "line")
    assert "Pareto front" in line and ("15" in line or "kept" in line), line


def test_a_pareto_front_the_status_holds_whole_is_counted_as_the_table_counts(
    user: User,
) -> None:
    with_toy(user)
    spec = {
        "objectives": [
            {"metric": "f1", "direction": "minimize"},
            {"metric": "f2", "direction": "minimize"},
        ],
        "trials": [{"x": 1}, {"x": 2}, {"x": 3}, {"x": 4}],
        "maxParallel": 4,
    }
    user.write("line.yaml", session_yaml("line", "line", spec))
    seen = user.tuneop("run", "line.yaml", "--local", "--no-report")
    assert seen.code == 0, seen
    assert "Pareto front of 4 trials" in status_line(seen.out, "line")
    assert "Pareto front: 4 trials" in seen.out


def test_a_session_every_trial_of_which_the_infrastructure_failed_says_so(
    user: User,
) -> None:
    # The cluster's view, through `tuneop plan --observed`: three Jobs whose pods were
    # evicted, none of which ran its trial to the end.
    user.write(
        "three.yaml",
        session_yaml(
            "three",
            "bowl",
            {"objective": {"metric": "loss"}, "trials": [{"x": 1}, {"x": 2}, {"x": 3}]},
        ),
    )
    observed = [
        {"index": i, "state": "Failed", "infraReason": "Evicted: node drained", "logs": "epoch 1\n"}
        for i in range(3)
    ]
    user.write("observed.yaml", yaml.safe_dump({"jobs": observed}))
    seen = user.tuneop("plan", "three.yaml", "--observed", "observed.yaml", "-o", "json")
    assert seen.code == 0, seen
    import json

    status = json.loads(seen.out)["status"]
    assert status["phase"] == "Failed"
    message = status["message"]
    assert "no trial succeeded" in message
    assert "infrastructure" in message and "3" in message, message
