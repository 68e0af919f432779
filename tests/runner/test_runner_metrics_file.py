"""The metrics-file follower (``tuneop_runner.metricsfile``) and its by-hand TensorFlow
event reader (``tuneop_runner.tfevents``), against files TensorBoard's own writer wrote
(``tests/data/tfevents``: ``make_tfevents.py`` says how they were made).
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tuneop.core.jobs import metricsfile as core_side
from tuneop_runner.metricsfile import METRICS_PREFIX, Follower, should_consider
from tuneop_runner.tfevents import TFRecordError, crc32c, read_records, scalars

DATA = Path(__file__).parents[1] / "data" / "tfevents"
EXPECTED: dict[str, list[list[object]]] = json.loads((DATA / "expected.json").read_text())


def test_crc32c_is_castagnolis() -> None:
    assert crc32c(b"123456789") == 0xE3069283  # the standard check value
    assert crc32c(b"") == 0


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_tensorboards_event_files_read_by_hand(name: str) -> None:
    data = (DATA / name).read_bytes()
    records, used = read_records(data)
    assert used == len(data)
    got = [[s.tag, s.step, s.value] for r in records for s in scalars(r)]
    assert got == EXPECTED[name]


def test_a_record_still_being_written_is_left_for_later() -> None:
    data = next((DATA / n).read_bytes() for n in sorted(EXPECTED))
    whole, used = read_records(data)
    cut, cut_used = read_records(data[: used - 3])
    assert len(cut) == len(whole) - 1 and cut_used < used - 3


def test_a_record_with_a_wrong_crc_is_refused() -> None:
    data = bytearray(next((DATA / n).read_bytes() for n in sorted(EXPECTED)))
    data[20] ^= 0xFF  # inside the first record's data
    with pytest.raises(TFRecordError, match="CRC"):
        read_records(bytes(data))


def test_katibs_rule_for_which_file_a_metric_comes_from() -> None:
    assert should_consider("accuracy", "accuracy", "/logs/test")
    assert should_consider("accuracy", "test/accuracy", "/logs/test")
    assert not should_consider("accuracy", "train/accuracy", "/logs/test")
    assert not should_consider("loss", "accuracy", "/logs/train")


def test_the_follower_prints_the_scalars_of_the_metrics_asked() -> None:
    out = io.StringIO()
    Follower(str(DATA / "run"), "TensorFlowEvent", ["test/accuracy", "loss"], out).poll()
    lines = out.getvalue().splitlines()
    assert all(line.startswith(METRICS_PREFIX) for line in lines)
    names = [line[len(METRICS_PREFIX) :].split("=")[0] for line in lines]
    assert names.count("test/accuracy") == 5 and names.count("loss") == 5


def test_the_follower_reads_text_as_it_grows_and_a_rewritten_file_again(tmp_path: Path) -> None:
    path = tmp_path / "metrics.log"
    out = io.StringIO()
    follower = Follower(str(path), "File", [], out)
    follower.poll()  # not there yet: nothing
    path.write_text("loss=3\nacc")
    follower.poll()
    path.write_text("loss=3\naccuracy=0.5\n")
    follower.poll()
    path.write_text("loss=1\n")  # rewritten, shorter
    follower.poll(final=True)
    assert out.getvalue() == "".join(
        f"{METRICS_PREFIX}{line}\n" for line in ("loss=3", "accuracy=0.5", "loss=1")
    )


def test_run_mode_runs_the_trial_and_skips_an_earlier_trials_lines(tmp_path: Path) -> None:
    path = tmp_path / "m.log"
    path.write_text("loss=99\n")  # an earlier trial's: removed before this one starts
    program = f"import sys; open({str(path)!r}, 'a').write('loss=1\\n'); print('x=5'); sys.exit(3)"
    done = subprocess.run(
        [
            *(sys.executable, "-m", "tuneop_runner.metricsfile", "--path", str(path), "--run"),
            *("--", sys.executable, "-c", program),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 3
    assert done.stdout == f"{METRICS_PREFIX}loss=1\n"
    assert "x=5" in done.stderr  # the trial's own stdout, apart from the metrics


def test_the_prefix_is_the_same_on_both_sides() -> None:
    assert core_side.METRICS_PREFIX == METRICS_PREFIX
