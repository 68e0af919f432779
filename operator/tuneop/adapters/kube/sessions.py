"""TuningSessions as the command line drives them: server-side apply, read, suspend.

``tuneop run FILE`` (without ``--local``) applies the session with
server-side apply under a field manager of its own (``--dry-run``: the API
server's dry run), follows it by reading it, and on Ctrl-C with
``--cancel-on-interrupt`` suspends it: ``spec.suspend: true`` applied by a
second field manager, so the first keeps owning the rest of the spec. Every
call goes through ``Kube.request`` (bounded answers, timeouts, the write
limiter, domain errors); a session that is not there is ``SessionGone``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tuneop.adapters.kube import paths
from tuneop.adapters.kube.transport import APPLY_PATCH, Kube
from tuneop.api.session import SessionRef
from tuneop.api.spec import API_GROUP, API_VERSION, KIND
from tuneop.ports import SessionGone, TransientError

__all__ = ["SessionClient"]


def _object(body: Any, what: str) -> dict[str, Any]:
    """The session the API server answered with; an answer that is not one (no object, or
    its metadata no object) is refused here rather than where it is read."""
    if not isinstance(body, dict) or not isinstance(body.get("metadata", {}), dict):
        raise TransientError(f"{what}: the API server's answer is no TuningSession")
    return body


@dataclass
class SessionClient:
    """The ``ClusterSessions`` port over one ``Kube``."""

    kube: Kube

    def apply(
        self, manifest: Mapping[str, Any], *, manager: str, dry_run: bool = False
    ) -> dict[str, Any]:
        """Server-side apply of ``manifest`` (forcing its fields to ``manager``); the object
        the API server answers with."""
        meta = manifest.get("metadata") or {}
        query = [("fieldManager", manager), ("force", "true")]
        if dry_run:
            query.append(("dryRun", "All"))
        path = paths.session(str(meta.get("namespace") or ""), str(meta.get("name") or ""))
        # The body goes as JSON, which is YAML: the API server takes it as an apply patch.
        reply = self.kube.request(
            "apply_session", "PATCH", path, dict(manifest), query=query, content_type=APPLY_PATCH
        )
        return _object(reply.body, "apply_session")

    def read(self, ref: SessionRef) -> dict[str, Any]:
        reply = self.kube.request(
            "read_session", "GET", paths.session(ref.namespace, ref.name), expect=(404,)
        )
        if reply.status == 404:
            raise SessionGone(f"TuningSession {ref.key} is gone")
        return _object(reply.body, "read_session")

    def suspend(self, ref: SessionRef, *, manager: str) -> None:
        """``spec.suspend: true`` and nothing else, owned by ``manager``."""
        body = {
            "apiVersion": f"{API_GROUP}/{API_VERSION}",
            "kind": KIND,
            "metadata": {"name": ref.name, "namespace": ref.namespace},
            "spec": {"suspend": True},
        }
        self.apply(body, manager=manager)

    def close(self) -> None:
        self.kube.close()
