"""The API paths of the objects tuneop reads and writes, each name quoted as a path segment.

The names come from specs and from the API server's own answers; quoting them
keeps a name from reaching another path than its object's.
"""

from __future__ import annotations

from urllib.parse import quote

from tuneop.api.spec import API_GROUP, API_VERSION, PLURAL

__all__ = ["config_maps", "events", "jobs", "pod_log", "pods", "session", "session_status"]


def _seg(name: str) -> str:
    return quote(name, safe="")


def _named(collection: str, name: str | None) -> str:
    return collection if name is None else f"{collection}/{_seg(name)}"


def jobs(namespace: str, name: str | None = None) -> str:
    return _named(f"/apis/batch/v1/namespaces/{_seg(namespace)}/jobs", name)


def pods(namespace: str) -> str:
    return f"/api/v1/namespaces/{_seg(namespace)}/pods"


def pod_log(namespace: str, name: str) -> str:
    return f"{pods(namespace)}/{_seg(name)}/log"


def events(namespace: str) -> str:
    return f"/api/v1/namespaces/{_seg(namespace)}/events"


def config_maps(namespace: str, name: str | None = None) -> str:
    return _named(f"/api/v1/namespaces/{_seg(namespace)}/configmaps", name)


def session(namespace: str, name: str) -> str:
    """A TuningSession."""
    return f"/apis/{API_GROUP}/{API_VERSION}/namespaces/{_seg(namespace)}/{PLURAL}/{_seg(name)}"


def session_status(namespace: str, name: str) -> str:
    """A TuningSession's status subresource."""
    return f"{session(namespace, name)}/status"
