"""The operator's results folder belongs to one TuningSession object: a session deleted and
created again under its name never mixes its results with the old object's."""

from __future__ import annotations

from pathlib import Path

from tuneop.adapters.local.folder import DirectoryResults
from tuneop.api.session import SessionRef, parse_manifest
from tuneop.controller.stores import FolderStore
from tuneop.core.wire.contract import Outcome, TrialResult

DOC = {
    "apiVersion": "tuneop.dev/v1alpha1",
    "kind": "TuningSession",
    "metadata": {"name": "demo", "namespace": "ns"},
    "spec": {
        "objective": {"metric": "loss"},
        "trials": [{"x": i} for i in range(4)],
        "runner": {"image": "tuneop/runner:0.1.0", "objective": "m:f"},
    },
}


def results(*trials: int) -> list[TrialResult]:
    return [
        TrialResult(trial=t, job_index=t, params={"x": t}, outcome=Outcome.SUCCEEDED, value=t)
        for t in trials
    ]


def store(root: Path) -> FolderStore:
    return FolderStore(DirectoryResults(root, nested=True))


def test_a_new_object_under_an_old_name_starts_its_own_folder(tmp_path: Path) -> None:
    spec = parse_manifest(DOC).spec
    old, new = SessionRef("ns", "demo", uid="uid-old"), SessionRef("ns", "demo", uid="uid-new")
    store(tmp_path).persist(old, spec, results(0, 1, 2, 3))
    restarted = store(tmp_path)  # an operator restart in between changes nothing
    restarted.persist(old, spec, results(3))
    assert [r.trial for r in restarted.history(old)] == [0, 1, 2, 3]
    assert restarted.history(new) == []  # the new object learns nothing from the old one
    restarted.persist(new, spec, results(0))
    assert [r.trial for r in restarted.history(new)] == [0]
    archived = [p for p in (tmp_path / "ns").iterdir() if ".archived-" in p.name]
    assert len(archived) == 1
    assert sorted(p.name for p in (archived[0] / "trials").iterdir()) == [
        f"trial-00000{t}.json" for t in range(4)
    ]


def test_a_folder_from_before_folders_named_their_object_is_adopted(tmp_path: Path) -> None:
    spec = parse_manifest(DOC).spec
    DirectoryResults(tmp_path, nested=True).persist(SessionRef("ns", "demo"), spec, results(0))
    ref = SessionRef("ns", "demo", uid="uid-1")
    s = store(tmp_path)
    s.persist(ref, spec, results(1))
    assert [r.trial for r in s.history(ref)] == [0, 1]
    assert not [p for p in (tmp_path / "ns").iterdir() if ".archived-" in p.name]
