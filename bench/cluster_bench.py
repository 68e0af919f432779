"""Control-plane benchmark: the operator against a real kube-apiserver 1.20.

Starts its own cluster with the e2e harness (testing/minicluster: etcd,
kube-apiserver and kube-controller-manager 1.20.2, and the node simulator that
runs each pod's command as a local process), with the API server's audit log
on so every request is attributed to its client. The operator runs as a
process (``tuneop operator --namespace NS --liveness '' --metrics-port 0``)
with its own client certificate (user ``tuneop-operator``, in
``system:masters``); this script uses ``tuneop-bench``; the node simulator uses
the harness's admin (``tuneop-e2e-admin``) and the controller-manager its
per-controller ServiceAccounts. Each measurement gets a fresh namespace and a
fresh operator process; the namespace is deleted (and waited for) afterwards.

Measurements (``--only``, comma-separated; default all):

latency     create a TuningSession (one explicit trial of quadratic) and time
            from the create call returning to the session's first Job appearing
            on a Job watch; sequential sessions, each waited to Succeeded before
            the next; one unrecorded warm-up session first. p50 and p95
            (nearest rank). Target p50 < 1 s.
throughput  N trivial trials (explicit trials of quadratic, one trial per Job)
            at maxParallel P: create → phase Succeeded, against a floor measured
            in the same run: this script creating the same Job manifests (built
            by tuneop.core.manifests.job_manifest: same command, same env) in
            waves of P and waiting for each wave to complete. Target <= 1.3x.
api         from the same operator run: the operator's API requests per trial,
            counted in the audit log (user tuneop-operator, from the create to
            all Jobs cleaned up plus 2 s; long-running watches listed apart),
            and cross-checked with apiserver_request_total (all clients, watches
            left out): operator run minus floor run. Target <= 6 per trial.
rss         S sessions x T trials (random search over quadratic, trialsPerJob J,
            maxParallel M) created at once; the operator's VmHWM from
            /proc/<pid>/status once all have Succeeded. Target <= 120 MB.
restart     R sessions whose trials sleep D s (maxParallel 1, one trial per
            Job): once every session has its first Job running and recorded in
            its status, kill -9 the operator, wait until those Jobs complete,
            start a new operator and time until every session is recovered:
            its status counts more harvested Jobs than at the kill (the Job that
            finished during the outage was harvested) AND its next Job was
            created by the new operator.

Run: .venv/bin/python bench/cluster_bench.py [--quick] [--only latency,api]
"""

from __future__ import annotations

import argparse
import math
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cluster_support import (
    BATCH,
    REPO,
    TS,
    ApiException,
    BenchCluster,
    Neighbours,
    Operator,
    Request,
    Watcher,
    binaries_missing,
    breakdown,
    cpu_delta,
    cpu_seconds,
    job_done,
    lifecycle,
    proc_status_kib,
    totals_delta,
    trace_dump,
    trace_env,
)
from common import header, save
from tuneop.api.session import SessionRef
from tuneop.api.spec import parse_spec
from tuneop.core.manifests import LABEL_MANAGED_BY, MANAGED_BY, job_manifest

QUADRATIC = "tuneop_runner.objectives.functions:quadratic"
MANAGED = f"{LABEL_MANAGED_BY}={MANAGED_BY}"
KUBECTL = shutil.which("kubectl") or "/usr/bin/kubectl"

DEFAULTS = {
    "latency_sessions": 20,
    "throughput_trials": 200,
    "throughput_parallel": 20,
    "throughput_runs": 3,
    "rss_sessions": 50,
    "rss_trials": 100,
    "rss_trials_per_job": 25,
    "rss_parallel": 1,
    "restart_sessions": 50,
    "restart_trial_seconds": 30,
}
QUICK = {
    "latency_sessions": 5,
    "throughput_trials": 40,
    "throughput_parallel": 10,
    "throughput_runs": 1,
    "rss_sessions": 5,
    "rss_trials": 20,
    "rss_trials_per_job": 10,
    "rss_parallel": 1,
    "restart_sessions": 5,
    "restart_trial_seconds": 15,
}
ALL = ("latency", "throughput", "api", "rss", "restart")
WRITES = frozenset({"create", "patch", "update", "delete"})
KOPF_PATCH = "patch tuningsessions"
OPERATORS: list[Operator] = []  # every operator process started, for their logs' errors


# --- small helpers ----------------------------------------------------------------------------


