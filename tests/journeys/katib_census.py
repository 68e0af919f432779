"""Katib v0.19.0's 33 example Experiments (tests/data/katib) and what the import makes of each.

``CENSUS`` is the expected outcome per example: imported (with the fields whose notes it
prints) or refused (with the words of the one error line). ``fidelity`` checks a session
against its Experiment field by field, as Katib would run it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
KATIB = REPO / "tests" / "data" / "katib"

# NAS has no search space tuneop runs; Katib's ConfigMap example needs its ConfigMap
# (``--configmap FILE`` or ``--from-cluster``: tests/journeys/test_katib_configmap_template.py
# shows Katib's own webhook refusal of it with the ConfigMap Katib ships).
NAS = "none to tune"
REFUSED = {
    "nas/darts-cpu.yaml": NAS,
    "nas/darts-gpu.yaml": NAS,
    "nas/enas-cpu.yaml": NAS,
    "nas/enas-gpu.yaml": NAS,
    "trial-template/trial-configmap-source.yaml": "give it with --configmap FILE",
}
# Trials of another kind: imported as ``trialResource`` (checked field by field in
# tests/journeys/test_katib_kinds_import.py); here, the rest of the Experiment.
OTHER_KINDS = {
    "argo/argo-workflow.yaml",
    "kubeflow-trainer/trainjob-pytorch.yaml",
    "kubeflow-training-operator/mpijob-horovod.yaml",
    "kubeflow-training-operator/pytorchjob-mnist.yaml",
    "kubeflow-training-operator/tfjob-mnist-with-summaries.yaml",
    "kubeflow-training-operator/xgboostjob-lightgbm.yaml",
    "tekton/pipeline-run.yaml",
}
# Imported: the fields each note names (none: it carries over exactly).
IMPORTED: dict[str, list[str]] = {
    "early-stopping/median-stop-with-json-format.yaml": [],
    "early-stopping/median-stop.yaml": [],
    "fpga/xgboost-example.yaml": [],
    "hp-tuning/bayesian-optimization.yaml": [],  # as gp with tuneop[gp]; else one note
    "hp-tuning/cma-es.yaml": ["spec.algorithm.algorithmSettings[0]"],
    "hp-tuning/grid.yaml": ["spec.maxTrialCount"],  # 12 of 45 points, in grid order
    "hp-tuning/hyperband.yaml": [],
    "hp-tuning/hyperopt-distribution.yaml": [],  # normal/logNormal drawn, as hyperopt does
    "hp-tuning/multivariate-tpe.yaml": [],
    "hp-tuning/optuna-distribution.yaml": [],
    "hp-tuning/random.yaml": [],
    # pbt: the checkpoint folders are handed over, not copied (a note)
    "hp-tuning/simple-pbt.yaml": ["spec.resumePolicy", "spec.algorithm"],
    "hp-tuning/sobol.yaml": [],
    "hp-tuning/tpe.yaml": [],
    # Custom: a File collector on its path, with a note
    "metrics-collector/custom-metrics-collector.yaml": ["spec.metricsCollectorSpec.collector"],
    "metrics-collector/file-metrics-collector-with-json-format.yaml": [],
    "metrics-collector/file-metrics-collector.yaml": [],
    "metrics-collector/metrics-collection-strategy.yaml": [],
    "resume-experiment/from-volume-resume.yaml": ["spec.resumePolicy"],
    "resume-experiment/long-running-resume.yaml": ["spec.resumePolicy"],
    "argo/argo-workflow.yaml": [],
    "kubeflow-trainer/trainjob-pytorch.yaml": [],
    "kubeflow-training-operator/mpijob-horovod.yaml": [],
    "kubeflow-training-operator/pytorchjob-mnist.yaml": [],
    "kubeflow-training-operator/tfjob-mnist-with-summaries.yaml": [],
    "kubeflow-training-operator/xgboostjob-lightgbm.yaml": [],
    # Katib's own webhook would refuse it: the template writes $(trialParameters.lr)
    "tekton/pipeline-run.yaml": ["spec.trialTemplate.trialParameters[0].name"],
    "trial-template/trial-metadata-substitution.yaml": [
        "spec.trialTemplate.trialSpec.metadata.labels",
        "spec.trialTemplate.trialSpec.metadata.annotations",
    ],
}


def examples() -> list[str]:
    return sorted(str(p.relative_to(KATIB)) for p in KATIB.rglob("*.yaml"))


def _job(exp: dict[str, Any]) -> dict[str, Any]:
    return exp["spec"]["trialTemplate"]["trialSpec"]  # type: ignore[no-any-return]


def _strategies(exp: dict[str, Any]) -> dict[str, str]:
    """Katib's metric strategies after its defaulting (experiment_defaults.go)."""
    obj = exp["spec"]["objective"]
    default = {"minimize": "min", "maximize": "max"}[obj["type"]]
    given = {s["name"]: s["value"] for s in obj.get("metricStrategies") or []}
    for name in [obj["objectiveMetricName"], *(obj.get("additionalMetricNames") or [])]:
        given.setdefault(name, default)
    return given


