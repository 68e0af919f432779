"""``adapters.results_folder.safefs``: no link below the anchor is followed, no FIFO waited
on, reads bounded, and a refusal names the path. Every FIFO test runs under an alarm: a
hang fails."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from tuneop.adapters.results_folder.safefs import (
    UnsafePath,
    check_tree,
    ensure_regular,
    open_new,
    open_read,
    read_capped,
    write_atomic,
)


@pytest.fixture(autouse=True)
def no_hang() -> Iterator[None]:
    def fail(signum: int, frame: object) -> None:
        raise TimeoutError("blocked on a FIFO")

    previous = signal.signal(signal.SIGALRM, fail)
    signal.alarm(10)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "keep.txt").write_text("keep")
    return folder


def untouched(outside: Path) -> bool:
    return sorted(p.name for p in outside.iterdir()) == ["keep.txt"] and (
        (outside / "keep.txt").read_text() == "keep"
    )


@pytest.mark.parametrize("depth", [0, 1, 2])
def test_a_folder_link_anywhere_below_the_anchor_is_refused_naming_it(
    tmp_path: Path, outside: Path, depth: int
) -> None:
    root = tmp_path / "root"
    parts = ["session", "trials", "deep"][: depth + 1]
    (root.joinpath(*parts[:-1])).mkdir(parents=True, exist_ok=True)
    link = root.joinpath(*parts)
    link.symlink_to(outside, target_is_directory=True)
    target = link / "trial-000001.json"
    with pytest.raises(UnsafePath, match=f"{link}: is a symbolic link"):
        write_atomic(target, "{}", root)
    with pytest.raises(UnsafePath, match=f"{link}: is a symbolic link"):
        open_new(target, root)
    with pytest.raises(UnsafePath, match=f"{link}: is a symbolic link; refusing to read"):
        read_capped(target, 10, root)
    assert untouched(outside)


def test_a_file_link_is_refused_not_replaced(tmp_path: Path, outside: Path) -> None:
    link = tmp_path / "root" / "session.json"
    link.parent.mkdir()
    link.symlink_to(outside / "keep.txt")
    for write in (lambda: write_atomic(link, "x", tmp_path), lambda: open_new(link, tmp_path)):
        with pytest.raises(UnsafePath, match=r"session\.json: is a symbolic link"):
            write()
    with pytest.raises(UnsafePath):
        ensure_regular(link, tmp_path)
    assert link.is_symlink() and untouched(outside)


def test_a_fifo_is_refused_at_once_for_reading_and_writing(tmp_path: Path) -> None:
    fifo = tmp_path / "s" / "trial-000001.json"
    fifo.parent.mkdir()
    os.mkfifo(fifo)
    with pytest.raises(UnsafePath, match="is a FIFO"):
        read_capped(fifo, 10, tmp_path)
    with pytest.raises(UnsafePath, match="is a FIFO"):
        read_capped(fifo, 10)  # a path the user named: links followed, FIFOs still refused
    with pytest.raises(UnsafePath, match="is a FIFO"):
        open_new(fifo, tmp_path)
    with pytest.raises(UnsafePath, match="is a FIFO"):
        write_atomic(fifo, "{}", tmp_path)


def test_a_folder_where_a_file_goes_is_refused(tmp_path: Path) -> None:
    (tmp_path / "s" / "session.json").mkdir(parents=True)
    with pytest.raises(UnsafePath, match="is a folder"):
        read_capped(tmp_path / "s" / "session.json", 10, tmp_path)


def test_reads_are_bounded_and_writes_atomic_and_made_where_missing(tmp_path: Path) -> None:
    target = tmp_path / "root" / "a" / "b" / "f.json"
    write_atomic(target, "0123456789", tmp_path / "root")
    assert read_capped(target, 4, tmp_path / "root") == b"01234"  # cap + 1: past the bound
    assert [p.name for p in target.parent.iterdir()] == ["f.json"]  # no temp file left
    with open_read(target, tmp_path) as f:
        assert f.read() == b"0123456789"


def test_a_log_is_truncated_only_once_known_regular_and_a_journal_never(tmp_path: Path) -> None:
    log = tmp_path / "s" / "logs" / "j.0.log"
    with open_new(log, tmp_path) as f:
        f.write(b"first")
    with open_new(log, tmp_path) as f:
        f.write(b"2")
    assert log.read_bytes() == b"2"
    journal = tmp_path / "s" / "pruning.journal"
    journal.write_bytes(b"kept")
    ensure_regular(journal, tmp_path)
    assert journal.read_bytes() == b"kept"


def test_check_tree_names_the_first_stranger(tmp_path: Path, outside: Path) -> None:
    session = tmp_path / "root" / "s"
    session.mkdir(parents=True)
    check_tree(session, tmp_path / "root", ["logs"], ["pruning.journal"])  # nothing there: fine
    check_tree(tmp_path / "root" / "none", tmp_path / "root", ["logs"], [])  # no folder yet
    (session / "logs").symlink_to(outside, target_is_directory=True)
    with pytest.raises(UnsafePath, match="s/logs: is a symbolic link"):
        check_tree(session, tmp_path / "root", ["logs"], ["pruning.journal"])
    (session / "logs").unlink()
    os.mkfifo(session / "pruning.journal")
    with pytest.raises(UnsafePath, match=r"pruning\.journal: is a FIFO"):
        check_tree(session, tmp_path / "root", ["logs"], ["pruning.journal"])


def test_a_write_is_fsynced_unless_said_not_durable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[int] = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: synced.append(fd) or real(fd))
    write_atomic(tmp_path / "a.json", "1", tmp_path)
    assert len(synced) == 2  # the file's data, then the folder that names it
    write_atomic(tmp_path / "b.json", "2", tmp_path, durable=False)
    assert len(synced) == 2
    # still atomic: the file is whole, and no temp file is left beside it
    assert (tmp_path / "b.json").read_text() == "2"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "b.json"]
