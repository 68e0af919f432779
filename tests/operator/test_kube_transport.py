"""``Kube.request``: the one transport every Kubernetes adapter calls.

The sender is a scripted stand-in here (a handler of the request, as httpx's
MockTransport); ``ApiClientSender`` is driven against a real HTTP server on a
loopback port, and the e2e tier runs it against a real kube-apiserver.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from urllib3.exceptions import ProtocolError, ReadTimeoutError

from tuneop.adapters.kube.client import ApiClientSender, serves
from tuneop.adapters.kube.metrics import API_ERRORS
from tuneop.adapters.kube.ratelimit import TokenBucket
from tuneop.adapters.kube.transport import (
    REQUEST_TIMEOUT,
    Answer,
    Kube,
    Request,
    read_json,
)
from tuneop.ports import Rejected, TransientError


class Scripted:
    """A sender answering every request with one status and body; records what it saw."""

    def __init__(self, status: int = 200, body: Any = None, chunk: int = 1024) -> None:
        data = body if isinstance(body, bytes) else json.dumps(body or {}).encode()
        self.status, self.data, self.chunk = status, data, chunk
        self.seen: list[Request] = []
        self.released = 0
        self.read_bytes = 0

    def _chunks(self) -> Iterator[bytes]:
        for start in range(0, len(self.data), self.chunk):
            part = self.data[start : start + self.chunk]
            self.read_bytes += len(part)
            yield part

    def __call__(self, request: Request) -> Answer:
        self.seen.append(request)
        return Answer(self.status, self._chunks(), "Reason", self._release)

    def _release(self) -> None:
        self.released += 1


def kube(sender: Any, **kw: Any) -> Kube:
    return Kube(send=sender, limiter=TokenBucket(qps=1e9, burst=1_000_000), **kw)


def errors(operation: str, code: str) -> float:
    return API_ERRORS.labels(operation=operation, code=code)._value.get()  # type: ignore[no-any-return]


def test_a_2xx_answer_is_its_json_with_the_timeout_and_query_sent() -> None:
    sender = Scripted(200, {"items": [1]})
    reply = kube(sender).request("op", "GET", "/api/v1/x", query=[("labelSelector", "a=b")])
    assert (reply.status, reply.body, reply.ok) == (200, {"items": [1]}, True)
    (request,) = sender.seen
    assert request.timeout == REQUEST_TIMEOUT and request.query == (("labelSelector", "a=b"),)
    assert sender.released == 1


def test_writes_wait_for_the_limiter_and_reads_do_not() -> None:
    waits: list[str] = []
    k = kube(Scripted())
    k.limiter.acquire = lambda: waits.append("w") or 0.0  # type: ignore[method-assign]
    for method in ("GET", "POST", "PUT", "PATCH", "DELETE", "GET"):
        k.request("op", method, "/p")
    assert len(waits) == 4


@pytest.mark.parametrize(
    ("status", "error"),
    [(400, Rejected), (422, Rejected), (401, TransientError), (403, TransientError),
     (404, TransientError), (409, TransientError), (429, TransientError),
     (500, TransientError), (503, TransientError)],
)  # fmt: skip
def test_statuses_map_to_what_the_caller_should_do(status: int, error: type[Exception]) -> None:
    sender = Scripted(status, {"kind": "Status", "message": "the server's own words"})
    before = errors("mapped", str(status))
    with pytest.raises(error, match="the server's own words") as raised:
        kube(sender).request("mapped", "GET", "/p")
    assert not (error is TransientError and isinstance(raised.value, Rejected))
    assert errors("mapped", str(status)) == before + 1
    assert sender.released == 1


def test_an_expected_status_comes_back_uncounted_and_unread() -> None:
    sender = Scripted(404, {"kind": "Status"})
    before = errors("expected", "404")
    reply = kube(sender).request("expected", "DELETE", "/p", expect=(404,))
    assert (reply.status, reply.body, reply.ok) == (404, None, False)
    assert errors("expected", "404") == before and sender.released == 1


def test_an_answer_past_the_cap_is_refused_without_reading_it_all() -> None:
    sender = Scripted(200, b'{"pad": "' + b"x" * 100_000 + b'"}', chunk=1000)
    before = errors("big", "oversize")
    with pytest.raises(TransientError, match="larger than 10000 bytes"):
        kube(sender, max_response_bytes=10_000).request("big", "GET", "/p")
    assert sender.read_bytes <= 11_000  # stopped at the cap, not at the end of the body
    assert errors("big", "oversize") == before + 1 and sender.released == 1


@pytest.mark.parametrize("body", [b"<html>proxy error</html>", b"[" * 100_000, b"\xff\xfe"])
def test_an_answer_that_is_no_json_is_a_transient_error(body: bytes) -> None:
    sender = Scripted(200, body)
    with pytest.raises(TransientError, match="no JSON"):
        kube(sender).request("garbled", "GET", "/p")
    assert sender.released == 1


@pytest.mark.parametrize(
    "failure",
    [
        ConnectionRefusedError("refused"),
        TimeoutError("timed out"),
        ReadTimeoutError(None, "/p", "Read timed out."),  # type: ignore[arg-type]
    ],
)
def test_no_answer_is_a_transient_error_counted_without_a_status(failure: Exception) -> None:
    def sender(request: Request) -> Answer:
        raise failure

    before = errors("gone", "none")
    with pytest.raises(TransientError, match=type(failure).__name__):
        kube(sender).request("gone", "GET", "/p")
    assert errors("gone", "none") == before + 1


def test_a_connection_broken_mid_body_is_transient_and_released() -> None:
    released: list[bool] = []

    def chunks() -> Iterator[bytes]:
        yield b'{"items": ['
        raise ProtocolError("Connection broken: IncompleteRead")

    def sender(request: Request) -> Answer:
        return Answer(200, chunks(), release=lambda: released.append(True))

    with pytest.raises(TransientError, match="ProtocolError"):
        kube(sender).request("broken", "GET", "/p")
    assert released == [True]


def test_a_streamed_answer_goes_to_its_reader_and_the_connection_back() -> None:
    sender = Scripted(200, b"line 1\nline 2\n", chunk=4)
    reply = kube(sender).request("log", "GET", "/p", read=lambda c: b"".join(c).count(b"\n"))
    assert reply.body == 2 and sender.released == 1


def test_read_json_of_an_empty_body_is_none() -> None:
    assert read_json([b"  "]) is None and read_json([b'{"a"', b": 1}"]) == {"a": 1}


# --- ApiClientSender over a real HTTP server ------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: connections go back to the pool and are reused
    answers: dict[tuple[str, str], tuple[int, bytes]] = {}
    seen: list[tuple[str, str, str, bytes]] = []

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.seen.append((self.command, self.path, self.headers.get("Content-Type", ""), body))
        status, data = self.answers.get((self.command, self.path.split("?")[0]), (404, b"{}"))
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_PATCH = do_POST = _answer

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    _Handler.answers, _Handler.seen = {}, []
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def real_kube(host: str) -> Kube:
    from kubernetes import client

    cfg = client.Configuration()
    cfg.host = host
    cfg.api_key = {"authorization": "Bearer t0ken"}
    api = client.ApiClient(cfg)
    return Kube(send=ApiClientSender(api), closer=api.close)


def test_the_kubernetes_client_carries_requests_and_hands_errors_back(server: str) -> None:
    _Handler.answers = {
        ("GET", "/apis/batch/v1"): (200, b'{"resources": [{"name": "jobs"}]}'),
        ("PATCH", "/p"): (200, b'{"metadata": {"generation": 2}}'),
        ("GET", "/bad"): (422, b'{"kind": "Status", "message": "spec.x: Invalid value"}'),
    }
    k = real_kube(server)
    try:
        assert serves(k, "batch", "v1", "jobs") and not serves(k, "tuneop.dev", "v1", "x")
        reply = k.request(
            "apply", "PATCH", "/p", {"spec": {}}, query=[("fieldManager", "m")],
            content_type="application/apply-patch+yaml",
        )  # fmt: skip
        assert reply.body == {"metadata": {"generation": 2}}
        with pytest.raises(Rejected, match=r"spec\.x: Invalid value"):
            k.request("bad", "GET", "/bad")
        assert k.request("bad", "GET", "/missing", expect=(404,)).status == 404
    finally:
        k.close()
    method, path, ctype, body = next(s for s in _Handler.seen if s[0] == "PATCH")
    assert (method, path, ctype) == ("PATCH", "/p?fieldManager=m", "application/apply-patch+yaml")
    assert json.loads(body) == {"spec": {}}


def test_a_connection_left_mid_answer_is_not_reused_for_the_next_call(server: str) -> None:
    # The transport hands a connection back with an oversized answer unread; the pool must
    # not read the rest of it as the next call's answer (urllib3 drops such a connection).
    big = b'{"pad": "' + b"x" * 4_000_000 + b'"}'
    _Handler.answers = {("GET", "/big"): (200, big), ("GET", "/small"): (200, b'{"ok": 1}')}
    k = real_kube(server)
    k.max_response_bytes = 100_000
    try:
        for _ in range(3):
            with pytest.raises(TransientError, match="larger than 100000 bytes"):
                k.request("big", "GET", "/big")
            assert k.request("small", "GET", "/small").body == {"ok": 1}
    finally:
        k.close()
