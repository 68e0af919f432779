"""``tuneop import katib``: Katib v1beta1 Experiments of different shapes, converted.

The fixtures in ``katib/`` are written from Katib's documented v1beta1 schema.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from tuneop.api.session import parse_manifest
from tuneop.api.vocabulary import ANN_CONTAINER
from tuneop.cli.main import main
from tuneop.core.jobs.observed import Observed
from tuneop.core.jobs.podtemplate import kube_expand
from tuneop.core.planning.planner import plan

HERE = Path(__file__).parent / "katib"
T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _without_pytorch(monkeypatch: pytest.MonkeyPatch) -> None:
    """These conversions as on a machine without ``tuneop[gp]`` (PyTorch), whatever this
    one has: bayesianoptimization becomes TPE, with its note."""
    monkeypatch.setattr(
        "tuneop.core.extras.missing_module",
        lambda *modules: "torch" if "torch" in modules else None,
    )


def run_import(capsys: pytest.CaptureFixture[str], name: str) -> tuple[int, Any, list[str]]:
    code = main(["import", "katib", str(HERE / name)])
    out, err = capsys.readouterr()
    lines = err.splitlines()
    if code == 0:  # the last line says how to run the session
        assert lines[-1].startswith("run it: "), lines
        lines = lines[:-1]
    return code, yaml.safe_load(out) if out else None, lines


# (fixture, fields the session must have, words of each stderr line, first trial's args)
CONVERTED = [
    pytest.param(
        "random-job.yaml",
        {
            "objective": {"metric": "Validation-accuracy", "direction": "maximize", "goal": 0.99},
            "optimizer": {"type": "random"},
            "totalTrials": 12,
            "maxParallel": 3,
            # Katib v0.19.0 fails the experiment at maxFailedTrialCount (3) failed trials
            # (status_util.go: failed != 0 && failed >= 3); tuneop stops past 2.
            "maxFailedTrials": 2,
            "runner": {"container": "training-container"},
            "metricsCollector": {
                "kind": "StdOut",
                # Katib's defaults: max for maximize, the additional metric too.
                "metricStrategies": [
                    {"name": "Validation-accuracy", "value": "max"},
                    {"name": "Train-accuracy", "value": "max"},
                ],
            },
        },
        [],
        "--optimizer=",
        id="random-job",
    ),
    pytest.param(
        "grid.yaml",
        {"optimizer": {"type": "grid"}, "maxParallel": 2, "trialTimeoutSeconds": 2592000},
        [],
        "--lr",
        id="grid-whole",
    ),
    pytest.param(
        "tpe-pvc.yaml",
        {
            "optimizer": {"type": "bayesian", "multivariate": False, "seed": 7},
            "retries": 1,
            "trialTimeoutSeconds": 7200,
            "metricsCollector": {
                "kind": "StdOut",
                "metricStrategies": [{"name": "val-loss", "value": "min"}],
            },
        },
        [],
        "/code/train.py",
        id="tpe-log-volumes-secret",
    ),
    pytest.param(
        "bayesian-early-stopping.yaml",
        {
            "optimizer": {"type": "bayesian"},
            "objective": {"metric": "accuracy", "direction": "maximize"},
            "earlyStopping": {"type": "medianStop", "minTrialsRequired": 2},
            "metricsCollector": {
                "kind": "StdOut",
                "metricsFormat": ["([\\w|-]+)\\s*:\\s*([+-]?\\d*(\\.\\d+)?([Ee][+-]?\\d+)?)"],
                "metricStrategies": [{"name": "accuracy", "value": "max"}],
            },
        },
        [
            "distribution: normal",
            "bayesianoptimization becomes",
            "n_initial_points",
        ],
        "fit.py",
        id="bayesian-with-what-does-not-carry",
    ),
    pytest.param(
        "multivariate-tpe-file.yaml",
        {
            "optimizer": {"type": "bayesian"},
            "totalTrials": 10,
            "metricsCollector": {
                "kind": "File",
                "path": "/var/log/katib/metrics.log",
                "metricStrategies": [{"name": "rmse", "value": "min"}],
            },
        },
        ["maxTrialCount: absent"],
        "--max-depth=",
        id="multivariate-tpe-file-collector",
    ),
]


@pytest.mark.parametrize(("fixture", "fields", "notes", "first_arg"), CONVERTED)
def test_a_katib_experiment_becomes_a_session_that_plans(
    capsys: pytest.CaptureFixture[str],
    fixture: str,
    fields: dict[str, Any],
    notes: list[str],
    first_arg: str,
) -> None:
    code, doc, err = run_import(capsys, fixture)
    assert code == 0, err
    for key, value in fields.items():
        assert doc["spec"][key] == value, key
    assert len(err) == len(notes), err
    for line, words in zip(err, notes, strict=True):
        assert line.startswith("note: ") and words in line
    # The session plans, and its trials get their params in place of the placeholders.
    session = parse_manifest(doc)
    job = plan(session.spec, Observed(session=session.ref), T0).create[0]
    pod = job.manifest["spec"]["template"]
    trial = next(
        c
        for c in pod["spec"]["containers"]
        if c["name"] == pod["metadata"]["annotations"][ANN_CONTAINER]
    )
    words = [kube_expand(w, {}) for w in [*trial.get("command", []), *trial.get("args", [])]]
    assert any(first_arg in w for w in words)
    assert not any("${" in w for w in words)


def test_katib_volumes_secrets_and_gpus_reach_the_pod(capsys: pytest.CaptureFixture[str]) -> None:
    _, doc, _ = run_import(capsys, "tpe-pvc.yaml")
    pod = doc["spec"]["template"]["spec"]
    assert pod["volumes"][1] == {"name": "dshm", "emptyDir": {"medium": "Memory"}}
    assert pod["containers"][0]["envFrom"] == [{"secretRef": {"name": "wandb"}}]
    assert pod["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert "restartPolicy" not in pod


@pytest.mark.parametrize(
    ("fixture", "words"),
    [
        pytest.param("enas-nas.yaml", "none to tune", id="nas"),
    ],
)
def test_an_experiment_with_nothing_usable_is_one_error_and_exit_2(
    capsys: pytest.CaptureFixture[str], fixture: str, words: str
) -> None:
    code, doc, err = run_import(capsys, fixture)
    assert (code, doc) == (2, None)
    assert len(err) == 1 and err[0].startswith("error: ") and words in err[0]


def test_a_pytorchjob_trial_becomes_a_trial_resource(capsys: pytest.CaptureFixture[str]) -> None:
    code, doc, err = run_import(capsys, "pytorchjob.yaml")
    assert code == 0 and err == []
    resource = doc["spec"]["trialResource"]
    assert "template" not in doc["spec"]
    assert resource["primaryContainer"] == "pytorch"
    master = resource["manifest"]["spec"]["pytorchReplicaSpecs"]["Master"]
    assert master["template"]["spec"]["containers"][0]["command"][-1] == "--lr=${params.lr}"


def test_a_kind_without_defaults_and_an_untranslatable_condition_is_one_error() -> None:
    from tuneop.core.conversions.katib import KatibError, convert_experiment

    exp = yaml.safe_load((HERE / "pytorchjob.yaml").read_text())
    trial = exp["spec"]["trialTemplate"]
    trial["trialSpec"]["apiVersion"] = "example.com/v1"
    trial["successCondition"] = "status.conditions.#.type"
    with pytest.raises(KatibError, match=r"successCondition: GJSON .* has no CEL translation"):
        convert_experiment(exp)


@pytest.mark.parametrize(
    ("gjson", "cel"),
    [
        (
            'status.conditions.#(type=="Succeeded")#|#(status=="True")#',
            "has(self.status) && has(self.status.conditions) && self.status.conditions"
            ".exists(c, c.type == 'Succeeded' && c.status == 'True')",
        ),
        (
            'status.[@this].#(phase=="Failed")#',
            "has(self.status) && has(self.status.phase) && self.status.phase == 'Failed'",
        ),
        ("status.conditions.#.type", None),
        ('status.conditions.#(type!="Running")#', None),
    ],
)
def test_katibs_gjson_shapes_become_cel(gjson: str, cel: str | None) -> None:
    from tuneop.core.conversions.katib_kinds import gjson_to_cel

    assert gjson_to_cel(gjson) == cel


def test_the_output_file_holds_the_session(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "session.yaml"
    assert main(["import", "katib", str(HERE / "grid.yaml"), "-o", str(out)]) == 0
    assert capsys.readouterr().out == ""
    assert parse_manifest(yaml.safe_load(out.read_text())).ref.name == "grid"


BAD_NUMBER = """\
apiVersion: kubeflow.org/v1beta1
kind: Experiment
spec:
  objective: {objectiveMetricName: m, type: minimize}
  algorithm: {algorithmName: random}
  parameters: [{name: x, parameterType: double, feasibleSpace: {min: a, max: "1"}}]
  trialTemplate:
    trialSpec: {apiVersion: batch/v1, kind: Job, spec: {template: {spec: {containers: []}}}}
