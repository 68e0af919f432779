"""`tuneop run --local` runs every session the operator accepts: a `spec.template` pod runs
its trial container's command here, with its env, workingDir and params, says in one line
each what of the pod it cannot give, and refuses only a program or script that is not here.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from user import User

SESSION = """\
apiVersion: tuneop.dev/v1alpha1
kind: TuningSession
metadata: {{name: {name}}}
spec:
  objective: {{metric: loss}}
  searchSpace: [{{name: x, type: int, min: 0, max: {top}}}]
  optimizer: {{type: grid}}
  maxParallel: {parallel}
  trialTimeoutSeconds: 60
  metricsCollector: {{kind: StdOut}}
  template:
    spec:
      containers:
        - name: trial
          image: registry.example.com/ml/trainer:1
          command: {command}
          args: ["--x=${{params.x}}"]
{extra}
"""

# A training script that knows nothing of tuneop: its param from a flag, a metric printed.
TRAIN = """\
import json, os, sys, time
x = int(sys.argv[-1].split("=")[1])
seen = {k: v for k, v in os.environ.items() if k.startswith(("TUNEOP_", "TAG", "CUDA_"))}
seen["cwd"] = os.getcwd()
seen["x"] = x
seen["start"] = time.time()
time.sleep(float(os.environ.get("SLEEP", "0")))
seen["end"] = time.time()
os.makedirs(os.environ.get("SEEN_DIR", "seen"), exist_ok=True)
with open(os.path.join(os.environ.get("SEEN_DIR", "seen"), f"{x}.json"), "w") as f:
    json.dump(seen, f)
print(f"loss={(x - 2) ** 2}")
"""


def session(
    name: str,
    command: str = "[python, train.py]",
    extra: str = "",
    top: int = 3,
    parallel: int = 2,
) -> str:
    return SESSION.format(name=name, command=command, extra=extra, top=top, parallel=parallel)


def outcomes(user: User, name: str) -> dict[int, str]:
    folder = user.path(f"tuneop-results/{name}/trials")
    docs = [json.loads(p.read_text()) for p in folder.glob("*.json")]
    return {d["trial"]: d["outcome"] for d in docs}


def seen(user: User, folder: str = "seen") -> dict[int, dict[str, object]]:
    return {int(p.stem): json.loads(p.read_text()) for p in user.path(folder).glob("*.json")}


def test_a_template_session_runs_its_command_with_env_workdir_and_params(user: User) -> None:
    user.write("job/train.py", TRAIN)
    extra = """\
          workingDir: job
          env:
            - {name: TAG, value: "t-$(TUNEOP_TRIAL)"}
            - {name: SEEN_DIR, value: ../seen}
"""
    user.write("s.yaml", session("tpl", extra=extra))
    seen_ = user.tuneop("run", "s.yaml", "--local")
    assert seen_.code == 0, seen_
    assert "Succeeded" in seen_.out
    assert outcomes(user, "tpl") == {0: "Succeeded", 1: "Succeeded", 2: "Succeeded", 3: "Succeeded"}
    env = seen(user)
    assert sorted(env) == [0, 1, 2, 3]
    for x, doc in env.items():
        assert doc["cwd"] == str(user.path("job"))
        assert doc["TAG"] == f"t-{x}"
        assert doc["TUNEOP_TRIAL"] == str(x)
        assert json.loads(str(doc["TUNEOP_PARAMS"])) == {"x": x}
        assert doc["TUNEOP_PARAM_X"] == str(x)
        assert json.loads(Path(str(doc["TUNEOP_PARAMS_FILE"])).read_text()) == {"x": x}
    # The image is not pulled, and says so once.
    notices = [line for line in seen_.err.splitlines() if line.startswith("notice:")]
    assert len([n for n in notices if "registry.example.com/ml/trainer:1" in n]) == 1


def test_the_readme_sklearn_session_runs_as_its_header_says(user: User) -> None:
    # The session the README runs, trimmed to two trials; its header's command as written.
    text = user.path("examples/sklearn-gbm.yaml").read_text()
    user.write("examples/sklearn-2.yaml", text.replace("totalTrials: 16", "totalTrials: 2"))
    seen_ = user.tuneop("run", "examples/sklearn-2.yaml", "--local", timeout=600)
    assert seen_.code == 0, seen_
    assert "no objective" not in seen_.both
    assert outcomes(user, "sklearn-gbm") == {0: "Succeeded", 1: "Succeeded"}


KATIB = """\
apiVersion: kubeflow.org/v1beta1
kind: Experiment
metadata: {name: katib-local}
spec:
  objective: {type: minimize, objectiveMetricName: loss}
  algorithm: {algorithmName: grid}
  parallelTrialCount: 2
  maxTrialCount: 3
  parameters:
    - name: x
      parameterType: int
      feasibleSpace: {min: "0", max: "2"}
  trialTemplate:
    primaryContainerName: training
    trialParameters:
      - {name: x, reference: x}
    trialSpec:
      apiVersion: batch/v1
      kind: Job
      spec:
        template:
          spec:
            restartPolicy: Never
            containers:
              - name: training
                image: docker.io/me/train:1
                command: [python3, train.py, "--x=${trialParameters.x}"]
