"""``--fresh`` moves a session's folder aside under a name no earlier archive holds.

The archive's name holds the time to the second, so two runs started over within one
second once met the first one's archive and failed (``ENOTEMPTY``), or, were that
folder empty, would have replaced it. Now a taken name gets a counter, ``-2``, ``-3``...
and whatever had the name is left as it was.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from builders import T0
from tuneop.adapters.results_folder.claim import archive

STAMP = f"demo.archived-{T0:%Y%m%dT%H%M%SZ}"

# What is already beside the folder (a name and whether it holds a file), and the name
# the folder then takes.
TAKEN = [
    pytest.param([], STAMP, id="nothing-taken"),
    pytest.param([(STAMP, True)], f"{STAMP}-2", id="an-archive-of-this-second"),
    pytest.param([(STAMP, False)], f"{STAMP}-2", id="an-empty-folder-of-that-name"),
    pytest.param(
        [(STAMP, True), (f"{STAMP}-2", True), (f"{STAMP}-3", False)], f"{STAMP}-4", id="several"
    ),
    pytest.param([(f"{STAMP}-2", True)], STAMP, id="only-a-later-name-taken"),
]


@pytest.mark.parametrize(("taken", "expected"), TAKEN)
def test_an_archive_takes_the_first_free_name_and_leaves_the_others_as_they_were(
    tmp_path: Path, taken: list[tuple[str, bool]], expected: str
) -> None:
    folder = tmp_path / "demo"
    (folder / "trials").mkdir(parents=True)
    (folder / "trials" / "trial-000000.json").write_text("{}")
    for name, full in taken:
        (tmp_path / name).mkdir()
        if full:
            (tmp_path / name / "kept.txt").write_text(name)

    moved = archive(folder, T0)

    assert moved == tmp_path / expected
    assert (moved / "trials" / "trial-000000.json").read_text() == "{}"
    assert not folder.exists()
    for name, full in taken:
        assert sorted(p.name for p in (tmp_path / name).iterdir()) == (["kept.txt"] if full else [])


def test_a_session_started_over_again_and_again_within_a_second_keeps_every_run(
    tmp_path: Path,
) -> None:
    moved = []
    for n in range(5):
        folder = tmp_path / "demo"
        folder.mkdir()
        (folder / "run.txt").write_text(str(n))
        moved.append(archive(folder, T0))
    assert [(m.name, (m / "run.txt").read_text()) for m in moved] == [
        (STAMP, "0"),
        *((f"{STAMP}-{n + 1}", str(n)) for n in range(1, 5)),
    ]
