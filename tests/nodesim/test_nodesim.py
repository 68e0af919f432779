"""The node simulator on its own: real local processes, a recording stand-in for the API.

These tests drive ``NodeSimulator`` the way its main loop does (``on_pod`` for each pod event,
``tick`` for time) without a control plane, and check what it writes: the pod status it
patches (strategic merge, conditions of a current kubelet), the final delete, native sidecars,
graceful deletion and eviction. The e2e tier checks the same against a real apiserver.
"""

from __future__ import annotations

import copy
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from minicluster.kube import STRATEGIC_MERGE_PATCH, ApiException, Json
from minicluster.nodesim import (
    EVICT_ANNOTATION,
    UNPULLABLE_REGISTRY,
    UNSCHEDULABLE_LABEL,
    NodeSimulator,
)
from minicluster.volumes import can_mount

PY = sys.executable
JOB_FINALIZER = "batch.kubernetes.io/job-tracking"


class RecordingKube:
    """Just enough of ``minicluster.kube.Kube`` for the simulator; records every write."""

    server = "https://127.0.0.1:6443"
    ca_file = None

    def __init__(self) -> None:
        self.patches: list[tuple[str, Json, str]] = []
        self.deletes: list[tuple[str, Json | None]] = []
        self.posts: list[tuple[str, Json]] = []

    def get(self, path: str, **query: Any) -> Json:
        if path == "/version":
            return {"gitVersion": "v1.37.2"}
        raise ApiException(status=404, reason="Not Found")

    def get_or_none(self, path: str, **query: Any) -> Json | None:
        return None

    def post(self, path: str, body: Json, **query: Any) -> Json:
        self.posts.append((path, body))
        return body

    def patch(self, path: str, body: Json, *, content_type: str = "") -> Json:
        self.patches.append((path, copy.deepcopy(body), content_type))
        return body

    def delete(self, path: str, body: Json | None = None, **query: Any) -> Json | None:
        self.deletes.append((path, body))
        return None

    def statuses(self, name: str) -> list[Json]:
        suffix = f"/pods/{name}/status"
        return [body["status"] for path, body, _ in self.patches if path.endswith(suffix)]

    def last_status(self, name: str) -> Json:
        return self.statuses(name)[-1]


def condition(status: Json, kind: str) -> Json | None:
    return next((c for c in status.get("conditions") or [] if c["type"] == kind), None)


def container(name: str, code: str, **extra: Any) -> Json:
    return {"name": name, "image": "unused", "command": [PY, "-c", code], **extra}


def pod(name: str, containers: list[Json], init: list[Json] | None = None, **meta: Any) -> Json:
    spec: Json = {
        "nodeName": "tuneop-node",
        "restartPolicy": "Never",
        "terminationGracePeriodSeconds": 5,
        "containers": containers,
    }
    if init:
        spec["initContainers"] = init
    metadata: Json = {"name": name, "namespace": "ns", "uid": f"uid-{name}", "generation": 1}
    metadata.update(meta)
    return {"metadata": metadata, "spec": spec, "status": {"phase": "Pending"}}


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[tuple[NodeSimulator, RecordingKube]]:
    kube = RecordingKube()
    simulator = NodeSimulator(kube, tmp_path)  # type: ignore[arg-type]
    yield simulator, kube
    simulator.shutdown()