"""


def test_an_imported_katib_experiment_runs_locally(user: User) -> None:
    user.write("train.py", TRAIN)
    user.write("experiment.yaml", KATIB)
    converted = user.tuneop("import", "katib", "experiment.yaml")
    assert converted.code == 0, converted
    user.write("session.yaml", converted.out)
    ran = user.tuneop("run", "session.yaml", "--local")
    assert ran.code == 0, ran
    assert outcomes(user, "katib-local") == {0: "Succeeded", 1: "Succeeded", 2: "Succeeded"}
    assert "docker.io/me/train:1 is not used locally" in ran.err


def test_a_missing_script_is_refused_naming_it(user: User) -> None:
    user.write("s.yaml", session("nope", command="[python, /app/train_gbm.py]"))
    seen_ = user.tuneop("run", "s.yaml", "--local")
    assert seen_.code == 2, seen_
    errors = [line for line in seen_.err.splitlines() if not line.startswith("notice:")]
    assert len(errors) == 1, seen_
    assert "/app/train_gbm.py" in errors[0] and "does not exist" in errors[0]
    assert "Traceback" not in seen_.both
    assert not user.path("tuneop-results/nope/trials").exists()


def test_a_missing_program_is_refused_naming_it(user: User) -> None:
    user.write("s.yaml", session("noprog", command="[torchrun-not-installed, train.py]"))
    seen_ = user.tuneop("run", "s.yaml", "--local")
    assert seen_.code == 2, seen_
    errors = [line for line in seen_.err.splitlines() if not line.startswith("notice:")]
    assert len(errors) == 1, seen_
    assert "torchrun-not-installed" in errors[0] and "does not exist" in errors[0]


def test_what_of_the_pod_cannot_exist_here_gets_one_notice_each_and_the_run_goes_on(
    user: User,
) -> None:
    user.write("train.py", TRAIN)
    extra = """\
          env:
            - name: TRACKER_TOKEN
              valueFrom: {secretKeyRef: {name: tracker, key: token}}
          envFrom:
            - configMapRef: {name: settings}
          volumeMounts:
            - {name: data, mountPath: /data, readOnly: true}
            - {name: creds, mountPath: /creds}
      initContainers:
        - {name: fetch, image: busybox, command: [sh, -c, "true"]}
      volumes:
        - name: data
          persistentVolumeClaim: {claimName: gbm-data}
        - name: creds
          secret: {secretName: cloud-creds}
"""
    user.write("s.yaml", session("parts", extra=extra, top=1))
    user.env["TRACKER_TOKEN"] = "from-my-shell"
    seen_ = user.tuneop("run", "s.yaml", "--local")
    assert seen_.code == 0, seen_
    notices = [line for line in seen_.err.splitlines() if line.startswith("notice:")]
    for word in ("image", "gbm-data", "cloud-creds", "TRACKER_TOKEN", "settings", "fetch"):
        assert len([n for n in notices if word in n]) == 1, (word, notices)
    assert len(notices) == 6, notices
    assert outcomes(user, "parts") == {0: "Succeeded", 1: "Succeeded"}


def test_the_no_objective_advice_works_as_written(user: User) -> None:
    user.write("train.py", "import json, os\nprint('loss=', 1.0)\n")
    text = """\