def nearest_rank(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def mb(kib: int | None) -> float:
    return (kib or 0) / 1024


def session_doc(
    name: str,
    *,
    trials: list[dict[str, Any]] | None = None,
    total: int | None = None,
    max_parallel: int = 1,
    per_job: int = 1,
    command: list[str] | None = None,
    timeout: int = 120,
    optimizer: str = "random",
    seed: int = 1,
) -> dict[str, Any]:
    runner: dict[str, Any] = {"image": "tuneop/runner:0.1.0"}
    if command:
        runner["objectiveCommand"] = command
    else:
        runner["objective"] = QUADRATIC
    spec: dict[str, Any] = {
        "objective": {"metric": "loss"},
        "maxParallel": max_parallel,
        "trialsPerJob": per_job,
        "trialTimeoutSeconds": timeout,
        "runner": runner,
    }
    if trials is not None:
        spec["trials"] = trials
    else:
        spec["searchSpace"] = [
            {"name": "x", "type": "float", "min": -5, "max": 10},
            {"name": "y", "type": "float", "min": -3, "max": 3},
        ]
        spec["optimizer"] = {"type": optimizer, "seed": seed}
        spec["totalTrials"] = total
    return {
        "apiVersion": "tuneop.dev/v1alpha1",
        "kind": "TuningSession",
        "metadata": {"name": name},
        "spec": spec,
    }


def explicit_trials(n: int) -> list[dict[str, Any]]:
    return [{"x": i % 7} for i in range(n)]


def create_session(bc: BenchCluster, namespace: str, doc: dict[str, Any]) -> None:
    bc.kube.post(f"{TS}/namespaces/{namespace}/tuningsessions", doc)


def phase(obj: dict[str, Any] | None) -> str:
    return str(((obj or {}).get("status") or {}).get("phase") or "")


def status_jobs(obj: dict[str, Any] | None, key: str) -> int:
    return int((((obj or {}).get("status") or {}).get("jobs") or {}).get(key) or 0)


class Namespace:
    """A fresh namespace (pods can run in it once its default ServiceAccount has a token)."""

    def __init__(self, bc: BenchCluster, name: str) -> None:
        self.bc = bc
        self.name = name

    def __enter__(self) -> str:
        kube = self.bc.kube
        kube.post(
            "/api/v1/namespaces",
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": self.name}},
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            account = kube.get_or_none(f"/api/v1/namespaces/{self.name}/serviceaccounts/default")
            if account and account.get("secrets"):
                return self.name
            time.sleep(0.1)
        raise TimeoutError(f"no ServiceAccount token in namespace {self.name}")

    def __exit__(self, *exc: object) -> None:
        """Delete it and wait until the namespace controller has emptied it (bounded)."""
        kube = self.bc.kube
        try:
            # The operator is stopped by now: drop kopf's finalizer, or the sessions (and
            # so the namespace) would wait for it forever.
            path = f"{TS}/namespaces/{self.name}/tuningsessions"
            for item in kube.get(path).get("items") or []:
                if item["metadata"].get("finalizers"):
                    kube.patch(
                        f"{path}/{item['metadata']['name']}", {"metadata": {"finalizers": None}}
                    )
            kube.delete(f"/api/v1/namespaces/{self.name}")
            deadline = time.monotonic() + 180
            while time.monotonic() < deadline:
                if kube.get_or_none(f"/api/v1/namespaces/{self.name}") is None:
                    return
                time.sleep(0.5)
            print(f"  (namespace {self.name} still terminating after 180 s; going on)")
        except Exception as error:  # clean-up must not hide the measurement's own error
            print(f"  (could not delete namespace {self.name}: {error})")


def apply_crd(bc: BenchCluster) -> None:
    env = {**os.environ, "KUBECONFIG": str(bc.bench_kubeconfig)}
    subprocess.run(
        [KUBECTL, "apply", "-f", str(REPO / "crds" / "tuningsession.yaml")],
        env=env,
        check=True,
        capture_output=True,
    )
    path = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/tuningsessions.tuneop.dev"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        crd = bc.kube.get(path)
        conditions = (crd.get("status") or {}).get("conditions") or []
        if any(c["type"] == "Established" and c["status"] == "True" for c in conditions):
            try:
                bc.kube.get(f"{TS}/tuningsessions")
                return
            except ApiException:
                pass
        time.sleep(0.2)
    raise TimeoutError("the TuningSession CRD was not established")


def start_operator(
    bc: BenchCluster, namespace: str, tag: str, env: dict[str, str] | None = None
) -> Operator:
    """Start ``tuneop operator`` and wait until it watches sessions and Jobs (audit log)."""
    op = Operator(
        kubeconfig=bc.operator_kubeconfig,
        namespace=namespace,
        log_path=bc.state_dir / "logs" / f"operator-{tag}.log",
        extra_env=env or {},
    )
    OPERATORS.append(op)
    op.start()
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        op.check()
        watches = {
            r.resource
            for r in bc.audit.window(op.started_wall, time.time() + 1, "operator", namespace)
            if r.verb == "watch"
        }
        if {"tuningsessions", "jobs"} <= watches:
            return op
        time.sleep(0.1)
    op.stop()
    raise TimeoutError(f"operator {tag} did not start watching within 90 s")


def first_after(requests: list[Request], start: float, pred: Callable[[Request], bool]) -> float:
    times = [r.when for r in requests if r.when >= start and pred(r)]
    return min(times) - start if times else float("nan")


# --- 1. latency -------------------------------------------------------------------------------


def bench_latency(bc: BenchCluster, sessions: int) -> dict[str, Any]:
    with Namespace(bc, "bench-latency") as ns:
        jobs = Watcher(bc.new_kube(), f"{BATCH}/namespaces/{ns}/jobs", MANAGED).start()
        ts = Watcher(bc.new_kube(), f"{TS}/namespaces/{ns}/tuningsessions").start()
        op = start_operator(bc, ns, "latency")
        samples: list[float] = []
        marks: list[tuple[str, float]] = []
        try:
            for i in range(sessions + 1):
                name = "warmup" if i == 0 else f"lat-{i}"
                doc = session_doc(name, trials=explicit_trials(1))
                create_session(bc, ns, doc)
                t0, w0 = time.monotonic(), time.time()
                job = f"{name}-0"
                seen = jobs.wait(
                    f"Job {job}", lambda job=job: jobs.first_seen.get(job), 30, op.check
                )
                if i > 0:
                    samples.append(seen - t0)
                    marks.append((name, w0))
                ts.wait(
                    f"{name} to succeed",
                    lambda name=name: phase(ts.objects.get(name)) in {"Succeeded", "Failed"},
                    60,
                    op.check,
                )
                if phase(ts.objects.get(name)) != "Succeeded":
                    raise RuntimeError(f"{name} ended {phase(ts.objects.get(name))}")
        finally:
            op.stop()
            jobs.stop()
            ts.stop()
    # Where the time goes, from the audit log (the apiserver's receive times).
    requests = bc.audit.window(marks[0][1] - 1, time.time(), "operator", ns) if marks else []
    parts: dict[str, list[float]] = {"first_request": [], "first_get": [], "job_create": []}
    for _name, w0 in marks:
        later = [r for r in requests if r.when >= w0]
        parts["first_request"].append(first_after(later, w0, lambda r: True))
        parts["first_get"].append(
            first_after(later, w0, lambda r: r.verb == "get" and r.resource == "tuningsessions")
        )
        parts["job_create"].append(
            first_after(later, w0, lambda r: r.verb == "create" and r.resource == "jobs")
        )
    return {
        "sessions": sessions,
        "samples_s": samples,
        "p50_s": statistics.median(samples),
        "p95_s": nearest_rank(samples, 0.95),
        "min_s": min(samples),
        "max_s": max(samples),
        "breakdown_median_s": {k: statistics.median(v) for k, v in parts.items()},
        "breakdown_s": parts,
        "operator_requests_per_session": breakdown(requests),
    }


# --- 2 and 3. throughput and API requests ------------------------------------------------------


def snapshot(bc: BenchCluster, extra: dict[str, int] | None = None) -> dict[str, Any]:
    return {
        "wall": time.time(),
        "mono": time.monotonic(),
        "cpu": cpu_seconds({**bc.pids(), **(extra or {})}),
        "metrics": bc.request_totals(),
    }


def window_figures(bc: BenchCluster, a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    requests = bc.audit.window(a["wall"], b["wall"])
    by_who: dict[str, int] = {}
    watches: dict[str, int] = {}
    controllers: dict[str, int] = {}
    for r in requests:
        if r.verb == "watch":
            watches[r.who] = watches.get(r.who, 0) + 1
        else:
            by_who[r.who] = by_who.get(r.who, 0) + 1
            if r.who == "controller-manager":
                user = r.user.rsplit(":", 1)[-1]
                controllers[user] = controllers.get(user, 0) + 1
    return {
        "seconds": b["mono"] - a["mono"],
        "cpu_s": cpu_delta(a["cpu"], b["cpu"]),
        "metrics": totals_delta(a["metrics"], b["metrics"]),
        "audit_by_client": by_who,
        "audit_watches_by_client": watches,
        # Each controller has its own client (--use-service-account-credentials), each
        # limited to the controller-manager's --kube-api-qps (20 by default).
        "audit_controllers": dict(sorted(controllers.items(), key=lambda kv: -kv[1])),
    }


def run_floor(bc: BenchCluster, trials: int, parallel: int, tag: str) -> dict[str, Any]:
    """This script as the operator: the same Jobs, in waves of ``parallel``, nothing else."""
    with Namespace(bc, f"bench-floor-{tag}") as ns:
        spec = parse_spec(session_doc("floor", trials=explicit_trials(trials))["spec"])
        ref = SessionRef(ns, "floor")
        params = explicit_trials(trials)
        manifests = [job_manifest(spec, ref, i, (i,), [params[i]]) for i in range(trials)]
        jobs, pods = lifecycle_watchers(bc, ns)
        try:
            a = snapshot(bc)
            for first in range(0, trials, parallel):
                wave = manifests[first : first + parallel]
                for manifest in wave:
                    bc.kube.post(f"{BATCH}/namespaces/{ns}/jobs", manifest)
                names = [m["metadata"]["name"] for m in wave]
                jobs.wait(
                    f"wave at {first} to complete",
                    lambda names=names: all(job_done(jobs.objects.get(n, {})) for n in names),
                    300,
                )
            b = snapshot(bc)
            failed = [n for n, j in jobs.objects.items() if job_done(j) != "Complete"]
            if failed:
                raise RuntimeError(f"floor Jobs not Complete: {failed[:5]}")
        finally:
            jobs.stop()
            pods.stop()
    out = window_figures(bc, a, b)
    out["lifecycle_ms"] = lifecycle(jobs, pods, parallel)
    return out


def lifecycle_watchers(bc: BenchCluster, ns: str) -> tuple[Watcher, Watcher]:
    jobs = Watcher(bc.new_kube(), f"{BATCH}/namespaces/{ns}/jobs", MANAGED)
    pods = Watcher(bc.new_kube(), f"/api/v1/namespaces/{ns}/pods", MANAGED)
    jobs.keep_history = pods.keep_history = True
    return jobs.start(), pods.start()


def run_operator(bc: BenchCluster, trials: int, parallel: int, tag: str) -> dict[str, Any]:
    with Namespace(bc, f"bench-tp-{tag}") as ns:
        jobs, pods = lifecycle_watchers(bc, ns)
        ts = Watcher(bc.new_kube(), f"{TS}/namespaces/{ns}/tuningsessions").start()
        op = start_operator(bc, ns, f"throughput-{tag}")
        try:
            a = snapshot(bc, {"operator": op.pid})
            create_session(
                bc, ns, session_doc("tp", trials=explicit_trials(trials), max_parallel=parallel)
            )
            ts.wait(
                "session tp to finish",
                lambda: phase(ts.objects.get("tp")) in {"Succeeded", "Failed"},
                1200,
                op.check,
            )
            done = snapshot(bc, {"operator": op.pid})
            final = ts.objects["tp"]
            if phase(final) != "Succeeded":
                raise RuntimeError(f"session tp ended {phase(final)}: {final.get('status')}")
            # Let the clean-up finish (harvested Jobs deleted), then count everything.
            jobs.wait("the Jobs to be cleaned up", lambda: not jobs.objects, 120, op.check)
            time.sleep(2)
            b = snapshot(bc, {"operator": op.pid})
        finally:
            op.stop()
            jobs.stop()
            pods.stop()
            ts.stop()
    operator_requests = bc.audit.window(a["wall"], b["wall"], "operator")
    non_watch = [r for r in operator_requests if r.verb != "watch"]
    out = window_figures(bc, a, b)
    out.update(
        {
            "seconds": done["mono"] - a["mono"],
            "cpu_s_to_succeeded": cpu_delta(a["cpu"], done["cpu"]),
            "operator_requests": len(non_watch),
            "operator_watches": len(operator_requests) - len(non_watch),
            "operator_breakdown": breakdown(non_watch),
            "operator_errors": breakdown(r for r in non_watch if r.code >= 400),
            "lifecycle_ms": lifecycle(jobs, pods, parallel),
            "handler_runs": handler_runs(op),
            "status": final.get("status"),
        }
    )
    return out


def handler_runs(op: Operator) -> dict[str, int]:
    """kopf's log lines per handler outcome ("Handler 'job_event' succeeded." ...)."""
    out: dict[str, int] = {}
    try:
        text = op.log_path.read_text(errors="replace")
    except OSError:
        return out
    for _kind, name, outcome in re.findall(r"(Handler|Timer) '(\w+)' (succeeded|failed)", text):
        key = f"{name} {outcome}"
        out[key] = out.get(key, 0) + 1
    return out


def bench_throughput(
    bc: BenchCluster, trials: int, parallel: int, runs: int, kcm_qps: int | None
) -> dict[str, Any]:
    pairs = []
    for run in range(runs):
        floor = run_floor(bc, trials, parallel, str(run))
        print(f"  run {run}: floor {floor['seconds']:.1f} s", flush=True)
        ours = run_operator(bc, trials, parallel, str(run))
        print(f"  run {run}: operator {ours['seconds']:.1f} s", flush=True)
        pairs.append({"floor": floor, "operator": ours})
    floor_s = [p["floor"]["seconds"] for p in pairs]
    ours_s = [p["operator"]["seconds"] for p in pairs]
    per_trial = [p["operator"]["operator_requests"] / trials for p in pairs]
    extra = [
        (p["operator"]["metrics"]["total"] - p["floor"]["metrics"]["total"]) / trials for p in pairs
    ]
    return {
        "trials": trials,
        "maxParallel": parallel,
        "runs": runs,
        "kcm_qps": kcm_qps,
        "pairs": pairs,
        "floor_median_s": statistics.median(floor_s),
        "operator_median_s": statistics.median(ours_s),
        "ratio": statistics.median(ours_s) / statistics.median(floor_s),
        "api_per_trial": statistics.median(per_trial),
        "api_metrics_extra_per_trial": statistics.median(extra),
    }


# --- 4. RSS -------------------------------------------------------------------------------------


# Each entry in its own fresh interpreter; "a+b" imports a, then b. The operator loads
# Optuna only for its first bayesian session: the last entry is what that adds.
IMPORTS = (
    "",
    "pydantic",
    "optuna",
    "kubernetes",
    "kopf",
    "tuneop.controller.handlers",
    "tuneop.controller.handlers+tuneop.core.bayesian+optuna.samplers",
)


def import_footprint() -> dict[str, float]:
    """VmRSS (MB) of a fresh interpreter after importing each module (or modules) on its own."""
    out = {}
    for module in IMPORTS:
        load = "".join(f"importlib.import_module({m!r}); " for m in module.split("+") if m)
        code = (
            f"import importlib; {load}"
            "print([l.split()[1] for l in open('/proc/self/status') if l.startswith('VmRSS')][0])"
        )
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        out[module or "python"] = int(done.stdout.strip()) / 1024
    return out


def bench_rss(
    bc: BenchCluster,
    sessions: int,
    trials: int,
    per_job: int,
    parallel: int,
    optimizer: str,
    trace: bool = False,
) -> dict[str, Any]:
    """Peak RSS of the operator; with ``trace``, a tracemalloc breakdown instead (slower)."""
    tag = f"rss-{optimizer}" + ("-traced" if trace else "")
    env, trace_out = trace_env(bc.state_dir / tag) if trace else ({}, None)
    dumps = []
    with Namespace(bc, f"bench-{tag}") as ns:
        ts = Watcher(bc.new_kube(), f"{TS}/namespaces/{ns}/tuningsessions").start()
        op = start_operator(bc, ns, tag, env)
        try:
            time.sleep(1)
            idle_kib = proc_status_kib(op.pid, "VmRSS")
            if trace_out is not None:
                dumps.append(trace_dump(op.pid, trace_out, 1))  # starts tracing
            a = snapshot(bc, {"operator": op.pid})
            names = [f"rss-{i}" for i in range(sessions)]
            # Distinct seeds: sessions with one spec would share one cached bayesian study.
            for i, name in enumerate(names):
                doc = session_doc(
                    name,
                    total=trials,
                    max_parallel=parallel,
                    per_job=per_job,
                    optimizer=optimizer,
                    seed=i,
                )
                create_session(bc, ns, doc)
            ts.wait(
                f"{sessions} sessions to finish",
                lambda: all(phase(ts.objects.get(n)) in {"Succeeded", "Failed"} for n in names),
                3600,
                op.check,
            )
            b = snapshot(bc, {"operator": op.pid})
            hwm_kib = proc_status_kib(op.pid, "VmHWM")
            end_kib = proc_status_kib(op.pid, "VmRSS")
            if trace_out is not None:
                dumps.append(trace_dump(op.pid, trace_out, 2))
            phases = [phase(ts.objects.get(n)) for n in names]
            succeeded = sum(
                int(((ts.objects[n].get("status") or {}).get("trials") or {}).get("succeeded") or 0)
                for n in names
            )
        finally:
            op.stop()
            ts.stop()
    if any(p != "Succeeded" for p in phases):
        raise RuntimeError(f"rss sessions did not all succeed: {sorted(set(phases))}")
    out = window_figures(bc, a, b)
    out.update(
        {
            "sessions": sessions,
            "trials": trials,
            "optimizer": optimizer,
            "traced": trace,
            "trialsPerJob": per_job,
            "maxParallel": parallel,
            "trials_succeeded": succeeded,
            "idle_rss_mb": mb(idle_kib),
            "peak_rss_sampled_mb": mb(op.rss_peak_kib),
            "vmhwm_mb": mb(hwm_kib),
            "end_rss_mb": mb(end_kib),
        }
    )
    if len(dumps) == 2:
        end = dumps[1]  # what was allocated after start-up and is still alive
        out["trace"] = {
            "live_mb": end["traced"][0] / 2**20,
            "peak_mb": end["traced"][1] / 2**20,
            "live_by_owner_mb": {
                k: round(v / 2**20, 2)
                for k, v in sorted(end["by"].items(), key=lambda kv: -kv[1])
                if v >= 2**17
            },
        }
    return out


# --- 5. restart ---------------------------------------------------------------------------------


def bench_restart(bc: BenchCluster, sessions: int, trial_seconds: int) -> dict[str, Any]:
    sleeper = ["sh", "-c", f"sleep {trial_seconds}; echo '{{\"loss\": 1.0}}'"]
    names = [f"rs-{i}" for i in range(sessions)]
    with Namespace(bc, "bench-restart") as ns:
        jobs = Watcher(bc.new_kube(), f"{BATCH}/namespaces/{ns}/jobs", MANAGED).start()
        ts = Watcher(bc.new_kube(), f"{TS}/namespaces/{ns}/tuningsessions").start()
        op = start_operator(bc, ns, "restart-1")
        op2: Operator | None = None
        try:
            for name in names:
                doc = session_doc(
                    name, trials=explicit_trials(3), command=sleeper, timeout=trial_seconds + 60
                )
                create_session(bc, ns, doc)
            ts.wait(
                "every session to record its first Job",
                lambda: all(status_jobs(ts.objects.get(n), "launched") >= 1 for n in names),
                300,
                op.check,
            )
            op.kill9()
            killed = time.monotonic()
            at_kill = {
                n: {
                    "harvested": status_jobs(ts.objects.get(n), "harvested"),
                    "next": int(((ts.objects[n].get("status") or {}).get("nextJob")) or 0),
                }
                for n in names
            }
            if any(v["harvested"] for v in at_kill.values()):
                print("  (some sessions harvested a Job before the kill: trials too short?)")
            # Every session must have a Job that finished while no operator ran.
            jobs.wait(
                "the running Jobs to complete during the outage",
                lambda: all(
                    any(
                        job_done(jobs.objects.get(f"{n}-{j}", {}))
                        for j in range(at_kill[n]["next"])
                    )
                    for n in names
                ),
                trial_seconds + 300,
            )
            outage = time.monotonic() - killed
            recovered: dict[str, float] = {}
            new_job: dict[str, float] = {}
            harvested: dict[str, float] = {}
            op2 = Operator(
                kubeconfig=bc.operator_kubeconfig,
                namespace=ns,
                log_path=bc.state_dir / "logs" / "operator-restart-2.log",
            )
            OPERATORS.append(op2)
            c0 = cpu_seconds(bc.pids())
            op2.start()
            t0, w0 = time.monotonic(), op2.started_wall

            def all_recovered() -> bool:
                now = time.monotonic()
                for n in names:
                    if n in recovered:
                        continue
                    nxt = f"{n}-{at_kill[n]['next']}"
                    seen = jobs.first_seen.get(nxt)
                    if seen is not None and seen >= t0 and n not in new_job:
                        new_job[n] = seen - t0
                    more = status_jobs(ts.objects.get(n), "harvested") > at_kill[n]["harvested"]
                    if more and n not in harvested:
                        harvested[n] = ts.seen_at.get(n, now) - t0
                    if n in new_job and n in harvested:
                        recovered[n] = max(new_job[n], harvested[n])
                return len(recovered) == len(names)

            jobs_or_ts_wait(jobs, ts, all_recovered, 300, op2.check)
            total = time.monotonic() - t0
            c1 = cpu_seconds({**bc.pids(), "operator": op2.pid})
        finally:
            op.stop()
            if op2 is not None:
                op2.stop()
            jobs.stop()
            ts.stop()
    requests = bc.audit.window(w0, w0 + total, "operator")
    startup = {
        "first_request": first_after(requests, w0, lambda r: True),
        "sessions_watch": first_after(
            requests, w0, lambda r: r.verb == "watch" and r.resource == "tuningsessions"
        ),
        "first_job_create": first_after(
            requests, w0, lambda r: r.verb == "create" and r.resource == "jobs"
        ),
    }
    times = list(recovered.values())
    return {
        "sessions": sessions,
        "trial_seconds": trial_seconds,
        "outage_s": outage,
        "all_recovered_s": total,
        "recovered_median_s": statistics.median(times),
        "recovered_p95_s": nearest_rank(times, 0.95),
        "new_job_median_s": statistics.median(new_job.values()),
        "harvest_median_s": statistics.median(harvested.values()),
        "startup_s": startup,
        "operator_requests": len([r for r in requests if r.verb != "watch"]),
        # The writes that go through the operator's rate limiter (kopf's own patches do not).
        "operator_writes": len([r for r in requests if r.verb in WRITES and r.kind != KOPF_PATCH]),
        "operator_breakdown": breakdown(r for r in requests if r.verb != "watch"),
        "cpu_s": cpu_delta(c0, c1),
        "recovered_s": recovered,
    }


def jobs_or_ts_wait(
    jobs: Watcher, ts: Watcher, predicate: Callable[[], bool], timeout: float, check: Any
) -> None:
    """Wait for a predicate over two watchers: re-check on either's events."""
    deadline = time.monotonic() + timeout
    while True:
        with jobs.cond, ts.cond:
            if predicate():
                return
        if time.monotonic() > deadline:
            raise TimeoutError("timed out waiting for every session to recover")
        check()
        # Wake on whichever watcher sees something first (poll the other at 20 ms).
        with ts.cond:
            ts.cond.wait(0.02)


# --- the report ---------------------------------------------------------------------------------


def report(results: dict[str, Any], sizes: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    rows: list[tuple[str, str, str, str]] = []

    def verdict(ok: bool) -> str:
        return "met" if ok else "MISSED"

    if "latency" in results:
        r = results["latency"]
        rows.append(
            (
                f"apply -> first Job ({r['sessions']} sessions)",
                f"p50 {r['p50_s'] * 1000:.0f} ms, p95 {r['p95_s'] * 1000:.0f} ms "
                f"(min {r['min_s'] * 1000:.0f}, max {r['max_s'] * 1000:.0f})",
                "p50 < 1 s",
                verdict(r["p50_s"] < 1.0),
            )
        )
    if "throughput" in results:
        t = results["throughput"]
        rows.append(
            (
                f"{t['trials']} trials, maxParallel {t['maxParallel']} (runs {t['runs']})",
                f"operator {t['operator_median_s']:.1f} s vs bare Jobs "
                f"{t['floor_median_s']:.1f} s = {t['ratio']:.2f}x",
                "<= 1.3x",
                verdict(t["ratio"] <= 1.3),
            )
        )
        if sizes.get("api"):
            rows.append(
                (
                    f"API requests per trial ({t['trials']} trials)",
                    f"{t['api_per_trial']:.2f} (audit, operator's user); "
                    f"metrics cross-check {t['api_metrics_extra_per_trial']:.2f} more than floor",
                    "<= 6",
                    verdict(t["api_per_trial"] <= 6),
                )
            )
    for r in results.get("rss", []):
        rows.append(
            (
                f"operator RSS, {r['sessions']} x {r['trials']} trials, {r['optimizer']} "
                f"(trialsPerJob {r['trialsPerJob']}, maxParallel {r['maxParallel']})",
                f"VmHWM {r['vmhwm_mb']:.1f} MB (idle {r['idle_rss_mb']:.1f} MB)",
                "<= 120 MB",
                verdict(r["vmhwm_mb"] <= 120),
            )
        )
    if "restart" in results:
        r = results["restart"]
        rows.append(
            (
                f"restart recovery, {r['sessions']} running sessions",
                f"all recovered {r['all_recovered_s']:.1f} s after start "
                f"(median {r['recovered_median_s']:.1f}, first API request "
                f"{r['startup_s']['first_request']:.1f})",
                "(none)",
                "-",
            )
        )
    return rows


def print_details(results: dict[str, Any]) -> None:
    if "latency" in results:
        r = results["latency"]
        b = r["breakdown_median_s"]
        print(
            f"latency: median from the create returning to the operator's first request "
            f"{b['first_request'] * 1000:.0f} ms, its first session GET "
            f"{b['first_get'] * 1000:.0f} ms, its Job create {b['job_create'] * 1000:.0f} ms "
            f"(apiserver receive times)"
        )
    if "throughput" in results:
        t = results["throughput"]
        for i, p in enumerate(t["pairs"]):
            f, o = p["floor"], p["operator"]
            print(
                f"throughput run {i}: CPU s floor {fmt_cpu(f['cpu_s'])}; "
                f"operator run {fmt_cpu(o['cpu_s_to_succeeded'])}"
            )
            print(
                f"api run {i}: operator {o['operator_requests']} requests + "
                f"{o['operator_watches']} watches for {t['trials']} trials: "
                + ", ".join(f"{k} {v}" for k, v in o["operator_breakdown"].items())
            )
            per_trial = ", ".join(
                f"{k} {v / t['trials']:.2f}" for k, v in o["operator_breakdown"].items()
            )
            print(f"api run {i}: per trial: {per_trial}")
            lists = o["operator_breakdown"].get("list jobs", 0)
            writes = o["operator_breakdown"].get("patch tuningsessions/status", 0)
            gets = o["operator_breakdown"].get("get tuningsessions", 0)
            print(
                f"api run {i}: reconciles (one list jobs each) {lists}, status writes {writes}: "
                f"{lists - writes} reconciles wrote no status; session GETs per reconcile "
                f"{gets / max(lists, 1):.2f}; Jobs the operator deleted "
                f"{o['operator_breakdown'].get('delete jobs', 0)}; kopf handler runs: "
                + ", ".join(f"{k} {v}" for k, v in o["handler_runs"].items())
            )
            lf, lo = f["lifecycle_ms"], o["lifecycle_ms"]
            stages = (
                ("Job created -> pod created", "job_created_to_pod_created"),
                ("pod created -> Running", "pod_created_to_running"),
                ("Running -> pod finished", "pod_running_to_finished"),
                ("pod finished -> Job Complete", "pod_finished_to_job_complete"),
                ("Job created -> Complete", "job_created_to_complete"),
            )
            print(
                f"throughput run {i}: stage medians (ms, floor/operator): "
                + ", ".join(f"{label} {lf[key]}/{lo[key]}" for label, key in stages)
                + f"; operator only: Job Complete -> deleted {lo['job_complete_to_deleted']}, "
                f"a completion -> the next Job created {lo['completion_to_next_job']}"
            )
            jf = f["audit_controllers"].get("job-controller", 0)
            jo = o["audit_controllers"].get("job-controller", 0)
            qps = t["kcm_qps"] or 20
            print(
                f"throughput run {i}: the Job controller's requests (its client: {qps}/s after "
                f"a burst of {2 * qps if t['kcm_qps'] else 30}): floor {jf} = "
                f"{jf / t['trials']:.2f} per Job, so at least {bound(jf, t['kcm_qps'])} s; "
                f"operator run {jo} = {jo / t['trials']:.2f} per Job, at least "
                f"{bound(jo, t['kcm_qps'])} s; other controllers, operator run: "
                + ", ".join(
                    f"{k} {v}" for k, v in o["audit_controllers"].items() if k != "job-controller"
                )
            )
            if o["operator_errors"]:
                print(
                    f"api run {i}: operator requests answered >= 400: "
                    + ", ".join(f"{k} {v}" for k, v in o["operator_errors"].items())
                )
            print(
                f"api run {i}: apiserver_request_total (no WATCH/CONNECT) floor "
                f"{f['metrics']['total']:.0f}, operator run {o['metrics']['total']:.0f}; "
                f"audit by client floor {f['audit_by_client']}, operator run "
                f"{o['audit_by_client']}"
            )
    for r in results.get("rss", []):
        print(
            f"rss {r['optimizer']}: {r['trials_succeeded']} trials succeeded in "
            f"{r['seconds']:.0f} s; "
            f"sampled peak VmRSS {r['peak_rss_sampled_mb']:.1f} MB, at the end "
            f"{r['end_rss_mb']:.1f} MB; CPU s {fmt_cpu(r['cpu_s'])}"
        )
    errors = results.get("operator_errors") or {}
    print(
        "ERROR lines in the operator logs: "
        + ", ".join(f"{tag} {len(lines)}" for tag, lines in errors.items())
    )
    for tag, lines in errors.items():
        if lines:
            print(f"  first of {tag}: {lines[0][:200]}")
            causes = sorted({line.rsplit(": ", 1)[-1][:120] for line in lines})
            print(f"  distinct endings in {tag}: {causes[:5]}")
    for r in results.get("rss_traced", []):
        t = r["trace"]
        print(
            f"rss {r['optimizer']} with tracemalloc from after start-up (a separate run; "
            f"tracing inflates RSS: VmHWM {r['vmhwm_mb']:.1f} MB, idle {r['idle_rss_mb']:.1f} "
            f"MB): Python memory allocated since and still live once all sessions succeeded "
            f"{t['live_mb']:.1f} MB (peak {t['peak_mb']:.1f} MB); by the code that allocated it "
            "(MB):"
        )
        for owner, size in list(t["live_by_owner_mb"].items())[:10]:
            print(f"    {size:6.2f}  {owner}")
    if "import_footprint_mb" in results:
        print(
            "import footprint (VmRSS of a fresh interpreter after one import, MB): "
            + ", ".join(f"{k} {v:.1f}" for k, v in results["import_footprint_mb"].items())
        )
    if "restart" in results:
        r = results["restart"]
        s = r["startup_s"]
        print(
            f"restart: outage {r['outage_s']:.1f} s; after the new process started: first API "
            f"request {s['first_request']:.2f} s, session watch {s['sessions_watch']:.2f} s, "
            f"first Job create {s['first_job_create']:.2f} s; per session median: next Job "
            f"{r['new_job_median_s']:.2f} s, harvest recorded {r['harvest_median_s']:.2f} s, "
            f"recovered {r['recovered_median_s']:.2f} s (p95 {r['recovered_p95_s']:.2f}); "
            f"{r['operator_requests']} operator requests; CPU s {fmt_cpu(r['cpu_s'])}"
        )
        print(
            f"restart: the operator's rate-limited writes until all recovered: "
            f"{r['operator_writes']} "
            f"(at the default --api-qps 20 they need at least "
            f"{max(0, r['operator_writes'] - 40) / 20:.1f} s after the burst of 40); all its "
            "requests by kind: "
            + ", ".join(f"{k} {v}" for k, v in r["operator_breakdown"].items() if v > 1)
        )


def bound(requests: int, kcm_qps: int | None) -> str:
    """Seconds a client limited to qps (after its burst) needs for ``requests``."""
    qps, burst = (kcm_qps, 2 * kcm_qps) if kcm_qps else (20, 30)
    return f"{max(0, requests - burst) / qps:.1f}"


def fmt_cpu(cpu: dict[str, float]) -> str:
    keys = ("operator", "kube-apiserver", "etcd", "kube-controller-manager", "nodesim", "pods")
    names = {"kube-apiserver": "apiserver", "kube-controller-manager": "kcm"}
    return ", ".join(f"{names.get(k, k)} {cpu[k]:.1f}" for k in keys if k in cpu)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default=",".join(ALL), help=f"comma-separated of {ALL}")
    parser.add_argument("--quick", action="store_true", help="small sizes for a smoke run")
    parser.add_argument("--keep", action="store_true", help="keep the state dir (logs)")
    parser.add_argument(
        "--rss-optimizers", default="random,bayesian", help="optimizers of the rss sessions"
    )
    parser.add_argument(
        "--kcm-qps",
        type=int,
        default=None,
        help="raise the controller-manager's client rate limit (default: its own, 20/s)",
    )
    parser.add_argument(
        "--rss-trace",
        action="store_true",
        help="then repeat rss with tracemalloc in the operator: where its memory goes",
    )
    for key, value in DEFAULTS.items():
        parser.add_argument(f"--{key.replace('_', '-')}", type=int, default=None, help=f"{value}")
    args = parser.parse_args()
    only = [x.strip() for x in args.only.split(",") if x.strip()]
    unknown = set(only) - set(ALL)
    if unknown:
        parser.error(f"--only: unknown {sorted(unknown)}")
    sizes = {
        k: getattr(args, k)
        if getattr(args, k) is not None
        else (QUICK if args.quick else DEFAULTS)[k]
        for k in DEFAULTS
    }

    missing = binaries_missing()
    if missing:
        print(
            f"cluster_bench: the e2e control plane is not built (missing {', '.join(missing)}):"
            " run testing/minicluster/build.sh first",
            file=sys.stderr,
        )
        return 2
    header("control plane: the operator on kube-apiserver 1.20.2 + node simulator")
    print(f"measurements: {', '.join(only)}; sizes: {sizes}", flush=True)
    kcm = f"--kube-api-qps {args.kcm_qps}" if args.kcm_qps else "its default client limit"
    print(f"controller-manager: {kcm}", flush=True)
    tmp = Path(tempfile.mkdtemp(prefix="tuneop-cluster-bench-"))
    bc = BenchCluster(tmp / "cluster", kcm_qps=args.kcm_qps)
    results: dict[str, Any] = {}
    failed = False
    neighbours = Neighbours(lambda: [os.getpid(), *bc.pids().values()]).start()
    try:
        start = time.monotonic()
        bc.start()
        apply_crd(bc)
        print(f"cluster up in {time.monotonic() - start:.1f} s (state: {bc.state_dir})", flush=True)
        if "latency" in only:
            results["latency"] = bench_latency(bc, sizes["latency_sessions"])
            print(f"latency: p50 {results['latency']['p50_s'] * 1000:.0f} ms", flush=True)
        if "throughput" in only or "api" in only:
            results["throughput"] = bench_throughput(
                bc,
                sizes["throughput_trials"],
                sizes["throughput_parallel"],
                sizes["throughput_runs"],
                args.kcm_qps,
            )
        if "rss" in only:
            results["rss"] = []
            for optimizer in args.rss_optimizers.split(","):
                results["rss"].append(
                    bench_rss(
                        bc,
                        sizes["rss_sessions"],
                        sizes["rss_trials"],
                        sizes["rss_trials_per_job"],
                        sizes["rss_parallel"],
                        optimizer,
                    )
                )
                print(f"rss {optimizer}: VmHWM {results['rss'][-1]['vmhwm_mb']:.1f} MB", flush=True)
            if args.rss_trace:
                results["rss_traced"] = [
                    bench_rss(
                        bc,
                        sizes["rss_sessions"],
                        sizes["rss_trials"],
                        sizes["rss_trials_per_job"],
                        sizes["rss_parallel"],
                        optimizer,
                        trace=True,
                    )
                    for optimizer in args.rss_optimizers.split(",")
                ]
            results["import_footprint_mb"] = import_footprint()
        if "restart" in only:
            results["restart"] = bench_restart(
                bc, sizes["restart_sessions"], sizes["restart_trial_seconds"]
            )
            print(f"restart: {results['restart']['all_recovered_s']:.1f} s", flush=True)
    except BaseException:
        failed = True
        traceback.print_exc()
        print(f"state dir kept for the logs: {bc.state_dir}")
    finally:
        neighbours.stop()
        bc.stop()
        results["operator_errors"] = {
            op.log_path.stem.removeprefix("operator-"): op.errors() for op in OPERATORS
        }
        if not failed and not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    if not results:
        return 1
    results["neighbours"] = around = neighbours.summary()
    print()
    print(
        f"machine during the run: 1-min load average median {around['load1_median']:.1f} "
        f"(max {around['load1_max']:.1f}); another kube-apiserver (not ours) running in "
        f"{around['other_cluster_share']:.0%} of {around['samples']} samples, pytest in "
        f"{around['pytest_share']:.0%}"
    )
    print_details(results)
    rows = report(results, {"api": "api" in only})
    table = [("measurement", "figure", "target", "verdict"), *rows]
    widths = [max(len(r[i]) for r in table) for i in range(4)]
    print()
    for row in table:
        print("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
    complete = set(only) == set(ALL) and sizes == DEFAULTS and not args.kcm_qps
    name = "cluster" if complete else "cluster-" + "-".join(only)
    if args.kcm_qps:
        name += f"-kcmqps{args.kcm_qps}"
    if sizes != DEFAULTS:
        name += "-quick" if args.quick else "-sized"
    if failed:
        name += "-failed"
    path = save(
        name,
        {
            "sizes": sizes,
            "only": only,
            "kcm_qps": args.kcm_qps,
            "failed": failed,
            "results": results,
        },
    )
    print(f"raw: {path}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
