"""The connection to the Kubernetes API server, and what its errors mean.

The operator builds one ``ApiClient`` at startup (from ``--kubeconfig``, the
in-cluster service account, or the default kubeconfig, in that order) and
hands the same ``Kube`` bundle to every adapter: one connection pool, one
write limiter. Every call carries a timeout, so a reconcile running in a
worker thread cannot hang forever on a dead connection.

Errors are sorted by what the caller should do about them:

- ``TransientError`` (from ``tuneop.ports``, like the others): try again on a later
  reconcile: 5xx, 429, timeouts, connection failures, 401/403 (credentials
  refresh, RBAC being fixed, a ResourceQuota that frees up);
- ``Rejected``: the API server refused the request itself (400, 422);
  repeating the same request cannot succeed;
- ``SessionGone``: the TuningSession was deleted; nothing is left to do.

404 and 409 mean different things per call (a 409 on create is success, a 409
on the status write is a ``Conflict``), so callers check them first with
``status_code``. Every error is counted in ``tuneop_api_errors_total``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any, NoReturn

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from tuneop.adapters.kube.metrics import API_ERRORS
from tuneop.adapters.kube.ratelimit import TokenBucket
from tuneop.ports import Rejected, TransientError

__all__ = [
    "CONNECTION_POOL_SIZE",
    "REQUEST_TIMEOUT",
    "Kube",
    "api_error",
    "body_json",
    "connect",
    "counted",
    "load_configuration",
    "raise_api_error",
    "serves",
    "status_code",
]

# (connect, read) seconds for each API call.
REQUEST_TIMEOUT = (5.0, 30.0)
# Reconciles of different sessions run in parallel threads over one pool.
CONNECTION_POOL_SIZE = 32


def load_configuration(kubeconfig: str | None = None) -> client.Configuration:
    """Client settings from ``kubeconfig``, else in-cluster, else the default kubeconfig.

    In a pod whose service-account token is not mounted, in-cluster loading fails and
    the default kubeconfig (``$KUBECONFIG``) is used instead.
    """
    cfg = client.Configuration()
    if kubeconfig:
        config.load_kube_config(config_file=kubeconfig, client_configuration=cfg)
    elif os.environ.get("KUBERNETES_SERVICE_HOST"):
        try:
            config.load_incluster_config(client_configuration=cfg)
        except config.ConfigException:
            # In a pod without a mounted token (automountServiceAccountToken off, or a
            # platform that hands the identity over as $KUBECONFIG): as kopf does, fall
            # back to the kubeconfig instead of failing at startup.
            config.load_kube_config(client_configuration=cfg)
    else:
        config.load_kube_config(client_configuration=cfg)
    cfg.connection_pool_maxsize = CONNECTION_POOL_SIZE
    return cfg


@dataclass
class Kube:
    """The API groups tuneop uses, over one ApiClient, and the limiter all writes go through."""

    api: Any  # kubernetes.client.ApiClient (None in unit tests that pass fake groups)
    limiter: TokenBucket
    batch: Any = None
    core: Any = None
    custom: Any = None

    def __post_init__(self) -> None:
        # Tests pass fakes for the groups; production builds them over the one ApiClient.
        self.batch = self.batch or client.BatchV1Api(self.api)
        self.core = self.core or client.CoreV1Api(self.api)
        self.custom = self.custom or client.CustomObjectsApi(self.api)

    def write(self) -> None:
        """Wait for the rate limiter before an API write."""
        self.limiter.acquire()

    def close(self) -> None:
        if self.api is not None:
            self.api.close()


def connect(kubeconfig: str | None, qps: float, burst: int) -> Kube:
    """A ``Kube`` over a new ApiClient from ``kubeconfig`` (else in-cluster, else the
    default kubeconfig), its writes limited to ``qps`` with bursts of ``burst``."""
    return Kube(client.ApiClient(load_configuration(kubeconfig)), TokenBucket(qps=qps, burst=burst))


def serves(kube: Kube, group: str, version: str, plural: str) -> bool:
    """Whether the API server answers and serves ``plural`` in ``group/version`` (its
    discovery document, which every authenticated client may read)."""
    try:
        resp = kube.custom.get_api_resources(
            group, version, _preload_content=False, _request_timeout=REQUEST_TIMEOUT
        )
        resources = body_json(resp).get("resources") or []
    except Exception:  # down, not yet serving the group, or an answer that is no JSON
        return False
    return any(isinstance(r, dict) and r.get("name") == plural for r in resources)


def status_code(err: BaseException) -> int | None:
    return err.status if isinstance(err, ApiException) else None


def body_json(response: Any) -> Any:
    """The JSON of a ``_preload_content=False`` response (skips the client's slow models)."""
    return json.loads(response.data)


def api_error(operation: str, err: BaseException) -> BaseException:
    """Count ``err`` and turn it into the exception the reconciler understands."""
    code = status_code(err)
    API_ERRORS.labels(operation=operation, code=str(code or "none")).inc()
    reason = _reason(err)
    if code in {400, 422}:
        return Rejected(f"{operation}: rejected by the API server ({code}): {reason}")
    if isinstance(err, ApiException | HTTPError | OSError | TimeoutError):
        return TransientError(f"{operation}: {code or type(err).__name__}: {reason}")
    return err


def raise_api_error(operation: str, err: BaseException) -> NoReturn:
    """Raise what ``api_error`` maps ``err`` to (``err`` itself when it is no API error)."""
    mapped = api_error(operation, err)
    if mapped is err:
        raise err
    raise mapped from err


def _reason(err: BaseException) -> str:
    if isinstance(err, ApiException):
        try:
            message = json.loads(err.body or "{}").get("message")
        except (ValueError, AttributeError):
            message = None
        return str(message or err.reason or "")[:300]
    return str(err)[:300]


def counted(operation: str, err: BaseException) -> None:
    """Count an error the caller handles itself (a 409 conflict on the status write)."""
    API_ERRORS.labels(operation=operation, code=str(status_code(err) or "none")).inc()
