"""The one way to the Kubernetes API server: ``Kube.request``.

Every adapter of ``tuneop.adapters.kube`` (Jobs, pods and their logs, the
session's status, Events, the best ConfigMap, discovery, and the command
line's server-side apply) makes its calls through ``Kube.request``, which

- waits for the write limiter (``ratelimit.TokenBucket``) before a write
  (POST, PUT, PATCH, DELETE);
- gives every call a (connect, read) timeout, so a reconcile running in a
  worker thread cannot hang forever on a dead connection;
- reads the answer's body bounded (``MAX_RESPONSE_BYTES``): what the API
  server answers is untrusted, and a body past the cap is refused before it is
  parsed, not held whole in memory; a body that is no JSON is refused too;
- turns a failure into the domain error that says what to do about it
  (``tuneop.ports``): ``Rejected`` when the API server refused the request
  itself (400, 422: repeating it cannot succeed), ``TransientError`` for the
  rest (5xx, 429, 401/403 while credentials refresh or RBAC is being fixed,
  404/409 where the caller did not expect them, timeouts, connection
  failures, an oversized or garbled answer); and counts each in
  ``tuneop_api_errors_total``.

A status the caller handles itself (404 is "gone" for a read and success for
a delete; 409 on a create is success) is named in ``expect``: it comes back as
a ``Reply`` and is not counted. ``read`` replaces the JSON decode for an
answer that is streamed (a container's log): it gets the body as chunks and
its result is the reply's body; the connection is released either way.

Underneath, a ``Sender`` makes the HTTP request: in production the
``kubernetes`` client's ``ApiClient.call_api`` (``client.ApiClientSender``:
its connection pool, TLS and credentials from the kubeconfig or the pod's
service account); in tests, a handler of ``(method, path, body)`` (as httpx's
``MockTransport``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from tuneop.adapters.kube.metrics import API_ERRORS
from tuneop.adapters.kube.ratelimit import TokenBucket
from tuneop.ports import Rejected, TransientError

__all__ = [
    "APPLY_PATCH",
    "JSON",
    "MAX_REASON_BYTES",
    "MAX_RESPONSE_BYTES",
    "MERGE_PATCH",
    "REQUEST_TIMEOUT",
    "WRITES",
    "Answer",
    "FailedCall",
    "Kube",
    "RefusedCall",
    "Reply",
    "Request",
    "Sender",
    "TooLarge",
    "read_capped",
    "read_json",
]

# (connect, read) seconds for each API call.
REQUEST_TIMEOUT = (5.0, 30.0)
# The largest answer decoded as JSON. A session's Job or pod listing is the largest answer
# tuneop asks for (a few KiB a Job, thousands of Jobs at most); more is no answer of ours.
MAX_RESPONSE_BYTES = 64 * 1024 * 1024
# Of an error's body, only the server's message is kept: this much is read of it.
MAX_REASON_BYTES = 64 * 1024
WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
JSON = "application/json"
MERGE_PATCH = "application/merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"


@dataclass(frozen=True)
class Request:
    """One call to the API server, as a ``Sender`` gets it."""

    method: str
    path: str
    query: tuple[tuple[str, str], ...] = ()
    body: Any = None
    content_type: str = JSON
    timeout: tuple[float, float] = REQUEST_TIMEOUT


def _nothing() -> None:
    return None


@dataclass
class Answer:
    """What a ``Sender`` got back: the status and the body, still to be read in chunks.

    ``release`` hands the connection back to the pool; ``Kube.request`` calls it once the
    body is read (or left unread)."""

    status: int
    chunks: Iterable[bytes] = ()
    reason: str = ""
    release: Callable[[], None] = _nothing


# Makes the HTTP request; raises only for a request that got no answer (connect, TLS,
# timeout: ``OSError``, ``TimeoutError`` or urllib3's ``HTTPError``).
Sender = Callable[[Request], Answer]


@dataclass(frozen=True)
class Reply:
    """An answer the caller takes: a 2xx, or a status it named in ``expect`` (body None)."""

    status: int
    body: Any = None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


class TooLarge(ValueError):
    """An answer past its cap."""


class RefusedCall(Rejected):
    """The API server refused the request itself: its HTTP ``status`` and its ``reason``."""

    def __init__(self, operation: str, status: int, reason: str) -> None:
        super().__init__(f"{operation}: rejected by the API server ({status}): {reason}")
        self.status = status
        self.reason = reason


class FailedCall(TransientError):
    """A call that failed for now: its HTTP ``status`` (None: no answer) and ``reason``."""

    def __init__(self, operation: str, status: int | None, reason: str) -> None:
        super().__init__(f"{operation}: {status}: {reason}" if status else f"{operation}: {reason}")
        self.status = status
        self.reason = reason


def read_capped(chunks: Iterable[bytes], limit: int) -> bytes:
    """The body, or ``TooLarge`` as soon as it passes ``limit`` bytes (never more is kept)."""
    parts: list[bytes] = []
    size = 0
    for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise TooLarge(f"answer larger than {limit} bytes")
        parts.append(chunk)
    return b"".join(parts)


def read_json(chunks: Iterable[bytes], limit: int = MAX_RESPONSE_BYTES) -> Any:
    """The body's JSON, read within ``limit`` bytes (``TooLarge``; ``ValueError``: no JSON)."""
    data = read_capped(chunks, limit)
    try:
        return json.loads(data) if data.strip() else None
    except RecursionError as err:
        raise ValueError("answer nested too deeply") from err


