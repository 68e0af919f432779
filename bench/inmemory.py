"""A whole session in this process: what the optimizer benchmarks share.

``run_session`` plays the operator's loop without a cluster or workers: the
real reconciler (``tuneop.testing.play``) over in-memory fakes, every Job it
creates finishing before the next reconcile with the metrics ``finish``
returns for each trial's params. The suggester is the operator's cached one,
so the suggestions are the ones a real session would get for the same history.
"""

from __future__ import annotations

from tuneop.api.session import SessionRef
from tuneop.api.spec import SessionSpec
from tuneop.api.status import SessionStatus
from tuneop.core.suggest.bayesian import SessionStudies
from tuneop.core.wire.contract import TrialResult
from tuneop.testing import T0, Finish, World, play

__all__ = ["NOW", "Finish", "run_session"]

NOW = T0


def run_session(
    spec: SessionSpec, name: str, finish: Finish
) -> tuple[list[TrialResult], SessionStatus]:
    """Every result of the session, in the order persisted, and its final status."""
    world = World(ref=SessionRef("bench", name), suggester=SessionStudies())
    played = play(spec, finish, world=world, step_seconds=0)
    return list(played.trials), played.status
