"""First steps that went wrong: a forgotten ``--local``, the README's cluster block, and
``tuneop plan`` showing a session's trials (all of them, up to a bound) with whole numbers
printed as whole numbers."""

from __future__ import annotations

import json
import re

import yaml
from toy_sessions import session_yaml
from user import REPO, User, shell_blocks


def test_forgetting_local_without_a_kubeconfig_says_how_to_run_it_here(user: User) -> None:
    seen = user.tuneop("run", "examples/quickstart.yaml")
    assert seen.code == 2, seen
    assert "Traceback" not in seen.err
    line = seen.err.strip().splitlines()[-1]
    assert "kubeconfig" in line and "--local" in line, seen


def test_the_readme_cluster_block_builds_and_pushes_both_images_before_installing() -> None:
    block = next(b for b in shell_blocks(REPO / "README.md") if "helm install" in b.text)
    assert block.kind == "not run"
    text = block.text
    for image in ("tuneop/operator", "tuneop/runner"):
        build = re.search(rf"docker build [^\n]*{image}", text)
        push = re.search(rf"docker push [^\n]*{image}", text)
        assert build and push, f"{image} is not built and pushed in:\n{text}"
        assert build.start() < push.start() < text.index("helm install")
    assert "image.repository" in text  # the chart pulls the pushed operator image
    # and the session runs the pushed runner image, not the unserved tuneop/runner:0.1.0
    others = [line for line in text.splitlines() if not line.startswith("docker ")]
    assert any("$REGISTRY/tuneop/runner" in line for line in others), text


def test_plan_lists_every_trial_of_a_small_session(user: User) -> None:
    seen = user.tuneop("plan", "examples/quickstart.yaml")
    assert seen.code == 0, seen
    rows = re.findall(r"^│ (\d+)\s+│", seen.out, flags=re.M)
    assert rows[:30] == [str(t) for t in range(30)], seen.out
    seen = user.tuneop("plan", "examples/quickstart.yaml", "-o", "json")
    assert [t["trial"] for t in json.loads(seen.out)["trials"]] == list(range(30))


def test_plan_of_a_large_session_lists_a_bounded_number_and_counts_the_rest(
    user: User,
) -> None:
    spec = {
        "objective": {"metric": "loss"},
        "searchSpace": [{"name": "x", "type": "int", "min": 0, "max": 999}],
        "optimizer": {"type": "grid"},
    }
    user.write("big.yaml", session_yaml("big", "bowl", spec))
    seen = user.tuneop("plan", "big.yaml")
    assert seen.code == 0, seen
    rows = re.findall(r"^│ (\d+)\s+│\s+\d+\s+│ \{", seen.out, flags=re.M)
    assert len(rows) == 200, seen.out
    assert "… 800 more" in seen.out
    data = yaml.safe_load(user.tuneop("plan", "big.yaml", "-o", "yaml").out)
    assert len(data["trials"]) == 200 and data["totalTrials"] == 1000

    seen = user.tuneop("plan", "big.yaml", "--trials", "5")
    rows = re.findall(r"^│ (\d+)\s+│\s+\d+\s+│ \{", seen.out, flags=re.M)
    assert rows == ["0", "1", "2", "3", "4"], seen.out
    assert "… 995 more" in seen.out


def test_plan_prints_int_parameters_as_whole_numbers_in_every_format(user: User) -> None:
    spec = {
        "objective": {"metric": "loss"},
        "searchSpace": [
            {"name": "n", "type": "int", "min": 5, "max": 64, "log": True},
            {"name": "k", "type": "int", "min": 0, "max": 10, "step": 2},
            {"name": "lr", "type": "float", "min": 0.5, "max": 2},
        ],
        "optimizer": {"type": "random", "seed": 3},
        "totalTrials": 4,
    }
    user.write("ints.yaml", session_yaml("ints", "bowl", spec))
    as_yaml = user.tuneop("plan", "ints.yaml", "-o", "yaml")
    assert as_yaml.code == 0, as_yaml
    assert "min: 5\n" in as_yaml.out and "max: 64\n" in as_yaml.out
    assert "step: 2\n" in as_yaml.out and "min: 5.0" not in as_yaml.out
    assert "min: 0.5\n" in as_yaml.out and "max: 2.0\n" in as_yaml.out  # floats stay floats
    space = json.loads(user.tuneop("plan", "ints.yaml", "-o", "json").out)["session"]["spec"][
        "searchSpace"
    ]
    n, k, lr = space
    assert (n["min"], n["max"], k["step"]) == (5, 64, 2)
    assert all(type(v) is int for v in (n["min"], n["max"], k["min"], k["max"], k["step"]))
    assert type(lr["max"]) is float
    table = user.tuneop("plan", "ints.yaml")
    params = [json.loads(p) for p in re.findall(r"(\{.*\})", table.out)]
    assert len(params) == 4 and all(type(p["n"]) is int for p in params), table.out


def test_an_int_parameter_in_an_error_is_a_whole_number(user: User) -> None:
    spec = {
        "objective": {"metric": "loss"},
        "searchSpace": [{"name": "n", "type": "int", "min": 9, "max": 3}],
        "totalTrials": 2,
    }
    user.write("bad.yaml", session_yaml("bad", "bowl", spec))
    seen = user.tuneop("plan", "bad.yaml")
    assert seen.code == 2, seen
    assert "(9 > 3)" in seen.err, seen.err
