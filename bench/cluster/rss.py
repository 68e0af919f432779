"""Measurement 5, operator RSS: the operator's peak memory under many sessions.

S sessions x T trials (random or bayesian search over quadratic, trialsPerJob J,
maxParallel M) created at once; the operator's VmHWM from /proc/<pid>/status once all have
Succeeded, its VmRSS when idle (1 s after it started watching) and at the end, and a
sampled peak. ``trace=True`` repeats it with tracemalloc inside the operator (the
``tracemalloc_site`` sitecustomize beside this file), from after start-up, to tell where
the memory goes; ``import_footprint`` is the RSS of a fresh interpreter after each big
import. Target <= 120 MB.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.cluster.cluster import BenchCluster
from bench.cluster.figures import mb, sessions_watch, snapshot, window_figures
from bench.cluster.machine import PeakRss, proc_status_kib
from bench.cluster.sessions import Namespace, create_session, phase, session_doc

TRACE_SITE = Path(__file__).resolve().parent / "tracemalloc_site"

# Each entry in its own fresh interpreter; "a+b" imports a, then b; "-m" first makes module
# m unimportable (kopf imports the kubernetes client only when it can). The operator loads
# Optuna only for its first bayesian session: the last entry is what that adds.
IMPORTS = (
    "",
    "pydantic",
    "optuna",
    "kubernetes",
    "-kubernetes+kopf",
    "kopf",
    "tuneop.controller.handlers",
    "tuneop.controller.handlers+tuneop.core.suggest.bayesian+optuna.samplers",
)


def import_footprint() -> dict[str, float]:
    """VmRSS (MB) of a fresh interpreter after importing each module (or modules) on its own."""
    out = {}
    for module in IMPORTS:
        load = "".join(
            f"sys.modules[{m[1:]!r}] = None; "
            if m.startswith("-")
            else f"importlib.import_module({m!r}); "
            for m in module.split("+")
            if m
        )
        code = (
            f"import importlib, sys; {load}"
            "print([l.split()[1] for l in open('/proc/self/status') if l.startswith('VmRSS')][0])"
        )
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        out[module or "python"] = int(done.stdout.strip()) / 1024
    return out


def idle_breakdown(footprint: dict[str, float]) -> dict[str, float]:
    """The operator's idle RSS by what its imports bring (MB), from ``import_footprint``:
    the interpreter, kopf with aiohttp (without the kubernetes client), the kubernetes
    client, the rest of tuneop (pydantic, the API model, the adapters); Optuna on top."""
    python, kopf_alone = footprint["python"], footprint["-kubernetes+kopf"]
    kopf, tuneop = footprint["kopf"], footprint["tuneop.controller.handlers"]
    return {
        "interpreter": python,
        "kopf+aiohttp": kopf_alone - python,
        "kubernetes client": kopf - kopf_alone,
        "tuneop (pydantic, models, adapters)": tuneop - kopf,
        "Optuna (first bayesian session)": footprint[IMPORTS[-1]] - tuneop,
    }


def trace_env(directory: Path) -> tuple[dict[str, str], Path]:
    """Environment for a Python process that traces allocations from its first SIGUSR1 on
    and dumps the live ones, by owner, on every later SIGUSR1; and the dumps' stem."""
    directory.mkdir(parents=True, exist_ok=True)
    out = directory / "trace"
    path = os.pathsep.join(p for p in (str(TRACE_SITE), os.environ.get("PYTHONPATH", "")) if p)
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


def trace_figures(end: dict[str, Any]) -> dict[str, Any]:
    """The last dump: what was allocated after start-up and is still alive, by owner."""
    return {
        "live_mb": end["traced"][0] / 2**20,
        "peak_mb": end["traced"][1] / 2**20,
        "live_by_owner_mb": {
            k: round(v / 2**20, 2)
            for k, v in sorted(end["by"].items(), key=lambda kv: -kv[1])
            if v >= 2**17
        },
    }


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
    names = [f"rss-{i}" for i in range(sessions)]
    with Namespace(bc, f"bench-{tag}") as ns:
        ts = sessions_watch(bc, ns)
        op = bc.start_operator(ns, tag, env)
        peak = PeakRss(op.pid).start()
        try:
            time.sleep(1)
            idle_kib = proc_status_kib(op.pid, "VmRSS")
            if trace_out is not None:
                dumps.append(trace_dump(op.pid, trace_out, 1))  # starts tracing
            a = snapshot(bc, {"operator": op.pid})
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
            peak.stop()
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
            "peak_rss_sampled_mb": mb(peak.peak_kib),
            "vmhwm_mb": mb(hwm_kib),
            "end_rss_mb": mb(end_kib),
        }
    )
    if len(dumps) == 2:
        out["trace"] = trace_figures(dumps[1])
    return out
