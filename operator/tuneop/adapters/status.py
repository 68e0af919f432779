"""Where the session's status lives: the ``StatusStore`` protocol and its fake.

``read`` returns the status with a version token; ``write`` succeeds only if
the version is unchanged (the Kubernetes adapter sends it as the object's
resourceVersion) and raises ``Conflict`` otherwise, so a reconcile that read
stale state re-observes instead of overwriting a newer status.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from tuneop.core.observed import SessionRef
from tuneop.core.planner import Event
from tuneop.core.status import SessionStatus


class Conflict(Exception):
    """The status changed since it was read."""


class StatusStore(Protocol):
    def read(self, ref: SessionRef) -> tuple[SessionStatus, str | None]: ...

    def write(self, ref: SessionRef, status: SessionStatus, version: str | None) -> None: ...


class EventSink(Protocol):
    def emit(self, ref: SessionRef, events: Sequence[Event]) -> None: ...


@dataclass
class MemoryStatus:
    status: SessionStatus = field(default_factory=SessionStatus)
    version: int = 0
    writes: int = 0

    def read(self, ref: SessionRef) -> tuple[SessionStatus, str | None]:
        return self.status, str(self.version)

    def write(self, ref: SessionRef, status: SessionStatus, version: str | None) -> None:
        if version is not None and version != str(self.version):
            raise Conflict(f"status of {ref.key} changed (version {self.version})")
        self.status = status
        self.version += 1
        self.writes += 1


@dataclass
class MemoryEvents:
    events: list[Event] = field(default_factory=list)

    def emit(self, ref: SessionRef, events: Sequence[Event]) -> None:
        self.events.extend(events)
