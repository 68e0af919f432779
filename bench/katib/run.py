"""One measurement of each system: the same experiment applied, watched to its end, counted.

``run_katib`` applies the Experiment and waits for its Succeeded (or Failed) condition;
``run_tuneop`` starts a ``tuneop operator`` for a fresh namespace, applies the converted
TuningSession and waits for phase Succeeded. Each gives: seconds from the apply to the end,
apply to the first trial pod (the pod watch's first sight of a pod with a ``job-name``
label), the system's own API requests in the audit log (its user, from the apply to the end
plus 2 s; watches counted apart), peak RSS per process (``RssSampler``) and the best loss.
"""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path
from typing import Any

from bench.cluster.cluster import BenchCluster
from bench.cluster.figures import sessions_watch
from bench.cluster.sessions import Namespace, phase
from bench.katib.components import HYPEROPT_MAIN, KATIB_USER, SUGGESTION_PORT, suggestion_host
from bench.katib.controller import KatibController
from bench.katib.experiment import convert, experiment_doc
from bench.katib.trial import branin
from minicluster.audit import breakdown
from minicluster.watch import JobWatch, Watcher, job_done

__all__ = ["RssSampler", "run_floor", "run_katib", "run_tuneop"]

KATIB_API = "/apis/kubeflow.org/v1beta1"
OPERATOR_USER = "tuneop-operator"


