"""Metrics a trial writes to a file, not to its output (`metricsCollector.kind: File`,
Katib's File collector: `name=value` lines, hypertune JSON lines, a custom regex) or as
TensorFlow event files under a directory (`kind: TensorFlowEvent`), read on this machine
by `tuneop-metrics-file`, which runs the trial and follows the file; and Katib's own
collector examples (vendored, v0.19.0) imported to them.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from user import User

KATIB = Path(__file__).parent / "katib_v0.19.0"
TFEVENTS = Path(__file__).parents[1] / "data" / "tfevents" / "run"

SESSION = """\
apiVersion: tuneop.dev/v1alpha1
kind: TuningSession
metadata: {{name: {name}}}
spec:
  objective: {{metric: {metric}, direction: {direction}}}
  searchSpace: [{{name: x, type: int, min: 0, max: 2}}]
  optimizer: {{type: grid}}
  maxParallel: 1
  trialTimeoutSeconds: 60
  metricsCollector: {collector}
  template:
    spec:
      containers:
        - name: trial
          image: registry.example.com/train:1
          command: [python, train.py, "${{params.x}}", "{where}"]
"""

# Prints a decoy on stdout (a File collector must not read it), writes the real metrics.
TEXT = """\
import sys, time
x, path = int(sys.argv[1]), sys.argv[2]
print("loss=999")
with open(path, "w") as f:
    for epoch in range(1, 4):
        f.write(f"epoch {epoch}: loss={(x - 1) ** 2 + 1 / epoch}\\n")
        f.flush()
        time.sleep(0.2)
"""

JSON_LINES = """\
import json, sys
x, path = int(sys.argv[1]), sys.argv[2]
with open(path, "w") as f:
    for step in range(1, 4):
        line = {"timestamp": 1.7e9, "trial": "0", "loss": str((x - 1) ** 2 + 1 / step),
                "global_step": str(step)}
        f.write(json.dumps(line) + "\\n")
"""

REGEX = """\
import sys
x, path = int(sys.argv[1]), sys.argv[2]
with open(path, "w") as f:
    for epoch in range(1, 4):
        f.write(f"{{metricName: loss, metricValue: {(x - 1) ** 2 + 1 / epoch:.4f}}}\\n")
"""

# TensorBoard's writer's files (tests/data/tfevents), as a training script would leave them
# (a writer names each file for its time, host and process: one name per trial here too).
TF = """\
import pathlib, shutil, sys
x, path = int(sys.argv[1]), sys.argv[2]
for f in pathlib.Path("tb").rglob("*tfevents*"):
    to = pathlib.Path(path) / f.parent.name / f"{f.name}.{x}"
    to.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(f, to)
