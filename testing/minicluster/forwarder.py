"""A TCP forwarder that can be cut like a network partition, for one client of the cluster.

``Forwarder(host, port)`` listens on a free loopback port and relays every connection to
``host:port`` (the API server): a kubeconfig pointing at ``forwarder.port`` reaches the
cluster through it (``kubeconfig_through``). ``partition()`` turns it into a black hole,
as a cut cable or a dropped route would: nothing more is relayed either way on open
connections (they are not closed: no RST, the client simply hears nothing), and new
connections are accepted but never relayed. The client's own timeouts are all it gets.
``close()`` ends everything.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from pathlib import Path

import yaml

__all__ = ["Forwarder", "kubeconfig_through"]

CHUNK = 65536


class Forwarder:
    """Relays ``127.0.0.1:port`` to ``host:target_port`` until partitioned or closed."""

    def __init__(self, host: str, target_port: int) -> None:
        self.target = (host, target_port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.cut = threading.Event()
        self.closed = threading.Event()
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, name="forwarder", daemon=True).start()

    def partition(self) -> None:
        """From now on relay nothing, on open connections and new ones alike."""
        self.cut.set()

    def close(self) -> None:
        self.closed.set()
        self.cut.set()
        with self._lock:
            for sock in [self.listener, *self._sockets]:
                with contextlib.suppress(OSError):
                    sock.close()

    def _keep(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.append(sock)

    def _accept(self) -> None:
        while not self.closed.is_set():
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            self._keep(client)
            if self.cut.is_set():
                continue  # held open, never answered
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            self._keep(upstream)
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        source.settimeout(0.2)
        while not self.cut.is_set():
            try:
                data = source.recv(CHUNK)
            except TimeoutError:
                continue
            except OSError:
                break
            if not data:
                break
            if self.cut.is_set():
                return  # read before the cut, relayed never: lost in the partition
            try:
                sink.sendall(data)
            except OSError:
                break
        if not self.cut.is_set():
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)


def kubeconfig_through(kubeconfig: Path, forwarder: Forwarder, out: Path) -> Path:
    """A copy of ``kubeconfig`` whose clusters are reached through ``forwarder``.

    The server certificate is for the loopback address, whatever the port, so TLS still
    verifies."""
    doc = yaml.safe_load(kubeconfig.read_text())
    for entry in doc.get("clusters") or []:
        entry["cluster"]["server"] = f"https://127.0.0.1:{forwarder.port}"
    out.write_text(yaml.safe_dump(doc))
    return out