def drive(simulator: NodeSimulator, until: Callable[[], object], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not until():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out; runs: {simulator.runs}")
        simulator.tick()
        time.sleep(0.05)


def deleted(p: Json, grace: int = 5) -> Json:
    gone = copy.deepcopy(p)
    gone["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    gone["metadata"]["deletionGracePeriodSeconds"] = grace
    return gone


def test_a_pod_runs_to_success_with_the_conditions_of_a_current_kubelet(sim: Any) -> None:
    simulator, kube = sim
    simulator.on_pod(pod("ok", [container("main", "print('hi')")]))
    drive(simulator, lambda: kube.statuses("ok") and kube.last_status("ok")["phase"] == "Succeeded")
    first, last = kube.statuses("ok")[0], kube.last_status("ok")
    assert condition(first, "PodReadyToStartContainers")["status"] == "True"  # type: ignore[index]
    assert first["containerStatuses"][0]["state"]["waiting"]["reason"] == "ContainerCreating"
    # The states it is not in are nulls: a strategic merge patch replaces the state.
    assert first["containerStatuses"][0]["state"]["running"] is None
    state = last["containerStatuses"][0]["state"]
    assert state["terminated"]["exitCode"] == 0 and state["waiting"] is None
    assert condition(last, "Ready")["reason"] == "PodCompleted"  # type: ignore[index]
    assert last["observedGeneration"] == 1 and last["hostIPs"] == [{"ip": "127.0.0.1"}]
    assert {ctype for path, _, ctype in kube.patches if "/pods/" in path} == {STRATEGIC_MERGE_PATCH}
    # Nothing the simulator writes touches metadata but the uid precondition.
    assert all(set(body.get("metadata", {})) <= {"uid"} for _, body, _ in kube.patches)


def test_transition_times_move_only_when_a_condition_changes(sim: Any) -> None:
    simulator, kube = sim
    simulator.on_pod(pod("t", [container("main", "import time; time.sleep(1.5)")]))
    drive(simulator, lambda: kube.statuses("t") and kube.last_status("t")["phase"] == "Succeeded")
    times = {condition(s, "PodScheduled")["lastTransitionTime"] for s in kube.statuses("t")}  # type: ignore[index]
    assert len(times) == 1


def test_native_sidecar_runs_alongside_the_main_container_and_is_stopped_after_it(
    sim: Any, tmp_path: Path
) -> None:
    simulator, kube = sim
    flag = tmp_path / "sidecar-up"
    sidecar = container(
        "proxy",
        f"import pathlib, time; pathlib.Path({str(flag)!r}).touch(); time.sleep(60)",
        restartPolicy="Always",
    )
    setup = container("setup", "print('init')")
    main = container(
        "main",
        f"import pathlib, sys; sys.exit(0 if pathlib.Path({str(flag)!r}).exists() else 3)",
    )
    simulator.on_pod(pod("side", [main], init=[setup, sidecar]))
    drive(
        simulator, lambda: kube.statuses("side") and kube.last_status("side")["phase"] != "Pending"
    )
    running = kube.last_status("side")
    assert running["phase"] == "Running"
    init = {s["name"]: s for s in running["initContainerStatuses"]}
    assert init["setup"]["state"]["terminated"]["exitCode"] == 0
    assert init["proxy"]["state"]["running"] and init["proxy"]["restartPolicy"] == "Always"
    drive(simulator, lambda: kube.last_status("side")["phase"] == "Succeeded")
    last = kube.last_status("side")
    assert last["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 0
    proxy = {s["name"]: s for s in last["initContainerStatuses"]}["proxy"]
    assert proxy["state"]["terminated"]["exitCode"] == 143  # SIGTERM after main exited
    # While the sidecar was still running the pod was not yet terminal.
    phases = [s["phase"] for s in kube.statuses("side")]
    assert phases.index("Succeeded") == len(phases) - 1


def test_a_sidecar_that_dies_is_restarted_while_the_main_container_runs(sim: Any) -> None:
    simulator, kube = sim
    sidecar = container("flaky", "import time; time.sleep(0.3)", restartPolicy="Always")
    main = container("main", "import time; time.sleep(4)")
    simulator.on_pod(pod("flaky", [main], init=[sidecar]))

    def restarted() -> bool:
        statuses = kube.statuses("flaky")
        return bool(statuses) and statuses[-1]["initContainerStatuses"][0]["restartCount"] >= 1

    drive(simulator, restarted)
    drive(simulator, lambda: kube.last_status("flaky")["phase"] == "Succeeded")


def test_graceful_deletion_ends_in_a_terminal_phase_then_one_final_delete(sim: Any) -> None:
    simulator, kube = sim
    p = pod(
        "gone",
        [container("main", "import time; time.sleep(60)")],
        finalizers=[JOB_FINALIZER],
    )
    simulator.on_pod(p)
    drive(
        simulator, lambda: kube.statuses("gone") and kube.last_status("gone")["phase"] == "Running"
    )
    started = time.monotonic()
    simulator.on_pod(deleted(p, grace=5))
    drive(simulator, lambda: kube.deletes)
    assert time.monotonic() - started < 4, "SIGTERM ends a default Python at once"
    last = kube.last_status("gone")
    assert last["phase"] == "Failed"
    assert last["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 143
    assert condition(last, "PodReadyToStartContainers")["status"] == "False"  # type: ignore[index]
    path, body = kube.deletes[0]
    assert path == "/api/v1/namespaces/ns/pods/gone"
    assert body == {
        "apiVersion": "v1",
        "kind": "DeleteOptions",
        "gracePeriodSeconds": 0,
        "preconditions": {"uid": "uid-gone"},
    }
    # The finalizer holds the pod; the Job controller removes it (an update): no second delete.
    simulator.forget(simulator.runs[("ns", "gone")])
    held = deleted(p, grace=0)
    held["status"]["phase"] = "Failed"
    simulator.on_pod(held)
    held["metadata"]["finalizers"] = []
    simulator.on_pod(held)
    assert len(kube.deletes) == 1


def test_a_pod_deleted_before_the_simulator_saw_it_run_is_deleted_once(sim: Any) -> None:
    simulator, kube = sim
    p = deleted(pod("late", [container("main", "pass")], finalizers=[JOB_FINALIZER]))
    simulator.on_pod(p)
    simulator.on_pod(p)
    assert len(kube.deletes) == 1
    simulator.handle("DELETED", p)
    assert simulator.deletes_sent == set()


def test_sidecars_get_sigterm_after_the_main_containers_on_deletion(
    sim: Any, tmp_path: Path
) -> None:
    simulator, kube = sim
    order = tmp_path / "order"
    trap = (
        "import signal, sys, time\n"
        "def bye(*_):\n"
        f"    open({str(order)!r}, 'a').write('{{}}\\n'.format(sys.argv[1]))\n"
        "    sys.exit(0)\n"
        "signal.signal(signal.SIGTERM, bye)\n"
        "time.sleep(60)\n"
    )
    main = {"name": "main", "image": "u", "command": [PY, "-c", trap, "main"]}
    side = {
        "name": "side",
        "image": "u",
        "command": [PY, "-c", trap, "side"],
        "restartPolicy": "Always",
    }
    p = pod("order", [main], init=[side])
    simulator.on_pod(p)
    drive(
        simulator,
        lambda: kube.statuses("order") and kube.last_status("order")["phase"] == "Running",
    )
    time.sleep(0.5)  # let both install their handlers
    simulator.on_pod(deleted(p))
    drive(simulator, lambda: kube.deletes)
    assert order.read_text().split() == ["main", "side"]


def test_eviction_adds_disruption_target_before_the_pod_fails(sim: Any) -> None:
    simulator, kube = sim
    p = pod("evict", [container("main", "import time; time.sleep(60)")])
    simulator.on_pod(p)
    drive(
        simulator,
        lambda: kube.statuses("evict") and kube.last_status("evict")["phase"] == "Running",
    )
    evicted = copy.deepcopy(p)
    evicted["metadata"]["annotations"] = {EVICT_ANNOTATION: "The node was low on memory."}
    simulator.on_pod(evicted)
    drive(simulator, lambda: kube.last_status("evict")["phase"] == "Failed")
    statuses = kube.statuses("evict")
    first_disrupted = next(s for s in statuses if condition(s, "DisruptionTarget"))
    assert first_disrupted["phase"] == "Running", "the condition comes before the kill"
    target = condition(statuses[-1], "DisruptionTarget")
    assert target is not None and target["status"] == "True"
    assert target["reason"] == "TerminationByKubelet"
    assert statuses[-1]["reason"] == "Evicted"
    assert statuses[-1]["message"] == "The node was low on memory."
    assert statuses[-1]["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 137
    assert not kube.deletes, "an evicted pod stays for its owner to see"


class KubeWithObjects(RecordingKube):
    """A RecordingKube that also serves ConfigMaps and Secrets by path."""

    def __init__(self, objects: dict[str, Json]) -> None:
        super().__init__()
        self.objects = objects

    def get_or_none(self, path: str, **query: Any) -> Json | None:
        return self.objects.get(path)


# Mount points under /run (a tmpfs): the simulator creates missing ones on the host.
MNT = "/run/tuneop-nodesim-test"
READS_VOLUMES = f"""
import os, pathlib
got = {{
    "cfg": pathlib.Path("{MNT}/cfg/settings.json").read_text(),
    "secret": pathlib.Path("{MNT}/secret/token").read_text(),
    "shared": pathlib.Path("{MNT}/shared/from-init").read_text(),
    "params": pathlib.Path("{MNT}/params/params.json").read_text(),
}}
want = {{"cfg": '{{"a": 1}}', "secret": "s3cret", "shared": "hello", "params": '{{"x": 2}}'}}
# The pod's own directory (HOME, under /tmp here) is still there past the bind over /tmp.
pathlib.Path(os.environ["HOME"], "from-main").write_text("ok")
try:
    pathlib.Path("{MNT}/cfg/new").write_text("no")
    raise SystemExit("a readOnly mount was writable")
except OSError:
    pass
raise SystemExit(0 if got == want else f"got {{got}}")
"""


@pytest.mark.skipif(not can_mount(), reason="mounting volumes needs root and util-linux unshare")
def test_configmap_secret_emptydir_and_downward_api_volumes_are_mounted(tmp_path: Path) -> None:
    objects = {
        "/api/v1/namespaces/ns/configmaps/cfg": {"data": {"settings.json": '{"a": 1}'}},
        "/api/v1/namespaces/ns/secrets/creds": {"data": {"token": "czNjcmV0"}},
    }
    kube = KubeWithObjects(objects)
    simulator = NodeSimulator(kube, tmp_path)  # type: ignore[arg-type]
    mounts = [
        # The pod's own directory is under /tmp: a bind over /tmp must not hide the others.
        {"name": "tmp", "mountPath": "/tmp"},
        {"name": "cfg", "mountPath": f"{MNT}/cfg", "readOnly": True},
        {"name": "secret", "mountPath": f"{MNT}/secret"},
        {"name": "shared", "mountPath": f"{MNT}/shared"},
        {"name": "params", "mountPath": f"{MNT}/params"},
    ]
    writer = container(
        "init",
        f"open('{MNT}/shared/from-init', 'w').write('hello')",
        volumeMounts=[mounts[3]],
    )
    p = pod(
        "vols",
        [container("main", READS_VOLUMES, volumeMounts=mounts)],
        init=[writer],
        annotations={"tuneop.dev/params": '{"x": 2}'},
    )
    field = "metadata.annotations['tuneop.dev/params']"
    p["spec"]["volumes"] = [
        {"name": "tmp", "emptyDir": {}},
        {"name": "cfg", "configMap": {"name": "cfg"}},
        {"name": "secret", "secret": {"secretName": "creds"}},
        {"name": "shared", "emptyDir": {"medium": "Memory"}},
        {
            "name": "params",
            "downwardAPI": {"items": [{"path": "params.json", "fieldRef": {"fieldPath": field}}]},
        },
    ]
    try:
        simulator.on_pod(p)
        drive(
            simulator,
            lambda: kube.statuses("vols")
            and kube.last_status("vols")["phase"] in {"Succeeded", "Failed"},
        )
        log = (next(tmp_path.glob("pods/*vols*/logs")) / "main.log").read_text()
        assert kube.last_status("vols")["phase"] == "Succeeded", log
        assert not Path(f"{MNT}/shared/from-init").exists()  # only inside the pod's namespace
        assert (next(tmp_path.glob("pods/*vols*")) / "work" / "from-main").read_text() == "ok"
    finally:
        simulator.shutdown()


def test_a_missing_configmap_volume_holds_the_container_in_config_error(sim: Any) -> None:
    simulator, kube = sim
    p = pod(
        "nocm",
        [container("main", "print(1)", volumeMounts=[{"name": "c", "mountPath": f"{MNT}/c"}])],
    )
    p["spec"]["volumes"] = [{"name": "c", "configMap": {"name": "absent"}}]
    simulator.on_pod(p)

    def waiting() -> str | None:
        if not kube.statuses("nocm"):
            return None
        state = kube.last_status("nocm")["containerStatuses"][0]["state"]
        return (state.get("waiting") or {}).get("reason")

    drive(simulator, lambda: waiting() == "CreateContainerConfigError")


def test_an_image_of_the_unpullable_registry_waits_in_image_pull_back_off(sim: Any) -> None:
    simulator, kube = sim
    image = f"{UNPULLABLE_REGISTRY}/trainer:1"
    p = pod("nopull", [container("main", "print(1)", image=image)])
    simulator.on_pod(p)

    def waiting() -> Json | None:
        if not kube.statuses("nopull"):
            return None
        state = kube.last_status("nopull")["containerStatuses"][0]["state"]
        return state.get("waiting")

    drive(simulator, lambda: (waiting() or {}).get("reason") == "ImagePullBackOff")
    for _ in range(15):  # it stays there: no process, still Pending
        simulator.tick()
        time.sleep(0.1)
    assert waiting() == {
        "reason": "ImagePullBackOff",
        "message": f'Back-off pulling image "{image}"',
    }
    assert kube.last_status("nopull").get("phase", "Pending") == "Pending"
    assert kube.last_status("nopull")["containerStatuses"][0]["started"] is False


def test_a_pod_selecting_the_unschedulable_label_is_never_bound(sim: Any) -> None:
    simulator, kube = sim
    p = pod("nofit", [container("main", "print(1)")])
    del p["spec"]["nodeName"]
    p["spec"]["nodeSelector"] = {UNSCHEDULABLE_LABEL: "yes"}
    simulator.on_pod(p)
    assert not kube.posts, "no binding"
    scheduled = condition(kube.last_status("nofit"), "PodScheduled")
    assert scheduled is not None
    assert (scheduled["status"], scheduled["reason"]) == ("False", "Unschedulable")
    plain = pod("fits", [container("main", "print(1)")])
    del plain["spec"]["nodeName"]
    plain["spec"]["nodeSelector"] = {"disktype": "ssd"}  # other selectors are still ignored
    simulator.on_pod(plain)
    assert [path for path, _ in kube.posts] == ["/api/v1/namespaces/ns/pods/fits/binding"]


def test_a_mount_over_tmp_keeps_the_python_and_checkout_it_covers_reachable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # A checkout and its virtualenv under /tmp (as a CI clone may be), and the secure
    # defaults' writable /tmp mounted over it: both are bound back, the outermost only.
    from minicluster import volumes

    venv = Path("/tmp/ci-checkout/.venv")
    monkeypatch.setattr(sys, "prefix", str(venv))
    monkeypatch.setenv("PYTHONPATH", "/tmp/ci-checkout/operator:/opt/elsewhere")
    pod_dir = Path("/tmp/pytest-of-x/cluster0/node/pods/p")
    binds = [("/volumes/tmp", "/tmp", False)]
    hidden = volumes._hidden(pod_dir, binds)
    assert pod_dir in hidden
    assert venv in hidden or Path("/tmp/ci-checkout") in hidden
    assert Path("/opt/elsewhere") not in hidden
    assert all(not a.is_relative_to(b) for a in hidden for b in hidden if a != b)
