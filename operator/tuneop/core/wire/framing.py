"""Which lines of a worker log count, and for which trial: frames and per-trial budgets.

Several trials share a worker log (``trialsPerJob``, a local warm worker), and
what each prints is untrusted: a trial may print a result line for a sibling,
or flood the log. The runner therefore frames each trial's output with lines
carrying a random nonce it announces first and never hands to the objective
(``tuneop_runner.frames``)::

    TUNEOP_FRAMES <nonce>
    TUNEOP_BEGIN <nonce> 0
    ...trial 0's output...
    TUNEOP_RESULT {... "trial": 0 ...}
    TUNEOP_END <nonce> 0

``LogReader`` reads such a log line by line. The first ``TUNEOP_FRAMES`` line
with a well-formed nonce makes the log framed; from then on a result or
intermediate line counts only inside the open frame of the trial it names
(anything else is ignored, and counted), within a trial's frame the last
result line counts (the runner writes its own last, with the frame's end), and
the first frame that yields a result for a trial wins. A log without that line
(a script of one's own printing its lines, an older runner) is read as before:
the last line for a trial wins.

Memory is bounded per trial, so one trial's flood cannot push out another's
result: a log keeps one result line per trial (at most ``MAX_LOG_TRIALS``
trials, or only the Job's trials when they are given), the first malformed
line (whose problem is quoted), and of intermediate lines at most
``STEP_BYTES_PER_TRIAL`` per trial in a framed log, ``INTERMEDIATE_BYTES`` in
all in an unframed one. ``lines`` gives what was kept as a log again (in its
frames), which reads back to the same reports: ``tuneop.core.wire.logscan`` hands
that to the harvest.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field

from tuneop.core.untrusted import sane_text
from tuneop.core.wire.intermediate import INTERMEDIATE_PREFIX, Curves, parse_intermediate
from tuneop.core.wire.resultline import RESULT_PREFIX, TrialReport, parse_result

__all__ = [
    "BEGIN_PREFIX",
    "END_PREFIX",
    "FRAMES_PREFIX",
    "FRAME_PREFIXES",
    "INTERMEDIATE_BYTES",
    "MAX_LOG_TRIALS",
    "STEP_BYTES_PER_TRIAL",
    "LogReader",
    "ParsedLog",
    "split_lines",
]

# The runner's tuneop_runner.frames defines the same prefixes (a test holds them equal).
FRAMES_PREFIX = "TUNEOP_FRAMES "
BEGIN_PREFIX = "TUNEOP_BEGIN "
END_PREFIX = "TUNEOP_END "
FRAME_PREFIXES = (FRAMES_PREFIX, BEGIN_PREFIX, END_PREFIX)
_NONCE = re.compile(r"[0-9a-f]{16,64}")
_FRAME = re.compile(r"([0-9a-f]{16,64}) (\d{1,12})")
# Intermediate lines kept by an unframed log, all trials together.
INTERMEDIATE_BYTES = 2 * 1024 * 1024
# Intermediate lines kept per trial of a framed log: 1,000 steps of about 130 bytes.
STEP_BYTES_PER_TRIAL = 128 * 1024
# Distinct trials whose result a log keeps when the Job's trials are not given.
MAX_LOG_TRIALS = 10_000
_LINE_BREAK = re.compile(r"\r\n?|\n")


@dataclass(frozen=True)
class ParsedLog:
    reports: dict[int, TrialReport] = field(default_factory=dict)
    malformed: int = 0
    first_problem: str | None = None
    # Some line was not kept for a budget (the trial cap, a trial's intermediate bytes).
    truncated: bool = False
    curves: Curves = field(default_factory=Curves)
    intermediate_malformed: int = 0
    framed: bool = False
    # Result and intermediate lines outside their trial's frame (a framed log only).
    ignored: int = 0


def split_lines(text: str) -> Iterator[str]:
    """The lines of ``text``: only CR, LF and CRLF end one (``str.splitlines`` would also
    split inside a JSON string holding a raw U+2028 or U+0085, legal JSON)."""
    start = 0
    for m in _LINE_BREAK.finditer(text):
        yield text[start : m.start()]
        start = m.end()
    if start < len(text):
        yield text[start:]


@dataclass
class _Trial:
    """What a log keeps of one trial."""

    report: TrialReport | None = None
    line: str = ""  # the report's line, as printed
    pending: TrialReport | None = None  # the last result in its open frame
    pending_line: str = ""
    done: bool = False  # a frame of it yielded a result: the first one wins
    steps: list[str] = field(default_factory=list)
    step_bytes: int = 0
    bad: str | None = None  # the log's first malformed line, when it was in this frame


class LogReader:
    """Feed a log's lines with ``add``; ``parsed`` is what counts, ``lines`` what was kept."""

    def __init__(self, trials: Collection[int] | None = None) -> None:
        self.only = frozenset(trials) if trials is not None else None
        self.nonce: str | None = None
        self.open: int | None = None
        self.trials: dict[int, _Trial] = {}
        self.curves = Curves()
        self.malformed = self.bad_steps = self.ignored = 0
        self.first_problem: str | None = None
        self.bad_line: str | None = None  # an unframed log's first malformed line
        self.truncated = False
        self.step_bytes = 0

    def add(self, line: str) -> None:
        if line.startswith(RESULT_PREFIX):
            self._result(line)
        elif line.startswith(INTERMEDIATE_PREFIX):
            self._step(line)
        elif line.startswith((FRAMES_PREFIX, BEGIN_PREFIX, END_PREFIX)):
            self._frame(line)

    # ---- frames

    def _frame(self, line: str) -> None:
        if line.startswith(FRAMES_PREFIX):
            nonce = line[len(FRAMES_PREFIX) :].strip()
            if self.nonce is None and _NONCE.fullmatch(nonce):
                self._become_framed(nonce)
            return
        m = _FRAME.fullmatch(line.split(" ", 1)[1].strip())
        if self.nonce is None or m is None or m.group(1) != self.nonce:
            return  # not the runner's: a look-alike is noise
        trial = int(m.group(2))
        self._close()
        if line.startswith(BEGIN_PREFIX) and self._wanted(trial):
            self.open = trial

    def _become_framed(self, nonce: str) -> None:
        # What came before the announcement is no trial's: forget it.
        self.nonce = nonce
        self.trials.clear()
        self.curves = Curves()
        self.malformed = self.step_bytes = 0
        self.first_problem = self.bad_line = None

    def _close(self) -> None:
        if self.open is None:
            return
        t = self.trials.get(self.open)
        if t is not None and t.pending is not None and not t.done:
            t.report, t.line, t.done = t.pending, t.pending_line, True
        if t is not None:
            t.pending, t.pending_line = None, ""
        self.open = None

    def _wanted(self, trial: int) -> bool:
        if self.only is not None:
            return trial in self.only
        if trial in self.trials or len(self.trials) < MAX_LOG_TRIALS:
            return True
        self.truncated = True
        return False

    def _trial(self, trial: int) -> _Trial:
        return self.trials.setdefault(trial, _Trial())

    # ---- result lines

    def _result(self, line: str) -> None:
        if self.nonce is not None and self.open is None:
            self.ignored += 1
            return
        try:
            rep = parse_result(line[len(RESULT_PREFIX) :])
        except ValueError as err:  # json.JSONDecodeError is a ValueError
            self._malformed(line, err)
            return
        if self.nonce is not None:
            if rep.trial != self.open:
                self.ignored += 1  # a line naming another trial than its frame's
                return
            t = self._trial(rep.trial)
            t.pending, t.pending_line = rep, line
        elif self._wanted(rep.trial):
            t = self._trial(rep.trial)
            t.report, t.line = rep, line  # unframed: the last line for a trial wins

    def _malformed(self, line: str, err: ValueError) -> None:
        self.malformed += 1
        if self.first_problem is not None:
            return
        self.first_problem = sane_text(f"malformed {RESULT_PREFIX.strip()} line: {err}")
        if self.open is not None:
            self._trial(self.open).bad = line
        else:
            self.bad_line = line

    # ---- intermediate lines

    def _step(self, line: str) -> None:
        if self.nonce is not None and self.open is None:
            self.ignored += 1
            return
        try:
            rep = parse_intermediate(line[len(INTERMEDIATE_PREFIX) :])
        except (ValueError, RecursionError):
            self.bad_steps += 1  # spoils no trial: only a point of its curve is missing
            return
        if self.nonce is not None and rep.trial != self.open:
            self.ignored += 1
            return
        if not self._wanted(rep.trial) or not self._room(rep.trial, len(line) + 1):
            return
        self.curves.add(rep)
        self._trial(rep.trial).steps.append(line)

    def _room(self, trial: int, size: int) -> bool:
        if self.nonce is not None:
            t = self._trial(trial)
            if t.step_bytes + size > STEP_BYTES_PER_TRIAL:
                self.truncated = True
                return False
            t.step_bytes += size
            return True
        if self.step_bytes + size > INTERMEDIATE_BYTES:
            self.truncated = True
            return False
        self.step_bytes += size
        return True

    # ---- what was read

    def parsed(self) -> ParsedLog:
        self._close()
        reports = {n: t.report for n, t in self.trials.items() if t.report is not None}
        return ParsedLog(
            reports,
            self.malformed,
            self.first_problem,
            self.truncated,
            self.curves,
            self.bad_steps,
            self.nonce is not None,
            self.ignored,
        )

    def lines(self) -> list[str]:
        """What was kept, as log lines that read back to the same reports and curves."""
        self._close()
        if self.nonce is None:
            out = [self.bad_line] if self.bad_line is not None else []
            out += [s for t in self.trials.values() for s in t.steps]
            return out + [t.line for t in self.trials.values() if t.report is not None]
        out = [FRAMES_PREFIX + self.nonce]
        for n, t in self.trials.items():
            out.append(f"{BEGIN_PREFIX}{self.nonce} {n}")
            out += [t.bad] if t.bad is not None else []
            out += t.steps
            out += [t.line] if t.report is not None else []
            out.append(f"{END_PREFIX}{self.nonce} {n}")
        return out
