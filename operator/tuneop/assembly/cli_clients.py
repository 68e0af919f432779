"""The command line's clients: the adapters behind its cluster calls and its Redis reads.

The command line imports these factories and the ports (``ClusterSessions``,
``ResultsReader``), never an adapter: which client talks to a cluster or to
Redis is decided here. Each factory imports its adapter when called, so
``tuneop --help`` loads neither ``kubernetes`` nor ``redis``.
"""

from __future__ import annotations

from tuneop.ports import ClusterSessions, ConfigMaps, ResultsReader

__all__ = ["cluster_config_maps", "cluster_sessions", "redis_results"]


def cluster_sessions(kubeconfig: str | None) -> ClusterSessions:
    """TuningSessions on the cluster of ``kubeconfig`` (else in-cluster, else the default
    kubeconfig). A kubeconfig that cannot be loaded raises what the client raised."""
    from tuneop.adapters.kube.client import connect
    from tuneop.adapters.kube.sessions import SessionClient

    return SessionClient(connect(kubeconfig))


def cluster_config_maps(kubeconfig: str | None) -> ConfigMaps:
    """ConfigMaps on the cluster of ``kubeconfig``, as ``cluster_sessions`` connects."""
    from tuneop.adapters.kube.client import connect
    from tuneop.adapters.kube.configmaps import ConfigMapClient

    return ConfigMapClient(connect(kubeconfig))


def redis_results(url: str, prefix: str, timeout: float) -> ResultsReader:
    """The session mirror in the Redis at ``url`` under ``prefix``, each request waiting at
    most ``timeout`` seconds; ``ValueError`` when ``url`` is no Redis URL."""
    from tuneop.adapters.redis_mirror.reader import open_reader

    return open_reader(url, prefix, timeout)