apiVersion: tuneop.dev/v1alpha1
kind: TuningSession
metadata: {name: advice}
spec:
  objective: {metric: loss}
  searchSpace: [{name: x, type: int, min: 0, max: 1}]
  optimizer: {type: grid}
  runner:
    image: tuneop/runner:0.1.0
"""
    user.write("s.yaml", text)
    refused = user.tuneop("run", "s.yaml", "--local")
    assert refused.code == 2, refused
    advice = refused.err.split("runner.objectiveCommand: ", 1)[1].split(" (a program)")[0]
    # The advice, pasted into the runner as written, is a valid session that runs.
    script = "import json, os\nprint(json.dumps({'loss': 1.0}))\n"
    user.write("train.py", script)
    user.write("s.yaml", text + f"    objectiveCommand: {advice}\n")
    ran = user.tuneop("run", "s.yaml", "--local")
    assert ran.code == 0, ran
    assert "Input should be" not in ran.both


FAKE_SMI = """#!/bin/sh
echo "GPU 0: NVIDIA A100-SXM4-40GB (UUID: GPU-aaaa)"
echo "GPU 1: NVIDIA A100-SXM4-40GB (UUID: GPU-bbbb)"
"""

GPU_EXTRA = """\
          env:
            - {name: SLEEP, value: "1.0"}
          resources:
            limits: {"nvidia.com/gpu": 1}
"""


def fake_gpus(user: User) -> None:
    smi = user.write("bin/nvidia-smi", FAKE_SMI)
    smi.chmod(0o755)
    user.env["PATH"] = f"{user.path('bin')}{os.pathsep}{user.env['PATH']}"
    user.env.pop("CUDA_VISIBLE_DEVICES", None)


def test_each_slot_gets_a_gpu_of_its_own(user: User) -> None:
    fake_gpus(user)
    user.write("train.py", TRAIN)
    user.write("s.yaml", session("gpus", extra=GPU_EXTRA, top=3, parallel=2))
    seen_ = user.tuneop("run", "s.yaml", "--local")
    assert seen_.code == 0, seen_
    env = seen(user)
    assert {str(d["CUDA_VISIBLE_DEVICES"]) for d in env.values()} == {"0", "1"}
    spans = sorted(
        (float(str(d["start"])), float(str(d["end"])), d["CUDA_VISIBLE_DEVICES"])
        for d in env.values()
    )
    for i, (start, end, gpu) in enumerate(spans):
        for other_start, other_end, other_gpu in spans[i + 1 :]:
            if other_start < end and start < other_end:  # ran at the same time
                assert gpu != other_gpu, spans


def test_fewer_gpus_than_slots_lowers_parallelism_with_one_notice(user: User) -> None:
    fake_gpus(user)
    user.write("train.py", TRAIN)
    extra = GPU_EXTRA.replace('"nvidia.com/gpu": 1', '"nvidia.com/gpu": 2')
    user.write("s.yaml", session("gpus2", extra=extra, top=2, parallel=3))
    seen_ = user.tuneop("run", "s.yaml", "--local")
    assert seen_.code == 0, seen_
    notices = [line for line in seen_.err.splitlines() if "maxParallel" in line]
    assert len(notices) == 1 and "lowered to 1" in notices[0], seen_.err
    assert {str(d["CUDA_VISIBLE_DEVICES"]) for d in seen(user).values()} == {"0,1"}


def test_a_gpu_trial_on_a_machine_without_gpus_is_refused(user: User) -> None:
    user.env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}/usr/bin:/bin"
    user.env["CUDA_VISIBLE_DEVICES"] = ""
    user.write("train.py", TRAIN)
    user.write("s.yaml", session("nogpu", extra=GPU_EXTRA))
    seen_ = user.tuneop("run", "s.yaml", "--local")
    assert seen_.code == 2, seen_
    errors = [line for line in seen_.err.splitlines() if not line.startswith("notice:")]
    assert len(errors) == 1 and "nvidia.com/gpu" in errors[0], seen_
