"""The control-plane benchmark's report: the summary table, the details, the JSON record.

``report`` makes one row per measurement (figure, target, verdict), ``print_details`` the
lines that say where the time, the requests and the memory went, ``print_table`` the
aligned table and ``result_name`` the name of the run's record under bench/results/
(``cluster.json`` only for a complete run at the default sizes).
"""

from __future__ import annotations

from typing import Any

ALL = ("latency", "throughput", "api", "rss", "restart")

Row = tuple[str, str, str, str]


def report(results: dict[str, Any], sizes: dict[str, Any]) -> list[Row]:
    rows: list[Row] = []

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
        print_latency(results["latency"])
    if "throughput" in results:
        t = results["throughput"]
        for i, p in enumerate(t["pairs"]):
            print_throughput_run(i, p, t)
    print_memory(results)
    if "restart" in results:
        print_restart(results["restart"])


def print_latency(r: dict[str, Any]) -> None:
    b = r["breakdown_median_s"]
    print(
        f"latency: median from the create returning to the operator's first request "
        f"{b['first_request'] * 1000:.0f} ms, its first session GET "
        f"{b['first_get'] * 1000:.0f} ms, its Job create {b['job_create'] * 1000:.0f} ms "
        f"(apiserver receive times)"
    )


def print_throughput_run(i: int, p: dict[str, Any], t: dict[str, Any]) -> None:
    """Where run ``i``'s time and requests went, floor and operator side by side."""
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
    per_trial = ", ".join(f"{k} {v / t['trials']:.2f}" for k, v in o["operator_breakdown"].items())
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
        + ", ".join(f"{k} {v}" for k, v in o["audit_controllers"].items() if k != "job-controller")
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


def print_memory(results: dict[str, Any]) -> None:
    """The rss runs, the operator logs' ERROR lines, the traced runs, the import footprint."""
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
    if "idle_breakdown_mb" in results:
        print(
            "idle RSS by import (MB): "
            + ", ".join(f"{k} {v:.1f}" for k, v in results["idle_breakdown_mb"].items())
        )


def print_restart(r: dict[str, Any]) -> None:
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


def print_neighbours(around: dict[str, Any]) -> None:
    print()
    print(
        f"machine during the run: 1-min load average median {around['load1_median']:.1f} "
        f"(max {around['load1_max']:.1f}); another kube-apiserver (not ours) running in "
        f"{around['other_cluster_share']:.0%} of {around['samples']} samples, pytest in "
        f"{around['pytest_share']:.0%}"
    )


def print_table(rows: list[Row]) -> None:
    table = [("measurement", "figure", "target", "verdict"), *rows]
    widths = [max(len(r[i]) for r in table) for i in range(4)]
    print()
    for row in table:
        print("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())


def result_name(
    only: list[str],
    sizes: dict[str, int],
    defaults: dict[str, int],
    quick: bool,
    kcm_qps: int | None,
    failed: bool,
) -> str:
    """``cluster`` for a complete run at the default sizes, else what sets this run apart."""
    complete = set(only) == set(ALL) and sizes == defaults and not kcm_qps
    name = "cluster" if complete else "cluster-" + "-".join(only)
    if kcm_qps:
        name += f"-kcmqps{kcm_qps}"
    if sizes != defaults:
        name += "-quick" if quick else "-sized"
    if failed:
        name += "-failed"
    return name
