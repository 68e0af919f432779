"""The connection to the Kubernetes API server: the ``kubernetes`` client underneath ``Kube``.

The operator (and the command line, for a cluster run) builds one ``ApiClient``
(from ``--kubeconfig``, the in-cluster service account, or the default
kubeconfig, in that order) and hands the same ``Kube`` (``transport``) to every
adapter: one connection pool, one write limiter. ``ApiClientSender`` is the
``Sender`` that makes each request through the client's ``call_api``, with its
TLS settings and credentials (a token an exec plugin refreshes included), and
hands the body back unread: ``Kube.request`` reads it bounded, decodes it and
maps errors (``tuneop.adapters.kube.transport``). The generated API classes and
their models are not used: they read every answer whole and slowly.

The client is imported without ``kubernetes_validate``: ``kubernetes.dynamic`` (which
``import kubernetes`` always loads, and tuneop never uses) imports it, and jsonschema
with it, whenever it is installed, as tuneop's development environment has it. An
operator started there would pay for it at every start, the image never does.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from tuneop.adapters.kube.ratelimit import TokenBucket
from tuneop.adapters.kube.transport import Answer, Kube, Request
from tuneop.core.imports import without

with without("kubernetes_validate"):
    from kubernetes import client, config
    from kubernetes.client.exceptions import ApiException

__all__ = [
    "CONNECTION_POOL_SIZE",
    "STREAM_CHUNK_BYTES",
    "ApiClientSender",
    "connect",
    "load_configuration",
    "serves",
]

# Reconciles of different sessions run in parallel threads over one pool.
CONNECTION_POOL_SIZE = 32
# Each answer is read in chunks of this size (a log is streamed through them).
STREAM_CHUNK_BYTES = 256 * 1024


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
class ApiClientSender:
    """A ``Sender`` over the ``kubernetes`` client's ``ApiClient``."""

    api: Any  # kubernetes.client.ApiClient

    def __call__(self, request: Request) -> Answer:
        headers = {"Accept": "application/json", "Content-Type": request.content_type}
        try:
            resp = self.api.call_api(
                request.path,
                request.method,
                query_params=list(request.query),
                header_params=headers,
                body=request.body,
                auth_settings=["BearerToken"],
                _return_http_data_only=True,
                _preload_content=False,
                _request_timeout=request.timeout,
            )
        except ApiException as err:
            if not err.status:  # no answer (the client wraps a TLS failure so)
                raise ConnectionError(str(err.reason)[:300]) from err
            # The client has read the error's body itself (a Status object of the server).
            data = err.body if isinstance(err.body, bytes) else str(err.body or "").encode()
            return Answer(err.status, (data,), str(err.reason or ""))
        # A connection handed back with its answer unread to the end (one past its cap) is
        # not reused: urllib3 drops a pooled connection that has data waiting to be read.
        return Answer(
            resp.status, resp.stream(STREAM_CHUNK_BYTES), str(resp.reason or ""), resp.release_conn
        )


def connect(kubeconfig: str | None = None, limiter: TokenBucket | None = None) -> Kube:
    """A ``Kube`` over a new ``ApiClient`` (see ``load_configuration`` for which settings)."""
    cfg = load_configuration(kubeconfig)
    api = client.ApiClient(cfg)
    return Kube(
        send=ApiClientSender(api),
        limiter=limiter or TokenBucket(),
        configuration=cfg,
        closer=api.close,
    )


def serves(kube: Kube, group: str, version: str, plural: str) -> bool:
    """Whether the API server answers and serves ``plural`` in ``group/version`` (its
    discovery document, which every authenticated client may read)."""
    path = f"/apis/{group}/{version}" if group else f"/api/{version}"
    try:
        doc = kube.request("discovery", "GET", path).body
    except Exception:  # down, not yet serving the group, or an answer that is no JSON
        return False
    resources = (doc.get("resources") if isinstance(doc, dict) else None) or []
    return any(isinstance(r, dict) and r.get("name") == plural for r in resources)
