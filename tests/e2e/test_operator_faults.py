"""Faults around the operator on a real API server: Redis gone while Jobs finish and the
operator killed meanwhile, and an operator started before the API server answers.

Both end with every result where it belongs: nothing harvested while Redis was down is
missing from Redis once it is back, and an operator that could not reach the API server at
start waits for it and then serves its sessions.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import yaml

from minicluster.harness import Cluster
from minicluster.kube import Json
from minicluster.operator_process import OperatorProcess
from minicluster.redis_server import RedisServer
from tests.e2e.operator_support import (
    apply,
    explicit_session,
    status_of,
    wait_phase,
    wait_with_log,
)
from tuneop.adapters.redis_mirror import Keys, records

TRIALS = 12


def harvested(cluster: Cluster, ns: str, name: str) -> int:
    return int(((status_of(cluster, ns, name).get("jobs") or {}).get("harvested")) or 0)


def test_results_harvested_while_redis_was_down_reach_it_after_an_operator_restart(
    cluster: Cluster, crd: Json, namespace: str, tmp_path: Path
) -> None:
    ns, name = namespace, "outage"
    server = RedisServer(tmp_path / "redis")
    (tmp_path / "redis").mkdir()
    server.start()
    args = ["--results-dir", str(tmp_path / "results"), "--redis-url", server.url]
    operator = OperatorProcess(cluster.kubeconfig, [ns], tmp_path / "operator.log", args)
    manifest = explicit_session(
        name, "testing:sleep", [{"seconds": 0.8} for _ in range(TRIALS)], maxParallel=3
    )
    try:
        operator.start()
        apply(cluster, ns, manifest)
        wait_with_log(
            cluster, operator, "a first harvest", lambda: harvested(cluster, ns, name) >= 2 or None
        )
        server.stop()  # Redis goes away while Jobs keep finishing
        before = harvested(cluster, ns, name)
        wait_with_log(
            cluster,
            operator,
            "more Jobs harvested with Redis down",
            lambda: harvested(cluster, ns, name) >= before + 3 or None,
            timeout=60,
        )
        operator.kill()  # what it queued for Redis dies with it
        server.start()  # back, and empty: it kept nothing
        operator.start()
        wait_phase(cluster, operator, ns, name, "Succeeded", timeout=120)
        client = redis.Redis.from_url(server.url, decode_responses=True)

        def all_in_redis() -> list[int] | None:
            trials = sorted(r["trial"] for r in records(client, Keys("tuneop", f"{ns}/{name}")))
            return trials if trials == list(range(TRIALS)) else None

        wait_with_log(cluster, operator, "every trial in Redis", all_in_redis, timeout=30)
    finally:
        operator.stop()
        server.stop()


class Gate:
    """A TCP forwarder to the API server that refuses connections until it is opened."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        self.port = probe.getsockname()[1]
        probe.close()  # nothing listens there yet: connections are refused
        self.listener: socket.socket | None = None

    def open(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", self.port))
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        assert self.listener is not None
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        if self.listener is not None:
            self.listener.close()


@pytest.fixture
def gate(cluster: Cluster) -> Iterator[Gate]:
    host, _, port = cluster.server.removeprefix("https://").rpartition(":")
    g = Gate((host, int(port)))
    yield g
    g.close()


def test_an_operator_started_before_the_api_server_answers_waits_then_serves(
    cluster: Cluster, crd: Json, namespace: str, tmp_path: Path, gate: Gate
) -> None:
    ns, name = namespace, "late-api"
    config = yaml.safe_load(cluster.kubeconfig.read_text())
    for entry in config["clusters"]:
        entry["cluster"]["server"] = f"https://127.0.0.1:{gate.port}"
    kubeconfig = tmp_path / "gated.kubeconfig"
    kubeconfig.write_text(yaml.safe_dump(config))
    operator = OperatorProcess(kubeconfig, [ns], tmp_path / "operator.log")
    try:
        operator.start()
        wait_with_log(
            cluster,
            operator,
            "the operator to wait for the API server",
            lambda: "waiting for the API server" in operator.tail() or None,
            timeout=30,
        )
        assert operator.process is not None and operator.process.poll() is None
        gate.open()
        apply(cluster, ns, explicit_session(name, "testing:sleep", [{"seconds": 0.1}] * 2))
        wait_phase(cluster, operator, ns, name, "Succeeded", timeout=90)
    finally:
        operator.stop()