"""


def records(user: User, name: str) -> list[dict[str, object]]:
    folder = user.path(f"tuneop-results/{name}/trials")
    return [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]


def run(user: User, name: str, script: str, collector: str, where: str, **kw: str) -> None:
    user.write("train.py", script)
    user.write(
        "s.yaml",
        SESSION.format(
            name=name,
            metric=kw.get("metric", "loss"),
            direction=kw.get("direction", "minimize"),
            collector=collector,
            where=where,
        ),
    )
    seen = user.tuneop("run", "s.yaml", "--local", "--no-report")
    assert seen.code == 0, seen


@pytest.mark.parametrize(
    ("script", "extra"),
    [
        pytest.param(TEXT, "", id="name=value-lines"),
        pytest.param(JSON_LINES, ", format: JSON", id="hypertune-json-lines"),
        pytest.param(
            REGEX,
            r', metricsFormat: ["{metricName: ([\\w|-]+), metricValue: ((-?\\d+)(\\.\\d+)?)}"]',
            id="katibs-custom-regex",
        ),
    ],
)
def test_a_trial_that_writes_its_metrics_to_a_file_is_measured_from_the_file(
    user: User, script: str, extra: str
) -> None:
    path = user.path("out/metrics.log")
    path.parent.mkdir()
    path.write_text("loss=-5\n")  # an earlier run's file: not this trial's
    collector = (
        f"{{kind: File, path: {path}{extra}, metricStrategies: [{{name: loss, value: min}}]}}"
    )
    run(user, "file", script, collector, str(path))
    got = {r["params"]["x"]: r for r in records(user, "file")}  # type: ignore[index]
    assert sorted(got) == [0, 1, 2]
    for x, record in got.items():
        assert record["outcome"] == "Succeeded", record
        # min over the epochs, never the decoy 999 on stdout nor the earlier file's -5
        assert record["metrics"]["loss"] == pytest.approx((x - 1) ** 2 + 1 / 3, abs=1e-3)  # type: ignore[index]
        assert len(record["intermediate"]) == 3, record  # type: ignore[arg-type]


def test_trials_that_share_one_metrics_file_run_one_at_a_time_here(user: User) -> None:
    # On a cluster each pod has the path to itself; on this machine three trials at once
    # would write one file and read each other's metrics.
    path = user.path("out/metrics.log")
    path.parent.mkdir()
    user.write("train.py", TEXT)
    collector = f"{{kind: File, path: {path}, metricStrategies: [{{name: loss, value: min}}]}}"
    text = SESSION.format(
        name="shared", metric="loss", direction="minimize", collector=collector, where=path
    )
    user.write("s.yaml", text.replace("maxParallel: 1", "maxParallel: 3"))
    seen = user.tuneop("run", "s.yaml", "--local", "--no-report")
    assert seen.code == 0, seen
    notice = [line for line in seen.err.splitlines() if "lowered to 1" in line]
    assert len(notice) == 1 and f"writes its metrics to {path}" in notice[0], seen
    for record in records(user, "shared"):
        x = record["params"]["x"]  # type: ignore[index]
        assert record["metrics"]["loss"] == pytest.approx((x - 1) ** 2 + 1 / 3, abs=1e-3)  # type: ignore[index]


def test_tensorflow_event_files_are_read_for_the_metrics_named(user: User) -> None:
    shutil.copytree(TFEVENTS, user.path("tb"))
    where = user.path("events")
    collector = (
        f"{{kind: TensorFlowEvent, path: {where},"
        " metricStrategies: [{name: accuracy, value: max}, {name: loss, value: min}]}"
    )
    run(user, "tf", TF, collector, str(where), metric="accuracy", direction="maximize")
    for record in records(user, "tf"):
        assert record["outcome"] == "Succeeded", record
        assert record["metrics"] == {  # the last step's values, as TensorBoard's writer wrote them
            "accuracy": pytest.approx(0.75),
            "loss": pytest.approx(0.2),
        }
        assert len(record["intermediate"]) == 5, record  # type: ignore[arg-type]


def import_katib(user: User, name: str) -> tuple[dict[str, object], str]:
    shutil.copy(KATIB / name, user.path(name))
    seen = user.tuneop("import", "katib", name, "-o", "s.yaml")
    assert seen.code == 0, seen
    assert user.tuneop("plan", "s.yaml").code == 0
    collector = yaml.safe_load(user.path("s.yaml").read_text())["spec"]["metricsCollector"]
    collector.pop("metricStrategies")  # Katib's defaults: test_katib_metric_semantics_journey
    return collector, seen.err


def test_katibs_file_collector_examples_import_as_file_collectors(user: User) -> None:
    text, _ = import_katib(user, "file-metrics-collector.yaml")
    assert text == {
        "kind": "File",
        "path": "/katib/mnist.log",
        "metricsFormat": ["{metricName: ([\\w|-]+), metricValue: ((-?\\d+)(\\.\\d+)?)}"],
    }
    jsonl, _ = import_katib(user, "file-metrics-collector-with-json-format.yaml")
    assert jsonl == {"kind": "File", "path": "/katib/mnist.json", "format": "JSON"}


def test_katibs_custom_collector_imports_as_a_file_collector_with_a_note(user: User) -> None:
    collector, err = import_katib(user, "custom-metrics-collector.yaml")
    assert collector == {"kind": "File", "path": "/katib/mnist.log"}
    notes = [line for line in err.splitlines() if "Custom" in line]
    assert len(notes) == 1 and notes[0].startswith("note:"), err


def test_the_metrics_file_example_runs_here(user: User) -> None:
    shutil.rmtree("/tmp/tuneop-metrics-file-example", ignore_errors=True)  # made by the run
    seen = user.tuneop("run", "examples/metrics-file.yaml", "--local", "--no-report")
    assert seen.code == 0, seen
    got = records(user, "metrics-file")
    assert len(got) == 6 and all(r["outcome"] == "Succeeded" for r in got), got
    assert all(len(r["intermediate"]) == 5 for r in got)  # type: ignore[arg-type]
