"""Experiment tracking: ``spec.tracking``, where a session's trials are also logged.

``spec.tracking.mlflow`` names an MLflow tracking server: the session becomes a
parent run in ``experiment`` and each trial a nested run with its parameters,
metrics (the intermediate ones with their steps), outcome, duration and log
excerpt (docs/mlflow.md). ``trackingUri`` is an ``http(s)`` URL: the trials
reach it from their pods as the operator does. On a cluster ``secretRef``
names a Secret in the session's namespace whose keys ``MLFLOW_TRACKING_USERNAME``,
``MLFLOW_TRACKING_PASSWORD`` or ``MLFLOW_TRACKING_TOKEN`` the trials get as
environment variables (the names MLflow's client reads), so a script's own
``mlflow.log_*`` calls authenticate; a local run reads them from its own
environment. Tracking is a mirror: an MLflow server that is down never slows or
fails the session.
"""

from __future__ import annotations

import re

from pydantic import Field, field_validator

from tuneop.api.worker import ApiModel

__all__ = [
    "CREDENTIAL_KEYS",
    "DEFAULT_EXPERIMENT",
    "DEFAULT_RUN_WAIT_SECONDS",
    "MAX_URI_LENGTH",
    "MlflowTracking",
    "SecretRef",
    "Tracking",
    "tracking_uri_ok",
]

DEFAULT_EXPERIMENT = "tuneop"
DEFAULT_RUN_WAIT_SECONDS = 5.0
MAX_URI_LENGTH = 2048
# The variables MLflow's client reads its credentials from, and the Secret's keys.
CREDENTIAL_KEYS = ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_TOKEN")
_URI = re.compile(r"^https?://[^\s/?#@]+(:[0-9]{1,5})?(/[^\s]*)?$")
_SECRET_NAME = r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"


def tracking_uri_ok(uri: str) -> bool:
    """Whether ``uri`` is a tracking server's URL as ``trackingUri`` takes one."""
    return len(uri) <= MAX_URI_LENGTH and _URI.match(uri) is not None


class SecretRef(ApiModel):
    """A Secret in the session's namespace, by name."""

    name: str = Field(min_length=1, max_length=253, pattern=_SECRET_NAME)


class MlflowTracking(ApiModel):
    """An MLflow tracking server the session's runs are logged to."""

    tracking_uri: str = Field(
        min_length=1,
        max_length=MAX_URI_LENGTH,
        description="The MLflow tracking server, an http(s) URL without credentials.",
    )
    experiment: str = Field(
        default=DEFAULT_EXPERIMENT,
        min_length=1,
        max_length=500,
        pattern=r"^[^\x00-\x1f\x7f]+$",
        description="The experiment the session's parent run goes to (created if missing).",
    )
    run_wait_seconds: float = Field(
        default=DEFAULT_RUN_WAIT_SECONDS,
        ge=0,
        le=60,
        description="How long a Job's start waits, at most, for its trials' runs (none while the"
        " server is known to be down; a trial that starts without one gets it later).",
    )
    secret_ref: SecretRef | None = Field(
        default=None,
        description="On a cluster: a Secret whose MLFLOW_TRACKING_USERNAME, _PASSWORD or _TOKEN"
        " keys the trials get as environment variables.",
    )

    @field_validator("tracking_uri")
    @classmethod
    def _uri(cls, value: str) -> str:
        # Credentials belong in the Secret: a URL with them would show in every trial's env.
        if not tracking_uri_ok(value):
            raise ValueError("must be an http:// or https:// URL without user or password")
        return value


class Tracking(ApiModel):
    """Where the session's trials are tracked, besides tuneop's own results."""

    mlflow: MlflowTracking | None = Field(
        default=None, description="An MLflow tracking server (the extra tuneop[mlflow])."
    )
