"""Hostile results folders through the reading commands and a resumed run (issue 25, 5 and 6).

Hypothesis plants a session folder: trial files that are valid records, random bytes, JSON
that is not a record, links (to a file, a folder, nowhere), FIFOs, folders, files past the
size bound; a `session.json`, `spec.json` and `results.csv` that are any of those; logs,
params and jobs folders that are links out. Then one command runs on it, capped in time and
memory: `summary`, `summary --csv`, `report`, `export`, or `run --local` resuming into it.
Whatever the folder holds: no traceback, no hang, exit 0 or 2 (1 too for a run whose trials
failed), nothing raw on the terminal, nothing outside the results folder changed, and every
valid record counted once, none invented.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml
from hostile import PROFILE, capped, check_sane, snapshot
from hypothesis import given
from hypothesis import strategies as st

from tuneop.api.session import parse_manifest
from tuneop.api.spec import spec_to_wire
from tuneop.core.fingerprint import spec_hash

SPEC = """\
apiVersion: tuneop.dev/v1alpha1
kind: TuningSession
metadata:
  name: adv
spec:
  objective:
    metric: loss
  searchSpace:
    - name: x
      type: int
      min: 0
      max: 2
  optimizer:
    type: grid
  maxParallel: 3
  trialTimeoutSeconds: 30
  runner:
    image: tuneop/runner:0.1.0
    objective: tuneop_runner.objectives.functions:quadratic
"""


SESSION = parse_manifest(yaml.safe_load(SPEC))
SPEC_WIRE = spec_to_wire(SESSION.spec)


def record(trial: int, value: float) -> bytes:
    doc = {
        "session": "default/adv",
        "trial": trial,
        "jobIndex": trial,
        "params": {"x": trial},
        "metrics": {"loss": value},
        "objective": {"metric": "loss", "direction": "minimize", "value": value},
        "outcome": "Succeeded",
        "error": None,
        "durationSeconds": 0.5,
    }
    return json.dumps(doc).encode()


@dataclass(frozen=True)
class Plant:
    """One thing planted at a name: how to make it, and whether it is a valid record."""

    kind: str
    data: bytes = b""
    value: float | None = None

    def make(self, path: Path, outside: Path, trial: int = 0) -> None:
        if self.kind == "spec":  # this spec's own spec.json: a run resumes into the folder
            path.write_text(json.dumps({"specHash": spec_hash(SESSION.spec), "spec": SPEC_WIRE}))
        elif self.kind == "record":
            assert self.value is not None
            path.write_bytes(record(trial, self.value))
        elif self.kind == "bytes":
            path.write_bytes(self.data)
        elif self.kind == "big":  # past the 1 MiB bound of a record: passed over
            path.write_bytes(record(trial, 1.0)[:-1] + b', "pad": "' + b"x" * (1 << 20) + b'"}')
        elif self.kind == "fifo":
            os.mkfifo(path)
        elif self.kind == "folder":
            path.mkdir()
        else:  # a link: to a file, a folder, or nowhere
            target = {"link-file": outside / "keep.txt", "link-dir": outside / "dir"}
            os.symlink(target.get(self.kind, outside / "nowhere"), path)


JSON_NOT_RECORD = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.text(max_size=8).filter(lambda k: k != "trial"), inner, max_size=4),
    max_leaves=12,
)
VALUES = st.integers(-(10**6), 10**6).map(float) | st.floats(-1e6, 1e6, allow_nan=False)
STRANGERS = st.sampled_from(["fifo", "folder", "link-file", "link-dir", "link-nowhere"]).map(Plant)
NOISE = st.one_of(
    st.binary(max_size=512).map(lambda b: Plant("bytes", b)),
    JSON_NOT_RECORD.map(lambda d: Plant("bytes", json.dumps(d).encode())),
    st.just(Plant("big")),
)
TRIAL = st.one_of(VALUES.map(lambda v: Plant("record", value=v)), NOISE, STRANGERS)
SIDE_FILE = st.none() | NOISE | STRANGERS
SIDE_FOLDER = st.sampled_from([None, "folder", "link-dir", "link-file", "fifo"])

COMMANDS: dict[str, Callable[[Path], list[str]]] = {
    "summary": lambda h: ["summary", "res/adv"],
    "summary-root-csv": lambda h: ["summary", "res", "--csv"],
    "report": lambda h: ["report", "res/adv", "-o", "out/report.html"],
    "export": lambda h: ["export", "res/adv", "--optuna-storage", f"sqlite:///{h}/out/s.db"],
    "run": lambda h: ["run", "adv.yaml", "--local", "--results-dir", "res", "--no-report"],
}
# The report and the export cost several seconds each: drawn less often.
WHICH = st.sampled_from(
    ["summary", "summary", "summary-root-csv", "run", "run", "report", "export"]
)


def plant_folder(
    home: Path, trials: list[Plant], sides: dict[str, Plant | None], folders: dict[str, str | None]
) -> list[float]:
    """The hostile session folder ``home/res/adv``; the values of its valid records."""
    outside = home / "outside"
    (outside / "dir").mkdir(parents=True)
    (outside / "keep.txt").write_text("the user's own\n")
    (outside / "dir" / "keep.txt").write_text("also the user's\n")
    session = home / "res" / "adv"
    (session / "trials").mkdir(parents=True)
    (home / "out").mkdir()
    (home / "adv.yaml").write_text(SPEC)
    valid = []
    for i, plant in enumerate(trials):
        plant.make(session / "trials" / f"trial-{i:06d}.json", outside, i)
        if plant.kind == "record":
            assert plant.value is not None
            valid.append(plant.value)
    for name, side in sides.items():
        if side is not None:
            side.make(session / name, outside)
    for name, kind in folders.items():
        if kind is not None:
            Plant(kind).make(session / name, outside)
    return valid


@PROFILE
@given(
    trials=st.lists(TRIAL, max_size=6),
    sides=st.fixed_dictionaries(
        {
            "session.json": SIDE_FILE,
            "spec.json": st.just(Plant("spec")) | SIDE_FILE,
            "results.csv": SIDE_FILE,
        }
    ),
    folders=st.fixed_dictionaries(
        {"logs": SIDE_FOLDER, "params": SIDE_FOLDER, "jobs": SIDE_FOLDER}
    ),
    which=WHICH,
)
def test_a_hostile_results_folder_is_read_or_refused_never_followed_out_or_waited_on(
    trials: list[Plant],
    sides: dict[str, Plant | None],
    folders: dict[str, str | None],
    which: str,
) -> None:
    home = Path(tempfile.mkdtemp(prefix="adv-folder-"))
    try:
        valid = plant_folder(home, trials, sides, folders)
        before = snapshot(home, skip=(home / "res", home / "out", home / ".home"))

        ran = capped(home, *COMMANDS[which](home))

        check_sane(ran, (0, 1, 2) if which == "run" else (0, 2))
        assert snapshot(home, skip=(home / "res", home / "out", home / ".home")) == before, ran
        if ran.code != 0 or which == "run":
            return
        n = len(valid)
        if which == "summary" and n:
            assert ran.out.splitlines()[0].startswith(f"{n} trials"), ran
        if which == "report":
            assert f"({n} trials)" in ran.out, ran
        if which == "export":
            assert f"exported {n} trials" in ran.out, ran
    finally:
        shutil.rmtree(home, ignore_errors=True)
