"""Who asked the API server for what: the apiserver's audit log, on and parsed.

``AuditedControlPlane`` is the harness's control plane with the apiserver writing an audit
log (JSON lines, Metadata level, every user, one record per request once it is answered).
``AuditLog`` reads that file incrementally into ``Request`` records, each request once (by
auditID), with the client classified by a function of its user name (``who``), so that a
benchmark can count what each client did in a time window.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from minicluster.controlplane import Component, ControlPlane

AUDIT_POLICY = """\
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
- level: Metadata
"""


class AuditedControlPlane(ControlPlane):
    """The harness's control plane, with the apiserver's audit log on (``audit_log``)."""

    @property
    def audit_log(self) -> Path:
        return self.logs_dir / "audit.log"

    def _spawn(self, name: str, argv: list[str]) -> Component:
        if name == "kube-apiserver":
            policy = self.state_dir / "audit-policy.yaml"
            policy.write_text(AUDIT_POLICY)
            argv = [
                *argv,
                f"--audit-policy-file={policy}",
                f"--audit-log-path={self.audit_log}",
                "--audit-log-format=json",
                "--audit-log-maxsize=0",
            ]
        return super()._spawn(name, argv)


@dataclass(frozen=True)
class Request:
    """One API request, from the audit log."""

    when: float  # requestReceivedTimestamp, seconds since the epoch
    user: str
    who: str  # the client, as the log's classifier names the user
    verb: str
    resource: str
    subresource: str
    namespace: str
    name: str
    code: int

    @property
    def kind(self) -> str:
        sub = f"/{self.subresource}" if self.subresource else ""
        return f"{self.verb} {self.resource}{sub}"


def _epoch(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


class AuditLog:
    """The audit log, read incrementally; each request once (by auditID)."""

    def __init__(self, path: Path, classify: Callable[[str], str] = str) -> None:
        self.path = path
        self.classify = classify
        self.offset = 0
        self.partial = b""
        self.seen: set[str] = set()
        self.requests: list[Request] = []
        self.lock = threading.Lock()

    def refresh(self) -> list[Request]:
        """Read what was appended since the last call; every request so far."""
        with self.lock:
            try:
                with self.path.open("rb") as handle:
                    handle.seek(self.offset)
                    data = handle.read()
            except FileNotFoundError:
                return self.requests
            self.offset += len(data)
            lines = (self.partial + data).split(b"\n")
            self.partial = lines.pop()  # a line still being written
            for line in lines:
                if line.strip():
                    self._take(json.loads(line))
            return self.requests

    def _take(self, event: dict[str, Any]) -> None:
        audit_id = event.get("auditID", "")
        if audit_id in self.seen:
            return
        self.seen.add(audit_id)
        ref = event.get("objectRef") or {}
        user = (event.get("user") or {}).get("username", "")
        self.requests.append(
            Request(
                when=_epoch(event["requestReceivedTimestamp"]),
                user=user,
                who=self.classify(user),
                verb=event.get("verb", ""),
                resource=ref.get("resource", "") or event.get("requestURI", ""),
                subresource=ref.get("subresource", ""),
                namespace=ref.get("namespace", ""),
                name=ref.get("name", ""),
                code=int((event.get("responseStatus") or {}).get("code") or 0),
            )
        )

    def window(
        self, start: float, end: float, who: str | None = None, namespace: str | None = None
    ) -> list[Request]:
        """The requests received from ``start`` to ``end`` (epoch seconds), optionally of one
        client and one namespace."""
        return [
            r
            for r in self.refresh()
            if start <= r.when <= end
            and (who is None or r.who == who)
            and (namespace is None or r.namespace == namespace)
        ]


def breakdown(requests: Iterable[Request]) -> dict[str, int]:
    """Requests counted by kind ("verb resource/subresource"), most frequent first."""
    out: dict[str, int] = {}
    for r in requests:
        out[r.kind] = out.get(r.kind, 0) + 1
    return dict(sorted(out.items(), key=lambda kv: (-kv[1], kv[0])))
