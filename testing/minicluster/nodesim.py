"""A node simulator: a kubelet (and a one-node scheduler) without containers.

The end-to-end tier has a real control plane but no container runtime. This program plays
the part of the one node of the cluster, as far as the API can tell:

* it registers a Ready ``Node`` (InternalIP 127.0.0.1), renews its ``Lease`` in
  kube-node-lease and posts node-status heartbeats, so the node lifecycle controller keeps it
  Ready and never evicts its pods;
* it binds every unscheduled pod to itself through the ``pods/binding`` subresource (the
  cluster has no scheduler);
* it "runs" each bound pod by starting every container's ``command`` + ``args`` as a local
  process (the image is ignored) in a per-pod directory, with the container's ``env``
  resolved as the kubelet would (literal values, ``$(VAR)`` expansion, ``fieldRef``,
  ``secretKeyRef``, ``configMapKeyRef``, ``envFrom``) and with the pod's ServiceAccount token
  offered as a ``KUBECONFIG`` file, so a program acts with exactly that account's RBAC;
* it reports the pod's phase, container states and conditions as a current kubelet does
  (PodReadyToStartContainers, Initialized, Ready, ContainersReady, PodScheduled), with a
  strategic merge patch that leaves other writers' conditions and the pod's finalizers (the
  Job controller's ``batch.kubernetes.io/job-tracking``) alone;
* it runs native sidecars (init containers with ``restartPolicy: Always``): started in order
  with the init containers, kept running (and restarted) while the main containers run, and
  stopped once they have all exited;
* it enforces ``activeDeadlineSeconds``, evicts a pod on request (the annotation
  ``EVICT_ANNOTATION``, like a kubelet's node-pressure eviction: a DisruptionTarget
  condition, SIGKILL, phase Failed with reason Evicted) and honours graceful deletion
  (SIGTERM to the main containers, then to the sidecars, the grace period, SIGKILL, a final
  terminal phase, then the final delete, once);
* it plays two ways a pod never starts, on request: a container whose image names the
  registry ``UNPULLABLE_REGISTRY`` waits in ``ImagePullBackOff`` for ever (the image is
  not pulled, so no process starts), and a pod whose ``nodeSelector`` names
  ``UNSCHEDULABLE_LABEL`` is never bound: its ``PodScheduled`` condition says
  ``Unschedulable``, as the scheduler would; other images and selectors are ignored;
* it checks ``runAsNonRoot`` against the image's user as the kubelet does, from the table
  of ``minicluster.imageusers`` (Katib's trial images run as root): a refused container
  waits in ``CreateContainerConfigError``;
* it serves the kubelet's ``/containerLogs`` endpoint over HTTPS so ``kubectl logs`` and any
  log harvest go through the real apiserver.

One thread owns all pod state and starts all processes; a watch thread feeds it pod events, a
heartbeat thread keeps the node alive and a server thread answers log requests. Run it as
``python -m minicluster.nodesim --kubeconfig K --state-dir D`` (the harness does), or
build a ``NodeSimulator`` and call ``run`` in a long-lived thread.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
from pathlib import Path
from typing import Any

from minicluster import pki, processes
from minicluster.imageusers import run_as_non_root_problem
from minicluster.kube import STRATEGIC_MERGE_PATCH, ApiException, Json, Kube, is_status
from minicluster.kubeletapi import KubeletServer, LogIndex
from minicluster.pods import (
    TERMINAL_PHASES,
    ConfigError,
    ContainerRun,
    EnvResolver,
    PodRun,
    expand,
    mounts_token,
    now_micro,
    now_rfc3339,
    service_account_kubeconfig,
)
from minicluster.volumes import materialise, mounted

log = logging.getLogger("nodesim")

DEFAULT_NODE_NAME = "tuneop-node"
EVICT_ANNOTATION = "nodesim.tuneop.dev/evict"
UNPULLABLE_REGISTRY = "unpullable.nodesim.invalid"
UNSCHEDULABLE_LABEL = "nodesim.tuneop.dev/unschedulable"
HEARTBEAT_SECONDS = 10.0
LEASE_DURATION_SECONDS = 40
TICK_SECONDS = 0.1
RESTART_BACKOFF_SECONDS = 1.0
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
PASSED_ENV = ("LANG", "LC_ALL", "TZ", "PYTHONPATH")


class NodeSimulator:
    """The node: registration, heartbeats, binding, and the pods' local processes."""

    def __init__(
        self,
        kube: Kube,
        state_dir: Path,
        *,
        node_name: str = DEFAULT_NODE_NAME,
        path_prefix: list[str] | None = None,
    ) -> None:
        self.kube = kube
        self.state_dir = state_dir
        self.node_name = node_name
        self.path_prefix = (
            path_prefix if path_prefix is not None else [str(Path(sys.executable).parent)]
        )
        self.pods_dir = state_dir / "pods"
        self.runs: dict[tuple[str, str], PodRun] = {}
        self.events: queue.Queue[tuple[str, Any]] = queue.Queue()
        self.index = LogIndex()
        self.stopping = threading.Event()
        parsed = urllib.parse.urlsplit(kube.server)
        self.api_host = parsed.hostname or "127.0.0.1"
        self.api_port = parsed.port or 443
        self.server: KubeletServer | None = None
        self.node_transition = now_rfc3339()
        self.kubelet_version = "v0.0.0"
        # Pods (by uid) whose final delete was sent: a pod held by a finalizer stays in the
        # API until its owner (the Job controller) lets it go; it is not deleted again.
        self.deletes_sent: set[str] = set()

    # -- node ---------------------------------------------------------------------------------

    def node_status(self) -> Json:
        heartbeat = now_rfc3339()

        def condition(kind: str, status: str, reason: str, message: str) -> Json:
            return {
                "type": kind,
                "status": status,
                "reason": reason,
                "message": message,
                "lastHeartbeatTime": heartbeat,
                "lastTransitionTime": self.node_transition,
            }

        resources = {
            "cpu": str(os.cpu_count() or 1),
            "memory": "16Gi",
            "pods": "110",
            "ephemeral-storage": "100Gi",
        }
        assert self.server is not None
        return {
            "capacity": resources,
            "allocatable": resources,
            "conditions": [
                condition(
                    "MemoryPressure", "False", "KubeletHasSufficientMemory", "node simulator"
                ),
                condition("DiskPressure", "False", "KubeletHasNoDiskPressure", "node simulator"),
                condition("PIDPressure", "False", "KubeletHasSufficientPID", "node simulator"),
                condition("Ready", "True", "KubeletReady", "node simulator is posting status"),
            ],
            "addresses": [
                {"type": "InternalIP", "address": "127.0.0.1"},
                {"type": "Hostname", "address": self.node_name},
            ],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": self.server.port}},
            "nodeInfo": {
                "machineID": "",
                "systemUUID": "",
                "bootID": "",
                "kernelVersion": os.uname().release,
                "osImage": "tuneop node simulator",
                "containerRuntimeVersion": "nodesim://0",
                "kubeletVersion": self.kubelet_version,
                "operatingSystem": "linux",
                "architecture": "amd64",
            },
        }

    def register(self) -> None:
        # The node claims the server's own version, so version skew checks are satisfied.
        with contextlib.suppress(ApiException, KeyError):
            self.kubelet_version = str(self.kube.get("/version")["gitVersion"])
        labels = {
            "kubernetes.io/hostname": self.node_name,
            "kubernetes.io/os": "linux",
            "kubernetes.io/arch": "amd64",
            "beta.kubernetes.io/os": "linux",
            "beta.kubernetes.io/arch": "amd64",
            "tuneop.dev/node-simulator": "true",
        }
        node = {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": self.node_name, "labels": labels},
            "spec": {},
        }
        try:
            created = self.kube.post("/api/v1/nodes", node)
        except ApiException as error:
            if error.status != 409:
                raise
            created = self.kube.get(f"/api/v1/nodes/{self.node_name}")
        self.node_uid = created["metadata"]["uid"]
        self.heartbeat()
        log.info(
            "registered node %s (kubelet port %s)",
            self.node_name,
            self.server.port if self.server else "?",
        )

    def heartbeat(self) -> None:
        self.kube.patch(f"/api/v1/nodes/{self.node_name}/status", {"status": self.node_status()})
        path = f"/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{self.node_name}"
        spec = {
            "holderIdentity": self.node_name,
            "leaseDurationSeconds": LEASE_DURATION_SECONDS,
            "renewTime": now_micro(),
        }
        try:
            self.kube.patch(path, {"spec": spec})
        except ApiException as error:
            if error.status != 404:
                raise
            owner = {
                "apiVersion": "v1",
                "kind": "Node",
                "name": self.node_name,
                "uid": self.node_uid,
            }
            lease = {
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {
                    "name": self.node_name,
                    "namespace": "kube-node-lease",
                    "ownerReferences": [owner],
                },
                "spec": spec,
            }
            self.kube.post("/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases", lease)

    def _heartbeat_loop(self) -> None:
        while not self.stopping.wait(HEARTBEAT_SECONDS):
            try:
                self.heartbeat()
            except Exception:
                log.exception("heartbeat failed")

    # -- pod events -------------------------------------------------------------------------

    def _watch_loop(self) -> None:
        """Feed the main loop: a full list, then watch events, and a new list after errors."""
        while not self.stopping.is_set():
            try:
                listing = self.kube.get("/api/v1/pods")
                self.events.put(("sync", listing["items"]))
                version = listing["metadata"]["resourceVersion"]
                while not self.stopping.is_set():
                    for event in self.kube.watch("/api/v1/pods", version, timeout_seconds=30):
                        obj = event["object"]
                        if event["type"] == "ERROR":
                            raise RuntimeError(f"watch error: {obj.get('message')}")
                        version = obj["metadata"]["resourceVersion"]
                        if event["type"] != "BOOKMARK":
                            self.events.put((event["type"], obj))
            except Exception as error:
                if self.stopping.is_set():
                    return
                log.warning("pod watch restarts after: %s", error)
                self.stopping.wait(0.5)

    def handle(self, kind: str, payload: Any) -> None:
        if kind == "sync":
            seen = set()
            for pod in payload:
                seen.add((pod["metadata"]["namespace"], pod["metadata"]["name"]))
                self.on_pod(pod)
            for key in [k for k in self.runs if k not in seen]:
                self.forget(self.runs[key])
            self.deletes_sent &= {pod["metadata"]["uid"] for pod in payload}
        elif kind == "DELETED":
            self.deletes_sent.discard(payload["metadata"]["uid"])
            run = self.runs.get((payload["metadata"]["namespace"], payload["metadata"]["name"]))
            if run is not None and run.uid == payload["metadata"]["uid"]:
                self.forget(run)
        else:
            self.on_pod(payload)

    def on_pod(self, pod: Json) -> None:
        meta, spec = pod["metadata"], pod["spec"]
        key = (meta["namespace"], meta["name"])
        phase = (pod.get("status") or {}).get("phase", "Pending")
        node = spec.get("nodeName")
        if not node:
            if meta.get("deletionTimestamp") or phase in TERMINAL_PHASES:
                return
            if UNSCHEDULABLE_LABEL in (spec.get("nodeSelector") or {}):
                self.unschedulable(pod)
            else:
                self.bind(pod)
            return
        if node != self.node_name:
            return
        run = self.runs.get(key)
        if run is not None and run.uid != meta["uid"]:
            self.forget(run)
            run = None
        if run is not None:
            run.pod = pod
            if meta.get("deletionTimestamp"):
                self.begin_termination(run)
            return
        if meta.get("deletionTimestamp"):
            if meta["uid"] not in self.deletes_sent:
                self.delete_now(meta["namespace"], meta["name"], meta["uid"])
        elif phase == "Pending":
            self.start(pod)
        elif phase == "Running":
            self.orphaned(pod)

    def bind(self, pod: Json) -> None:
        meta = pod["metadata"]
        binding = {
            "apiVersion": "v1",
            "kind": "Binding",
            "metadata": {"name": meta["name"], "namespace": meta["namespace"], "uid": meta["uid"]},
            "target": {"apiVersion": "v1", "kind": "Node", "name": self.node_name},
        }
        try:
            self.kube.post(
                f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}/binding", binding
            )
            log.info("bound %s/%s", meta["namespace"], meta["name"])
        except ApiException as error:
            if error.status not in (404, 409):
                log.warning(
                    "binding %s/%s failed: %s", meta["namespace"], meta["name"], error.reason
                )

    def unschedulable(self, pod: Json) -> None:
        """What the scheduler reports of a pod no node fits (once: the condition stays)."""
        meta = pod["metadata"]
        for cond in (pod.get("status") or {}).get("conditions") or []:
            if cond.get("type") == "PodScheduled" and cond.get("status") == "False":
                return
        message = f"0/1 nodes are available: 1 node(s) didn't match {UNSCHEDULABLE_LABEL}."
        status = {
            "phase": "Pending",
            "conditions": [
                {
                    "type": "PodScheduled",
                    "status": "False",
                    "reason": "Unschedulable",
                    "message": message,
                    "lastTransitionTime": now_rfc3339(),
                }
            ],
        }
        path = f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}/status"
        try:
            self.kube.patch(
                path,
                {"metadata": {"uid": meta["uid"]}, "status": status},
                content_type=STRATEGIC_MERGE_PATCH,
            )
            log.info("pod %s/%s is unschedulable", meta["namespace"], meta["name"])
        except ApiException as error:
            if not is_status(error, 404, 409):
                log.warning("status of %s/%s: %s", meta["namespace"], meta["name"], error.reason)

    def orphaned(self, pod: Json) -> None:
        """A Running pod of this node that no process stands for (the simulator restarted)."""
        meta = pod["metadata"]
        log.warning("pod %s/%s lost its processes", meta["namespace"], meta["name"])
        status = {
            "phase": "Failed",
            "reason": "NodeSimulatorRestarted",
            "message": "the node simulator restarted while the pod was running",
        }
        with contextlib.suppress(ApiException):
            self.kube.patch(
                f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}/status",
                {"status": status},
            )

    def delete_now(self, namespace: str, name: str, uid: str) -> None:
        """The kubelet's final delete (grace 0, uid precondition); finalizers may hold it."""
        self.deletes_sent.add(uid)
        body = {
            "apiVersion": "v1",
            "kind": "DeleteOptions",
            "gracePeriodSeconds": 0,
            "preconditions": {"uid": uid},
        }
        try:
            self.kube.delete(f"/api/v1/namespaces/{namespace}/pods/{name}", body)
        except ApiException as error:
            if error.status != 409:
                log.warning("deleting %s/%s failed: %s", namespace, name, error.reason)

    # -- pod lifecycle ------------------------------------------------------------------------

    def start(self, pod: Json) -> None:
        meta, spec = pod["metadata"], pod["spec"]
        directory = self.pods_dir / f"{meta['namespace']}_{meta['name']}_{meta['uid'][:8]}"
        (directory / "work").mkdir(parents=True, exist_ok=True)
        (directory / "logs").mkdir(exist_ok=True)

        def runs(key: str, init: bool) -> list[ContainerRun]:
            return [
                ContainerRun(c["name"], c, directory / "logs" / f"{c['name']}.log", init)
                for c in spec.get(key) or []
            ]

        run = PodRun(
            meta["namespace"],
            meta["name"],
            meta["uid"],
            pod,
            directory,
            runs("initContainers", True),
            runs("containers", False),
        )
        for container in run.all_containers():
            container.log_path.touch()
            self.index.set(run.namespace, run.name, container.name, container.log_path, False)
        self.runs[run.key] = run
        log.info("pod %s/%s starts in %s", run.namespace, run.name, directory)
        self.push_status(run)

    def begin_termination(self, run: PodRun) -> None:
        """Graceful deletion: SIGTERM to the main containers now, to sidecars after them."""
        if run.terminating:
            return
        run.terminating = True
        run.dirty = True
        grace = run.pod["metadata"].get("deletionGracePeriodSeconds")
        run.kill_at = time.monotonic() + float(30 if grace is None else grace)
        log.info("pod %s/%s is deleted: SIGTERM, grace %ss", run.namespace, run.name, grace)
        for container in run.all_containers():
            if not container.sidecar:
                self.terminate(container)

    def terminate(self, container: ContainerRun) -> None:
        if container.running and container.process is not None and not container.signalled:
            container.signalled = True
            processes.signal_group(container.process, signal.SIGTERM)

    def evict(self, run: PodRun, message: str) -> None:
        """A node-pressure eviction as the kubelet does it (hard threshold: no grace)."""
        log.info("pod %s/%s is evicted: %s", run.namespace, run.name, message)
        run.disruption = ("TerminationByKubelet", message)
        # The kubelet records the DisruptionTarget condition before it kills the containers.
        self.push_status(run)
        for container in run.all_containers():
            if container.running and container.process is not None:
                container.reason = "Error"
                processes.signal_group(container.process, signal.SIGKILL)
                container.process.wait()
                self.reap(run, container)
        self.finish(run, "Failed", "Evicted", message)

    def forget(self, run: PodRun) -> None:
        """The pod is gone: kill what is left and remove its directory and logs."""
        for container in run.all_containers():
            if container.process is not None:
                processes.signal_group(container.process, signal.SIGKILL)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    container.process.wait(timeout=5)
        self.index.drop_pod(run.namespace, run.name)
        shutil.rmtree(run.directory, ignore_errors=True)
        self.runs.pop(run.key, None)
        log.info("pod %s/%s is gone", run.namespace, run.name)

    def tick(self) -> None:
        for run in list(self.runs.values()):
            try:
                self.advance(run)
            except Exception:
                log.exception("pod %s/%s: simulator error", run.namespace, run.name)
            if run.dirty and not run.delete_sent:
                self.push_status(run)

    def reap(self, run: PodRun, container: ContainerRun) -> bool:
        """Notice a container process that ended; True if it did."""
        if container.process is None or container.exit_code is not None:
            return False
        returncode = container.process.poll()
        if returncode is None:
            return False
        # The container ends with its main process: nothing it forked survives it.
        processes.signal_group(container.process, signal.SIGKILL)
        container.exit_code = processes.exit_code(returncode)
        container.finished_at = now_rfc3339()
        if container.reason is None:
            container.reason = "Completed" if container.exit_code == 0 else "Error"
        self.index.set(run.namespace, run.name, container.name, container.log_path, False)
        log.info(
            "pod %s/%s container %s exited %s",
            run.namespace,
            run.name,
            container.name,
            container.exit_code,
        )
        run.dirty = True
        return True

    def advance(self, run: PodRun) -> None:
        for container in run.all_containers():
            self.reap(run, container)
        if run.terminating:
            self.advance_termination(run)
            return
        if run.phase in TERMINAL_PHASES:
            return
        evict = (run.pod["metadata"].get("annotations") or {}).get(EVICT_ANNOTATION)
        if evict is not None:
            self.evict(run, evict or "The node was low on resource: memory.")
            return
        deadline = run.pod["spec"].get("activeDeadlineSeconds")
        if deadline is not None and time.monotonic() - run.started >= float(deadline):
            self.fail_deadline(run, int(deadline))
            return
        if not run.initialized:
            if not self.advance_init(run):
                return
            run.initialized = True
            run.dirty = True
        elif not run.stopping_sidecars:
            for sidecar in run.sidecars():
                if sidecar.terminated:
                    self.schedule_restart(sidecar)
                self.advance_container(run, sidecar)
        for container in run.containers:
            self.advance_container(run, container)
            if container.terminated and (
                run.restart_policy() == "Always"
                or (run.restart_policy() == "OnFailure" and container.exit_code != 0)
            ):
                self.schedule_restart(container)
        if all(c.terminated and not c.retry_at for c in run.containers):
            if self.stop_sidecars(run):
                return
            failed = any(c.exit_code != 0 for c in run.containers)
            self.finish(run, "Failed" if failed else "Succeeded")

    def advance_init(self, run: PodRun) -> bool:
        """Run the init containers in order; True once all are done (sidecars: started)."""
        for container in run.init_containers:
            if container.sidecar:
                if container.running:
                    continue
                if container.terminated:
                    self.schedule_restart(container)
                self.advance_container(run, container)
                return False
            if container.exit_code == 0:
                continue
            if self.advance_container(run, container):
                return False
            if not container.terminated:
                return False
            if run.restart_policy() == "Never":
                self.finish(run, "Failed")
            else:
                self.schedule_restart(container)
            return False
        return True

    def stop_sidecars(self, run: PodRun) -> bool:
        """The main containers are done: stop the sidecars; True while any still runs."""
        live = [c for c in run.sidecars() if c.running]
        if not live:
            return False
        if not run.stopping_sidecars:
            run.stopping_sidecars = True
            run.sidecar_kill_at = time.monotonic() + run.grace_seconds()
            log.info("pod %s/%s: main containers done, stopping sidecars", run.namespace, run.name)
            for sidecar in reversed(live):
                self.terminate(sidecar)
        elif time.monotonic() >= run.sidecar_kill_at:
            for sidecar in live:
                if sidecar.process is not None:
                    processes.signal_group(sidecar.process, signal.SIGKILL)
        return True

    def advance_container(self, run: PodRun, container: ContainerRun) -> bool:
        """Start the container if it is due; True if it was started now."""
        if container.process is not None and not container.terminated:
            return False
        if container.terminated and not container.retry_at:
            return False
        if time.monotonic() < container.retry_at:
            return False
        if container.terminated:
            container.restart_count += 1
        self.spawn(run, container)
        return True

    def schedule_restart(self, container: ContainerRun) -> None:
        if not container.retry_at:
            backoff = min(RESTART_BACKOFF_SECONDS * 2**container.restart_count, 10.0)
            container.retry_at = time.monotonic() + backoff

    def finish(
        self, run: PodRun, phase: str, reason: str | None = None, message: str | None = None
    ) -> None:
        run.phase, run.reason, run.message = phase, reason, message
        run.dirty = True
        log.info(
            "pod %s/%s is %s%s", run.namespace, run.name, phase, f" ({reason})" if reason else ""
        )

    def fail_deadline(self, run: PodRun, deadline: int) -> None:
        for container in run.all_containers():
            if container.running and container.process is not None:
                container.reason = "Error"
                processes.signal_group(container.process, signal.SIGKILL)
                container.process.wait()
                self.reap(run, container)
        for container in run.all_containers():
            if container.process is None:
                container.waiting_reason = "DeadlineExceeded"
        self.finish(
            run,
            "Failed",
            "DeadlineExceeded",
            f"Pod was active on the node longer than the specified deadline ({deadline}s)",
        )

    def advance_termination(self, run: PodRun) -> None:
        if run.delete_sent:
            return
        running = [c for c in run.all_containers() if c.running]
        if running and time.monotonic() < run.kill_at:
            if not any(not c.sidecar for c in running):
                for sidecar in reversed(running):
                    self.terminate(sidecar)
            return
        for container in run.all_containers():
            if container.process is not None:
                processes.signal_group(container.process, signal.SIGKILL)
                if container.running:
                    container.process.wait()
                    self.reap(run, container)
        # Like a kubelet since 1.27: the pod reaches a terminal phase before it goes, so that
        # the Job controller counts it (and its finalizer is removed) from its status.
        if run.phase not in TERMINAL_PHASES:
            mains = run.containers
            done = all(c.exit_code == 0 for c in mains) and run.restart_policy() != "Always"
            run.phase = "Succeeded" if done else "Failed"
        run.delete_sent = True
        self.push_status(run)
        self.delete_now(run.namespace, run.name, run.uid)

    # -- processes ----------------------------------------------------------------------------

    def spawn(self, run: PodRun, container: ContainerRun) -> None:
        container.retry_at = 0.0
        container.exit_code = container.reason = container.message = None
        container.finished_at = None
        container.signalled = False
        container.process = None
        image = str(container.spec.get("image") or "")
        if image.startswith(f"{UNPULLABLE_REGISTRY}/"):
            # Like the kubelet after the first failed pull: back off and try again, for ever.
            container.retry_at = time.monotonic() + RESTART_BACKOFF_SECONDS
            if container.waiting_reason != "ImagePullBackOff":
                container.waiting_reason = "ImagePullBackOff"
                container.waiting_message = f'Back-off pulling image "{image}"'
                run.dirty = True
                log.warning("pod %s/%s: image %s cannot be pulled", run.namespace, run.name, image)
            return
        try:
            if problem := run_as_non_root_problem(run.pod.get("spec") or {}, container.spec):
                # The kubelet's check of the image's user; the pod is refused, not run.
                raise ConfigError(f"{problem} (pod: {run.name}, container: {container.name})")
            env = self.environment(run, container)
            argv = [expand(str(a), env) for a in (container.spec.get("command") or [])]
            argv += [expand(str(a), env) for a in (container.spec.get("args") or [])]
            if not argv:
                raise ConfigError("no command: image entrypoints are not simulated")
            volumes = materialise(self.kube, run.pod, run.directory)
        except ConfigError as error:
            # Like the kubelet: report CreateContainerConfigError and retry (a Secret or
            # ConfigMap may appear later); report and log only when the problem changes.
            container.retry_at = time.monotonic() + RESTART_BACKOFF_SECONDS
            if container.waiting_message != str(error):
                container.waiting_reason = "CreateContainerConfigError"
                container.waiting_message = str(error)
                run.dirty = True
                log.warning(
                    "pod %s/%s container %s: %s", run.namespace, run.name, container.name, error
                )
            return
        run.dirty = True
        container.waiting_message = None
        executable = argv[0] if "/" in argv[0] else shutil.which(argv[0], path=env["PATH"])
        container.started_at = now_rfc3339()
        if executable is None or not os.access(run.work_dir / executable, os.X_OK):
            container.exit_code, container.reason = 128, "StartError"
            container.message = f'exec: "{argv[0]}": executable file not found in $PATH'
            container.finished_at = container.started_at
            return
        run.phase = "Running" if not container.init else run.phase
        command = mounted([executable, *argv[1:]], container.spec, volumes, run.directory)
        container.process = processes.spawn(
            command, log_path=container.log_path, env=env, cwd=run.work_dir
        )
        self.index.set(run.namespace, run.name, container.name, container.log_path, True)
        log.info(
            "pod %s/%s container %s runs as pid %s: %s",
            run.namespace,
            run.name,
            container.name,
            container.process.pid,
            argv,
        )

    def environment(self, run: PodRun, container: ContainerRun) -> dict[str, str]:
        base = {name: os.environ[name] for name in PASSED_ENV if name in os.environ}
        base.update(
            {
                "PATH": ":".join([*self.path_prefix, SYSTEM_PATH]),
                "HOME": str(run.work_dir),
                "HOSTNAME": run.name,
                "KUBERNETES_SERVICE_HOST": self.api_host,
                "KUBERNETES_SERVICE_PORT": str(self.api_port),
                "KUBERNETES_SERVICE_PORT_HTTPS": str(self.api_port),
            }
        )
        if mounts_token(container.spec):
            base["KUBECONFIG"] = str(service_account_kubeconfig(self.kube, run))
        resolved = EnvResolver(self.kube, run.namespace).resolve(run.pod, container.spec)
        return {**base, **resolved}

    def push_status(self, run: PodRun) -> None:
        run.dirty = False
        path = f"/api/v1/namespaces/{run.namespace}/pods/{run.name}/status"
        try:
            self.kube.patch(
                path,
                {"metadata": {"uid": run.uid}, "status": run.status()},
                content_type=STRATEGIC_MERGE_PATCH,
            )
        except ApiException as error:
            if not is_status(error, 404, 409):
                run.dirty = True
                log.warning("status of %s/%s: %s", run.namespace, run.name, error.reason)

    # -- main loop ----------------------------------------------------------------------------

    def run(self, stop: threading.Event | None = None) -> None:
        """Serve until ``stop`` is set (or ``self.stopping``); kill all pods on the way out."""
        kubelet_dir = self.state_dir / "kubelet"
        cert = pki.self_signed_server(kubelet_dir, "kubelet", self.node_name, ("127.0.0.1",))
        self.server = KubeletServer(self.index, cert)
        threading.Thread(target=self.server.serve_forever, name="kubelet-api", daemon=True).start()
        self.register()
        threading.Thread(target=self._heartbeat_loop, name="heartbeat", daemon=True).start()
        threading.Thread(target=self._watch_loop, name="pod-watch", daemon=True).start()
        try:
            while not self.stopping.is_set() and not (stop is not None and stop.is_set()):
                deadline = time.monotonic() + TICK_SECONDS
                while (left := deadline - time.monotonic()) > 0:
                    try:
                        kind, payload = self.events.get(timeout=left)
                    except queue.Empty:
                        break
                    try:
                        self.handle(kind, payload)
                    except Exception:
                        log.exception("handling a %s event failed", kind)
                self.tick()
        finally:
            self.shutdown()

    def shutdown(self) -> None:
        self.stopping.set()
        live = [
            c.process
            for r in self.runs.values()
            for c in r.all_containers()
            if c.process is not None and c.exit_code is None
        ]
        for process in live:
            processes.signal_group(process, signal.SIGTERM)
        deadline = time.monotonic() + 5
        for process in live:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=max(0.0, deadline - time.monotonic()))
            processes.signal_group(process, signal.SIGKILL)
            process.wait()
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
        log.info("node simulator stopped (%d pod processes ended)", len(live))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m minicluster.nodesim", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--kubeconfig", required=True, help="admin kubeconfig of the cluster")
    parser.add_argument(
        "--state-dir",
        required=True,
        type=Path,
        help="directory for pod work dirs, logs and the kubelet certificate",
    )
    parser.add_argument("--node-name", default=DEFAULT_NODE_NAME)
    parser.add_argument(
        "--path-prefix",
        action="append",
        help="directory put first on the PATH of pod processes (repeatable; "
        "default: the directory of this Python, i.e. its virtualenv)",
    )
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(threadName)s: %(message)s",
    )
    simulator = NodeSimulator(
        Kube(args.kubeconfig),
        args.state_dir.resolve(),
        node_name=args.node_name,
        path_prefix=args.path_prefix,
    )

    def on_signal(signum: int, _frame: Any) -> None:
        log.info("signal %s: stopping", signum)
        simulator.stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    simulator.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
