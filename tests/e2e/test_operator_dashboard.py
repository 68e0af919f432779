"""optuna-dashboard shows an operator session's finished trials while it runs.

``tuneop operator --optuna-storage sqlite:///...`` on the real control plane; a session of
explicit trials, one per Job, one Job at a time: three quick trials, then one that sleeps
long enough to be seen. optuna-dashboard, started by the test on the same storage, lists
the three finished trials through its API while the session is Running, each as the
operator's results folder recorded it; at the end, every trial once.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dashboard_support import Dashboard, attrs, has_study, wait_for
from minicluster.harness import Cluster
from minicluster.kube import Json
from tests.e2e.operator_support import (
    Served,
    apply,
    explicit_session,
    serve_namespaces,
    status_of,
)

NAME = "live"
TRIALS = [{"seconds": 0.1}, {"seconds": 0.2}, {"seconds": 0.3}, {"seconds": 20.0}]


@pytest.fixture(scope="module")
def served(
    cluster: Cluster, crd: Json, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Served, Path]]:
    workdir = tmp_path_factory.mktemp("operator-dashboard")
    db = workdir / "live.db"
    with serve_namespaces(
        cluster, workdir, ["dash"], ["--optuna-storage", f"sqlite:///{db}"]
    ) as served:
        yield served, db


def recorded(served: Served, ns: str) -> dict[int, dict[str, Any]]:
    folder = served.results_dir / ns / NAME / "trials"
    docs = [json.loads(p.read_text()) for p in folder.glob("trial-*.json")]
    return {int(d["trial"]): d for d in docs}


def test_the_dashboard_lists_an_operator_sessions_finished_trials_while_it_runs(
    served: tuple[Served, Path],
) -> None:
    s, db = served
    ns = s.ns("dash")
    study = f"{ns}/{NAME}"
    apply(s.cluster, ns, explicit_session(NAME, "testing:sleep", TRIALS, maxParallel=1))
    s.wait_for("the operator to make the session's study", lambda: has_study(db), timeout=120)
    board = Dashboard(db.parent, os.environ, f"sqlite:///{db}")
    try:
        shown = wait_for(lambda: board.at_least(study, 3), 120, "3 trials in the dashboard")
        status = status_of(s.cluster, ns, NAME)
        assert status["phase"] == "Running", status
        records = recorded(s, ns)
        assert {int(attrs(t)["tuneop.trial"]) for t in shown} == {0, 1, 2}
        for t in shown:
            r = records[int(attrs(t)["tuneop.trial"])]
            assert (t["state"], t["values"]) == ("Complete", [r["objective"]["value"]]), (t, r)
        s.wait_phase(ns, NAME, "Succeeded", timeout=120)
        final = wait_for(lambda: board.at_least(study, 4), 30, "4 trials in the dashboard")
        assert sorted(int(attrs(t)["tuneop.trial"]) for t in final) == [0, 1, 2, 3]
    finally:
        board.stop()
