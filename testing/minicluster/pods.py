"""What the node simulator keeps for a pod, and the world it gives the pod's processes.

A ``PodRun`` is one pod bound to the simulated node: its containers (``ContainerRun``, each
standing for a local process), its phase, and the pod status the kubelet would report from
them. The rest of this module builds what a container sees when it starts: its environment,
resolved like the kubelet does (literal values with ``$(VAR)`` expansion, the downward API's
``fieldRef``, ``secretKeyRef``, ``configMapKeyRef`` and ``envFrom``), and its ServiceAccount
identity. There is no mount namespace, so the token cannot appear at
``/var/run/secrets/kubernetes.io/serviceaccount``; instead the pod gets a kubeconfig file that
authenticates with that token, named by ``KUBECONFIG``.
"""

from __future__ import annotations

import base64
import datetime as dt
import re
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from minicluster.kube import ApiException, Json, Kube

SA_MOUNT_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"
TERMINAL_PHASES = ("Succeeded", "Failed")


def now_rfc3339() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def now_micro() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class ConfigError(Exception):
    """A container cannot be configured yet (kubelet's CreateContainerConfigError)."""


# --------------------------------------------------------------------------------------------
# Per-pod state


@dataclass
class ContainerRun:
    """One container of a pod and the local process that stands in for it."""

    name: str
    spec: Json
    log_path: Path
    init: bool = False
    process: subprocess.Popen[bytes] | None = None
    started_at: str | None = None
    finished_at: str | None = None
    exit_code: int | None = None
    reason: str | None = None
    message: str | None = None
    waiting_reason: str = "ContainerCreating"
    waiting_message: str | None = None
    restart_count: int = 0
    retry_at: float = 0.0
    signalled: bool = False

    @property
    def sidecar(self) -> bool:
        """A native sidecar: an init container with ``restartPolicy: Always`` (1.29+)."""
        return self.init and self.spec.get("restartPolicy") == "Always"

    @property
    def running(self) -> bool:
        return self.process is not None and self.exit_code is None

    @property
    def terminated(self) -> bool:
        return self.exit_code is not None

    def container_id(self) -> str:
        return f"nodesim://{self.process.pid}" if self.process is not None else ""

    def status(self) -> Json:
        # The states the container is not in are sent as null, so that a strategic merge
        # patch replaces the state instead of adding a second one to it.
        state: Json = {"waiting": None, "running": None, "terminated": None}
        if self.running:
            state["running"] = {"startedAt": self.started_at}
        elif self.terminated:
            terminated: Json = {
                "exitCode": self.exit_code,
                "reason": self.reason,
                "startedAt": self.started_at,
                "finishedAt": self.finished_at,
                "containerID": self.container_id(),
            }
            if self.message:
                terminated["message"] = self.message
            state["terminated"] = terminated
        else:
            waiting: Json = {"reason": self.waiting_reason}
            if self.waiting_message:
                waiting["message"] = self.waiting_message
            state["waiting"] = waiting
        image = str(self.spec.get("image", ""))
        status: Json = {
            "name": self.name,
            "image": image,
            "imageID": f"nodesim://{image}",
            "containerID": self.container_id(),
            "ready": self.running and (self.sidecar or not self.init),
            "started": self.running,
            "restartCount": self.restart_count,
            "state": state,
        }
        if self.sidecar:
            status["restartPolicy"] = "Always"
        return status


