"""Specs, files and records are untrusted: bad input is one line naming the field and rule.

Each row is an input that once crashed a command or was accepted although
nothing could act on it (issue: "trial output and specs are untrusted
input"). Every one now gives ``error: <where>: <field>: <rule>`` on stderr
and exit code 2, never a traceback; the bounds live in the pydantic model,
so the generated CRD carries them too.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest
import yaml

from builders import DROP, manifest
from tuneop.adapters.results_folder.folder import UnsafePath, dump_json, load_records, write_atomic
from tuneop.api.crd import crd
from tuneop.api.spec import MAX_SECONDS, MAX_TRIALS
from tuneop.cli.main import main
from tuneop.core.results.records import MAX_ENTRIES, MAX_TEXT, read_record

FLOAT = [{"name": "x", "type": "float", "min": 0, "max": 1, "step": 0.5}]

BAD_SPECS = [
    pytest.param({"deadlineSeconds": 10**20}, "spec.deadlineSeconds", id="deadline-huge"),
    pytest.param({"deadlineSeconds": 1e20}, "spec.deadlineSeconds", id="deadline-float"),
    pytest.param({"trialTimeoutSeconds": 10**20}, "spec.trialTimeoutSeconds", id="timeout-huge"),
    pytest.param(
        {"searchSpace": [{**FLOAT[0], "step": 1e-308}]}, "spec.searchSpace[0].step", id="step-tiny"
    ),
    pytest.param(
        {"searchSpace": [{**FLOAT[0], "step": float("inf")}]},
        "spec.searchSpace[0].step",
        id="step-inf",
    ),
    pytest.param({"maxParallel": True}, "spec.maxParallel", id="maxParallel-bool"),
    pytest.param({"maxParallel": "3"}, "spec.maxParallel", id="maxParallel-string"),
    pytest.param({"suspend": "yes"}, "spec.suspend", id="suspend-string"),
    pytest.param(
        {"objective": {"metric": "loss", "goal": float("nan")}},
        "spec.objective.goal",
        id="goal-nan",
    ),
    pytest.param(
        {"optimizer": {"type": "random"}, "totalTrials": 10**300}, "spec.totalTrials", id="budget"
    ),
    pytest.param({"maxFailedTrials": 10**12}, "spec.maxFailedTrials", id="failure-budget"),
    pytest.param(
        {"optimizer": {"type": "random", "seed": 2**40}}, "spec.optimizer.seed", id="seed"
    ),
    pytest.param(
        {"searchSpace": [{"name": "c", "type": "categorical", "values": ["a\x00b", "c"]}]},
        "spec.searchSpace[0].values[0]",
        id="nul-in-value",
    ),
    pytest.param(
        {"searchSpace": [{"name": "c", "type": "categorical", "values": ["\x1b[2J"]}]},
        "spec.searchSpace[0].values[0]",
        id="escape-in-value",
    ),
    pytest.param(
        {"searchSpace": DROP, "trials": [{"x": "a\x00"}]}, "spec.trials[0].x", id="nul-in-trial"
    ),
    pytest.param(
        {"searchSpace": DROP, "trials": [{"x\x00": 1}]}, "spec.trials[0]", id="nul-in-trial-name"
    ),
    pytest.param(
        {"searchSpace": DROP, "trials": [{"x": float("nan")}]}, "spec.trials[0].x", id="nan-trial"
    ),
    pytest.param(
        {"searchSpace": [{"name": f"p{i}", "type": "int", "min": 0, "max": 99} for i in range(4)]},
        "spec.searchSpace",
        id="grid-too-large",
    ),
]


def plan_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str], doc: Any) -> tuple[int, str]:
    path = tmp_path / "s.yaml"
    path.write_text(doc if isinstance(doc, str) else yaml.safe_dump(doc, allow_unicode=False))
    code = main(["plan", str(path)])
    out, err = capsys.readouterr()
    assert out == "" and "Traceback" not in err
    return code, err


@pytest.mark.parametrize(("overrides", "field"), BAD_SPECS)
def test_a_spec_nothing_could_act_on_is_one_line_naming_the_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], overrides: dict[str, Any], field: str
) -> None:
    code, err = plan_errors(tmp_path, capsys, manifest(**overrides))
    assert code == 2
    assert len(err.splitlines()) == 1 and f": {field}" in err


def test_a_generation_that_is_no_number_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = manifest()
    doc["metadata"]["generation"] = "abc"
    code, err = plan_errors(tmp_path, capsys, doc)
    assert code == 2 and "metadata.generation" in err


@pytest.mark.parametrize(
    ("content", "rule"),
    [
        pytest.param(b"\x89PNG\r\n\x1a\n\x00\x00\x00", "not UTF-8 text", id="binary"),
        pytest.param("kind: x\n".encode("utf-16"), "not UTF-8 text", id="utf-16"),
        pytest.param(b"a: \x00\n", "NUL", id="nul"),
        pytest.param(b"[" * 100_000 + b"]" * 100_000, "nested too deeply", id="deep-yaml"),
    ],
)
def test_a_file_that_is_no_yaml_text_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes, rule: str
) -> None:
    path = tmp_path / "s.yaml"
    path.write_bytes(content)
    code = main(["plan", str(path)])
    _, err = capsys.readouterr()
    assert code == 2 and len(err.splitlines()) == 1
    assert err.startswith(f"error: {path}") and rule in err


def test_bounds_are_in_the_generated_crd() -> None:
    spec = crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    props = spec["properties"]
    assert props["deadlineSeconds"]["maximum"] == MAX_SECONDS
    assert props["trialTimeoutSeconds"]["maximum"] == MAX_SECONDS
    assert props["totalTrials"]["maximum"] == MAX_TRIALS


def test_a_results_folder_that_cannot_be_written_is_refused_before_any_worker_starts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "taken").write_text("")
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(manifest()))
    code = main(["run", str(path), "--local", "--results-dir", str(tmp_path / "taken")])
    _, err = capsys.readouterr()
    assert code == 2 and len(err.splitlines()) == 1 and "cannot write results there" in err


@pytest.mark.parametrize("command", ["run", "summary"])
def test_a_redis_url_of_another_scheme_is_one_line_without_the_url(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    runner = {"image": "i", "objective": "tuneop_runner.objectives.functions:sphere"}
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(manifest(runner=runner)))
    url = "http://user:secret@host:1/0"
    argv = (
        ["run", str(path), "--local", "--redis-url", url, "--results-dir", str(tmp_path / "r")]
        if command == "run"
        else ["summary", "--redis", url, "--session", "ns/demo"]
    )
    code = main(argv)
    _, err = capsys.readouterr()
    assert code == 2 and "--redis-url: not a Redis URL" in err and "secret" not in err


# ---- files the results folder holds ------------------------------------------------


def test_a_link_planted_where_a_result_goes_is_refused_and_its_target_untouched(
    tmp_path: Path,
) -> None:
    victim = tmp_path / "victim"
    victim.write_text("keep me")
    (tmp_path / "trials").mkdir()
    (tmp_path / "trials" / "trial-000001.json").symlink_to(victim)
    with pytest.raises(UnsafePath, match="symbolic link"):
        write_atomic(tmp_path / "trials" / "trial-000001.json", "{}")
    linked = tmp_path / "linked"
    linked.symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    with pytest.raises(UnsafePath):
        write_atomic(linked / "session.json", "{}")
    assert victim.read_text() == "keep me" and not (tmp_path / "elsewhere").exists()


def test_result_files_are_strict_json_with_the_documented_mode(tmp_path: Path) -> None:
    target = tmp_path / "trial.json"
    write_atomic(target, dump_json({"durationSeconds": float("nan"), "m": [float("inf"), 1.5]}))
    assert json.loads(target.read_text()) == {"durationSeconds": None, "m": [None, 1.5]}
    assert "NaN" not in target.read_text()
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o644 & ~umask


MALFORMED_RECORDS = [
    pytest.param(b"[]", id="a-list"),
    pytest.param(b'{"trial": "7"}', id="trial-a-string"),
    pytest.param(b'{"trial": true}', id="trial-a-bool"),
    pytest.param(b'{"trial": -1}', id="trial-negative"),
    pytest.param(b"[" * 5000 + b"]" * 5000, id="nested-5000"),
    pytest.param(b"\xff\xfe\x00\x01", id="binary"),
    pytest.param(b'{"trial": 1, "metrics": 5, "params": [1], "objective": "x"}', id="wrong-types"),
]


@pytest.mark.parametrize("content", MALFORMED_RECORDS)
def test_a_malformed_trial_file_is_passed_over_and_the_rest_summarized(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes
) -> None:
    trials = tmp_path / "s" / "trials"
    trials.mkdir(parents=True)
    good = {"trial": 0, "outcome": "Succeeded", "metrics": {"loss": 1.0}, "params": {"x": 1}}
    (trials / "trial-000000.json").write_text(json.dumps(good))
    (trials / "trial-000001.json").write_bytes(content)
    records = load_records(tmp_path)
    assert [r["trial"] for r in records] == ([0, 1] if content.startswith(b'{"trial": 1') else [0])
    assert main(["summary", str(tmp_path), "--metric", "loss"]) == 0
    assert "best parameters" in capsys.readouterr().out


HEADER = "session,trial,job_index,outcome,loss,param.x,metric.loss,error"
GOOD_ROW = "default/demo,0,0,Succeeded,1.5,2,1.5,"
# Rows of a results.csv that are no trial: passed over as a damaged trial file is.
DAMAGED_CSV_ROWS = [
    pytest.param("default/demo,1,1,Succeeded,0.5,1,0.5,,extra", id="a-cell-more"),
    pytest.param("default/demo,1,1,Succeeded,0.5,1", id="a-cell-less"),
    pytest.param("oops", id="a-lone-cell"),
    pytest.param('"default/demo",1,1,Succeeded,"0,5",1,0.5,,"x,y"', id="quoted-commas-a-cell-more"),
    pytest.param("default/demo,seven,1,Succeeded,0.5,1,0.5,", id="trial-not-a-number"),
]


@pytest.mark.parametrize("row", DAMAGED_CSV_ROWS)
def test_a_damaged_results_csv_row_is_passed_over_and_the_rest_summarized(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], row: str
) -> None:
    path = tmp_path / "results.csv"
    path.write_text(f"{HEADER}\n{row}\n{GOOD_ROW}\n")
    assert [(r["trial"], r["params"]) for r in load_records(path)] == [(0, {"x": 2})]
    assert main(["summary", str(path)]) == 0
    assert 'best parameters: {"x": 2}' in capsys.readouterr().out


def test_a_record_is_bounded_however_large_its_maps_and_texts() -> None:
    doc = {
        "trial": 3,
        "metrics": {f"m{i}": i for i in range(10_000)},
        "params": {f"p{i}": "v" for i in range(10_000)},
        "error": "e" * 500_000,
    }
    record = read_record(json.dumps(doc))
    assert record is not None
    assert len(record["metrics"]) == len(record["params"]) == MAX_ENTRIES
    assert len(record["error"]) == MAX_TEXT


@pytest.mark.parametrize("where", ["manifest", "observed"])
def test_a_status_that_cannot_be_read_is_one_line_for_plan(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], where: str
) -> None:
    garbled = {"phase": "Running", "harvestedJobs": "4-x"}
    doc = manifest()
    argv = ["plan", str(tmp_path / "s.yaml")]
    if where == "manifest":
        doc["status"] = garbled
    else:
        (tmp_path / "observed.yaml").write_text(yaml.safe_dump({"jobs": [], "status": garbled}))
        argv += ["--observed", str(tmp_path / "observed.yaml")]
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(doc))
    code = main(argv)
    _, err = capsys.readouterr()
    assert code == 2 and len(err.splitlines()) == 1 and "status.harvestedJobs" in err
