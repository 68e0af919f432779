"""An API server that answers what a test scripts, on a loopback port, for journeys about
what tuneop does with answers a real kube-apiserver would not give (too large, malformed).

``StubApiServer.answers`` maps ``(method, path)`` to ``(status, body bytes)``; anything
else is a 404 Status. ``kubeconfig`` writes a kubeconfig a user would pass with
``--kubeconfig``. The real API server's journeys are in ``tests/e2e``.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

__all__ = ["StubApiServer"]

NOT_FOUND = b'{"kind": "Status", "code": 404, "message": "not found"}'


class StubApiServer:
    def __init__(self) -> None:
        self.answers: dict[tuple[str, str], tuple[int, bytes]] = {}
        self.seen: list[tuple[str, str]] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                stub.seen.append((self.command, self.path))
                key = (self.command, self.path.split("?", 1)[0])
                status, data = stub.answers.get(key, (404, NOT_FOUND))
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_PATCH = do_POST = do_PUT = do_DELETE = _answer

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def kubeconfig(self, path: Path) -> Path:
        path.write_text(
            "apiVersion: v1\nkind: Config\ncurrent-context: stub\n"
            f"clusters: [{{name: stub, cluster: {{server: '{self.url}'}}}}]\n"
            "users: [{name: u, user: {token: t0ken}}]\n"
            "contexts: [{name: stub, context: {cluster: stub, user: u, namespace: default}}]\n"
        )
        return path

    def __enter__(self) -> StubApiServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
