"""Each trial of a Job of several its own MLflow run: ``MLFLOW_RUN_ID`` set per trial.

A session tracked in MLflow gives a Job of one trial ``MLFLOW_RUN_ID`` directly;
a Job of several gets ``TUNEOP_MLFLOW_RUN_IDS``, a JSON object from trial
number to run id (the operator's, ``tuneop.core.jobs.tracking``). While a trial
runs, ``trial_run`` puts its run's id in ``MLFLOW_RUN_ID`` (the variable MLflow's
client resumes a run from), so the objective's own ``mlflow.log_*`` calls, in
this process or in its command, land in its trial's run; afterwards the
variable is as it was. A map that does not parse, or names no run for the
trial, changes nothing.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager

__all__ = ["ENV_RUN_ID", "ENV_RUN_IDS", "MAX_RUN_IDS_CHARS", "trial_run"]

ENV_RUN_ID = "MLFLOW_RUN_ID"
ENV_RUN_IDS = "TUNEOP_MLFLOW_RUN_IDS"
MAX_RUN_IDS_CHARS = 1 << 20  # a Job's trials are bounded; this only bounds the parse


def _run_of(env: MutableMapping[str, str], trial: int) -> str | None:
    text = env.get(ENV_RUN_IDS) or ""
    if not text or len(text) > MAX_RUN_IDS_CHARS:
        return None
    try:
        runs = json.loads(text)
    except ValueError:
        return None
    run = runs.get(str(trial)) if isinstance(runs, dict) else None
    return run if isinstance(run, str) and run.isalnum() else None


@contextmanager
def trial_run(trial: int, env: MutableMapping[str, str] | None = None) -> Iterator[None]:
    """``MLFLOW_RUN_ID`` set to ``trial``'s run while in the block (module doc)."""
    env = os.environ if env is None else env
    run = _run_of(env, trial)
    if run is None:
        yield
        return
    before = env.get(ENV_RUN_ID)
    env[ENV_RUN_ID] = run
    try:
        yield
    finally:
        if before is None:
            env.pop(ENV_RUN_ID, None)
        else:
            env[ENV_RUN_ID] = before
