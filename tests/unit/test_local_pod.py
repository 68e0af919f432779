"""What a local run runs of a trial's pod (``core.jobs.localpod``), the GPUs it hands out
(``adapters.local.gpus``), each trial's wall time in its worker, the watchdog's choice of
what to stop, and a failed Job's words at harvest."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from builders import spec
from tuneop.adapters.local.gpus import GpuPool, Gpus, detect_gpus
from tuneop.adapters.local.logs import Tail
from tuneop.adapters.local.spawn import Attempt, exit_words
from tuneop.adapters.local.watchdog import Watch
from tuneop.api.spec import Objective
from tuneop.core.jobs.localpod import gpu_slots, gpus_per_trial, is_runner, local_notices, script_of
from tuneop.core.jobs.observed import JobState, ObservedJob
from tuneop.core.results.harvest import harvest_job


@pytest.mark.parametrize(
    ("words", "script"),
    [
        (["python", "train.py", "--lr=1"], "train.py"),
        (["python3", "-u", "-W", "ignore", "/app/train.py"], "/app/train.py"),
        (["/usr/bin/python3.11", "-m", "trainer"], None),
        (["python", "-c", "print(1)"], None),
        (["bash", "run.sh", "x"], "run.sh"),
        (["sh", "-c", "echo hi"], None),
        (["torchrun", "--nproc_per_node=2", "train.py"], None),
        ([], None),
    ],
)
def test_the_script_an_interpreter_is_given(words: list[str], script: str | None) -> None:
    assert script_of(words) == script


def test_the_runner_is_recognised_by_its_script_or_module() -> None:
    assert is_runner(["tuneop-runner"])
    assert is_runner(["/venv/bin/tuneop-runner", "--objective", "m:f"])
    assert is_runner(["/usr/bin/python3", "-m", "tuneop_runner"])
    assert not is_runner(["python", "train.py"])


def template_spec(container: dict[str, Any], **pod: Any) -> Any:
    return spec(
        runner={"container": "trial"},
        metricsCollector={"kind": "StdOut"},
        template={"spec": {"containers": [container], **pod}},
    )


def test_one_notice_for_each_part_of_the_pod_a_local_run_cannot_give() -> None:
    container = {
        "name": "trial",
        "image": "x/y:1",
        "command": ["python", "t.py"],
        "env": [
            {"name": "A", "value": "1"},
            {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}},
        ],
        "envFrom": [{"configMapRef": {"name": "cm"}}],
        "volumeMounts": [{"name": "data", "mountPath": "/data"}],
    }
    s = template_spec(
        container,
        volumes=[{"name": "data", "persistentVolumeClaim": {"claimName": "pvc"}}],
        initContainers=[{"name": "init", "image": "busybox"}],
    )
    notices = local_notices(s, environ={"TOKEN"})
    assert len(notices) == 5, notices
    assert any("x/y:1" in n for n in notices)
    assert any("persistentVolumeClaim pvc, mounted at /data" in n for n in notices)
    assert any("TOKEN (secretKeyRef s/k)" in n and "(set here)" in n for n in notices)
    assert any("envFrom configMapRef cm" in n for n in notices)
    assert any("init container init" in n for n in notices)
    assert local_notices(spec()) == []  # the short form runs the runner: nothing to say


def test_gpus_asked_and_the_slots_they_allow() -> None:
    assert gpus_per_trial({"resources": {"limits": {"nvidia.com/gpu": "2"}}}) == 2
    assert gpus_per_trial({"resources": {"requests": {"nvidia.com/gpu": 1}}}) == 1
    assert gpus_per_trial({"resources": {"limits": {"nvidia.com/gpu": "lots"}}}) == 0
    assert gpus_per_trial({}) == 0
    assert gpu_slots(per_trial=1, available=2, max_parallel=4) == 2
    assert gpu_slots(per_trial=2, available=3, max_parallel=4) == 1
    assert gpu_slots(per_trial=1, available=0, max_parallel=4) == 0
    assert gpu_slots(per_trial=0, available=0, max_parallel=4) == 4


def test_gpus_are_detected_from_the_environment_or_nvidia_smi(tmp_path: Path) -> None:
    assert detect_gpus({"CUDA_VISIBLE_DEVICES": "2,3"}) == Gpus(("2", "3"), "CUDA_VISIBLE_DEVICES")
    assert detect_gpus({"CUDA_VISIBLE_DEVICES": "1,-1,2"}).ids == ("1",)
    assert detect_gpus({"CUDA_VISIBLE_DEVICES": ""}).ids == ()
    smi = tmp_path / "nvidia-smi"
    smi.write_text("#!/bin/sh\necho 'GPU 0: A (UUID: GPU-a)'\necho 'GPU 1: B (UUID: GPU-b)'\n")
    smi.chmod(0o755)
    found = detect_gpus({"PATH": str(tmp_path)})
    assert found == Gpus(("0", "1"), "nvidia-smi")
    assert found.env == {"CUDA_DEVICE_ORDER": "PCI_BUS_ID"}
    assert detect_gpus({"PATH": str(tmp_path / "none")}) == Gpus()


def test_each_worker_borrows_gpus_of_its_own() -> None:
    pool = GpuPool(Gpus(("0", "1", "2"), "CUDA_VISIBLE_DEVICES"))
    assert pool.take("a", 2) == {"CUDA_VISIBLE_DEVICES": "0,1"}
    assert pool.take("b", 1) == {"CUDA_VISIBLE_DEVICES": "2"}
    pool.give_back("a")
    assert pool.take("c", 1) == {"CUDA_VISIBLE_DEVICES": "0"}
    assert pool.take("d", 0) == {}


def attempt(marks: list[tuple[int, float]], ended: float) -> Attempt:
    proc: Any = None
    return Attempt(proc=proc, started=10.0, log=Path("x"), marks=marks, ended=ended)


def test_each_trials_wall_time_in_its_worker() -> None:
    # One trial: start to exit, whatever the runner timed of its call.
    assert attempt([(3, 10.5)], 10.7).seconds((3,)) == pytest.approx({3: 0.7})
    # Several: start (or the previous result) to its result; the last one to the exit.
    times = attempt([(1, 11.0), (2, 13.0)], 13.5).seconds((1, 2))
    assert times == pytest.approx({1: 1.0, 2: 2.5})
    # The one it died on runs to the exit; those after it never ran.
    assert attempt([(1, 11.0)], 12.0).seconds((1, 2, 3)) == pytest.approx({1: 1.0, 2: 1.0})
    # A script: no result line, the whole process.
    assert attempt([], 14.0).seconds((5,)) == pytest.approx({5: 4.0})
    # Still running: nothing yet.
    assert Attempt(proc=None, started=1.0, log=Path("x")).seconds((1,)) == {}  # type: ignore[arg-type]


def test_stderr_tail_keeps_the_last_lines_bounded_and_what_a_progress_bar_showed_last() -> None:
    tail = Tail(lines=2, chars=10)
    for line in (b"one\n", b"\n", b"10%\r50%\r100%\n", b"x" * 50 + b"\n"):
        tail.add(line)
    assert tail.lines() == ("100%", "x" * 10 + "…")


def test_exit_words_are_local() -> None:
    assert exit_words(1) == "exited with code 1"
    assert exit_words(-9) == "was killed by SIGKILL"


def test_a_failed_local_job_is_explained_in_its_own_words_the_clusters_keep_theirs() -> None:
    objective = Objective(metric="loss")
    base = ObservedJob(index=0, name="j-0", trials=(0,), state=JobState.FAILED, params=({},))
    cluster = harvest_job(
        ObservedJob(**{**base.__dict__, "reason": "BackoffLimitExceeded"}), ["boom"], objective
    )
    assert (
        cluster[0].error == "the worker exited without reporting this trial (BackoffLimitExceeded)"
    )
    local = ObservedJob(
        **{
            **base.__dict__,
            "reason": "BackoffLimitExceeded",
            "detail": "exited with code 1",
            "stderr_tail": (
                "Traceback (most recent call last):",
                "RuntimeError: CUDA out of memory",
            ),
            "seconds": ((0, 2.5),),
        }
    )
    (result,) = harvest_job(local, ["boom"], objective)
    assert result.error == (
        "the worker exited with code 1 without reporting this trial; its stderr ends:"
        " Traceback (most recent call last): | RuntimeError: CUDA out of memory"
    )
    assert result.duration_seconds == 2.5
    timed = ObservedJob(
        **{
            **base.__dict__,
            "reason": "DeadlineExceeded",
            "detail": "was killed after the 3 s trial timeout",
        }
    )
    assert harvest_job(timed, [""], objective)[0].error == (
        "the worker was killed after the 3 s trial timeout"
    )


def test_the_watchdog_notes_what_is_below_workers_and_in_their_sessions() -> None:
    # pid: (parent, session, state, start)
    procs = {
        1: (0, 1, "S", "1"),
        100: (1, 100, "S", "5"),  # tuneop
        200: (100, 200, "S", "6"),  # a worker, session leader
        201: (200, 200, "S", "7"),  # its child
        202: (201, 202, "S", "8"),  # a grandchild in a session of its own (setsid)
        300: (100, 100, "S", "9"),  # another child of tuneop: not the session's
        400: (1, 200, "S", "10"),  # an orphan left in the worker's session
    }
    watch = Watch()
    watch.announce("200 6")
    watch.scan(procs)
    assert set(watch.noted) == {201, 202, 400}
    # The worker and its child die; the setsid grandchild is re-parented to init.
    later = {k: v for k, v in procs.items() if k not in (200, 201)}
    later[202] = (1, 202, "S", "8")
    watch.scan(later)
    assert sorted(watch.targets(later)) == [202, 400]
    assert 300 not in watch.targets(later)
    # A new process given a noted pid is not taken for it.
    reused = {**later, 202: (1, 202, "S", "99")}
    assert 202 not in watch.targets(reused)


def test_a_watchdog_told_bye_stops_nothing_and_one_whose_pipe_ends_stops_the_workers(
    tmp_path: Path,
) -> None:
    from tuneop.adapters.local import watchdog
    from tuneop.adapters.local.proctree import process_start

    def start_watchdog() -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-I", "-S", watchdog.__file__],
            stdin=subprocess.PIPE,
            start_new_session=True,
        )

    for says_bye in (True, False):
        worker = subprocess.Popen(["sleep", "60"], start_new_session=True)
        dog = start_watchdog()
        assert dog.stdin is not None
        dog.stdin.write(f"{worker.pid} {process_start(worker.pid)}\n".encode())
        dog.stdin.flush()
        if says_bye:
            dog.stdin.write(b"bye\n")
        dog.stdin.close()
        assert dog.wait(timeout=20) == 0
        try:
            worker.wait(timeout=5)
            stopped = True
        except subprocess.TimeoutExpired:
            stopped = False
        assert stopped is not says_bye
        worker.kill()
        worker.wait()


def test_preflight_names_a_missing_script_of_the_runners_command(tmp_path: Path) -> None:
    from tuneop.cli.preflight import preflight

    s = spec(runner={"image": "r:1", "objectiveCommand": ["python3", "missing.py"]})
    problem = preflight(s, cwd=tmp_path)
    assert problem is not None and "spec.runner.objectiveCommand" in problem
    assert "missing.py does not exist here" in problem
    (tmp_path / "missing.py").write_text("print('{}')\n")
    assert preflight(s, cwd=tmp_path) is None
    absent = spec(runner={"image": "r:1", "objectiveCommand": ["no-such-program-here", "x"]})
    assert "no-such-program-here does not exist here" in str(preflight(absent, cwd=tmp_path))
