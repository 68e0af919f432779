"""Leader-election takeover times on the e2e control plane: ``python -m bench.failover_bench``.

Two ``tuneop operator --leader-elect`` processes serve one namespace of a fresh cluster
(``minicluster``; no session, so what is timed is the election itself). Each round
SIGKILLs the leader and times until the standby holds the Lease (a client polling every
20 ms), starts the killed one again as the new standby, then SIGTERMs the new leader and
times the handover the same way. Prints min/median/max with the machine's load and saves
the raw figures under bench/results/failover.json. The bounds the e2e tier holds (15 s,
2 s) are in tests/e2e/test_operator_leader_election.py; docs/concepts.md quotes both.
"""

from __future__ import annotations

import argparse
import os
import signal
import tempfile
import time
from pathlib import Path

from bench.common import header, save, stats
from minicluster import processes
from minicluster.controlplane import REPO_ROOT
from minicluster.harness import Cluster
from minicluster.operator_process import OperatorProcess

__all__ = ["main"]

LEASE = "tuneop-operator"


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.1f} (1 min), {five:.1f} (5 min)"


def holder(cluster: Cluster, ns: str) -> str:
    lease = cluster.kube.get_or_none(f"/apis/coordination.k8s.io/v1/namespaces/{ns}/leases/{LEASE}")
    return str(((lease or {}).get("spec") or {}).get("holderIdentity") or "")


def until_held_by(cluster: Cluster, ns: str, name: str, timeout: float = 60.0) -> float:
    deadline = time.monotonic() + timeout
    while not holder(cluster, ns).startswith(f"{name}_"):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{name} did not take the lease (holder {holder(cluster, ns)!r})")
        time.sleep(0.02)
    return time.monotonic()


def standing_by(op: OperatorProcess) -> None:
    """Wait until a (re)started operator has read the Lease: its start-up is not timed."""
    seen = op.log_text().count("the leader is")
    op.wait_for(
        "the standby to read the lease", lambda: op.log_text().count("the leader is") > seen
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    header(f"leader election: {args.rounds} rounds of SIGKILL and SIGTERM of the leader")
    print(f"before: {load()}")
    kills: list[float] = []
    terms: list[float] = []
    with tempfile.TemporaryDirectory() as tmp, Cluster(Path(tmp) / "cluster") as cluster:
        cluster.kubectl("apply", "-f", str(REPO_ROOT / "crds" / "tuningsession.yaml"))
        ns = cluster.create_namespace("failover-bench")
        flags = ["--leader-elect", "--leader-elect-namespace", ns]
        ops = {
            name: OperatorProcess(
                cluster.kubeconfig,
                [ns],
                Path(tmp) / f"{name}.log",
                flags,
                extra_env={"POD_NAME": name},
            )
            for name in ("a", "b")
        }
        leader, standby = "a", "b"
        ops[leader].start()
        until_held_by(cluster, ns, leader)
        ops[standby].start()
        standing_by(ops[standby])
        for _ in range(args.rounds):
            t0 = time.monotonic()
            ops[leader].kill()
            kills.append(until_held_by(cluster, ns, standby) - t0)
            leader, standby = standby, leader
            ops[standby].start()
            standing_by(ops[standby])
            process = ops[leader].process
            assert process is not None
            t0 = time.monotonic()
            processes.signal_group(process, signal.SIGTERM)
            terms.append(until_held_by(cluster, ns, standby) - t0)
            ops[leader].stop()
            leader, standby = standby, leader
            ops[standby].start()
            standing_by(ops[standby])
        for op in ops.values():
            op.stop()
    print(f"after: {load()}")
    for what, samples in (("SIGKILL -> standby leads", kills), ("SIGTERM -> standby leads", terms)):
        s = stats(samples)
        print(
            f"{what}: min {s['min']:.2f}s, median {s['median']:.2f}s, max {s['max']:.2f}s "
            f"({s['runs']} runs)"
        )
    path = save("failover", {"sigkill_s": kills, "sigterm_s": terms, "load": os.getloadavg()})
    print(f"saved {path.relative_to(REPO_ROOT)}")


if __name__ == "__main__":
    main()