def _parameters(exp: dict[str, Any], session: dict[str, Any]) -> None:
    for p, q in zip(exp["spec"]["parameters"], session["searchSpace"], strict=True):
        space = p["feasibleSpace"]
        assert q["name"] == p["name"]
        if p["parameterType"] in ("categorical", "discrete"):
            assert q["values"] == space["list"], p["name"]  # as written
            continue
        assert q["type"] == {"double": "float", "int": "int"}[p["parameterType"]]
        for key in ("min", "max", "step"):
            if key in space:
                assert q[key] == float(space[key]), (p["name"], key)
        assert q.get("log", False) == (space.get("distribution") == "logUniform")


def _pod(exp: dict[str, Any], session: dict[str, Any]) -> None:
    job = _job(exp)
    want = job["spec"]["template"]
    got = session["template"]
    assert "securityContext" not in got["spec"]  # as written: nothing added
    for w, g in zip(want["spec"]["containers"], got["spec"]["containers"], strict=True):
        for key in ("name", "image", "resources", "volumeMounts", "securityContext"):
            assert g.get(key) == w.get(key), key
        assert [e["name"] for e in g.get("env") or []] == [e["name"] for e in w.get("env") or []]
        assert "${trialParameters." not in str(g)
    for key in ("volumes",):
        assert got["spec"].get(key) == want["spec"].get(key), key
    for key in ("labels", "annotations"):
        for k, v in ((job.get("metadata") or {}).get(key) or {}).items():
            assert got["metadata"][key][k] == v, (key, k)


def fidelity(exp: dict[str, Any], session: dict[str, Any]) -> None:
    """``session`` (a TuningSession's spec) runs ``exp`` as Katib v0.19.0 runs it."""
    spec = exp["spec"]
    obj = spec["objective"]
    assert session["objective"]["metric"] == obj["objectiveMetricName"]
    assert session["objective"]["direction"] == obj["type"]
    if "goal" in obj:
        assert session["objective"]["goal"] == float(obj["goal"])
    got = {s["name"]: s["value"] for s in session["metricsCollector"]["metricStrategies"]}
    assert got == _strategies(exp)
    assert session.get("totalTrials") == spec.get("maxTrialCount")
    assert session["maxParallel"] == spec.get("parallelTrialCount", 3)
    if "maxFailedTrialCount" in spec:
        # status_util.go (v0.19.0): failed != 0 && failed >= N ends the experiment.
        assert session["maxFailedTrials"] == max(spec["maxFailedTrialCount"] - 1, 0)
    _parameters(exp, session)
    job = _job(exp)
    if (job["apiVersion"], job["kind"]) != ("batch/v1", "Job"):  # the trial is the resource
        assert session["trialResource"]["manifest"]["kind"] == job["kind"]
        assert "template" not in session
        return
    # A Job without backoffLimit is retried as Kubernetes' default says: 6 times.
    assert session["retries"] == job["spec"].get("backoffLimit", 6)
    primary = spec["trialTemplate"].get("primaryContainerName")
    if primary:
        assert session["runner"]["container"] == primary
    _pod(exp, session)
