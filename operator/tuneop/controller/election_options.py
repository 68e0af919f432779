"""The ``--leader-elect*`` options of ``tuneop operator``, turned into an ``Election``.

Apart from ``tuneop.controller.command`` so the election's flags and their rules live
in one place; like the command, it imports nothing heavy until the command runs (the
parser is built for every ``tuneop`` invocation).
"""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tuneop.controller.leadership import Election

__all__ = ["add_election_arguments", "election_from"]

_ELECTION_FLAGS = {
    "leader_elect_namespace": "--leader-elect-namespace",
    "leader_elect_lease": "--leader-elect-lease",
    "lease_duration": "--leader-elect-lease-duration",
    "renew_deadline": "--leader-elect-renew-deadline",
    "retry_period": "--leader-elect-retry-period",
}


def election_from(args: argparse.Namespace) -> Election | str | None:
    """The ``Election`` the flags ask for, None without ``--leader-elect``, or the rule
    they break (a one-line message)."""
    from tuneop.controller.leadership import SA_NAMESPACE, Election, lease_namespace
    from tuneop.core.election import Timing, timing_error

    given = [flag for key, flag in _ELECTION_FLAGS.items() if getattr(args, key) is not None]
    if not args.leader_elect:
        return f"{given[0]} needs --leader-elect" if given else None
    default = Timing()
    timing = Timing(
        lease_duration=default.lease_duration
        if args.lease_duration is None
        else args.lease_duration,
        renew_deadline=default.renew_deadline
        if args.renew_deadline is None
        else args.renew_deadline,
        retry_period=default.retry_period if args.retry_period is None else args.retry_period,
    )
    # A standby looks at least every half second, and never less often than the leader renews.
    timing = Timing(
        timing.lease_duration,
        timing.renew_deadline,
        timing.retry_period,
        min(default.standby_poll, timing.retry_period),
    )
    error = timing_error(timing)
    if error is not None:
        return f"--leader-elect-*: {error}"
    namespace = lease_namespace(
        args.leader_elect_namespace, os.environ, tuple(args.namespace or ()), SA_NAMESPACE
    )
    return Election(namespace, args.leader_elect_lease or "tuneop-operator", timing)


def add_election_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the leader election's flags to ``tuneop operator``."""
    e = parser.add_argument_group("leader election (several replicas; only the leader reconciles)")
    e.add_argument(
        "--leader-elect", action="store_true", help="hold a Lease before reconciling anything"
    )
    e.add_argument(
        "--leader-elect-namespace",
        help="the Lease's namespace (default $POD_NAMESPACE, the pod's, or the first served)",
    )
    e.add_argument("--leader-elect-lease", help="the Lease's name (default tuneop-operator)")
    e.add_argument(
        "--leader-elect-lease-duration",
        dest="lease_duration",
        type=int,
        help="seconds a Lease stays valid unrenewed (default 10)",
    )
    e.add_argument(
        "--leader-elect-renew-deadline",
        dest="renew_deadline",
        type=float,
        help="a leader that cannot renew for this long exits (default 7)",
    )
    e.add_argument(
        "--leader-elect-retry-period",
        dest="retry_period",
        type=float,
        help="seconds between renewals (default 2)",
    )
