"""`kill -9` of `tuneop run --local` leaves no trial process behind: the worker dies by its
parent-death signal, and the watchdog stops what it started, in its process group, in its
session under another group, and (when it was seen) in a session of its own."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from user import User

SESSION = """\
apiVersion: tuneop.dev/v1alpha1
kind: TuningSession
metadata: {name: long}
spec:
  objective: {metric: loss}
  searchSpace: [{name: x, type: int, min: 0, max: 1}]
  optimizer: {type: grid}
  maxParallel: 2
  trialTimeoutSeconds: 3600
  metricsCollector: {kind: StdOut}
  template:
    spec:
      containers:
        - name: trial
          image: python:3.11-slim
          command: [python, train.py, "${params.x}"]
"""

# A trial that trains for an hour, with helpers as a real one has: a child in its process
# group (a DataLoader worker), one in another group of its session (a shell pipeline),
# and one in a session of its own (a daemon).
TRAIN = """\
import os, subprocess, sys, time
x = sys.argv[1]
kids = [
    subprocess.Popen(["sleep", "3600"]),
    subprocess.Popen(["sleep", "3600"], process_group=0),
    subprocess.Popen(["sleep", "3600"], start_new_session=True),
]
os.makedirs("pids", exist_ok=True)
with open(f"pids/{x}.tmp", "w") as f:
    f.write(" ".join(str(p) for p in [os.getpid(), *(k.pid for k in kids)]))
os.rename(f"pids/{x}.tmp", f"pids/{x}")
time.sleep(3600)
"""


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def wait_for(check: object, seconds: float) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if check():  # type: ignore[operator]
            return True
        time.sleep(0.1)
    return False


def test_kill_9_of_tuneop_leaves_no_trial_process(user: User) -> None:
    user.write("train.py", TRAIN)
    user.write("s.yaml", SESSION)
    proc = user.start("run", "s.yaml", "--local")
    pid_files = [user.path("pids/0"), user.path("pids/1")]
    try:
        assert wait_for(lambda: all(p.exists() for p in pid_files), 60), proc.stderr
        pids = [int(w) for p in pid_files for w in p.read_text().split()]
        assert len(pids) == 8 and all(alive(p) for p in pids)
        time.sleep(1.5)  # the watchdog looks every second: let it see the daemons
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        left = lambda: [p for p in pids if alive(p)]  # noqa: E731
        assert wait_for(lambda: not left(), 8), f"still running: {left()}"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        for p in pid_files:
            for pid in (int(w) for w in (p.read_text().split() if p.exists() else [])):
                if alive(pid):
                    os.kill(pid, signal.SIGKILL)
