"""Plumbing of the control-plane benchmark (``cluster_bench.py``).

- ``BenchCluster``: the e2e harness's ``Cluster`` (testing/minicluster) with the
  API server's audit log turned on (Metadata level, every user) and two extra
  client identities, ``tuneop-operator`` and ``tuneop-bench`` (both in
  ``system:masters``), so each request can be attributed to who made it: the
  operator, this script, the node simulator (``tuneop-e2e-admin``) or a
  controller (``system:serviceaccount:kube-system:*``).
- ``AuditLog``: the audit log read incrementally, one record per request.
- ``Watcher``: a watch on one collection in a thread, with first-seen times.
- ``Operator``: ``tuneop operator`` as a child process (start, kill -9, RSS).
- ``cpu_seconds`` / ``request_totals``: per-process CPU and the API server's
  ``apiserver_request_total`` counter.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from minicluster import pki, processes  # noqa: E402
from minicluster.controlplane import (  # noqa: E402
    ControlPlane,
    missing_binaries,
    write_kubeconfig,
)
from minicluster.harness import Cluster  # noqa: E402
from minicluster.kube import ApiException, Kube  # noqa: E402

Json = dict[str, Any]

OPERATOR_USER = "tuneop-operator"
BENCH_USER = "tuneop-bench"
NODESIM_USER = "tuneop-e2e-admin"
BATCH = "/apis/batch/v1"
TS = "/apis/tuneop.dev/v1alpha1"

AUDIT_POLICY = """\
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
- level: Metadata
"""


def binaries_missing() -> list[str]:
    """What the harness still needs built (empty when the cluster can start)."""
    return missing_binaries()


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


class AuditedControlPlane(ControlPlane):
    """The harness's control plane, with the apiserver's audit log on.

    ``kcm_qps`` raises the controller-manager's client rate limit (``--kube-api-qps``,
    20 by default, burst 30; each controller has its own client) when set.
    """

    kcm_qps: int | None = None

    def _spawn(self, name: str, argv: list[str]) -> Any:
        if name == "kube-controller-manager" and self.kcm_qps:
            argv = [*argv, f"--kube-api-qps={self.kcm_qps}", f"--kube-api-burst={2 * self.kcm_qps}"]
        if name == "kube-apiserver":
            policy = self.state_dir / "audit-policy.yaml"
            policy.write_text(AUDIT_POLICY)
            argv = [
                *argv,
                f"--audit-policy-file={policy}",
                f"--audit-log-path={self.logs_dir / 'audit.log'}",
                "--audit-log-format=json",
                "--audit-log-maxsize=0",
            ]
        return super()._spawn(name, argv)


@dataclass(frozen=True)
class Request:
    """One API request, from the audit log."""

    when: float  # requestReceivedTimestamp, seconds since the epoch
    user: str
    verb: str
    resource: str
    subresource: str
    namespace: str
    name: str
    code: int

    @property
    def who(self) -> str:
        return user_class(self.user)

    @property
    def kind(self) -> str:
        sub = f"/{self.subresource}" if self.subresource else ""
        return f"{self.verb} {self.resource}{sub}"


def _epoch(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


class AuditLog:
    """The audit log, read incrementally; each request once (by auditID)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self.partial = b""
        self.seen: set[str] = set()
        self.requests: list[Request] = []
        self.lock = threading.Lock()

    def refresh(self) -> list[Request]:
        with self.lock:
            try:
                with self.path.open("rb") as handle:
                    handle.seek(self.offset)
                    data = handle.read()
            except FileNotFoundError:
                return self.requests
            self.offset += len(data)
            data = self.partial + data
            lines = data.split(b"\n")
            self.partial = lines.pop()
            for line in lines:
                if not line.strip():
                    continue
                event = json.loads(line)
                audit_id = event.get("auditID", "")
                if audit_id in self.seen:
                    continue
                self.seen.add(audit_id)
                ref = event.get("objectRef") or {}
                self.requests.append(
                    Request(
                        when=_epoch(event["requestReceivedTimestamp"]),
                        user=(event.get("user") or {}).get("username", ""),
                        verb=event.get("verb", ""),
                        resource=ref.get("resource", "") or event.get("requestURI", ""),
                        subresource=ref.get("subresource", ""),
                        namespace=ref.get("namespace", ""),
                        name=ref.get("name", ""),
                        code=int((event.get("responseStatus") or {}).get("code") or 0),
                    )
                )
            return self.requests

    def window(
        self, start: float, end: float, who: str | None = None, namespace: str | None = None
    ) -> list[Request]:
        return [
            r
            for r in self.refresh()
            if start <= r.when <= end
            and (who is None or r.who == who)
            and (namespace is None or r.namespace == namespace)
        ]


