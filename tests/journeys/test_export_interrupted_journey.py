"""An export stopped midway (Ctrl-C) is known for what it is: the next ``tuneop export`` to
the same study writes it again, whole, and says so; a finished study is never replaced."""

from __future__ import annotations

import signal
import subprocess
import time

import optuna
from user import User

from component.results_builders import record, results_folder

TRIALS = 600


def study_size(url: str) -> int:
    try:
        return len(optuna.load_study(study_name="demo", storage=url).get_trials(deepcopy=False))
    except KeyError:  # not created yet
        return 0


def test_an_interrupted_export_is_written_again_whole(user: User) -> None:
    results_folder(user.cwd, [record(t) for t in range(TRIALS)])
    url = f"sqlite:///{user.path('s.db')}"
    argv = ["tuneop", "export", "demo", "--optuna-storage", url, "--study-name", "demo"]
    proc = subprocess.Popen(argv, cwd=user.cwd, env=user.env, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while study_size(url) < 20 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)  # Ctrl-C, midway
    _, err = proc.communicate(timeout=60)
    assert proc.returncode != 0 and b"Traceback" not in err, err
    cut = study_size(url)
    assert 0 < cut < TRIALS
    again = user.tuneop("export", "demo", "--optuna-storage", url, "--study-name", "demo")
    assert again.code == 0, again
    assert f"an export that stopped midway ({cut} trials): written again, whole" in again.err
    assert f"exported {TRIALS} trials" in again.out and study_size(url) == TRIALS
    third = user.tuneop("export", "demo", "--optuna-storage", url, "--study-name", "demo")
    assert third.code == 2 and "is already there" in third.err, third
    assert study_size(url) == TRIALS
