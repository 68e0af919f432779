"""A developer checks a session of their own with ``tuneop.testing`` before running it.

The block in docs/development.md is what they copy: a script that loads
``examples/quickstart.yaml``, plays it through the real reconciler over the in-memory
fakes with an objective of their own, and prints what happened.
"""

from __future__ import annotations

from user import User, doc_block


def test_a_session_played_with_tuneop_testing_runs_every_trial_and_finds_the_best(
    user: User,
) -> None:
    seen = user.sh(doc_block("docs/development.md", "play-quickstart"), timeout=300)
    assert seen.code == 0, seen
    lines = seen.out.splitlines()
    assert lines[0] == "Succeeded 30/30 trials", seen
    assert lines[1] == "best {'x': 3, 'y': 0.0} loss 0.0", seen
    # examples/quickstart.yaml says maxParallel: 3; play never ran more at once.
    assert lines[2] == "Jobs at once, at most 3", seen
    assert "Traceback" not in seen.err, seen
