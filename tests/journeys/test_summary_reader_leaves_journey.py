"""``tuneop summary`` whose reader leaves early, or that has no standard output at all.

``tuneop summary DIR | head -1`` (here ``| true``: a reader gone before the summary is
written) once ended with exit 1 and no word (the table) or ``error: Broken pipe`` and
exit 2 (``--csv``); ``tuneop summary DIR --csv >&-`` with an ``AttributeError``
traceback. A reader that leaves took what it wanted, and an output closed from the
start has nothing to print to: both end with exit 0 and nothing on standard error.
"""

from __future__ import annotations

import pytest
from toy_sessions import session_yaml, with_toy
from user import User

BOWL = {
    "objective": {"metric": "loss", "direction": "minimize"},
    "trials": [{"x": 1}, {"x": 2}, {"x": 3}],
    "maxParallel": 3,
}
# How the summary's standard output ends: its reader exits before reading anything,
# or the shell closes it before tuneop starts.
ENDINGS = {"reader-gone": "| true", "closed-from-the-start": ">&-"}


@pytest.mark.parametrize("csv", ["", "--csv"])
@pytest.mark.parametrize("ending", sorted(ENDINGS))
def test_summary_ends_with_exit_0_and_no_word_when_its_output_goes_nowhere(
    user: User, ending: str, csv: str
) -> None:
    with_toy(user)
    user.write("bowl.yaml", session_yaml("bowl", "bowl", BOWL))
    assert user.tuneop("run", "bowl.yaml", "--local", "--no-report").code == 0

    seen = user.sh(
        f"set +o pipefail\ntuneop summary tuneop-results/bowl {csv} {ENDINGS[ending]}\n"
        'echo "exit ${PIPESTATUS[0]}"'
    )

    assert seen.code == 0, seen
    assert seen.out == "exit 0\n", seen
    assert seen.err == "", seen