"""


@pytest.mark.parametrize(
    ("text", "words"),
    [
        pytest.param(
            "kind: Deployment\n", "expected one Katib Experiment, found 0", id="not-katib"
        ),
        pytest.param("\x00", "NUL", id="binary"),
        pytest.param(BAD_NUMBER, "feasibleSpace.min: not a number", id="bad-number"),
    ],
)
def test_a_bad_experiment_file_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, words: str
) -> None:
    f = tmp_path / "exp.yaml"
    f.write_text(text)
    assert main(["import", "katib", str(f)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and words in err[0]


@pytest.mark.parametrize(("algorithm", "optimizer"), [("cmaes", "cmaes"), ("sobol", "qmc")])
def test_katib_cmaes_and_sobol_become_tuneops_samplers_of_the_same_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], algorithm: str, optimizer: str
) -> None:
    exp = yaml.safe_load((HERE / "random-job.yaml").read_text())
    exp["spec"]["algorithm"]["algorithmName"] = algorithm
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(exp))
    assert main(["import", "katib", str(path)]) == 0
    out, err = capsys.readouterr()
    assert yaml.safe_load(out)["spec"]["optimizer"]["type"] == optimizer
    assert algorithm not in err  # nothing to note: it carries over


def test_katibs_tpe_samples_each_parameter_on_its_own() -> None:
    from builders import spec
    from tuneop.core.suggest.samplers import make_sampler

    search = {"searchSpace": [{"name": "x", "type": "float", "min": 0, "max": 1}], "totalTrials": 4}
    joint = make_sampler(spec(optimizer={"type": "bayesian"}, **search), 0)
    alone = make_sampler(spec(optimizer={"type": "bayesian", "multivariate": False}, **search), 0)
    assert joint._multivariate is True  # type: ignore[attr-defined]
    assert alone._multivariate is False  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", ["lr", "batch-size", "a.b", "Momentum_2"])
def test_the_imports_env_reference_names_the_env_the_operator_sets(name: str) -> None:
    from tuneop.core.conversions.katib_trial import param_env
    from tuneop.core.jobs.podtemplate import param_env_name

    assert param_env(name) == f"$({param_env_name(name)})"


@pytest.mark.parametrize(("katib", "tuneop"), [(0, 0), (1, 0), (3, 2), (10, 9)])
def test_max_failed_trials_matches_katib_v0_19_0(katib: int, tuneop: int) -> None:
    # status_util.go (v0.19.0): failed != 0 && failed >= N fails the experiment; tuneop's
    # maxFailedTrials M stops when failed > M: the same first failing count.
    from tuneop.core.conversions.katib import max_failed_trials

    assert max_failed_trials(katib) == tuneop
    katib_stops = next(f for f in range(1, 20) if f >= katib)
    tuneop_stops = next(f for f in range(1, 20) if f > tuneop)
    assert katib_stops == tuneop_stops
