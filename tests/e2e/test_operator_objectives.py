"""A session of several objectives on a real cluster: the arbitrage profit-versus-drawdown
example applied with kubectl, run by the operator (NSGA-II over Jobs of four trials), to a
bounded Pareto front in the status, the Front column of ``kubectl get ts -o wide``, and
every objective's value in the operator's results folder."""

from __future__ import annotations

import json

from tests.e2e.operator_support import (
    EXAMPLES,
    Served,
    parse_table,
    served_module,
)
from tuneop.core.results.pareto import dominates

NAMESPACES = ("objectives",)
NAME = "arbitrage-pareto"


served = served_module(*NAMESPACES)


def test_the_pareto_example_runs_to_a_bounded_front_on_the_cluster(served: Served) -> None:
    ns = served.ns("objectives")
    served.cluster.kubectl("apply", "-n", ns, "-f", str(EXAMPLES / f"{NAME}.yaml"))

    status = served.wait_phase(ns, NAME, "Succeeded", "Failed", timeout=300)["status"]

    why = served.explain(ns, NAME)
    assert status["phase"] == "Succeeded" and status["trials"]["succeeded"] == 32, why
    assert "best" not in status and status.get("leaderboard", []) == [], why
    front = status["paretoFront"]
    assert 2 <= len(front) <= 10 and status["frontSize"] == len(front), why
    said = (
        f"Pareto front of {len(front)} trials"
        if len(front) < 10
        else "Pareto front: 10 trials kept here (at most 10"
    )
    assert said in status["message"], why

    folder = served.results_dir / ns / NAME / "trials"
    records = {r["trial"]: r for r in (json.loads(p.read_text()) for p in folder.glob("t*.json"))}
    assert len(records) == 32, sorted(records)
    # pnl is maximized, max_drawdown minimized: as losses, no trial beats a front entry.
    losses = [(-r["objectives"][0]["value"], r["objectives"][1]["value"]) for r in records.values()]
    for e in front:
        assert [o["value"] for o in records[e["trial"]]["objectives"]] == e["values"], why
        mine = (-e["values"][0], e["values"][1])
        assert not any(dominates(other, mine) for other in losses), (e, why)

    (row,) = parse_table(served.cluster.kubectl("get", "ts", NAME, "-n", ns, "-o", "wide").stdout)
    assert (row["PHASE"], row["FRONT"]) == ("Succeeded", str(len(front))), row
    assert row["BEST"] in ("", "<none>"), row  # several objectives have no single best
