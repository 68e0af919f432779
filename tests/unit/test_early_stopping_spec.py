"""``spec.earlyStopping``: which settings each pruner takes, their bounds, Optuna's names."""

from __future__ import annotations

from typing import Any

import optuna
import pytest

from builders import spec
from tuneop.api.early_stopping import pruner_settings
from tuneop.api.spec import SpecError

PRUNERS = {
    "median": optuna.pruners.MedianPruner,
    "successiveHalving": optuna.pruners.SuccessiveHalvingPruner,
    "hyperband": optuna.pruners.HyperbandPruner,
}


@pytest.mark.parametrize(
    ("early", "settings"),
    [
        pytest.param({"type": "median"}, {}, id="median-defaults"),
        pytest.param(
            {
                "type": "median",
                "warmupSteps": 3,
                "startupTrials": 5,
                "intervalSteps": 2,
                "minTrials": 4,
            },
            {"n_warmup_steps": 3, "n_startup_trials": 5, "interval_steps": 2, "n_min_trials": 4},
            id="median",
        ),
        pytest.param(
            {
                "type": "successiveHalving",
                "minResource": 1,
                "reductionFactor": 3,
                "minEarlyStoppingRate": 1,
            },
            {"min_resource": 1, "reduction_factor": 3, "min_early_stopping_rate": 1},
            id="successive-halving",
        ),
        pytest.param(
            {"type": "hyperband", "minResource": 1, "maxResource": 27, "reductionFactor": 3},
            {"min_resource": 1, "max_resource": 27, "reduction_factor": 3},
            id="hyperband",
        ),
    ],
)
def test_each_type_takes_its_settings_by_optunas_names(
    early: dict[str, Any], settings: dict[str, int]
) -> None:
    es = spec(earlyStopping=early).early_stopping
    assert es is not None
    got = pruner_settings(es)
    assert got == {"type": early["type"], "settings": settings}
    PRUNERS[early["type"]](**got["settings"])  # Optuna takes them as they are


@pytest.mark.parametrize(
    ("early", "says"),
    [
        pytest.param({"type": "asha"}, "spec.earlyStopping.type", id="unknown-type"),
        pytest.param({}, "spec.earlyStopping.type", id="no-type"),
        pytest.param({"type": "median", "maxResource": 9}, "its own settings", id="other-type"),
        pytest.param({"type": "hyperband", "warmupSteps": 1}, "its own settings", id="median-s"),
        pytest.param(
            {"type": "hyperband", "minEarlyStoppingRate": 1}, "its own settings", id="sh-only"
        ),
        pytest.param({"type": "median", "intervalSteps": 0}, "intervalSteps", id="interval-0"),
        pytest.param({"type": "hyperband", "reductionFactor": 1}, "reductionFactor", id="rf-1"),
        pytest.param({"type": "median", "warmupSteps": -1}, "warmupSteps", id="negative"),
        pytest.param({"type": "median", "warmupSteps": True}, "warmupSteps", id="bool"),
        pytest.param({"type": "median", "warmupSteps": 2**31}, "warmupSteps", id="past-32-bits"),
        pytest.param({"type": "median", "patience": 3}, "patience", id="unknown-setting"),
        pytest.param(
            {"type": "median", "redisUrlSecret": {"name": "r"}}, "redisUrlSecret.key", id="no-key"
        ),
    ],
)
def test_a_bad_early_stopping_names_the_field(early: dict[str, Any], says: str) -> None:
    with pytest.raises(SpecError) as err:
        spec(earlyStopping=early)
    assert says in str(err.value)


TEMPLATE = {
    "spec": {"containers": [{"name": "trial", "image": "i", "command": ["python", "t.py"]}]}
}


@pytest.mark.parametrize(
    ("overrides", "plan_warns", "cluster_warns"),
    [
        pytest.param({}, False, False, id="no-early-stopping"),
        pytest.param(
            {
                "earlyStopping": {"type": "median", "redisUrlSecret": {"name": "r", "key": "u"}},
                "runner": {"image": "i", "objective": "m:f"},
            },
            False,
            False,
            id="runner-and-redis",
        ),
        pytest.param(
            {"earlyStopping": {"type": "median"}, "runner": {"image": "i", "objective": "m:f"}},
            False,
            True,
            id="no-redis-on-a-cluster",
        ),
        pytest.param(
            {
                "earlyStopping": {"type": "median", "redisUrlSecret": {"name": "r", "key": "u"}},
                "runner": {},
                "template": TEMPLATE,
            },
            True,
            False,
            id="a-script-without-the-runner",
        ),
        *(
            pytest.param(
                {
                    "earlyStopping": {"type": typ},
                    "runner": {},
                    "template": TEMPLATE,
                    "metricsCollector": {"kind": "StdOut"},
                },
                False,
                False,
                id=f"{typ}-judged-by-the-operator-on-stdout",
            )
            for typ in ("median", "successiveHalving", "hyperband")
        ),
        pytest.param(
            {
                "earlyStopping": {"type": "hyperband"},
                "runner": {},
                "template": TEMPLATE,
                "metricsCollector": {"kind": "StdOut"},
                "optimizer": {"type": "random"},
                "searchSpace": [{"name": "x", "type": "float", "min": 0, "max": 1}],
                "totalTrials": 2_001,
            },
            True,
            False,
            id="hyperband-by-the-operator-past-its-numbers",
        ),
    ],
)
def test_early_stopping_that_cannot_stop_anything_is_said(
    overrides: dict[str, Any], plan_warns: bool, cluster_warns: bool
) -> None:
    from tuneop.core.jobs.pruning import cluster_pruning_warnings, pruning_warnings

    s = spec(**overrides)
    assert bool(pruning_warnings(s)) == plan_warns
    assert bool(cluster_pruning_warnings(s)) == cluster_warns


@pytest.mark.parametrize("typ", ["median", "successiveHalving", "hyperband", "medianStop"])
def test_a_stdout_trial_is_told_nothing_the_operator_judges_it(typ: str) -> None:
    from tuneop.api.session import SessionRef
    from tuneop.core.jobs.pruning import early_stopping_env

    s = spec(
        earlyStopping={"type": typ},
        runner={},
        template=TEMPLATE,
        metricsCollector={"kind": "StdOut"},
    )
    assert early_stopping_env(s, SessionRef("ns", "s")) == []
