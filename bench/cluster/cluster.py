"""The benchmark's cluster: the e2e harness with every request attributed to its client.

``BenchCluster`` is the harness's ``Cluster`` (testing/minicluster) with the API server's
audit log on (``minicluster.audit``) and two extra client identities, ``tuneop-operator``
and ``tuneop-bench`` (both in ``system:masters``), so each request can be attributed to who
made it: the operator, this benchmark, the node simulator (``tuneop-e2e-admin``) or a
controller (``system:serviceaccount:kube-system:*``). It starts operators as that user and
waits until they watch, applies the CRD, and reads the apiserver's request counter.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path
from typing import Any

from minicluster import pki
from minicluster.audit import AuditedControlPlane, AuditLog
from minicluster.controlplane import REPO_ROOT, Component, write_kubeconfig
from minicluster.harness import KUBECTL, Cluster
from minicluster.kube import ApiException, Kube
from minicluster.operator_process import OperatorProcess

OPERATOR_USER = "tuneop-operator"
BENCH_USER = "tuneop-bench"
NODESIM_USER = "tuneop-e2e-admin"
BATCH = "/apis/batch/v1"
TS = "/apis/tuneop.dev/v1alpha1"
CRD = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/tuningsessions.tuneop.dev"

Totals = dict[tuple[tuple[str, str], ...], float]


def user_class(user: str) -> str:
    """Who a request came from, in the benchmark's terms."""
    if user == OPERATOR_USER:
        return "operator"
    if user == BENCH_USER:
        return "bench"
    if user == NODESIM_USER:
        return "nodesim"
    if user.startswith("system:serviceaccount:kube-system:") or user.startswith(
        "system:kube-controller-manager"
    ):
        return "controller-manager"
    if user.startswith("system:apiserver"):
        return "apiserver"
    return "other"


class BenchControlPlane(AuditedControlPlane):
    """The audited control plane; ``kcm_qps``, when set, raises the controller-manager's
    client rate limit (``--kube-api-qps``, 20 by default, burst 30; each controller has its
    own client)."""

    kcm_qps: int | None = None

    def _spawn(self, name: str, argv: list[str]) -> Component:
        if name == "kube-controller-manager" and self.kcm_qps:
            argv = [*argv, f"--kube-api-qps={self.kcm_qps}", f"--kube-api-burst={2 * self.kcm_qps}"]
        return super()._spawn(name, argv)


class BenchCluster:
    """A harness cluster with an audit log and per-client identities."""

    def __init__(self, state_dir: Path, kcm_qps: int | None = None) -> None:
        self.cluster = Cluster(state_dir)
        plane = BenchControlPlane(self.cluster.state_dir)
        plane.kcm_qps = kcm_qps
        self.cluster.controlplane = plane
        self.state_dir = self.cluster.state_dir
        self.operator_kubeconfig = self.state_dir / "operator.kubeconfig"
        self.bench_kubeconfig = self.state_dir / "bench.kubeconfig"
        self.audit = AuditLog(plane.audit_log, user_class)
        self.operators: list[OperatorProcess] = []  # every one started, for their logs' errors
        self.operator_args: list[str] = []  # given to every operator started
        self._kube: Kube | None = None

    def start(self) -> BenchCluster:
        self.cluster.start()
        plane = self.cluster.controlplane
        assert plane.pki is not None
        ca = plane.pki.ca
        for path, user in (
            (self.operator_kubeconfig, OPERATOR_USER),
            (self.bench_kubeconfig, BENCH_USER),
        ):
            pair = pki.issue(
                ca, plane.pki.directory, user, user, organizations=("system:masters",), client=True
            )
            write_kubeconfig(path, plane.server, ca.cert, pair, user)
        return self

    def stop(self) -> None:
        if self._kube is not None:
            self._kube.close()
            self._kube = None
        self.cluster.stop()

    @property
    def kube(self) -> Kube:
        """A JSON client as ``tuneop-bench``."""
        if self._kube is None:
            self._kube = Kube(str(self.bench_kubeconfig))
        return self._kube

    def pids(self) -> dict[str, int]:
        out = {c.name: c.process.pid for c in self.cluster.controlplane.components}
        if self.cluster.nodesim is not None:
            out["nodesim"] = self.cluster.nodesim.pid
        return out

    def operator(
        self, namespace: str, tag: str, env: dict[str, str] | None = None
    ) -> OperatorProcess:
        """A (not yet started) ``tuneop operator`` for ``namespace`` as ``tuneop-operator``."""
        op = OperatorProcess(
            self.operator_kubeconfig,
            [namespace],
            self.state_dir / "logs" / f"operator-{tag}.log",
            extra_args=self.operator_args,
            extra_env=env,
        )
        self.operators.append(op)
        return op

    def start_operator(
        self, namespace: str, tag: str, env: dict[str, str] | None = None
    ) -> OperatorProcess:
        """Start an operator and wait until it watches sessions and Jobs (audit log)."""
        op = self.operator(namespace, tag, env).start()

        def watching() -> bool:
            watches = {
                r.resource
                for r in self.audit.window(op.started_wall, time.time() + 1, "operator", namespace)
                if r.verb == "watch"
            }
            return {"tuningsessions", "jobs"} <= watches

        try:
            op.wait_for(f"operator {tag} to watch sessions and Jobs", watching, timeout=90)
        except BaseException:
            op.stop()
            raise
        return op

    def apply_crd(self) -> None:
        """``kubectl apply`` the TuningSession CRD; wait until it is Established and served."""
        env = {**os.environ, "KUBECONFIG": str(self.bench_kubeconfig)}
        subprocess.run(
            [KUBECTL, "apply", "-f", str(REPO_ROOT / "crds" / "tuningsession.yaml")],
            env=env,
            check=True,
            capture_output=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            conditions = (self.kube.get(CRD).get("status") or {}).get("conditions") or []
            if any(c["type"] == "Established" and c["status"] == "True" for c in conditions):
                try:
                    self.kube.get(f"{TS}/tuningsessions")
                    return
                except ApiException:
                    pass
            time.sleep(0.2)
        raise TimeoutError("the TuningSession CRD was not established")

    def request_totals(self) -> Totals:
        """``apiserver_request_total`` by its labels, from the apiserver's /metrics."""
        response = self.kube.request("GET", "/metrics", stream=True)
        try:
            text = response.data.decode()
        finally:
            response.release_conn()
        out: Totals = {}
        for line in text.splitlines():
            if not line.startswith("apiserver_request_total{"):
                continue
            labels_text, _, value = line[len("apiserver_request_total{") :].rpartition("} ")
            labels = re.findall(r'(\w+)="([^"]*)"', labels_text)
            out[tuple(sorted(labels))] = float(value)
        return out


def totals_delta(before: Totals, after: Totals) -> dict[str, Any]:
    """The counter's growth between two scrapes, without WATCH/CONNECT (long-running)."""
    by_verb: dict[str, float] = {}
    by_component: dict[str, float] = {}
    labels_seen: set[str] = set()
    total = 0.0
    for key, value in after.items():
        growth = value - before.get(key, 0.0)
        labels = dict(key)
        labels_seen.update(labels)
        if growth <= 0 or labels.get("verb") in {"WATCH", "CONNECT"}:
            continue
        total += growth
        verb = labels.get("verb", "?")
        by_verb[verb] = by_verb.get(verb, 0.0) + growth
        comp = labels.get("component", "?")
        by_component[comp] = by_component.get(comp, 0.0) + growth
    return {
        "total": total,
        "by_verb": by_verb,
        "by_component": by_component,
        "labels": sorted(labels_seen),
    }
