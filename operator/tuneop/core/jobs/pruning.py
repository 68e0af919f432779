"""Where a session's trials meet for early stopping: what a worker is told.

With ``spec.earlyStopping`` every worker gets two variables, which the runner
(``tuneop_runner.pruning``) reads to ask Optuna's pruner about its trials:

* ``TUNEOP_EARLY_STOPPING``: JSON of the pruner (its type and Optuna
  settings), the objective's metric and direction, and the study's name;
* ``TUNEOP_PRUNING_STORAGE``: where the study lives. On a cluster it comes
  from ``earlyStopping.redisUrlSecret`` (a ``secretKeyRef``, so the URL and
  its password never sit in the Job); a local run sets it to the journal
  file in the session's results folder (``JOURNAL_FILE``).

A session whose trials' metrics tuneop reads (``metricsCollector.kind`` StdOut, File,
TensorFlowEvent), and Katib's ``medianStop``, is judged by the operator itself
(``operator_prunes``: ``tuneop.core.planning.optuna_pruning``, ``.medianstop``): its
workers are told nothing.

The study's name holds the session, its object's uid and the spec's
fingerprint: a session deleted and created again, or another spec under the
same name, never judges its trials against another's.
"""

from __future__ import annotations

import json
from typing import Any

from tuneop.api.early_stopping import pruner_settings
from tuneop.api.session import SessionRef
from tuneop.api.spec import SessionSpec
from tuneop.core.fingerprint import spec_hash

__all__ = [
    "ENV_EARLY_STOPPING",
    "ENV_PRUNING_STORAGE",
    "HYPERBAND_MAX_NUMBER",
    "JOURNAL_FILE",
    "cluster_pruning_warnings",
    "early_stopping_env",
    "operator_prunes",
    "pruning_warnings",
    "study_name",
]

ENV_EARLY_STOPPING = "TUNEOP_EARLY_STOPPING"
ENV_PRUNING_STORAGE = "TUNEOP_PRUNING_STORAGE"
JOURNAL_FILE = "pruning.journal"  # in a local session's results folder
# The operator's hyperband judges trials numbered below this (tuneop.core.planning.optuna_pruning).
HYPERBAND_MAX_NUMBER = 2_000


def study_name(spec: SessionSpec, ref: SessionRef) -> str:
    return f"tuneop:{ref.key}:{ref.uid or '-'}:{spec_hash(spec)}"


def operator_prunes(spec: SessionSpec) -> bool:
    """Whether the operator (or a local run) judges the running trials, not the runner."""
    es = spec.early_stopping
    return es is not None and (
        es.type == "medianStop" or spec.metrics_collector.kind != "TuneopResult"
    )


def early_stopping_env(spec: SessionSpec, ref: SessionRef) -> list[dict[str, Any]]:
    """The worker's early-stopping variables; none without ``spec.earlyStopping``."""
    es = spec.early_stopping
    if es is None or operator_prunes(spec):  # the operator's own: the worker is not told
        return []
    config = {
        **pruner_settings(es),
        "metric": spec.objective.metric,
        "direction": spec.objective.direction,
        "study": study_name(spec, ref),
    }
    # $ is doubled: the kubelet reads $(VAR) in env values (a name may hold a $).
    text = json.dumps(config, sort_keys=True, separators=(",", ":")).replace("$", "$$")
    env: list[dict[str, Any]] = [{"name": ENV_EARLY_STOPPING, "value": text}]
    if es.redis_url_secret is not None:
        ref_ = {"name": es.redis_url_secret.name, "key": es.redis_url_secret.key}
        env.append({"name": ENV_PRUNING_STORAGE, "valueFrom": {"secretKeyRef": ref_}})
    return env


def pruning_warnings(spec: SessionSpec) -> list[str]:
    """Early stopping that cannot stop anything: trials that do not run the tuneop runner."""
    es = spec.early_stopping
    hyperband = es is not None and es.type == "hyperband" and operator_prunes(spec)
    if hyperband and (spec.total_trials or 0) > HYPERBAND_MAX_NUMBER:
        return [
            f"spec.earlyStopping: hyperband judges trials numbered below"
            f" {HYPERBAND_MAX_NUMBER:,} only: later ones run unpruned"
        ]
    if es is None or operator_prunes(spec) or spec.runner.objective:
        return []
    if spec.runner.objective_command:
        return []
    return [
        "spec.earlyStopping: the trials do not run the tuneop runner (no runner.objective or"
        " runner.objectiveCommand): their learning curves are kept, but no trial is pruned"
    ]


def cluster_pruning_warnings(spec: SessionSpec) -> list[str]:
    """On a cluster the trials meet only in the Redis of ``redisUrlSecret``."""
    es = spec.early_stopping
    if es is None or es.redis_url_secret is not None or operator_prunes(spec):
        return []
    return [
        "spec.earlyStopping.redisUrlSecret: not set, so on a cluster the trials have nowhere"
        " to meet and no trial is pruned (a local run uses its results folder)"
    ]