def _rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _cmdline(pid: str) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _children(parent: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == parent:
                out.append(int(entry.name))
    return out


def suggestion_pids() -> list[int]:
    """The hyperopt suggestion service's processes (run by the node simulator)."""
    return [
        int(e.name)
        for e in Path("/proc").iterdir()
        if e.name.isdigit() and HYPEROPT_MAIN in _cmdline(e.name)
    ]


class RssSampler:
    """Peak RSS (MB) of process groups, sampled twice a second in a thread."""

    def __init__(self, groups: dict[str, Any]) -> None:
        self.groups = groups  # name -> callable returning the group's pids
        self.peak: dict[str, float] = dict.fromkeys(groups, 0.0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            for name, pids in self.groups.items():
                total = sum(_rss_kib(p) for p in pids()) / 1024
                self.peak[name] = max(self.peak[name], round(total, 1))


def _requests(bc: BenchCluster, user: str, start: float, end: float) -> dict[str, Any]:
    requests = [r for r in bc.audit.window(start, end) if r.user == user]
    calls = [r for r in requests if r.verb != "watch"]
    return {
        "requests": len(calls),
        "watches": len(requests) - len(calls),
        "breakdown": breakdown(calls),
        "errors": breakdown(r for r in calls if r.code >= 400),
    }


def _first_pod(pods: Watcher, since: float) -> float | None:
    seen = [t for t in pods.first_seen.values() if t >= since]
    return min(seen) - since if seen else None


def _port_free(port: int) -> bool:
    import socket

    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


def katib_best(experiment: dict[str, Any]) -> float | None:
    optimal = (experiment.get("status") or {}).get("currentOptimalTrial") or {}
    for metric in (optimal.get("observation") or {}).get("metrics") or []:
        if metric.get("name") == "loss":
            return float(metric.get("min", metric.get("latest")))
    return None


def _condition(experiment: dict[str, Any] | None) -> str:
    for c in ((experiment or {}).get("status") or {}).get("conditions") or []:
        if c.get("type") in {"Succeeded", "Failed"} and c.get("status") == "True":
            return str(c["type"])
    return ""


def run_katib(
    bc: BenchCluster, katib: KatibController, groups: dict[str, Any], case: dict[str, Any]
) -> dict[str, Any]:
    name = f"{case['algorithm']}-s{case['seed']}"
    ns = f"katib-{name}-{case['trials']}"
    doc = experiment_doc(name, case["algorithm"], case["seed"], case["trials"],
                         case["parallel"], case["db_manager"])  # fmt: skip
    deadline = time.monotonic() + 120
    while not _port_free(SUGGESTION_PORT) and time.monotonic() < deadline:
        time.sleep(1)  # the former experiment's suggestion process is still exiting
    with Namespace(bc, ns):
        label = {"katib.kubeflow.org/metrics-collector-injection": "enabled"}
        bc.kube.patch(f"/api/v1/namespaces/{ns}", {"metadata": {"labels": label}})
        katib.add_hosts(suggestion_host(name, case["algorithm"], ns))
        pods = Watcher(bc.bench_kubeconfig, f"/api/v1/namespaces/{ns}/pods", "job-name").start()
        exps = Watcher(bc.bench_kubeconfig, f"{KATIB_API}/namespaces/{ns}/experiments").start()
        try:
            with RssSampler({**groups, "suggestion": suggestion_pids}) as rss:
                start_wall, start = time.time(), time.monotonic()
                bc.kube.post(f"{KATIB_API}/namespaces/{ns}/experiments", doc)
                exps.wait(f"experiment {name} to end", lambda: _condition(exps.objects.get(name)),
                          case["timeout"])  # fmt: skip
                seconds = time.monotonic() - start
            time.sleep(2)
            final = exps.objects[name]
        finally:
            pods.stop()
            exps.stop()
        status = final.get("status") or {}
        return {
            "system": "katib",
            "namespace": ns,
            "condition": _condition(final),
            "seconds": seconds,
            "first_pod_s": _first_pod(pods, start),
            "trials_succeeded": status.get("trialsSucceeded"),
            "trials_failed": status.get("trialsFailed"),
            "best": katib_best(final),
            "rss_peak_mb": rss.peak,
            **_requests(bc, KATIB_USER, start_wall, time.time()),
        }


def run_tuneop(bc: BenchCluster, case: dict[str, Any], workdir: Path) -> dict[str, Any]:
    name = f"{case['algorithm']}-s{case['seed']}"
    ns = f"tuneop-{name}-{case['trials']}"
    doc = experiment_doc(name, case["algorithm"], case["seed"], case["trials"],
                         case["parallel"], case["db_manager"])  # fmt: skip
    session, note = convert(doc, workdir)
    with Namespace(bc, ns):
        pods = Watcher(bc.bench_kubeconfig, f"/api/v1/namespaces/{ns}/pods", "job-name").start()
        ts = sessions_watch(bc, ns)
        op = bc.start_operator(ns, f"katib-side-{name}-{case['trials']}")
        try:
            with RssSampler({"operator": lambda: [op.pid]}) as rss:
                start_wall, start = time.time(), time.monotonic()
                bc.kube.post(f"/apis/tuneop.dev/v1alpha1/namespaces/{ns}/tuningsessions", session)
                ts.wait(f"session {name} to end",
                        lambda: phase(ts.objects.get(name)) in {"Succeeded", "Failed"},
                        case["timeout"], op.check)  # fmt: skip
                seconds = time.monotonic() - start
                time.sleep(2)
            final = ts.objects[name]
        finally:
            op.stop()
            pods.stop()
            ts.stop()
        status = final.get("status") or {}
        return {
            "system": "tuneop",
            "namespace": ns,
            "phase": phase(final),
            "seconds": seconds,
            "first_pod_s": _first_pod(pods, start),
            "trials": status.get("trials"),
            "best": (status.get("best") or {}).get("value"),
            "import_note": note.strip(),
            "rss_peak_mb": rss.peak,
            **_requests(bc, OPERATOR_USER, start_wall, time.time()),
        }


def _floor_job(name: str, container: dict[str, Any], x: float, y: float) -> dict[str, Any]:
    argv = [*container["command"][:2], repr(x), repr(y)]
    pod = {"restartPolicy": "Never", "containers": [{**container, "command": argv}]}
    return {"metadata": {"name": name}, "spec": {"backoffLimit": 0, "template": {"spec": pod}}}


def run_floor(bc: BenchCluster, case: dict[str, Any]) -> dict[str, Any]:
    """Bare Jobs: the same trial container and parameters drawn at random (seeded), created by
    this script in waves of ``parallel``, each wave waited to complete; nothing else."""
    rng = random.Random(case["seed"])
    ns = f"floor-s{case['seed']}-{case['trials']}"
    doc = experiment_doc("floor", "random", case["seed"], case["trials"], case["parallel"],
                         case["db_manager"])  # fmt: skip
    container = doc["spec"]["trialTemplate"]["trialSpec"]["spec"]["template"]["spec"]["containers"][
        0
    ]
    with Namespace(bc, ns):
        jobs = JobWatch(bc.bench_kubeconfig, ns).start()
        pods = Watcher(bc.bench_kubeconfig, f"/api/v1/namespaces/{ns}/pods", "job-name").start()
        best = float("inf")
        try:
            start = time.monotonic()
            for first in range(0, case["trials"], case["parallel"]):
                names = []
                for index in range(first, min(first + case["parallel"], case["trials"])):
                    x, y = rng.uniform(-5, 10), rng.uniform(0, 15)
                    best = min(best, branin(x, y))
                    job = _floor_job(f"floor-{index}", container, x, y)
                    bc.kube.post(f"/apis/batch/v1/namespaces/{ns}/jobs", job)
                    names.append(job["metadata"]["name"])
                jobs.wait(f"wave at {first}", lambda names=names: all(  # type: ignore[misc]
                    job_done(jobs.objects.get(n, {})) for n in names), case["timeout"])  # fmt: skip
            seconds = time.monotonic() - start
        finally:
            jobs.stop()
            pods.stop()
    return {"system": "bare Jobs", "namespace": ns, "seconds": seconds,
            "first_pod_s": _first_pod(pods, start), "best": best, "requests": 0,
            "rss_peak_mb": {}}  # fmt: skip
