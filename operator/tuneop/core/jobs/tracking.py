"""A tracking server's variables on a worker Job's trial container.

A session tracked in MLflow (``spec.tracking.mlflow``) gives each trial
``MLFLOW_TRACKING_URI`` and ``MLFLOW_EXPERIMENT_ID``, and, once its nested run
exists, that run's id: ``MLFLOW_RUN_ID`` on a Job of one trial, and
``TUNEOP_MLFLOW_RUN_IDS`` (JSON, trial number → run id) on a Job of several,
from which the runner sets ``MLFLOW_RUN_ID`` for each trial in turn. So a
script's own ``mlflow.log_*`` calls land in its trial's run instead of a new
one. On a cluster the Secret named by ``secretRef`` gives MLflow's credential
variables, each optional (a Secret may hold a token or a user and password).
A trial resource of another kind is left as it is: its containers are the
user's.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any

from tuneop.api.tracking import CREDENTIAL_KEYS, MlflowTracking
from tuneop.api.vocabulary import ANN_CONTAINER

__all__ = ["ENV_RUN_ID", "ENV_RUN_IDS", "tracking_env", "with_env"]

ENV_RUN_ID = "MLFLOW_RUN_ID"
ENV_RUN_IDS = "TUNEOP_MLFLOW_RUN_IDS"


def tracking_env(
    mlflow: MlflowTracking,
    experiment_id: str | None,
    run_ids: Mapping[int, str],
    trials: tuple[int, ...],
    secrets: bool,
) -> list[dict[str, Any]]:
    """The variables a Job of ``trials`` gets; ``run_ids`` holds the runs made so far."""
    env: list[dict[str, Any]] = [{"name": "MLFLOW_TRACKING_URI", "value": mlflow.tracking_uri}]
    if experiment_id is not None:
        env.append({"name": "MLFLOW_EXPERIMENT_ID", "value": experiment_id})
    known = {t: run_ids[t] for t in trials if t in run_ids}
    if len(trials) == 1 and trials[0] in known:
        env.append({"name": ENV_RUN_ID, "value": known[trials[0]]})
    elif known:
        text = json.dumps({str(t): r for t, r in sorted(known.items())}, separators=(",", ":"))
        env.append({"name": ENV_RUN_IDS, "value": text})
    if secrets and mlflow.secret_ref is not None:
        name = mlflow.secret_ref.name
        env += [
            {
                "name": key,
                "valueFrom": {"secretKeyRef": {"name": name, "key": key, "optional": True}},
            }
            for key in CREDENTIAL_KEYS
        ]
    return env


def with_env(manifest: Mapping[str, Any], env: list[dict[str, Any]]) -> dict[str, Any]:
    """``manifest`` (a worker Job) with ``env`` first on its trial container; any other
    kind unchanged. A variable the user's container sets itself stays the user's."""
    out = copy.deepcopy(dict(manifest))
    if out.get("kind") != "Job" or not env:
        return out
    template = (out.get("spec") or {}).get("template") or {}
    name = ((template.get("metadata") or {}).get("annotations") or {}).get(ANN_CONTAINER)
    for container in (template.get("spec") or {}).get("containers") or []:
        if container.get("name") == name:
            own = container.get("env") or []
            taken = {e.get("name") for e in own}
            container["env"] = [*(e for e in env if e["name"] not in taken), *own]
    return out
