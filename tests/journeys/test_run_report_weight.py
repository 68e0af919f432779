"""A local run's report does not load what it never draws with.

Optuna's ``optuna.importance`` imports scikit-learn (and scipy with it) for fANOVA
wherever scikit-learn is installed, as it is in this suite's venv (and in many a user's),
and ``optuna.visualization`` matplotlib's pyplot for its matplotlib plots wherever
matplotlib is (mlflow brings it); the report ranks parameters with PED-ANOVA and draws
with plotly, so tuneop imports Optuna's visualization with those hidden: seconds less at
the end of every run that writes its report (bench/optuna_side_by_side.py).
Python's own import report (``PYTHONPROFILEIMPORTTIME``) of the ``tuneop`` process shows
it; the workers' output goes to their log files, not to this stderr.
"""

from __future__ import annotations

import importlib.util

import pytest
from test_cli_startup_journey import loaded_packages
from user import User


@pytest.mark.skipif(importlib.util.find_spec("sklearn") is None, reason="needs scikit-learn")
def test_a_local_run_writes_its_report_without_loading_scikit_learn_or_matplotlib(
    user: User,
) -> None:
    user.env["PYTHONPROFILEIMPORTTIME"] = "1"
    seen = user.tuneop("run", "examples/quickstart.yaml", "--local", "--report")
    assert seen.code == 0, seen
    assert user.path("tuneop-results/quickstart/report.html").is_file()
    assert {"optuna", "plotly"} <= loaded_packages(seen.err)  # the report was drawn here
    # A hidden import attempt leaves a line for the name asked; a real import of either
    # package, hundreds of lines for its modules.
    modules = {line.rsplit("|", 1)[1].strip() for line in seen.err.splitlines() if "|" in line}
    for package in ("sklearn", "scipy", "matplotlib"):
        found = sorted(m for m in modules if m.split(".")[0] == package)
        assert len(found) <= 2, found[:10]
