"""Frames: which trial's output window a line of the worker log stands in.

Several trials share one worker log (``trialsPerJob``, a warm worker), and any
of them may print a line that looks like another trial's result. So the
runner frames each trial's output with lines only it can write: a random
nonce, made here when the worker starts and never handed to the objective,
announced first in the log, then before and after each trial::

    TUNEOP_FRAMES 6f1c0e9a4b2d7e815a3c9f0d2b4e6a17
    TUNEOP_BEGIN 6f1c0e9a4b2d7e815a3c9f0d2b4e6a17 0
    ...trial 0's output, its intermediate lines, its result line...
    TUNEOP_END 6f1c0e9a4b2d7e815a3c9f0d2b4e6a17 0

The operator (``tuneop.core.wire.framing``) then takes a trial's result and
learning curve only from inside that trial's frame. The announcement comes
before the objective is even imported, so no code of the objective runs
before it. The operator's module defines the same prefixes (a test holds them
equal).
"""

from __future__ import annotations

import secrets

__all__ = [
    "BEGIN_PREFIX",
    "END_PREFIX",
    "FRAMES_PREFIX",
    "begin_line",
    "end_line",
    "header_line",
    "new_nonce",
]

FRAMES_PREFIX = "TUNEOP_FRAMES "
BEGIN_PREFIX = "TUNEOP_BEGIN "
END_PREFIX = "TUNEOP_END "


def new_nonce() -> str:
    """128 random bits as 32 hex digits: a line of the objective cannot guess them."""
    return secrets.token_hex(16)


def header_line(nonce: str) -> str:
    return f"{FRAMES_PREFIX}{nonce}"


def begin_line(nonce: str, trial: int) -> str:
    return f"{BEGIN_PREFIX}{nonce} {trial}"


def end_line(nonce: str, trial: int) -> str:
    return f"{END_PREFIX}{nonce} {trial}"
