"""A script written for Katib, unchanged, as a local session's trial container.

The script knows nothing of tuneop: it takes its param from ``args`` (a
``${params.x}`` placeholder), checks that the env and the params file say the
same, and prints ``name=value`` lines (Katib's StdOut format).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from tuneop.adapters.results_folder.folder import load_records
from tuneop.api.session import parse_manifest
from tuneop.cli.run import run_local

KATIB_SCRIPT = """\
import argparse, json, os, sys
p = argparse.ArgumentParser()
p.add_argument("--x", type=float, required=True)
p.add_argument("--tag", required=True)
a = p.parse_args()
with open(os.environ["TUNEOP_PARAMS_FILE"]) as f:
    from_file = json.load(f)["x"]
if not (from_file == a.x == float(os.environ["TUNEOP_PARAM_X"])):
    sys.exit(f"params disagree: {a.x} {from_file} {os.environ['TUNEOP_PARAM_X']}")
if a.tag != os.environ["TAG"]:
    sys.exit("env not expanded")
print("loss=99.0")
print(f"epoch 1: loss={(a.x - 2) ** 2} accuracy=0.5")
if a.x == 4:
    sys.exit(3)
"""


def template_session(script: Path, **spec: Any) -> dict[str, Any]:
    container = {
        "name": "train",
        "image": "python:3.11",
        "command": [sys.executable, str(script)],
        "args": ["--x=${params.x}", "--tag", "$(TAG)"],
        "env": [{"name": "TAG", "value": "t-$(TUNEOP_TRIAL)"}],
    }
    base: dict[str, Any] = {
        "objective": {"metric": "loss"},
        "searchSpace": [{"name": "x", "type": "int", "min": 0, "max": 4}],
        "optimizer": {"type": "grid"},
        "metricsCollector": {"kind": "StdOut"},
        "template": {
            "spec": {
                "initContainers": [{"name": "fetch", "image": "busybox"}],
                "containers": [{"name": "sidecar", "image": "x"}, container],
            }
        },
        "runner": {"container": "train"},
        "trialTimeoutSeconds": 60,
        **spec,
    }
    doc = {"apiVersion": "tuneop.dev/v1alpha1", "kind": "TuningSession"}
    return {**doc, "metadata": {"name": "katib"}, "spec": base}


@pytest.mark.component
def test_a_katib_script_runs_unchanged_as_the_trial_container(tmp_path: Path) -> None:
    script = tmp_path / "train.py"
    script.write_text(KATIB_SCRIPT)
    doc = template_session(script)
    out = run_local(parse_manifest(doc), tmp_path / "results", Console(quiet=True))
    records = {r["trial"]: r for r in load_records(out.session_dir)}
    outcomes = {r["params"]["x"]: r["outcome"] for r in records.values()}
    assert outcomes == {0: "Succeeded", 1: "Succeeded", 2: "Succeeded", 3: "Succeeded", 4: "Failed"}
    assert out.status.best is not None and out.status.best.params == {"x": 2}
    assert out.status.best.value == 0.0  # the latest loss counts, not the first
    assert sorted(p.name for p in (out.session_dir / "params").iterdir())[0] == "katib-0.json"
