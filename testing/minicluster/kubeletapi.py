"""The one kubelet endpoint the simulated node serves: container logs.

The apiserver answers ``kubectl logs`` (``GET .../pods/NAME/log``) by calling the kubelet of
the pod's node at ``https://<InternalIP>:<kubeletEndpoint.Port>/containerLogs/NS/POD/CONTAINER``
with its kubelet client certificate. This module is that server: HTTPS on 127.0.0.1 with a
self-signed certificate (the apiserver does not verify it without
``--kubelet-certificate-authority``), reading the per-container log files the simulator
writes, with ``tailLines``, ``limitBytes`` and ``follow``. Other kubelet endpoints (exec,
port-forward, stats) answer 404.
"""

from __future__ import annotations

import contextlib
import http.server
import logging
import ssl
import threading
import time
import urllib.parse
from pathlib import Path
from typing import Any

from minicluster import pki

log = logging.getLogger("nodesim")


class LogIndex:
    """Where each running pod's container logs are, shared with the log server thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._logs: dict[tuple[str, str, str], tuple[Path, bool]] = {}

    def set(self, namespace: str, pod: str, container: str, path: Path, running: bool) -> None:
        with self._lock:
            self._logs[(namespace, pod, container)] = (path, running)

    def drop_pod(self, namespace: str, pod: str) -> None:
        with self._lock:
            for key in [k for k in self._logs if k[:2] == (namespace, pod)]:
                del self._logs[key]

    def get(self, namespace: str, pod: str, container: str) -> tuple[Path, bool] | None:
        with self._lock:
            return self._logs.get((namespace, pod, container))


def select_log(data: bytes, tail_lines: int | None, limit_bytes: int | None) -> bytes:
    """Apply the kubelet's ``tailLines`` and ``limitBytes`` to a log's content."""
    if tail_lines is not None:
        lines = data.splitlines(keepends=True)
        data = b"".join(lines[-tail_lines:]) if tail_lines > 0 else b""
    if limit_bytes is not None:
        data = data[:limit_bytes]
    return data


class KubeletHandler(http.server.BaseHTTPRequestHandler):
    """Answers ``GET /containerLogs/{namespace}/{pod}/{container}`` and ``/healthz``."""

    server: KubeletServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("kubelet api: " + format, *args)

    def _reply(self, code: int, body: bytes, content_type: str = "text/plain") -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        parts = [urllib.parse.unquote(p) for p in url.path.strip("/").split("/")]
        if parts == ["healthz"]:
            self._reply(200, b"ok")
            return
        if len(parts) != 4 or parts[0] != "containerLogs":
            self._reply(404, b"not supported by the node simulator\n")
            return
        _, namespace, pod, container = parts
        entry = self.server.index.get(namespace, pod, container)
        if entry is None:
            self._reply(404, f"no logs for {namespace}/{pod}/{container}\n".encode())
            return
        query = urllib.parse.parse_qs(url.query)

        def number(name: str) -> int | None:
            values = query.get(name)
            return int(values[0]) if values else None

        tail_lines, limit_bytes = number("tailLines"), number("limitBytes")
        follow = query.get("follow", ["false"])[0] in ("true", "1")
        path = entry[0]
        data = path.read_bytes() if path.exists() else b""
        if not follow:
            self._reply(200, select_log(data, tail_lines, limit_bytes))
            return
        self._follow(
            namespace,
            pod,
            container,
            select_log(data, tail_lines, limit_bytes),
            len(data),
            limit_bytes,
        )

    def _follow(
        self,
        namespace: str,
        pod: str,
        container: str,
        first: bytes,
        offset: int,
        limit_bytes: int | None,
    ) -> None:
        """Stream the log until the container stops or the client goes away."""
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        sent = 0
        chunk = first
        while True:
            if limit_bytes is not None:
                chunk = chunk[: max(0, limit_bytes - sent)]
            try:
                if chunk:
                    self.wfile.write(chunk)
                    self.wfile.flush()
            except OSError:
                return
            sent += len(chunk)
            entry = self.server.index.get(namespace, pod, container)
            if entry is None or (limit_bytes is not None and sent >= limit_bytes):
                return
            path, running = entry
            with contextlib.suppress(OSError), path.open("rb") as handle:
                handle.seek(offset)
                chunk = handle.read()
                offset += len(chunk)
            if not chunk and not running:
                return
            if not chunk:
                time.sleep(0.2)


class KubeletServer(http.server.ThreadingHTTPServer):
    """The HTTPS server on 127.0.0.1 that the apiserver calls for logs."""

    daemon_threads = True

    def __init__(self, index: LogIndex, cert: pki.KeyPair) -> None:
        super().__init__(("127.0.0.1", 0), KubeletHandler)
        self.index = index
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(cert.cert), str(cert.key))
        self.socket = context.wrap_socket(self.socket, server_side=True)

    @property
    def port(self) -> int:
        return int(self.server_address[1])
