"""The runner's frames as the operator reads them (``tuneop.core.wire.framing``).

A framed log counts a result or an intermediate line only inside the frame of the
trial it names; within a frame the last result line counts, the first frame with a
result wins; and one trial's flood is held to its own budget.
"""

from __future__ import annotations

from core_builders import job, line

from tuneop.api.spec import Objective
from tuneop.core.jobs.observed import JobState
from tuneop.core.results.harvest import harvest_job
from tuneop.core.wire.contract import RESULT_PREFIX, Outcome, parse_log
from tuneop.core.wire.framing import MAX_LOG_TRIALS, STEP_BYTES_PER_TRIAL
from tuneop.core.wire.intermediate import INTERMEDIATE_PREFIX
from tuneop.core.wire.logscan import scan

N = "0123456789abcdef0123456789abcdef"
HEAD = f"TUNEOP_FRAMES {N}"


def begin(t: int, nonce: str = N) -> str:
    return f"TUNEOP_BEGIN {nonce} {t}"


def end(t: int, nonce: str = N) -> str:
    return f"TUNEOP_END {nonce} {t}"


def step(t: int, s: int, v: float) -> str:
    return f'{INTERMEDIATE_PREFIX}{{"trial": {t}, "step": {s}, "metrics": {{"loss": {v}}}}}'


def log(*lines: str) -> str:
    return "\n".join(lines) + "\n"


def values(text: str) -> dict[int, object]:
    return {t: r.metrics.get("loss") for t, r in parse_log(text).reports.items()}


def test_a_result_for_a_sibling_inside_a_frame_is_ignored() -> None:
    text = log(HEAD, begin(0), line(0, 10), end(0), begin(1), line(0, -1e6), line(1, 11), end(1))
    parsed = parse_log(text)
    assert values(text) == {0: 10, 1: 11}
    assert parsed.framed and parsed.ignored == 1


def test_results_outside_every_frame_count_for_no_trial() -> None:
    text = log(line(0, -1), HEAD, line(0, -2), begin(0), line(0, 10), end(0), line(0, -3))
    assert values(text) == {0: 10}


def test_a_look_alike_frame_with_another_nonce_is_noise() -> None:
    other = "f" * 32
    text = log(HEAD, begin(1), begin(0, other), line(0, -1), end(0, other), line(1, 11), end(1))
    assert values(text) == {1: 11}


def test_the_first_announcement_makes_the_log_framed_and_a_later_one_is_noise() -> None:
    text = log(HEAD, f"TUNEOP_FRAMES {'e' * 32}", begin(0, "e" * 32), line(0, -1), begin(0))
    assert values(text + log(line(0, 5), end(0))) == {0: 5}


def test_within_its_frame_the_last_line_counts_and_the_first_frame_wins() -> None:
    text = log(HEAD, begin(0), line(0, 1), line(0, 2), end(0), begin(0), line(0, 3), end(0))
    assert values(text) == {0: 2}


def test_an_unframed_log_is_read_as_before_the_last_line_winning() -> None:
    assert values(log(line(0, 1), line(1, 2), line(0, 3))) == {0: 3, 1: 2}


def test_a_frame_cut_short_by_a_killed_worker_keeps_the_result_it_printed() -> None:
    assert values(log(HEAD, begin(0), line(0, 7))) == {0: 7}


def test_intermediate_lines_count_only_in_their_own_frame() -> None:
    text = log(HEAD, begin(0), step(0, 1, 0.5), end(0), begin(1), step(0, 2, 9.0), end(1))
    assert parse_log(text).curves.steps == {0: {1: {"loss": 0.5}}}


def test_a_trials_flood_of_intermediate_lines_stops_at_its_own_budget() -> None:
    flood = [step(1, s, 0.1) for s in range(5000)]
    text = log(HEAD, begin(0), step(0, 1, 0.5), line(0, 1), end(0), begin(1), *flood, end(1))
    parsed = parse_log(text)
    assert parsed.curves.steps[0] == {1: {"loss": 0.5}} and parsed.truncated
    kept = sum(len(s) + 1 for s in flood[: len(parsed.curves.steps[1])])
    assert kept <= STEP_BYTES_PER_TRIAL


def test_the_scan_of_a_framed_flood_keeps_each_result_and_reads_back_the_same() -> None:
    forged = (line(0, -1e6) + "\n") * 60_000  # about 6 MB inside trial 1's frame
    raw = log(HEAD, begin(0), line(0, 10), end(0), begin(1)) + forged + log(line(1, 11), end(1))
    data = raw.encode()
    kept = scan(data[i : i + 65536] for i in range(0, len(data), 65536))
    assert len(kept) < 64 * 1024
    assert values(kept) == values(raw) == {0: 10, 1: 11}


def test_given_the_jobs_trials_an_unframed_log_keeps_no_other_trial() -> None:
    text = log(*(line(t, t) for t in range(100, 200)), line(3, 1.0))
    assert set(parse_log(text, trials=[3]).reports) == {3}


def test_an_unframed_log_keeps_at_most_max_log_trials_trials() -> None:
    text = log(*(line(t, 1.0) for t in range(MAX_LOG_TRIALS + 5)))
    parsed = parse_log(text)
    assert len(parsed.reports) == MAX_LOG_TRIALS and parsed.truncated


def test_the_harvest_of_a_forged_framed_log_records_the_real_results() -> None:
    text = log(HEAD, begin(0), line(0, 10), end(0), begin(1), line(0, -1e6), line(1, 11), end(1))
    worker = job(0, JobState.SUCCEEDED, trials=[0, 1], params=({}, {}))
    results = harvest_job(worker, [text], Objective(metric="loss"))
    assert [(r.outcome, r.value) for r in results] == [
        (Outcome.SUCCEEDED, 10.0),
        (Outcome.SUCCEEDED, 11.0),
    ]


def test_a_malformed_line_in_a_trials_frame_is_quoted_for_that_trial() -> None:
    text = log(HEAD, begin(0), RESULT_PREFIX + "{oops", end(0))
    worker = job(0, JobState.SUCCEEDED, trials=[0], params=({},))
    (result,) = harvest_job(worker, [scan([text.encode()])], Objective(metric="loss"))
    assert result.outcome is Outcome.FAILED and "malformed TUNEOP_RESULT" in (result.error or "")
