"""``tuneop operator --leader-elect``: durations that could let two leaders act are refused.

The operator's election rests on ``renew deadline < lease duration`` (a leader stops
before its Lease can pass to another): a command line that breaks a rule gets one line
naming the flag and the rule, exit 2, before any connection to a cluster. The election
itself is driven on a real control plane in tests/e2e/test_operator_leader_election.py.
"""

from __future__ import annotations

import pytest
from tests.journeys.user import Seen, User, doc_block


def one_error_line(seen: Seen, *needles: str) -> None:
    code, err = seen.code, seen.err
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, seen
    assert len(lines) == 1, seen
    assert "Traceback" not in err, seen
    for needle in needles:
        assert needle in lines[0], seen


@pytest.mark.parametrize(
    ("flags", "rule"),
    [
        (["--leader-elect-renew-deadline", "10"], "shorter than the lease duration"),
        (["--leader-elect-renew-deadline", "12"], "shorter than the lease duration"),
        (["--leader-elect-retry-period", "7"], "shorter than the renew deadline"),
        (["--leader-elect-lease-duration", "0"], "lease duration"),
    ],
)
def test_a_renew_deadline_that_could_let_two_leaders_act_is_refused_in_one_line(
    user: User, flags: list[str], rule: str
) -> None:
    seen = user.tuneop("operator", "--namespace", "ns", "--leader-elect", *flags, timeout=60)
    one_error_line(seen, "--leader-elect", rule)


def test_election_durations_without_leader_elect_are_refused_not_ignored(user: User) -> None:
    seen = user.tuneop(
        "operator", "--namespace", "ns", "--leader-elect-lease-duration", "20", timeout=60
    )
    one_error_line(seen, "--leader-elect-lease-duration needs --leader-elect")


def test_operator_help_names_the_election_flags_and_their_defaults(user: User) -> None:
    seen = user.tuneop("operator", "--help", timeout=60)
    assert seen.code == 0, seen
    for text in ("--leader-elect", "default 10", "default 7", "default 2"):
        assert text in seen.out, seen


def test_the_documented_refusal_is_what_the_user_sees(user: User) -> None:
    block = doc_block("docs/operator.md", "leader-elect-bad-deadline")
    expected = next(line for line in block.splitlines() if line.startswith("# error:"))
    seen = user.sh(block, timeout=60)
    one_error_line(seen, "renew deadline")
    assert seen.err.strip() == expected.removeprefix("# ").strip(), seen
