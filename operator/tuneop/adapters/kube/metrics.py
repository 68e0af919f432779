"""The Kubernetes adapters' own Prometheus counters.

They count what only these adapters see (API calls that failed, trials in
Jobs actually created), so they are defined here and the controller's
``tuneop.controller.metrics`` re-exports them with the rest of the
operator's metrics.
"""

from __future__ import annotations

from prometheus_client import Counter

__all__ = ["API_ERRORS", "TRIALS_STARTED"]

TRIALS_STARTED = Counter("tuneop_trials_started", "Trials in worker Jobs this operator created.")
API_ERRORS = Counter("tuneop_api_errors", "Failed Kubernetes API calls.", ["operation", "code"])
