"""A failing trial says why on the terminal and in the report: the last lines of its
stderr (bounded, control characters escaped), in local words, never Kubernetes'."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.component.headless_browser import Browser, chromium
from user import User

K8S_WORDS = (
    "BackoffLimitExceeded",
    "activeDeadlineSeconds",
    "PodFailurePolicy",
    "DeadlineExceeded",
)

SCRIPT_SESSION = """\
apiVersion: tuneop.dev/v1alpha1
kind: TuningSession
metadata: {name: oom}
spec:
  objective: {metric: loss}
  searchSpace: [{name: x, type: int, min: 0, max: 1}]
  optimizer: {type: grid}
  maxParallel: 2
  trialTimeoutSeconds: 60
  metricsCollector: {kind: StdOut}
  template:
    spec:
      containers:
        - name: trial
          image: pytorch/pytorch:2.5.1-cuda12.4-cudnn9-runtime
          command: [python, train.py, "${params.x}"]
"""

TRAIN = """\
import sys
print("epoch 1: loss=0.9")
print("allocating 80 GiB \\x1b[2J\\x1b]0;pwned\\x07", file=sys.stderr)
if sys.argv[1] == "1":
    raise RuntimeError("CUDA out of memory. Tried to allocate 80.00 GiB")
print("loss=0.5")
"""


def flat(text: str) -> str:
    """The text with its line breaks undone (the terminal may wrap a long line)."""
    return " ".join(text.split())


def records(user: User, name: str) -> dict[int, dict[str, object]]:
    folder = user.path(f"tuneop-results/{name}/trials")
    return {d["trial"]: d for d in (json.loads(p.read_text()) for p in folder.glob("*.json"))}


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Browser]:
    binary = chromium()
    if binary is None:
        pytest.skip("chromium is not installed")
    b = Browser(binary, tmp_path / "chromium-profile")
    yield b
    b.close()


def test_a_failing_scripts_error_is_on_the_terminal_and_in_the_report(
    user: User, browser: Browser
) -> None:
    user.write("train.py", TRAIN)
    user.write("s.yaml", SCRIPT_SESSION)
    seen = user.tuneop("run", "s.yaml", "--local", "--report")
    assert seen.code in (0, 1), seen  # a failed trial may fail the session (maxFailedTrials)
    assert "Traceback (most recent" not in seen.err
    out = flat(seen.out)
    assert "RuntimeError: CUDA out of memory. Tried to allocate 80.00 GiB" in out, seen
    assert "exited with code 1" in out
    assert "\x1b" not in seen.both and "\\x1b[2J" in out  # shown, escaped
    for word in K8S_WORDS:
        assert word not in seen.both
    failed = records(user, "oom")[1]
    assert failed["outcome"] == "Failed"
    assert "RuntimeError: CUDA out of memory" in str(failed["error"])
    assert len(str(failed["error"])) <= 2000

    page = user.path("tuneop-results/oom/report.html")
    browser.open(page.as_uri(), "document.querySelectorAll('.main-svg').length > 0")
    text = browser.evaluate("document.body.innerText")
    assert "RuntimeError: CUDA out of memory" in text
    assert "exited with code 1" in text
    assert browser.evaluate("document.title") != "pwned"


def test_a_long_stderr_is_quoted_by_its_last_lines_only(user: User) -> None:
    script = (
        "import sys\n"
        "for i in range(10000):\n"
        "    print(f'noise line {i} ' + 'x' * 2000, file=sys.stderr)\n"
        "sys.exit('the real reason: disk full')\n"
    )
    user.write("train.py", script)
    user.write(
        "s.yaml", SCRIPT_SESSION.replace("max: 1", "max: 0").replace("name: oom", "name: long")
    )
    seen = user.tuneop("run", "s.yaml", "--local")
    assert seen.code == 1, seen
    error = str(records(user, "long")[0]["error"])
    assert error.endswith("the real reason: disk full"), error
    assert "noise line 9999" in error and "noise line 9990" not in error  # the last lines
    assert len(error) <= 2000


def test_a_timed_out_script_says_so_in_local_words(user: User) -> None:
    user.write("train.py", "import time\ntime.sleep(60)\n")
    text = SCRIPT_SESSION.replace("trialTimeoutSeconds: 60", "trialTimeoutSeconds: 2")
    user.write("s.yaml", text.replace("max: 1", "max: 0").replace("name: oom", "name: slow"))
    seen = user.tuneop("run", "s.yaml", "--local")
    assert seen.code == 1, seen
    assert "killed after the 2 s trial timeout" in flat(seen.out), seen
    for word in K8S_WORDS:
        assert word not in seen.both
    assert records(user, "slow")[0]["outcome"] == "TimedOut"


RUNNER_SESSION = """\
apiVersion: tuneop.dev/v1alpha1
kind: TuningSession
metadata: {name: crash}
spec:
  objective: {metric: loss}
  searchSpace: [{name: x, type: int, min: 0, max: 0}]
  optimizer: {type: grid}
  runner:
    image: tuneop/runner:0.1.0
    objective: crashing:objective
"""


def test_a_worker_that_dies_without_reporting_says_how_it_died(user: User) -> None:
    # The process dies under the runner (os._exit): no result line, only its stderr.
    user.write(
        "crashing.py",
        "import os, sys\n"
        "def objective(params):\n"
        "    print('Segmentation fault in libcuda.so', file=sys.stderr, flush=True)\n"
        "    os._exit(139)\n",
    )
    user.write("s.yaml", RUNNER_SESSION)
    seen = user.tuneop("run", "s.yaml", "--local")
    assert seen.code == 1, seen
    out = flat(seen.out)
    assert "exited with code 139" in out and "Segmentation fault in libcuda.so" in out
    for word in K8S_WORDS:
        assert word not in seen.both
