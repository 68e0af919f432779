"""tuneop in Python: a TuningSession built, run here or on a cluster, and its results.

The API mirrors the YAML: ``Session`` takes the spec's fields as keyword arguments
and produces the ``SessionSpec`` a YAML file parses into (one model, checked by the
same rules); ``Int``, ``Float``, ``Categorical``, ``minimize``, ``maximize`` and
``optimizer`` build its parts as the spec's own models. ``Session.run`` runs it
here as ``tuneop run --local`` does (resuming it when run again), ``Session.submit``
applies it to a cluster as ``tuneop run FILE`` does; progress comes to a callback or,
from a cluster, as an iterator; ``Results`` holds typed ``Trial`` records and gives a
pandas DataFrame. docs/python-api.md walks through it.

This package is a front end beside the ``tuneop`` command: it uses the command line's
checks and the assembly's wiring, never an adapter.
"""

from __future__ import annotations

from tuneop.api.spec import Objective, Optimizer, Parameter, SessionSpec, SpecError
from tuneop.sdk.cluster import ClusterSession
from tuneop.sdk.results import Progress, Results, SessionError, Trial
from tuneop.sdk.session import RUNNER_IMAGE, Session
from tuneop.sdk.space import (
    Categorical,
    Float,
    Int,
    ObjectiveNotImportable,
    maximize,
    minimize,
    objective_path,
    optimizer,
)

__all__ = [
    "RUNNER_IMAGE",
    "Categorical",
    "ClusterSession",
    "Float",
    "Int",
    "Objective",
    "ObjectiveNotImportable",
    "Optimizer",
    "Parameter",
    "Progress",
    "Results",
    "Session",
    "SessionError",
    "SessionSpec",
    "SpecError",
    "Trial",
    "maximize",
    "minimize",
    "objective_path",
    "optimizer",
]