@dataclass
class PodRun:
    """A pod bound to this node and everything the simulator keeps for it."""

    namespace: str
    name: str
    uid: str
    pod: Json
    directory: Path
    init_containers: list[ContainerRun]
    containers: list[ContainerRun]
    start_time: str = field(default_factory=now_rfc3339)
    started: float = field(default_factory=time.monotonic)
    phase: str = "Pending"
    reason: str | None = None
    message: str | None = None
    kubeconfig: Path | None = None
    initialized: bool = False
    terminating: bool = False
    kill_at: float = 0.0
    delete_sent: bool = False
    stopping_sidecars: bool = False
    sidecar_kill_at: float = 0.0
    disruption: tuple[str, str] | None = None
    dirty: bool = True
    transitions: dict[str, tuple[str, str]] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str]:
        return self.namespace, self.name

    @property
    def work_dir(self) -> Path:
        return self.directory / "work"

    def all_containers(self) -> list[ContainerRun]:
        return self.init_containers + self.containers

    def sidecars(self) -> list[ContainerRun]:
        return [c for c in self.init_containers if c.sidecar]

    def restart_policy(self) -> str:
        return str(self.pod["spec"].get("restartPolicy", "Always"))

    def grace_seconds(self) -> float:
        grace = self.pod["spec"].get("terminationGracePeriodSeconds")
        return float(30 if grace is None else grace)

    def condition(self, kind: str, ok: bool, reason: str | None = None, message: str = "") -> Json:
        """A pod condition whose ``lastTransitionTime`` moves only when its status does."""
        status = "True" if ok else "False"
        previous = self.transitions.get(kind)
        if previous is None or previous[0] != status:
            previous = (status, now_rfc3339())
            self.transitions[kind] = previous
        cond: Json = {
            "type": kind,
            "status": status,
            "lastProbeTime": None,
            "lastTransitionTime": previous[1],
        }
        if reason and (not ok or kind == "DisruptionTarget"):
            cond["reason"] = reason
        if message:
            cond["message"] = message
        generation = self.pod["metadata"].get("generation")
        if generation is not None:
            cond["observedGeneration"] = generation
        return cond

    def status(self) -> Json:
        terminal = self.phase in TERMINAL_PHASES
        initialized = self.initialized or all(
            c.running if c.sidecar else c.exit_code == 0 for c in self.init_containers
        )
        ready = (
            self.phase == "Running"
            and not self.terminating
            and all(c.running for c in self.containers + self.sidecars())
        )
        not_ready_reason = "PodCompleted" if terminal else "ContainersNotReady"
        # The sandbox exists from the start until every container is gone (1.29+).
        sandbox = not (terminal or self.delete_sent) or any(
            c.running for c in self.all_containers()
        )
        conditions = [
            self.condition("PodReadyToStartContainers", sandbox),
            self.condition("Initialized", initialized, "ContainersNotInitialized"),
            self.condition("Ready", ready, not_ready_reason),
            self.condition("ContainersReady", ready, not_ready_reason),
            self.condition("PodScheduled", True),
        ]
        if self.disruption is not None:
            reason, message = self.disruption
            conditions.append(self.condition("DisruptionTarget", True, reason, message))
        status: Json = {
            "phase": self.phase,
            "hostIP": "127.0.0.1",
            "hostIPs": [{"ip": "127.0.0.1"}],
            "podIP": "127.0.0.1",
            "podIPs": [{"ip": "127.0.0.1"}],
            "startTime": self.start_time,
            "conditions": conditions,
            "containerStatuses": [c.status() for c in self.containers],
        }
        generation = self.pod["metadata"].get("generation")
        if generation is not None:
            status["observedGeneration"] = generation
        if self.init_containers:
            status["initContainerStatuses"] = [c.status() for c in self.init_containers]
        if self.reason:
            status["reason"] = self.reason
        if self.message:
            status["message"] = self.message
        return status


# --------------------------------------------------------------------------------------------
# Environment of a simulated container

_VAR_REF = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")


def expand(text: str, env: dict[str, str]) -> str:
    """Kubernetes' ``$(VAR)`` expansion: known variables are replaced, ``$$`` escapes ``$``."""

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        return env.get(match.group(1), match.group(0))

    return _VAR_REF.sub(replace, text)


_SUBSCRIPT = re.compile(r"^metadata\.(labels|annotations)\['(.+)'\]$")


def field_value(pod: Json, path: str) -> str:
    """The value of a downward-API ``fieldRef`` path of ``pod``."""
    metadata, spec = pod["metadata"], pod["spec"]
    simple = {
        "metadata.name": metadata.get("name"),
        "metadata.namespace": metadata.get("namespace"),
        "metadata.uid": metadata.get("uid"),
        "spec.nodeName": spec.get("nodeName"),
        "spec.serviceAccountName": spec.get("serviceAccountName"),
        "status.hostIP": "127.0.0.1",
        "status.podIP": "127.0.0.1",
        "status.podIPs": "127.0.0.1",
    }
    if path in simple:
        return str(simple[path] or "")
    match = _SUBSCRIPT.match(path)
    if match:
        return str((metadata.get(match.group(1)) or {}).get(match.group(2), ""))
    raise ConfigError(f"unsupported fieldRef {path!r}")


def _decode(data: str) -> str:
    return base64.b64decode(data).decode("utf-8", "replace")