def breakdown(requests: Iterable[Request]) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in requests:
        out[r.kind] = out.get(r.kind, 0) + 1
    return dict(sorted(out.items(), key=lambda kv: (-kv[1], kv[0])))


class BenchCluster:
    """A harness cluster with an audit log and per-client identities."""

    def __init__(self, state_dir: Path, kcm_qps: int | None = None) -> None:
        self.cluster = Cluster(state_dir)
        plane = AuditedControlPlane(self.cluster.state_dir)
        plane.kcm_qps = kcm_qps
        self.cluster.controlplane = plane
        self.state_dir = self.cluster.state_dir
        self.operator_kubeconfig = self.state_dir / "operator.kubeconfig"
        self.bench_kubeconfig = self.state_dir / "bench.kubeconfig"
        self.audit = AuditLog(self.cluster.controlplane.logs_dir / "audit.log")
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

    def new_kube(self) -> Kube:
        return Kube(str(self.bench_kubeconfig))

    def pids(self) -> dict[str, int]:
        out = {c.name: c.process.pid for c in self.cluster.controlplane.components}
        if self.cluster.nodesim is not None:
            out["nodesim"] = self.cluster.nodesim.pid
        return out

    def request_totals(self) -> dict[tuple[str, ...], float]:
        """``apiserver_request_total`` by its labels, from the apiserver's /metrics."""
        response = self.kube.request("GET", "/metrics", stream=True)
        try:
            text = response.data.decode()
        finally:
            response.release_conn()
        out: dict[tuple[str, ...], float] = {}
        for line in text.splitlines():
            if not line.startswith("apiserver_request_total{"):
                continue
            labels_text, _, value = line[len("apiserver_request_total{") :].rpartition("} ")
            labels = dict(re.findall(r'(\w+)="([^"]*)"', labels_text))
            key = tuple(sorted(labels.items()))
            out[key] = float(value)  # type: ignore[index]
        return out


def totals_delta(
    before: dict[tuple[str, ...], float], after: dict[tuple[str, ...], float]
) -> dict[str, Any]:
    """The counter's growth between two scrapes, without WATCH/CONNECT (long-running)."""
    by_verb: dict[str, float] = {}
    by_component: dict[str, float] = {}
    labels_seen: set[str] = set()
    total = 0.0
    for key, value in after.items():
        growth = value - before.get(key, 0.0)
        labels = dict(key)  # type: ignore[arg-type]
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


# --- per-process CPU ------------------------------------------------------------------------

