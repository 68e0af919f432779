"""Issue 25 item 5: a symbolic link planted in a results folder is never written through.

Someone who can write to a results folder plants a link where `tuneop run --local` writes
(the logs folder, the params folder, the trials or jobs folder, the early-stopping journal);
the user then runs the session. The run is refused in one line naming the link, exit 2, and
the folder the link points at is left exactly as it was.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from user import User


def listing(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def pruning_spec(user: User) -> str:
    """The early-stopping example cut to a few trials (the journal is what matters here)."""
    text = user.path("examples/curve-pruning.yaml").read_text()
    user.write("examples/curve-pruning.yaml", text.replace("totalTrials: 16", "totalTrials: 3"))
    return "examples/curve-pruning.yaml"


@pytest.mark.parametrize("planted", ["logs", "params", "trials", "jobs"])
def test_a_link_planted_as_a_folder_of_the_session_is_refused_naming_it_and_not_written_through(
    user: User, planted: str
) -> None:
    outside = user.path("elsewhere")
    outside.mkdir()
    (outside / "keep.txt").write_text("the user's own file\n")
    session = user.path("tuneop-results/quickstart")
    session.mkdir(parents=True)
    os.symlink(outside, session / planted)

    seen = user.tuneop("run", "examples/quickstart.yaml", "--local", timeout=120)

    assert seen.code == 2, seen
    assert "Traceback" not in seen.both
    lines = seen.err.strip().splitlines()
    assert len(lines) == 1, seen
    assert f"tuneop-results/quickstart/{planted}" in lines[0], seen
    assert "symbolic link" in lines[0], seen
    assert listing(outside) == {"keep.txt": b"the user's own file\n"}


def test_a_link_planted_as_the_early_stopping_journal_is_refused_naming_it(user: User) -> None:
    spec = pruning_spec(user)
    victim = user.path("elsewhere/victim.journal")
    victim.parent.mkdir()
    victim.write_text("not a journal\n")
    session = user.path("tuneop-results/curve-pruning")
    session.mkdir(parents=True)
    os.symlink(victim, session / "pruning.journal")

    seen = user.tuneop("run", spec, "--local", timeout=300)

    assert seen.code == 2, seen
    assert "Traceback" not in seen.both
    lines = seen.err.strip().splitlines()
    assert len(lines) == 1, seen
    assert "tuneop-results/curve-pruning/pruning.journal" in lines[0], seen
    assert "symbolic link" in lines[0], seen
    assert victim.read_text() == "not a journal\n"
    assert listing(victim.parent) == {"victim.journal": b"not a journal\n"}


def test_a_link_planted_as_a_log_file_is_refused_and_the_link_target_untouched(
    user: User,
) -> None:
    """The link is one file of the folder, not a folder: the first log of the first Job."""
    victim = user.path("elsewhere/victim.txt")
    victim.parent.mkdir()
    victim.write_text("keep me\n")
    logs = user.path("tuneop-results/quickstart/logs")
    logs.mkdir(parents=True)
    os.symlink(victim, logs / "quickstart-0.0.log")

    seen = user.tuneop("run", "examples/quickstart.yaml", "--local", timeout=120)

    assert seen.code == 2, seen
    assert "Traceback" not in seen.both
    lines = seen.err.strip().splitlines()
    assert len(lines) == 1, seen
    assert "tuneop-results/quickstart/logs/quickstart-0.0.log" in lines[0], seen
    assert "symbolic link" in lines[0], seen
    assert victim.read_text() == "keep me\n"


def test_a_link_planted_as_a_trial_file_is_refused_before_any_trial_runs(user: User) -> None:
    """A link planted as one of a session's trial files: the next run of the session is
    refused at its start, naming it, and neither runs nor writes anything."""
    first = user.tuneop("run", "examples/quickstart.yaml", "--local", "--no-report")
    assert first.code == 0, first
    session = user.path("tuneop-results/quickstart")
    target = user.path("elsewhere.json")
    target.write_text("{}\n")
    planted = session / "trials" / "trial-000011.json"
    planted.unlink()
    os.symlink(target, planted)
    logs = sorted(p.name for p in (session / "logs").iterdir())

    seen = user.tuneop("run", "examples/quickstart.yaml", "--local", "--no-report")

    assert seen.code == 2, seen
    (line,) = seen.err.strip().splitlines()
    assert "tuneop-results/quickstart/trials/trial-000011.json" in line, seen
    assert "symbolic link" in line, seen
    assert seen.out == "", seen
    assert sorted(p.name for p in (session / "logs").iterdir()) == logs
    assert target.read_text() == "{}\n"