class EnvResolver:
    """Reads Secrets and ConfigMaps to build a container's environment."""

    def __init__(self, kube: Kube, namespace: str) -> None:
        self.kube = kube
        self.namespace = namespace

    def _object(self, kind: str, name: str, optional: bool) -> Json | None:
        path = f"/api/v1/namespaces/{self.namespace}/{kind}/{name}"
        obj = self.kube.get_or_none(path)
        if obj is None and not optional:
            raise ConfigError(f'{kind[:-1]} "{name}" not found')
        return obj

    def _key(self, kind: str, ref: Json) -> str | None:
        optional = bool(ref.get("optional", False))
        obj = self._object(kind, ref["name"], optional)
        if obj is None:
            return None
        if kind == "secrets":
            data = {k: _decode(v) for k, v in (obj.get("data") or {}).items()}
        else:
            data = dict(obj.get("data") or {})
        if ref["key"] not in data:
            if optional:
                return None
            raise ConfigError(f"couldn't find key {ref['key']} in {kind[:-1]} {ref['name']}")
        return str(data[ref["key"]])

    def resolve(self, pod: Json, container: Json) -> dict[str, str]:
        """The container's environment: ``envFrom`` first, then ``env`` in order."""
        env: dict[str, str] = {}
        for source in container.get("envFrom") or []:
            env.update(self._env_from(source))
        for item in container.get("env") or []:
            value = self._env_value(pod, container, item, env)
            if value is not None:
                env[item["name"]] = value
        return env

    def _env_from(self, source: Json) -> dict[str, str]:
        env: dict[str, str] = {}
        prefix = source.get("prefix", "")
        for kind, ref_name in (("configmaps", "configMapRef"), ("secrets", "secretRef")):
            ref = source.get(ref_name)
            if not ref:
                continue
            obj = self._object(kind, ref["name"], bool(ref.get("optional", False)))
            for key, data in ((obj or {}).get("data") or {}).items():
                env[prefix + key] = _decode(data) if kind == "secrets" else str(data)
        return env

    def _env_value(self, pod: Json, container: Json, item: Json, env: dict[str, str]) -> str | None:
        source = item.get("valueFrom")
        if source is None:
            return expand(str(item.get("value", "")), env)
        if "fieldRef" in source:
            return field_value(pod, source["fieldRef"]["fieldPath"])
        if "secretKeyRef" in source:
            return self._key("secrets", source["secretKeyRef"])
        if "configMapKeyRef" in source:
            return self._key("configmaps", source["configMapKeyRef"])
        if "resourceFieldRef" in source:
            kind, _, resource = source["resourceFieldRef"]["resource"].partition(".")
            return str((container.get("resources") or {}).get(kind, {}).get(resource, "0"))
        raise ConfigError(f"unsupported valueFrom in env {item['name']}")


# --------------------------------------------------------------------------------------------
# ServiceAccount identity


def mounts_token(container: Json) -> bool:
    """Whether the container would have the ServiceAccount token mounted."""
    mounts = container.get("volumeMounts") or []
    return any(m.get("mountPath") == SA_MOUNT_PATH for m in mounts)


def service_account_token(kube: Kube, run: PodRun) -> tuple[str, str]:
    """The token and CA that the pod's service-account volume would hold.

    Since 1.24 the ServiceAccount admission plugin mounts a projected ``kube-api-access-*``
    volume: a token bound to the pod is requested through the TokenRequest API, as the kubelet
    does. A pod that mounts a legacy token Secret by hand gets that Secret's token.
    """
    spec = run.pod["spec"]
    mount_names = {
        m["name"]
        for c in (spec.get("containers") or []) + (spec.get("initContainers") or [])
        for m in c.get("volumeMounts") or []
        if m.get("mountPath") == SA_MOUNT_PATH
    }
    for volume in spec.get("volumes") or []:
        if volume["name"] in mount_names and "secret" in volume:
            name = volume["secret"]["secretName"]
            secret = kube.get_or_none(f"/api/v1/namespaces/{run.namespace}/secrets/{name}")
            data = (secret or {}).get("data") or {}
            if "token" not in data:
                raise ConfigError(f'secret "{name}" has no token yet')
            return _decode(data["token"]), _decode(data.get("ca.crt", ""))
    account = spec.get("serviceAccountName") or "default"
    bound = {"apiVersion": "v1", "kind": "Pod", "name": run.name, "uid": run.uid}
    request = {
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "TokenRequest",
        "spec": {"expirationSeconds": 3600, "boundObjectRef": bound},
    }
    path = f"/api/v1/namespaces/{run.namespace}/serviceaccounts/{account}/token"
    try:
        answer = kube.post(path, request)
    except ApiException as error:
        raise ConfigError(f"token request for {account} failed: {error.reason}") from error
    ca = Path(kube.ca_file).read_text() if kube.ca_file else ""
    return str(answer["status"]["token"]), ca


def service_account_kubeconfig(kube: Kube, run: PodRun) -> Path:
    """A kubeconfig file (made once per pod) that authenticates as the pod's ServiceAccount.

    Its context's namespace is the pod's, as in-cluster configuration would have it. The
    token, CA and namespace are also written to ``<pod dir>/serviceaccount/``.
    """
    if run.kubeconfig is not None:
        return run.kubeconfig
    token, ca = service_account_token(kube, run)
    sa_dir = run.directory / "serviceaccount"
    sa_dir.mkdir(exist_ok=True)
    (sa_dir / "token").write_text(token)
    (sa_dir / "ca.crt").write_text(ca)
    (sa_dir / "namespace").write_text(run.namespace)
    cluster = {"server": kube.server, "certificate-authority": str(sa_dir / "ca.crt")}
    context = {"cluster": "e2e", "user": "serviceaccount", "namespace": run.namespace}
    kubeconfig = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "e2e", "cluster": cluster}],
        "users": [{"name": "serviceaccount", "user": {"token": token}}],
        "contexts": [{"name": "serviceaccount", "context": context}],
        "current-context": "serviceaccount",
    }
    path = run.directory / "kubeconfig"
    path.write_text(yaml.safe_dump(kubeconfig))
    path.chmod(0o600)
    run.kubeconfig = path
    return path
