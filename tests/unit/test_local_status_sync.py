"""A local run's folder makes ``session.json`` durable at most once a second, with the
names of the trials it counts; every write is durable elsewhere (the operator's folder)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from builders import spec
from tuneop.adapters.results_folder.folder import STATUS_SYNC_SECONDS, DirectoryResults
from tuneop.api.session import SessionRef
from tuneop.api.status import SessionStatus
from tuneop.api.vocabulary import Phase

REF = SessionRef("default", "toy")


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _synced(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of what each fsync made durable, in order."""
    seen: list[str] = []
    real = os.fsync

    def fsync(fd: int) -> None:
        seen.append(Path(os.readlink(f"/proc/self/fd/{fd}")).name)
        real(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    return seen


def test_a_local_folder_syncs_its_status_at_most_once_a_second(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = Clock()
    store = DirectoryResults(tmp_path, local=True, monotonic=clock)
    (tmp_path / "toy" / "trials").mkdir(parents=True)
    synced = _synced(monkeypatch)
    running = SessionStatus(phase=Phase.RUNNING)
    store.record_status(REF, spec(), running)  # the first: durable
    assert [n for n in synced if not n.startswith(".session.json")] == ["trials", "toy"]
    synced.clear()
    clock.now += STATUS_SYNC_SECONDS / 2
    store.record_status(REF, spec(), running)  # too soon: written, not synced
    assert synced == []
    assert (tmp_path / "toy" / "session.json").exists()
    clock.now += STATUS_SYNC_SECONDS / 2
    store.record_status(REF, spec(), running)  # a second on: durable again
    assert "trials" in synced and synced[-1] == "toy", synced
    synced.clear()
    store.record_status(REF, spec(), SessionStatus(phase=Phase.SUCCEEDED))  # the end: always
    assert "trials" in synced and "toy" in synced, synced


def test_the_operators_folder_syncs_every_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = Clock()
    store = DirectoryResults(tmp_path, nested=True, monotonic=clock)
    (tmp_path / "default" / "toy").mkdir(parents=True)
    synced = _synced(monkeypatch)
    for _ in range(3):
        store.record_status(REF, spec(), SessionStatus(phase=Phase.RUNNING))
    assert synced.count("toy") == 3, synced
    assert "trials" not in synced
