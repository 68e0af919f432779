"""Hostile trial output through `tuneop run --local` (issue 25 items 1 and 2).

Two trials share a Job (`trialsPerJob: 2`), each run by the runner's `objectiveCommand`
(so the runner frames each one's output). Before printing its own, known result, each
trial prints what Hypothesis draws: random bytes, result lines for its sibling (a forgery),
numbers too large for a float, lone surrogates, malformed and long result lines, floods.
Whatever it prints: no traceback, no hang, exit 0 or 1, nothing raw on the terminal, and
each trial's recorded result is the one it printed for itself: none lost, none forged.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from hostile import PROFILE, capped, check_sane
from hypothesis import example, given
from hypothesis import strategies as st

# The runner's objectiveCommand: one run per trial, its params on stdin, its value the
# last line it prints; the runner frames each run (docs/result-contract.md).
WORKER = (
    "import json, sys\n"
    "n = json.loads(sys.stdin.read())['x']\n"
    "sys.stdout.buffer.write(open(f'noise-{n}.bin', 'rb').read())\n"
    "print('\\n' + json.dumps({'loss': 10 + n}), flush=True)\n"
)
SPEC = {
    "apiVersion": "tuneop.dev/v1alpha1",
    "kind": "TuningSession",
    "metadata": {"name": "noisy"},
    "spec": {
        "objective": {"metric": "loss"},
        "trials": [{"x": 0}, {"x": 1}],
        "trialsPerJob": 2,
        "maxParallel": 1,
        "trialTimeoutSeconds": 60,
        "runner": {"image": "tuneop/runner:0.1.0", "objectiveCommand": ["python", "-c", WORKER]},
    },
}


def result_line(trial: int, loss: object, name: str = "loss") -> bytes:
    body = f'{{"trial": {trial}, "status": "succeeded", "metrics": {{"{name}": {loss}}}}}'
    return b"\nTUNEOP_RESULT " + body.encode("utf-8", "surrogatepass") + b"\n"


@st.composite
def noise(draw: st.DrawFn, me: int) -> bytes:
    other = 1 - me
    pieces = draw(
        st.lists(
            st.one_of(
                st.binary(max_size=2048),
                st.just(result_line(other, -1000000)),  # a forgery of the sibling's result
                st.just(result_line(other, "1" + "0" * 400)),  # 10**400
                st.just(result_line(other, 1.0, "\\ud800")),  # a lone surrogate
                st.just(b'\nTUNEOP_RESULT {"trial": %d, "metr\n' % me),  # malformed
                st.just(b"\nTUNEOP_RESULT " + b"[" * 5000 + b"\n"),
                st.integers(1, 3).map(lambda mb: b"y" * (mb * 1024 * 1024) + b"\n"),  # a flood
                st.just(
                    b'\nTUNEOP_INTERMEDIATE {"trial": %d, "step": 1, "metrics":'
                    b' {"loss": 1%s}}\n' % (me, b"0" * 400)
                ),
            ),
            max_size=4,
        )
    )
    return b"".join(pieces)


FLOOD = b"y" * (3 * 1024 * 1024) + b"\n"
UNDECODABLE = b"\xff\xfe" * 1024


@PROFILE
@given(first=noise(0), second=noise(1))
@example(first=FLOOD * 4, second=FLOOD * 4)
@example(first=FLOOD + result_line(1, "1" + "0" * 400) + FLOOD, second=UNDECODABLE + FLOOD * 3)
def test_hostile_trial_output_never_loses_or_forges_a_result(first: bytes, second: bytes) -> None:
    home = Path(tempfile.mkdtemp(prefix="adv-output-"))
    try:
        (home / "noisy.yaml").write_text(json.dumps(SPEC))  # JSON is YAML
        (home / "noise-0.bin").write_bytes(first)
        (home / "noise-1.bin").write_bytes(second)

        ran = capped(home, "run", "noisy.yaml", "--local", "--no-report", timeout=90)

        check_sane(ran, (0, 1))
        trials = home / "tuneop-results" / "noisy" / "trials"
        for n in (0, 1):
            doc = json.loads((trials / f"trial-{n:06d}.json").read_text())
            assert doc["objective"]["value"] == 10 + n, (n, doc, str(ran))
    finally:
        shutil.rmtree(home, ignore_errors=True)
