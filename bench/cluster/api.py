"""Measurement 3, API requests per trial: what the operator asked of the API server.

Taken from the throughput measurement's operator runs: the requests of user
``tuneop-operator`` in the audit log, from the session's create to all its Jobs cleaned up
plus 2 s, long-running watches counted apart, by kind and with the ones answered >= 400;
kopf's handler runs from the operator's log. Cross-checked with the apiserver's own
``apiserver_request_total`` (all clients, watches left out): operator run minus floor run.
Target <= 6 per trial.
"""

from __future__ import annotations

import re
import statistics
from typing import Any

from bench.cluster.cluster import BenchCluster
from minicluster.audit import breakdown
from minicluster.operator_process import OperatorProcess


def operator_requests(bc: BenchCluster, a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """The operator's requests between two snapshots, counted."""
    requests = bc.audit.window(a["wall"], b["wall"], "operator")
    non_watch = [r for r in requests if r.verb != "watch"]
    return {
        "operator_requests": len(non_watch),
        "operator_watches": len(requests) - len(non_watch),
        "operator_breakdown": breakdown(non_watch),
        "operator_errors": breakdown(r for r in non_watch if r.code >= 400),
    }


def handler_runs(op: OperatorProcess) -> dict[str, int]:
    """kopf's log lines per handler outcome ("Handler 'job_event' succeeded." ...)."""
    out: dict[str, int] = {}
    for _kind, name, outcome in re.findall(
        r"(Handler|Timer) '(\w+)' (succeeded|failed)", op.log_text()
    ):
        key = f"{name} {outcome}"
        out[key] = out.get(key, 0) + 1
    return out


def per_trial(pairs: list[dict[str, Any]], trials: int) -> dict[str, float]:
    """Medians over the runs: the operator's requests per trial, and the apiserver counter's
    growth per trial over the floor's."""
    audit = [p["operator"]["operator_requests"] / trials for p in pairs]
    extra = [
        (p["operator"]["metrics"]["total"] - p["floor"]["metrics"]["total"]) / trials for p in pairs
    ]
    return {
        "api_per_trial": statistics.median(audit),
        "api_metrics_extra_per_trial": statistics.median(extra),
    }
