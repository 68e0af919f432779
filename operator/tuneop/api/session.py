"""A TuningSession manifest: identity plus validated spec.

``parse_manifest`` checks the envelope (apiVersion, kind, metadata.name) and
the spec, and raises ``SpecError`` naming the field for anything wrong. It is
what ``tuneop plan`` and ``tuneop run`` use on files, and what the operator's
handlers use on the objects the API server sends.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from tuneop.api.spec import API_GROUP, API_VERSION, KIND, SessionSpec, SpecError, parse_spec
from tuneop.api.status import SessionStatus, StatusUnreadable, status_from_wire

__all__ = ["DNS_LABEL", "DNS_SUBDOMAIN", "Session", "SessionRef", "parse_manifest"]


@dataclass(frozen=True)
class SessionRef:
    namespace: str
    name: str
    uid: str = ""
    generation: int = 1

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
# A namespace is a DNS label (RFC 1123): what the API server accepts, and safe to print
# and to use in a Redis key or a results folder path.
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


@dataclass(frozen=True)
class Session:
    ref: SessionRef
    spec: SessionSpec
    status: SessionStatus


def _kind_problems(doc: dict[str, Any]) -> list[str]:
    problems = []
    api_version = doc.get("apiVersion")
    if api_version != f"{API_GROUP}/{API_VERSION}":
        problems.append(f"apiVersion: must be {API_GROUP}/{API_VERSION}, not {api_version!r}")
    if doc.get("kind") != KIND:
        problems.append(f"kind: must be {KIND}, not {doc.get('kind')!r}")
    return problems


def _identity(meta: Any, default_namespace: str, problems: list[str]) -> tuple[Any, Any, Any]:
    """The name, namespace and generation in ``metadata``, each problem appended."""
    name = meta.get("name") if isinstance(meta, dict) else None
    if not isinstance(name, str) or not DNS_SUBDOMAIN.match(name) or len(name) > 253:
        problems.append("metadata.name: required, a DNS subdomain (lowercase, digits, '-', '.')")
    namespace = meta.get("namespace") if isinstance(meta, dict) else None
    namespace = namespace or default_namespace
    if not isinstance(namespace, str) or not DNS_LABEL.match(namespace) or len(namespace) > 63:
        problems.append("metadata.namespace: a DNS label (lowercase, digits, '-'; at most 63)")
    generation = meta.get("generation", 1) if isinstance(meta, dict) else 1
    if isinstance(generation, bool) or not isinstance(generation, int) or generation < 0:
        problems.append("metadata.generation: must be a whole number >= 0")
    return name, namespace, generation


def parse_manifest(
    doc: Any, default_namespace: str = "default", with_status: bool = True
) -> Session:
    """The session a manifest describes; ``SpecError`` names every problem.

    ``with_status=False`` leaves a stored status unread (a fresh one stands in): the
    operator reads the status through its status store, which reports an unreadable
    one on the session instead of failing its spec.
    """
    if not isinstance(doc, dict):
        raise SpecError(["manifest: must be a mapping"])
    problems = _kind_problems(doc)
    meta = doc.get("metadata") or {}
    name, namespace, generation = _identity(meta, default_namespace, problems)
    spec = None
    try:
        spec = parse_spec(doc.get("spec"))
    except SpecError as err:
        problems.extend(err.problems)
    if problems or spec is None:
        raise SpecError(problems)
    assert isinstance(meta, dict) and isinstance(name, str)
    ref = SessionRef(
        namespace=str(namespace),
        name=name,
        uid=str(meta.get("uid") or ""),
        generation=int(generation) or 1,
    )
    if not with_status:
        return Session(ref=ref, spec=spec, status=SessionStatus())
    try:
        status = status_from_wire(doc.get("status"))
    except StatusUnreadable as err:
        raise SpecError([str(err)]) from None
    return Session(ref=ref, spec=spec, status=status)
