"""The chart's ``mlflow`` values: the operator's default server, its credentials, its client's
retries, as the operator container's environment (docs/mlflow.md)."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from test_helm_chart import CHART, run_helm


def operator_env(*values: str) -> dict[str, Any]:
    out = run_helm("template", "tuneop", str(CHART), "-n", "tuneop-system", *values)
    assert out.returncode == 0, out.stderr
    docs = [d for d in yaml.safe_load_all(out.stdout) if d]
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


def test_by_default_no_server_is_named_and_the_client_does_not_retry_on_its_own() -> None:
    env = operator_env()
    assert "TUNEOP_MLFLOW_TRACKING_URI" not in env
    assert env["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] == "0"
    assert "MLFLOW_TRACKING_TOKEN" not in env


def test_a_default_server_and_a_credentials_secret_reach_the_operator() -> None:
    env = operator_env(
        "--set",
        "mlflow.trackingUri=http://mlflow.mlflow:5000",
        "--set",
        "mlflow.credentialsSecret=mlflow-creds",
    )
    assert env["TUNEOP_MLFLOW_TRACKING_URI"] == "http://mlflow.mlflow:5000"
    for key in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_TOKEN"):
        ref = env[key]["secretKeyRef"]
        assert ref == {"name": "mlflow-creds", "key": key, "optional": True}


@pytest.mark.parametrize("uri", ["ftp://x", "http://user:pw@host:5000"])
def test_a_tracking_uri_that_is_not_a_plain_http_url_is_refused(uri: str) -> None:
    out = run_helm("template", "tuneop", str(CHART), "--set", f"mlflow.trackingUri={uri}")
    assert out.returncode != 0 and "trackingUri" in out.stderr
