"""``local_setup``: how a local run runs a session here. Trials that write their metrics to
one file run one at a time (on a cluster each pod has the path to itself), GPUs or not."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from builders import spec
from tuneop.cli.preflight import LocalSetup, local_setup

POD = {
    "spec": {
        "containers": [
            {
                "name": "t",
                "image": "i",
                "command": ["python", "train.py"],
                "resources": {"limits": {"nvidia.com/gpu": 1}},
            }
        ]
    }
}
FILE = {"kind": "File", "path": "/m.log"}


@pytest.mark.parametrize(
    ("overrides", "environ", "parallel", "said"),
    [
        pytest.param({}, {}, None, "", id="stdout-as-it-is"),
        pytest.param({"metricsCollector": FILE}, {}, 1, "lowered to 1", id="file-one-at-once"),
        pytest.param(
            {"metricsCollector": FILE, "maxParallel": 1}, {}, None, "", id="file-one-given"
        ),
        pytest.param(
            {"metricsCollector": FILE, "template": POD, "runner": {}},
            {"CUDA_VISIBLE_DEVICES": "0,1,2,3"},
            1,
            "writes its metrics to /m.log",
            id="file-with-gpus-to-spare",
        ),
        pytest.param(
            {"template": POD, "runner": {}},
            {"CUDA_VISIBLE_DEVICES": "0,1"},
            2,
            "GPU(s) of its own",
            id="gpus-bound-it",
        ),
    ],
)
def test_a_local_run_lowers_max_parallel_where_trials_would_share(
    overrides: dict[str, Any], environ: dict[str, str], parallel: int | None, said: str
) -> None:
    setup = local_setup(spec(**{"maxParallel": 3, **overrides}), environ)
    assert isinstance(setup, LocalSetup)
    assert setup.max_parallel == parallel
    assert said in " ".join(setup.notices) and (said or not setup.notices)


def test_the_preflight_loads_the_objective_with_the_environment_it_is_given(
    tmp_path: Path,
) -> None:
    # The run hands it a copy taken before its imports (which set a variable for a while):
    # the objective's process gets that copy, not this process's environment as it is then.
    from tuneop.cli.preflight import preflight

    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "obj_here.py").write_text("def f(params):\n    return 1.0\n")
    (tmp_path / "work").mkdir()
    session = spec(runner={"image": "i", "objective": "obj_here:f"}, maxParallel=1)
    given = {**os.environ, "PYTHONPATH": str(tmp_path / "mine")}
    assert preflight(session, tmp_path / "work", given) is None
    bare = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    problem = preflight(session, tmp_path / "work", bare)
    assert problem is not None and "obj_here:f does not load" in problem
