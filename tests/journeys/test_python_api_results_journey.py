"""``Session.run`` from Python hands back the session's own trials, and fails in one line.

A user runs a session from Python (a script here, as a notebook's cell would), then
things land in its folder that are not its trials: a copy of an old run kept below the
folder, with a forged best; a trial file of another session copied in; a tree of
thousands of nested folders. Run again (finished: nothing runs) or extended (more
trials run), ``Results`` holds exactly the session's trials, as ``tuneop summary`` does,
and ``results.best`` is the real best. Started over with ``fresh=True`` in a loop, every
earlier run is kept, each in an archive of its own; a results folder that cannot be
written is a ``SessionError``, never a raw ``OSError``.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from toy_sessions import with_toy
from user import BIN, Seen, User

from deep_trees import plant_deep_tree

# The script a user keeps beside toy.py: a random search over the bowl (x - 3) ** 2, run
# with the budget and the options its arguments give; one JSON line of what it got.
DRIVE = """\
import json, sys
from tuneop.sdk import Int, Session, SessionError, minimize, optimizer

total, runs, fresh, results_dir = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
session = Session(
    "bowl",
    objective=minimize("loss"),
    space=[Int("x", 0, 5)],
    optimizer=optimizer("random", seed=3),
    function="toy:bowl",
    total_trials=total,
    max_parallel=2,
)
for _ in range(runs):
    try:
        results = session.run(results_dir, fresh=fresh == "fresh")
    except SessionError as err:
        print(json.dumps({"error": str(err)}))
        sys.exit(0)
frame = results.to_dataframe()
print(json.dumps({
    "trials": [t.trial for t in results.trials],
    "rows": len(frame),
    "best": [results.best.params, results.best.value] if results.best else None,
    "values": [t.value for t in results.trials],
    "finished": results.already_finished,
}))
"""


def drive(user: User, total: int, runs: int = 1, fresh: bool = False, where: str = "") -> Seen:
    argv = [str(BIN / "python"), "drive.py", str(total), str(runs)]
    argv += ["fresh" if fresh else "resume", where or "tuneop-results"]
    return user.run(argv, timeout=300)


def answer(seen: Seen) -> dict[str, object]:
    assert seen.code == 0, seen
    assert "Traceback" not in seen.err, seen
    return dict(json.loads(seen.out.strip().splitlines()[-1]))


@pytest.fixture
def ran(user: User) -> User:
    """The session run once from Python: 4 trials in tuneop-results/bowl."""
    with_toy(user)
    user.write("drive.py", DRIVE)
    got = answer(drive(user, 4))
    assert got["trials"] == [0, 1, 2, 3], got
    return user


def forged_copy(folder: Path) -> None:
    """An old copy of the trials kept below the folder, its every trial a forged best."""
    shutil.copytree(folder / "trials", folder / "old" / "trials")
    for path in (folder / "old" / "trials").glob("trial-*.json"):
        doc = json.loads(path.read_text())
        doc["params"], doc["metrics"] = {"x": 99}, {"loss": -100.0}
        doc["objective"]["value"] = -100.0
        path.write_text(json.dumps(doc))


def stranger(folder: Path) -> None:
    """A trial file of another session, copied in among the session's own."""
    doc = json.loads((folder / "trials" / "trial-000000.json").read_text())
    doc.update(session="default/other", trial=99, params={"x": 77})
    doc["metrics"], doc["objective"]["value"] = {"loss": -50.0}, -50.0
    (folder / "trials" / "trial-000099.json").write_text(json.dumps(doc))


PLANTS: dict[str, Callable[[pytest.FixtureRequest, Path], object]] = {
    "an-old-copy-with-a-forged-best": lambda _, folder: forged_copy(folder),
    "a-stranger-trial-file": lambda _, folder: stranger(folder),
    "a-deep-tree": lambda request, folder: plant_deep_tree(request, folder / "junk"),
}


@pytest.mark.parametrize("plant", sorted(PLANTS))
def test_session_run_hands_back_the_sessions_own_trials_whatever_is_planted_in_its_folder(
    request: pytest.FixtureRequest, ran: User, plant: str
) -> None:
    PLANTS[plant](request, ran.path("tuneop-results/bowl"))

    again = answer(drive(ran, 4))  # finished: nothing runs, its trials read back
    assert again["finished"] is True, again
    assert again["trials"] == [0, 1, 2, 3] and again["rows"] == 4, again

    extended = answer(drive(ran, 6))  # two more trials run, then every trial read back
    assert extended["finished"] is False, extended
    assert extended["trials"] == [0, 1, 2, 3, 4, 5] and extended["rows"] == 6, extended
    for got in (again, extended):
        best = got["best"]
        assert isinstance(best, list) and best[0]["x"] in range(6), got
        assert best[1] == min(v for v in got["values"] if v is not None), got
    # The command line reads the same six (the old copy is a session folder of its own).
    summary = ran.tuneop("summary", "tuneop-results/bowl", "--session", "bowl")
    assert summary.code == 0 and "6 trials" in summary.out, summary


def test_fresh_runs_in_a_loop_keep_every_earlier_run_in_an_archive_of_its_own(
    ran: User,
) -> None:
    # Archives already named for the coming seconds (a run started over a moment ago):
    # each is kept as it is, and the runs take other names.
    now = datetime.now(UTC)
    planted = []
    for s in range(120):
        stamp = f"{now + timedelta(seconds=s):%Y%m%dT%H%M%SZ}"
        folder = ran.path(f"tuneop-results/bowl.archived-{stamp}")
        folder.mkdir()
        (folder / "kept.txt").write_text(stamp)
        planted.append(folder)

    got = answer(drive(ran, 4, runs=3, fresh=True))
    assert "error" not in got and got["trials"] == [0, 1, 2, 3], got
    for folder in planted:
        assert [p.name for p in folder.iterdir()] == ["kept.txt"], folder
    archives = sorted(ran.path("tuneop-results").glob("bowl.archived-*"))
    runs = [a for a in archives if (a / "trials").is_dir()]
    assert len(runs) == 3, archives  # the first run's and two of the loop's, each whole
    assert all(len(list((a / "trials").glob("trial-*.json"))) == 4 for a in runs)


def test_a_results_folder_that_cannot_be_written_is_a_session_error(ran: User) -> None:
    ran.write("not-a-folder", "a file where the results folder goes\n")
    got = answer(drive(ran, 4, where="not-a-folder"))
    error = got.get("error")
    assert isinstance(error, str) and "not-a-folder" in error, got
    assert "\n" not in error