CLOCK_TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> tuple[float, float]:
    """(own CPU, reaped children's CPU) in seconds."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0, 0.0
    fields = text.rsplit(")", 1)[1].split()
    utime, stime, cutime, cstime = (int(x) for x in fields[11:15])
    return (utime + stime) / CLOCK_TICK, (cutime + cstime) / CLOCK_TICK


def cpu_seconds(pids: dict[str, int]) -> dict[str, float]:
    """CPU seconds used so far by each process (and, for the node simulator, by its pods)."""
    out: dict[str, float] = {}
    for name, pid in pids.items():
        own, children = _stat(pid)
        out[name] = own
        if name == "nodesim":
            out["pods"] = children
    usage = os.times()
    out["bench"] = usage.user + usage.system
    return out


def cpu_delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {k: round(after[k] - before.get(k, 0.0), 2) for k in after}


def proc_status_kib(pid: int, key: str) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


# --- the operator as a process --------------------------------------------------------------


@dataclass
class Operator:
    """``tuneop operator`` for one namespace, as the ``tuneop-operator`` user."""

    kubeconfig: Path
    namespace: str
    log_path: Path
    extra_args: tuple[str, ...] = ()
    extra_env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None
    started_wall: float = 0.0
    rss_peak_kib: int = 0
    _sampler: threading.Thread | None = None
    _stop_sampling: threading.Event = field(default_factory=threading.Event)

    def start(self) -> Operator:
        tuneop = str(Path(sys.executable).parent / "tuneop")
        env = {k: v for k, v in os.environ.items() if not k.startswith("KUBERNETES_SERVICE")} | {
            "KUBECONFIG": str(self.kubeconfig),
            "PYTHONUNBUFFERED": "1",
            **self.extra_env,
        }
        argv = [
            tuneop,
            "operator",
            "--namespace",
            self.namespace,
            "--liveness",
            "",
            "--metrics-port",
            "0",
            *self.extra_args,
        ]
        self.started_wall = time.time()
        self.process = processes.spawn(argv, log_path=self.log_path, env=env, cwd=REPO)
        self._stop_sampling.clear()
        self._sampler = threading.Thread(target=self._sample, daemon=True)
        self._sampler.start()
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def _sample(self) -> None:
        while not self._stop_sampling.wait(0.25):
            if self.process is None or self.process.poll() is not None:
                return
            rss = proc_status_kib(self.process.pid, "VmRSS") or 0
            self.rss_peak_kib = max(self.rss_peak_kib, rss)

    def errors(self) -> list[str]:
        """The ERROR lines of the operator's log (kopf's text format)."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return []
        return [line for line in text.splitlines() if "[ERROR" in line]

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def check(self) -> None:
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(
                f"the operator exited with {self.process.returncode}:\n"
                + processes.tail(self.log_path, 40)
            )

    def kill9(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait()
        self._stop_sampling.set()

    def stop(self) -> None:
        self._stop_sampling.set()
        if self.process is not None and self.process.poll() is None:
            processes.stop(self.process, grace=15.0)
        self.process = None


# --- watches --------------------------------------------------------------------------------


class Watcher:
    """List + watch one collection in a thread; latest object and first-seen time per name."""

    def __init__(self, kube: Kube, path: str, label_selector: str | None = None) -> None:
        self.kube = kube
        self.path = path
        self.label_selector = label_selector
        self.objects: dict[str, Json] = {}
        self.first_seen: dict[str, float] = {}  # monotonic, ADDED after the start
        self.seen_at: dict[str, float] = {}  # monotonic time of the latest event
        # (mono, type, name, summary) when keep_history: phase, done condition, job-name label
        self.history: list[tuple[float, str, str, dict[str, Any]]] = []
        self.keep_history = False
        self.cond = threading.Condition()
        self.stopping = threading.Event()
        self.error: BaseException | None = None
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> Watcher:
        self.thread.start()
        if not self.ready.wait(30):
            raise RuntimeError(f"watch of {self.path} did not start: {self.error}")
        return self

    def stop(self) -> None:
        self.stopping.set()

    def _list(self) -> str:
        query = {"labelSelector": self.label_selector} if self.label_selector else {}
        listing = self.kube.get(self.path, **query)
        with self.cond:
            for obj in listing.get("items") or []:
                name = obj["metadata"]["name"]
                self.objects[name] = obj
            self.cond.notify_all()
        return str(listing["metadata"]["resourceVersion"])

    def _run(self) -> None:
        try:
            version = self._list()
            self.ready.set()
            while not self.stopping.is_set():
                query = {"labelSelector": self.label_selector} if self.label_selector else {}
                try:
                    for event in self.kube.watch(self.path, version, timeout_seconds=30, **query):
                        if self.stopping.is_set():
                            return
                        kind, obj = event.get("type"), event.get("object") or {}
                        if kind == "ERROR":
                            version = self._list()
                            break
                        version = obj.get("metadata", {}).get("resourceVersion", version)
                        if kind == "BOOKMARK":
                            continue
                        self._record(str(kind), obj)
                except ApiException as error:
                    if error.status == 410:
                        version = self._list()
                        continue
                    raise
        except BaseException as error:  # reported by wait()
            if not self.stopping.is_set():
                self.error = error
                self.ready.set()
                with self.cond:
                    self.cond.notify_all()

    def _record(self, kind: str, obj: Json) -> None:
        now = time.monotonic()
        name = obj["metadata"]["name"]
        with self.cond:
            if kind == "ADDED" and name not in self.first_seen:
                self.first_seen[name] = now
            if kind == "DELETED":
                self.objects.pop(name, None)
            else:
                self.objects[name] = obj
            self.seen_at[name] = now
            if self.keep_history:
                summary = {
                    "phase": (obj.get("status") or {}).get("phase"),
                    "done": job_done(obj),
                    "job": ((obj.get("metadata") or {}).get("labels") or {}).get("job-name"),
                }
                self.history.append((now, kind, name, summary))
            self.cond.notify_all()

    def wait(
        self, what: str, predicate: Callable[[], Any], timeout: float, check: Any = None
    ) -> Any:
        """Wait until ``predicate()`` (called under the lock) is truthy; return its value."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                if self.error is not None:
                    raise RuntimeError(f"watch of {self.path} failed: {self.error!r}")
                value = predicate()
                if value:
                    return value
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
                self.cond.wait(min(left, 1.0))
                if check is not None:
                    check()


def job_done(job: Json) -> str | None:
    for cond in (job.get("status") or {}).get("conditions") or []:
        if cond.get("type") in {"Complete", "Failed"} and cond.get("status") == "True":
            return str(cond["type"])
    return None


def session_label(obj: Json) -> str:
    return str(((obj.get("metadata") or {}).get("labels") or {}).get("tuneop.dev/session", ""))


# --- what else ran on the machine --------------------------------------------------------------


class Neighbours:
    """Samples, every few seconds, the load average and other clusters or pytest runs."""

    def __init__(self, ours: Callable[[], Iterable[int]], every: float = 5.0) -> None:
        self.ours = ours
        self.every = every
        self.samples: list[dict[str, Any]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> Neighbours:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while True:
            self.samples.append(self.sample())
            if self._stop.wait(self.every):
                return

    def sample(self) -> dict[str, Any]:
        ours = set(self.ours())
        apiservers = pytest = 0
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) in ours:
                continue
            try:
                argv = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if argv and argv[0].endswith(b"kube-apiserver"):
                apiservers += 1
            elif any(a.endswith(b"pytest") or a == b"pytest" for a in argv[:3]):
                pytest += 1
        return {
            "t": time.time(),
            "load1": os.getloadavg()[0],
            "other_apiservers": apiservers,
            "pytest": pytest,
        }

    def summary(self) -> dict[str, Any]:
        if not self.samples:
            return {}
        loads = sorted(s["load1"] for s in self.samples)
        n = len(self.samples)
        return {
            "samples": n,
            "load1_median": loads[n // 2],
            "load1_max": loads[-1],
            "other_cluster_share": sum(1 for s in self.samples if s["other_apiservers"]) / n,
            "pytest_share": sum(1 for s in self.samples if s["pytest"]) / n,
        }


def lifecycle(jobs: Watcher, pods: Watcher, parallel: int) -> dict[str, Any]:
    """Median stage times (ms) of the Jobs and their first pods, from two watchers' histories."""
    job_added: dict[str, float] = {}
    job_finished: dict[str, float] = {}
    job_deleted: dict[str, float] = {}
    for t, kind, name, summary in jobs.history:
        if kind == "ADDED":
            job_added.setdefault(name, t)
        if summary["done"]:
            job_finished.setdefault(name, t)
        if kind == "DELETED":
            job_deleted.setdefault(name, t)
    pod_added: dict[str, float] = {}
    pod_running: dict[str, float] = {}
    pod_finished: dict[str, float] = {}
    first_pod: dict[str, str] = {}
    for t, kind, name, summary in pods.history:
        if summary["job"]:
            first_pod.setdefault(summary["job"], name)
        if kind == "ADDED":
            pod_added.setdefault(name, t)
        if summary["phase"] == "Running":
            pod_running.setdefault(name, t)
        if summary["phase"] in {"Succeeded", "Failed"}:
            pod_finished.setdefault(name, t)

    def median_ms(pairs: Iterable[tuple[float | None, float | None]]) -> float | None:
        gaps = [b - a for a, b in pairs if a is not None and b is not None]
        return round(sorted(gaps)[len(gaps) // 2] * 1000, 1) if gaps else None

    jobs_in_order = sorted(job_added, key=lambda n: job_added[n])
    pod_of = {j: first_pod.get(j) for j in jobs_in_order}
    finishes = sorted(job_finished.values())
    refill = []
    for name in jobs_in_order[parallel:]:
        before = [f for f in finishes if f <= job_added[name]]
        if before:
            refill.append((before[-1], job_added[name]))
    return {
        "jobs": len(jobs_in_order),
        "job_created_to_pod_created": median_ms(
            (job_added[j], pod_added.get(p or "")) for j, p in pod_of.items()
        ),
        "pod_created_to_running": median_ms(
            (pod_added.get(p or ""), pod_running.get(p or "")) for p in pod_of.values()
        ),
        "pod_running_to_finished": median_ms(
            (pod_running.get(p or ""), pod_finished.get(p or "")) for p in pod_of.values()
        ),
        "pod_finished_to_job_complete": median_ms(
            (pod_finished.get(p or ""), job_finished.get(j)) for j, p in pod_of.items()
        ),
        "job_created_to_complete": median_ms(
            (job_added[j], job_finished.get(j)) for j in jobs_in_order
        ),
        "job_complete_to_deleted": median_ms(
            (job_finished.get(j), job_deleted.get(j)) for j in jobs_in_order
        ),
        "completion_to_next_job": median_ms(refill),
    }


# --- where the operator's memory goes: tracemalloc through a sitecustomize -----------------

TRACE_SITECUSTOMIZE = """\
import json, os, signal, tracemalloc

_OUT = os.environ.get("TUNEOP_BENCH_TRACE")


def _key(f):
    if "site-packages/" in f:
        return "/".join(f.split("site-packages/", 1)[1].split("/")[:3])
    if "/operator/tuneop/" in f:
        return "tuneop/" + f.split("/operator/tuneop/", 1)[1]
    if "/lib/python3." in f:
        rest = f.split("/lib/python3.", 1)[1].split("/", 1)[-1]
        return "stdlib:" + rest.split("/", 1)[0]
    return f


def _owner(traceback):
    # The most recent frame outside the standard library made (or asked for) the block.
    site = None
    for frame in reversed(traceback):
        key = _key(frame.filename)
        site = site or key
        if not (key.startswith("stdlib:") or key.startswith("<")):
            return key if key == site else key + " via " + site
    return site or "?"


def _signal(signum, frame):
    # The first signal starts tracing (after start-up), each later one dumps what was
    # allocated since and is still alive, by owner.
    _signal.n += 1
    sizes = {}
    if not tracemalloc.is_tracing():
        tracemalloc.start(16)
    else:
        for stat in tracemalloc.take_snapshot().statistics("traceback"):
            key = _owner(stat.traceback)
            sizes[key] = sizes.get(key, 0) + stat.size
    tmp = _OUT + "." + str(_signal.n) + ".tmp"
    with open(tmp, "w") as handle:
        json.dump({"traced": tracemalloc.get_traced_memory(), "by": sizes}, handle)
    os.rename(tmp, _OUT + "." + str(_signal.n))


_signal.n = 0
if _OUT:
    signal.signal(signal.SIGUSR1, _signal)
"""


def trace_env(directory: Path) -> tuple[dict[str, str], Path]:
    """Environment for a Python process that traces allocations from its first SIGUSR1 on
    and dumps the live ones, by owner, on every later SIGUSR1."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "sitecustomize.py").write_text(TRACE_SITECUSTOMIZE)
    out = directory / "trace"
    path = os.pathsep.join(p for p in (str(directory), os.environ.get("PYTHONPATH", "")) if p)
    return {"PYTHONPATH": path, "TUNEOP_BENCH_TRACE": str(out)}, out


def trace_dump(pid: int, out: Path, number: int, timeout: float = 600.0) -> dict[str, Any]:
    """Ask the traced process for snapshot ``number`` and read it."""
    target = Path(f"{out}.{number}")
    os.kill(pid, signal.SIGUSR1)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if target.exists():
            data: dict[str, Any] = json.loads(target.read_text())
            return data
        time.sleep(0.2)
    raise TimeoutError(f"no tracemalloc dump {target}")
