"""Builders of TuningSession manifests and specs, shared by every test tier.

Every tier builds its sessions here: ``session_doc`` wraps a spec in the
manifest envelope (apiVersion, kind, metadata), ``spec_data`` / ``spec`` /
``manifest`` give the smallest valid session (a 10-point int grid
minimizing ``loss``) with fields replaced or removed (``DROP``). Tier helpers
(``core_builders``, ``operator_fakes``, ``tests.e2e.operator_support``) add
what only their tier needs on top. Importable as ``builders``: pytest puts
``tests/`` on the path (``pythonpath`` in pyproject.toml).
"""

from __future__ import annotations

import copy
from typing import Any

from tuneop.api import rules as R
from tuneop.api.spec import API_GROUP, API_VERSION, KIND, SessionSpec, parse_spec

__all__ = [
    "BASE_SPEC",
    "DROP",
    "RULE_BREAKERS",
    "RUNNER_IMAGE",
    "TWO_OBJECTIVES",
    "manifest",
    "session_doc",
    "spec",
    "spec_data",
]

# The image examples and cluster tests name; the node simulator ignores images.
RUNNER_IMAGE = "tuneop/runner:0.1.0"

# The smallest valid spec: a 10-point int grid, minimizing "loss".
BASE_SPEC: dict[str, Any] = {
    "objective": {"metric": "loss"},
    "searchSpace": [{"name": "x", "type": "int", "min": 0, "max": 9}],
    "optimizer": {"type": "grid"},
    "runner": {"image": "example/runner:1"},
}

DROP = object()  # an override that removes the key

# Two objectives for spec.objectives: a loss to minimize and a score to maximize.
TWO_OBJECTIVES: list[dict[str, Any]] = [
    {"metric": "loss", "direction": "minimize"},
    {"metric": "score", "direction": "maximize"},
]
FLOAT = {"name": "x", "type": "float", "min": 0.0, "max": 1.0}
# A spec (over BASE_SPEC) per cross-field rule of tuneop.api.rules, breaking only that rule.
RULE_BREAKERS: list[tuple[R.Rule, dict[str, Any]]] = [
    (R.MIN_NOT_ABOVE_MAX, {"searchSpace": [{**FLOAT, "min": 5.0, "step": 0.5}]}),
    (R.CATEGORICAL_NEEDS_VALUES, {"searchSpace": [{"name": "c", "type": "categorical"}]}),
    (
        R.CATEGORICAL_NO_BOUNDS,
        {"searchSpace": [{"name": "c", "type": "categorical", "values": [1], "min": 0}]},
    ),
    (R.VALUES_ONLY_CATEGORICAL, {"searchSpace": [{**FLOAT, "step": 0.5, "values": [1]}]}),
    (R.NUMERIC_NEEDS_BOUNDS, {"searchSpace": [{"name": "x", "type": "int", "min": 0}]}),
    (
        R.LOG_NEEDS_POSITIVE_MIN,
        {
            "optimizer": {"type": "random"},
            "totalTrials": 3,
            "searchSpace": [{**FLOAT, "log": True}],
        },
    ),
    (
        R.OBJECTIVE_XOR_COMMAND,
        {"runner": {"image": "i", "objective": "m:f", "objectiveCommand": ["x"]}},
    ),
    (R.RESERVED_ENV, {"runner": {"image": "i", "env": [{"name": "TUNEOP_X", "value": "1"}]}}),
    (R.RUNNER_IMAGE_OR_TEMPLATE, {"runner": {"objective": "m:f"}}),
    (R.WORKERS_XOR_TRIALS_PER_JOB, {"workers": 2, "trialsPerJob": 2}),
    (R.TRIALS_XOR_SEARCH, {"trials": [{"x": 1}]}),
    (
        R.BAYESIAN_NEEDS_SEARCH,
        {"searchSpace": DROP, "trials": [{"x": 1}], "optimizer": {"type": "bayesian"}},
    ),
    (R.SEARCH_OR_TRIALS, {"searchSpace": []}),
    (R.TOTAL_TRIALS_REQUIRED, {"optimizer": {"type": "random"}}),
    (R.GRID_FLOAT_NEEDS_STEP, {"searchSpace": [FLOAT]}),
    (R.EARLY_STOPPING_SETTINGS, {"earlyStopping": {"type": "median", "maxResource": 9}}),
    (
        R.EARLY_STOPPING_ONE_OBJECTIVE,
        {"objective": DROP, "objectives": TWO_OBJECTIVES, "earlyStopping": {"type": "median"}},
    ),
    (R.OBJECTIVE_XOR_OBJECTIVES, {"objectives": TWO_OBJECTIVES}),
    (
        R.OBJECTIVES_OPTIMIZER,
        {
            "objective": DROP,
            "objectives": TWO_OBJECTIVES,
            "optimizer": {"type": "cmaes"},
            "totalTrials": 5,
        },
    ),
    (
        R.OBJECTIVES_UNIQUE,
        {
            "objective": DROP,
            "objectives": [TWO_OBJECTIVES[0], {**TWO_OBJECTIVES[1], "metric": "loss"}],
        },
    ),
    (R.SAMPLER_NEEDS_BAYESIAN, {"optimizer": {"type": "grid", "sampler": "nsga2"}}),
    (
        R.POPULATION_NEEDS_NSGA2,
        {"optimizer": {"type": "bayesian", "populationSize": 10}, "totalTrials": 5},
    ),
]


def session_doc(name: str, spec: dict[str, Any], **metadata: Any) -> dict[str, Any]:
    """A TuningSession manifest: ``spec`` as given, ``metadata`` beside the name."""
    return {
        "apiVersion": f"{API_GROUP}/{API_VERSION}",
        "kind": KIND,
        "metadata": {"name": name, **metadata},
        "spec": spec,
    }


def spec_data(**overrides: Any) -> dict[str, Any]:
    """``BASE_SPEC`` with top-level keys (camelCase) replaced; ``DROP`` removes one."""
    data = copy.deepcopy(BASE_SPEC)
    for key, value in overrides.items():
        if value is DROP:
            data.pop(key, None)
        else:
            data[key] = value
    return data


def spec(**overrides: Any) -> SessionSpec:
    return parse_spec(spec_data(**overrides))


def manifest(name: str = "demo", **spec_overrides: Any) -> dict[str, Any]:
    """The base session as a manifest in namespace ``ns`` with uid ``uid-1``."""
    return session_doc(name, spec_data(**spec_overrides), namespace="ns", uid="uid-1")
