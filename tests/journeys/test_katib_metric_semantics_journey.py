"""Issue 28, item 4: an imported experiment counts metrics and failures as Katib does.

Katib v0.19.0 takes the min of a minimized metric's values (max when maximized) unless told
otherwise (``experiment_defaults.go``), ends an experiment when failed trials reach
``maxFailedTrialCount`` (``status_util.go``: ``failed != 0 && failed >= N``), runs ``tpe``
as hyperopt's independent TPE, and draws a grid's unvisited points at random (said when
the budget cuts the grid).
"""

from __future__ import annotations

import importlib.util
import json
import shutil

import yaml
from katib_census import KATIB
from user import User

# Stands in for Katib's mnist.py: a loss that falls, then rises (the last is not the best).
CURVE = "print('loss=0.3'); print('loss=0.9')"
# Fails, each trial with its own exit code and words (the same error thrice would end the
# session by tuneop's repeated-error rule, whatever the count).
FAILS = (
    "import sys; lr = [a for a in sys.argv if a.startswith('--lr=')][0];"
    " print('bad', lr, file=sys.stderr); sys.exit(2 + int(float(lr[5:]) * 1e6) % 100)"
)


# Counts its runs (a line per run in runs.txt, its trial's number); fails the first run
# of each trial with exit code 1; then reports loss=0.5, but odd trials report no metric.
COUNTED = (
    "import os, sys; t = os.environ['TUNEOP_TRIAL'];"
    " seen = os.path.exists('runs.txt') and t in open('runs.txt').read().split();"
    " open('runs.txt', 'a').write(t + '\\n');"
    " sys.exit(1) if not seen else print('done' if int(t) % 2 else 'loss=0.5')"
)


def imported(
    user: User, example: str, command: str, backoff: int | None = 0, **katib: object
) -> None:
    exp = yaml.safe_load((KATIB / example).read_text())
    exp["spec"].update(katib)
    job = exp["spec"]["trialTemplate"]["trialSpec"]
    if backoff is None:  # Kubernetes' default for the Job: 6
        job["spec"].pop("backoffLimit", None)
    else:
        job["spec"]["backoffLimit"] = backoff  # 0: no retries, one run per trial
    trial = job["spec"]["template"]["spec"]["containers"][0]
    trial["command"] = ["python3", "-c", command, *trial["command"][2:]]
    user.write("exp.yaml", yaml.safe_dump(exp))
    seen = user.tuneop("import", "katib", "exp.yaml", "-o", "s.yaml")
    assert seen.code == 0, seen


def test_a_minimized_metric_counts_its_smallest_value_as_katib_does(user: User) -> None:
    imported(user, "hp-tuning/random.yaml", CURVE, maxTrialCount=2)
    seen = user.tuneop("run", "s.yaml", "--local", "--no-report")
    assert seen.code == 0, seen
    session = json.loads(user.path("tuneop-results/random/session.json").read_text())
    assert session["status"]["best"]["value"] == 0.3, session["status"]["best"]


def test_failed_trials_end_the_session_when_they_reach_katibs_count(user: User) -> None:
    # maxFailedTrialCount 3 in Katib v0.19.0: the third failed trial ends the experiment.
    imported(user, "hp-tuning/random.yaml", FAILS, parallelTrialCount=1, maxFailedTrialCount=3)
    seen = user.tuneop("run", "s.yaml", "--local", "--no-report")
    assert seen.code != 0, seen
    session = json.loads(user.path("tuneop-results/random/session.json").read_text())
    assert session["status"]["trials"]["failed"] == 3, session["status"]["trials"]


def test_katibs_tpe_is_independent_tpe_and_bayesianoptimization_is_gp_or_said(
    user: User,
) -> None:
    shutil.copytree(KATIB / "hp-tuning", user.path("hp"))
    seen = user.tuneop("import", "katib", "hp/tpe.yaml", "-o", "tpe.yaml")
    assert seen.code == 0 and "note:" not in seen.err, seen
    optimizer = yaml.safe_load(user.path("tpe.yaml").read_text())["spec"]["optimizer"]
    assert optimizer == {"type": "bayesian", "multivariate": False}
    seen = user.tuneop("import", "katib", "hp/bayesian-optimization.yaml", "-o", "bo.yaml")
    optimizer = yaml.safe_load(user.path("bo.yaml").read_text())["spec"]["optimizer"]
    if importlib.util.find_spec("torch") is not None:
        assert optimizer["type"] == "gp" and "note:" not in seen.err, seen
    else:
        assert optimizer["type"] == "bayesian", optimizer
        assert "bayesianoptimization becomes TPE" in seen.err and "tuneop[gp]" in seen.err


def test_a_grid_cut_to_the_budget_is_named(user: User) -> None:
    shutil.copy(KATIB / "hp-tuning/grid.yaml", user.path("grid.yaml"))
    seen = user.tuneop("import", "katib", "grid.yaml", "-o", "s.yaml")
    assert seen.code == 0, seen
    assert (
        "note: spec.maxTrialCount: 12 of the grid's 45 points run, the first in grid order"
        " (Katib draws unvisited points at random)" in seen.err
    ), seen


def test_a_trial_runs_again_as_a_katib_job_runs_its_failed_pod_not_for_a_missing_metric(
    user: User,
) -> None:
    # Katib's Job (backoffLimit, Kubernetes' default 6) runs a pod again when it exits
    # non-zero; a trial whose pod succeeded without the metric is not run again: it fails.
    imported(
        user,
        "hp-tuning/random.yaml",
        COUNTED,
        backoff=None,
        maxTrialCount=4,
        parallelTrialCount=1,
        maxFailedTrialCount=5,
    )
    spec = yaml.safe_load(user.path("s.yaml").read_text())["spec"]
    assert (spec["retries"], spec["retryOn"]) == (6, ["Failed"])
    seen = user.tuneop("run", "s.yaml", "--local", "--no-report")
    session = json.loads(user.path("tuneop-results/random/session.json").read_text())
    trials = session["status"]["trials"]
    runs = sorted(user.path("runs.txt").read_text().split())
    # each trial: its failed run, and one more, whether it then reports the metric or not
    assert runs == ["0", "0", "1", "1", "2", "2", "3", "3"], (runs, seen)
    assert (trials["succeeded"], trials["failed"]) == (2, 2), trials