def _message(answer: Answer) -> str:
    """The server's own message of an error answer (its ``Status.message``), else the
    HTTP reason; at most 300 characters."""
    try:
        doc = json.loads(read_capped(answer.chunks, MAX_REASON_BYTES))
        message = doc.get("message") if isinstance(doc, dict) else None
    except Exception:  # no JSON, or the connection broke while it was read: the status says enough
        message = None
    return str(message or answer.reason or "")[:300]


def _what(err: BaseException) -> str:
    return f"{type(err).__name__}: {err}"[:300]


def _connection_errors() -> tuple[type[BaseException], ...]:
    """What a request that got no answer raises (urllib3 is the kubernetes client's own)."""
    try:
        from urllib3.exceptions import HTTPError
    except ImportError:  # pragma: no cover - urllib3 comes with the kubernetes client
        return (OSError, TimeoutError)
    return (OSError, TimeoutError, HTTPError)


@dataclass
class Kube:
    """The API server for tuneop's adapters: one ``Sender``, one write limiter."""

    send: Sender
    limiter: TokenBucket = field(default_factory=TokenBucket)
    max_response_bytes: int = MAX_RESPONSE_BYTES
    # The kubernetes client's settings, for kopf's own login (None in tests).
    configuration: Any = None
    closer: Callable[[], None] = _nothing

    def request(
        self,
        operation: str,
        method: str,
        path: str,
        body: Any = None,
        *,
        query: Sequence[tuple[str, str]] = (),
        content_type: str = JSON,
        expect: Collection[int] = (),
        read: Callable[[Iterable[bytes]], Any] | None = None,
        timeout: tuple[float, float] = REQUEST_TIMEOUT,
    ) -> Reply:
        """Make one call; ``operation`` names it in errors and in the error counter.

        A 2xx comes back with its body decoded (``read``, else bounded JSON); a status in
        ``expect`` comes back with no body; anything else raises ``Rejected`` or
        ``TransientError``."""
        if method in WRITES:
            self.limiter.acquire()
        request = Request(method, path, tuple(query), body, content_type, timeout)
        failures = _connection_errors()
        try:
            answer = self.send(request)
        except failures as err:
            raise self._failed(operation, None, _what(err)) from err
        try:
            if answer.status in expect and not 200 <= answer.status < 300:
                return Reply(answer.status)
            if not 200 <= answer.status < 300:
                raise self._failed(operation, answer.status, _message(answer))
            try:
                decoded = (read or self._json)(answer.chunks)
            except TooLarge as err:
                raise self._failed(operation, None, str(err), "oversize") from err
            except failures as err:  # the connection broke while the body was read
                raise self._failed(operation, None, _what(err)) from err
            except ValueError as err:
                what = "is no JSON" if read is None else "cannot be read"
                reason = f"the answer {what}: {err}"[:300]
                raise self._failed(operation, None, reason, "garbled") from err
            return Reply(answer.status, decoded)
        finally:
            answer.release()

    def _json(self, chunks: Iterable[bytes]) -> Any:
        return read_json(chunks, self.max_response_bytes)

    def count(self, operation: str, code: int | str | None) -> None:
        """Count an error the caller handles itself (a 409 on the status write)."""
        API_ERRORS.labels(operation=operation, code=str(code or "none")).inc()

    def _failed(
        self, operation: str, status: int | None, reason: str, label: str | None = None
    ) -> Exception:
        """The domain error for a failed call, counted (``label`` names a failure that
        is no HTTP status: an oversized or garbled answer)."""
        self.count(operation, label or status)
        if status in {400, 422}:
            return RefusedCall(operation, status, reason)
        return FailedCall(operation, status, reason)

    def close(self) -> None:
        self.closer()
