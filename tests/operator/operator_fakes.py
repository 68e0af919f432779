"""A small stateful fake of the Kubernetes API calls tuneop's adapters make, and builders.

``FakeApi`` stands behind the ``kubernetes`` client's interfaces (the methods of
``BatchV1Api``, ``CoreV1Api`` and ``CustomObjectsApi`` the adapters call, with
their ``_preload_content=False`` responses): Jobs, their pods and logs,
TuningSessions with a status subresource and resourceVersions, Events and
ConfigMaps. Creating a Job also creates its first pod, as the Job controller
would; ``finish`` moves a Job to Complete or Failed with a log. Failures are
injected per method with ``fail_next``. Every call is recorded in ``calls``.

Test modules import it as ``from operator_fakes import ...`` (pytest puts this
folder on ``sys.path``); the name is prefixed so it cannot shadow a helper of
another test tier.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from kubernetes.client.exceptions import ApiException

from builders import spec
from tuneop.adapters.kube.client import Kube
from tuneop.adapters.kube.ratelimit import TokenBucket
from tuneop.api.session import SessionRef
from tuneop.api.spec import SessionSpec
from tuneop.core.jobs.manifests import job_manifest
from tuneop.core.jobs.observed import Params
from tuneop.core.wire.contract import RESULT_PREFIX

Json = dict[str, Any]
T0 = "2026-01-01T12:00:00Z"


def api_exception(status: int, message: str = "") -> ApiException:
    err = ApiException(status=status, reason={400: "BadRequest", 404: "NotFound"}.get(status, "x"))
    err.body = json.dumps({"kind": "Status", "code": status, "message": message or str(status)})
    return err


@dataclass
class Resp:
    """What a ``_preload_content=False`` call returns: a urllib3-like response."""

    data: bytes
    released: bool = False

    def stream(self, amt: int) -> Iterator[bytes]:
        for start in range(0, len(self.data), amt):
            yield self.data[start : start + amt]

    def release_conn(self) -> None:
        self.released = True

    @classmethod
    def of(cls, obj: Any) -> Resp:
        return cls(obj if isinstance(obj, bytes) else json.dumps(obj).encode())


def matches(labels: dict[str, str], selector: str | None) -> bool:
    for term in filter(None, (selector or "").split(",")):
        key, _, value = term.partition("=")
        if labels.get(key) != value:
            return False
    return True


def merge(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch, as the API server applies it."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge(out.get(key), value)
    return out


def result_log(trials: list[tuple[int, Params]], value: Callable[[Params], float]) -> str:
    lines = ["worker starting"]
    for t, p in trials:
        body = {"trial": t, "params": p, "metrics": {"loss": value(p)}, "status": "succeeded"}
        lines.append(RESULT_PREFIX + json.dumps(body))
    return "\n".join(lines) + "\n"


def loss(params: Params) -> float:
    return float(sum(v for v in params.values() if isinstance(v, int | float)))


@dataclass
class FakeApi:
    jobs: dict[tuple[str, str], Json] = field(default_factory=dict)
    pods: dict[tuple[str, str], Json] = field(default_factory=dict)
    logs: dict[tuple[str, str], bytes | None] = field(default_factory=dict)
    sessions: dict[tuple[str, str], Json] = field(default_factory=dict)
    events: list[Json] = field(default_factory=list)
    configmaps: dict[tuple[str, str], Json] = field(default_factory=dict)
    calls: list[tuple[str, Any]] = field(default_factory=list)
    failures: dict[str, list[BaseException]] = field(default_factory=dict)
    rv: int = 100
    uid: int = 0
    second: int = 0

    # --- test controls ---

    def fail_next(self, method: str, *errors: BaseException) -> None:
        self.failures.setdefault(method, []).extend(errors)

    def _call(self, method: str, detail: Any = None) -> None:
        self.calls.append((method, detail))
        pending = self.failures.get(method)
        if pending:
            raise pending.pop(0)

    def names(self, method: str) -> list[Any]:
        return [d for m, d in self.calls if m == method]

    def _stamp(self) -> str:
        self.second += 1
        return f"2026-01-01T12:{self.second // 60:02d}:{self.second % 60:02d}Z"

    def _next_rv(self) -> str:
        self.rv += 1
        return str(self.rv)

    def add_session(self, doc: Json) -> Json:
        obj = copy.deepcopy(doc)
        meta = obj.setdefault("metadata", {})
        meta.setdefault("namespace", "ns")
        meta.setdefault("uid", "uid-1")
        meta.setdefault("generation", 1)
        meta["resourceVersion"] = self._next_rv()
        self.sessions[meta["namespace"], meta["name"]] = obj
        return obj

    def bump_session(self, namespace: str, name: str) -> None:
        """Someone else (kopf's annotations patch, say) wrote the session."""
        self.sessions[namespace, name]["metadata"]["resourceVersion"] = self._next_rv()

    def add_pod(self, job: Json, log: bytes | None = b"", **status: Any) -> Json:
        meta = job["metadata"]
        self.uid += 1
        name = f"{meta['name']}-p{self.uid}"
        template_meta = job["spec"]["template"]["metadata"]
        labels = dict(template_meta["labels"])
        labels["job-name"] = meta["name"]
        pod = {
            "metadata": {
                "name": name,
                "namespace": meta["namespace"],
                "labels": labels,
                # Like the Job controller: the pod takes the template's annotations.
                "annotations": dict(template_meta.get("annotations") or {}),
                "creationTimestamp": self._stamp(),
                "ownerReferences": [
                    {"kind": "Job", "name": meta["name"], "uid": meta["uid"], "controller": True}
                ],
            },
            "status": dict(status),
        }
        self.pods[meta["namespace"], name] = pod
        self.logs[meta["namespace"], name] = log
        return pod

    def finish(
        self,
        namespace: str,
        name: str,
        log: str | None = None,
        state: str = "Complete",
        reason: str | None = None,
    ) -> None:
        """The Job ends; its (newest) pod's log becomes ``log`` (default: every trial reports)."""
        job = self.jobs[namespace, name]
        if log is None:
            env = job["spec"]["template"]["spec"]["containers"][0]["env"]
            payload = json.loads(next(e["value"] for e in env if e["name"] == "TUNEOP_TRIALS"))
            log = result_log([(p["trial"], p["params"]) for p in payload], loss)
        pods = self.job_pods(namespace, name)
        if pods:
            self.logs[namespace, pods[-1]["metadata"]["name"]] = log.encode()
        # Like the kubelet and the Job controller: every pod has ended, and the Job counts them.
        for i, pod in enumerate(pods):
            last = i == len(pods) - 1
            pod["status"].setdefault(
                "phase", "Succeeded" if last and state == "Complete" else "Failed"
            )
        cond: Json = {"type": state, "status": "True", "lastTransitionTime": self._stamp()}
        if reason:
            cond["reason"] = reason
        job["metadata"]["resourceVersion"] = self._next_rv()
        job["status"] = {"startTime": T0, "conditions": [cond]}
        for phase, count in (("Succeeded", "succeeded"), ("Failed", "failed")):
            ended = sum(1 for p in pods if p["status"].get("phase") == phase)
            if ended:
                job["status"][count] = ended
        if state == "Complete":
            job["status"]["completionTime"] = cond["lastTransitionTime"]

    def job_pods(self, namespace: str, job: str) -> list[Json]:
        pods = [
            p
            for (ns, _), p in self.pods.items()
            if ns == namespace and p["metadata"]["labels"].get("job-name") == job
        ]
        return sorted(pods, key=lambda p: p["metadata"]["creationTimestamp"])

    # --- batch/v1 ---

    def list_namespaced_job(self, namespace: str, label_selector: str = "", **_: Any) -> Resp:
        self._call("list_namespaced_job", label_selector)
        items = [
            j
            for (ns, _), j in sorted(self.jobs.items())
            if ns == namespace and matches(j["metadata"].get("labels") or {}, label_selector)
        ]
        return Resp.of({"kind": "JobList", "items": items})

    def read_namespaced_job(self, name: str, namespace: str, **_: Any) -> Resp:
        self._call("read_namespaced_job", name)
        if (namespace, name) not in self.jobs:
            raise api_exception(404)
        return Resp.of(self.jobs[namespace, name])

    def create_namespaced_job(self, namespace: str, body: Json, **_: Any) -> Resp:
        name = body["metadata"]["name"]
        self._call("create_namespaced_job", name)
        if (namespace, name) in self.jobs:
            raise api_exception(409, f'jobs.batch "{name}" already exists')
        job = copy.deepcopy(body)
        self.uid += 1
        job["metadata"].update(
            uid=f"job-uid-{self.uid}",
            creationTimestamp=self._stamp(),
            resourceVersion=self._next_rv(),
        )
        job["status"] = {"startTime": T0, "active": 1, "ready": 1}
        self.jobs[namespace, name] = job
        self.add_pod(job)  # the Job controller's first pod
        return Resp.of(job)

    def delete_namespaced_job(
        self, name: str, namespace: str, propagation_policy: str | None = None, **_: Any
    ) -> Resp:
        self._call("delete_namespaced_job", (name, propagation_policy))
        if self.jobs.pop((namespace, name), None) is None:
            raise api_exception(404)
        for pod in self.job_pods(namespace, name):  # the garbage collector, at once
            del self.pods[namespace, pod["metadata"]["name"]]
        return Resp.of({"kind": "Status", "status": "Success"})

    # --- core/v1 ---

    def list_namespaced_pod(self, namespace: str, label_selector: str = "", **_: Any) -> Resp:
        self._call("list_namespaced_pod", label_selector)
        items = [
            p
            for (ns, _), p in self.pods.items()
            if ns == namespace and matches(p["metadata"]["labels"], label_selector)
        ]
        return Resp.of({"kind": "PodList", "items": items})

    def read_namespaced_pod_log(
        self,
        name: str,
        namespace: str,
        container: str | None = None,
        limit_bytes: int | None = None,
        tail_lines: int | None = None,
        **_: Any,
    ) -> Resp:
        self._call("read_namespaced_pod_log", (name, container, limit_bytes, tail_lines))
        if (namespace, name) not in self.pods:
            raise api_exception(404)
        log = self.logs.get((namespace, name))
        if log is None:
            raise api_exception(400, f'container "{container}" is waiting to start')
        if tail_lines is not None:
            log = b"".join(log.splitlines(keepends=True)[-tail_lines:])
        if limit_bytes is not None:
            log = log[:limit_bytes]
        return Resp(log)

    def create_namespaced_event(self, namespace: str, body: Json, **_: Any) -> Resp:
        self._call("create_namespaced_event", body.get("reason"))
        self.events.append(copy.deepcopy(body))
        return Resp.of(body)

    def read_namespaced_config_map(self, name: str, namespace: str, **_: Any) -> Resp:
        self._call("read_namespaced_config_map", name)
        if (namespace, name) not in self.configmaps:
            raise api_exception(404)
        return Resp.of(self.configmaps[namespace, name])

    def create_namespaced_config_map(self, namespace: str, body: Json, **_: Any) -> Resp:
        name = body["metadata"]["name"]
        self._call("create_namespaced_config_map", name)
        if (namespace, name) in self.configmaps:
            raise api_exception(409)
        cm = copy.deepcopy(body)
        cm["metadata"]["resourceVersion"] = self._next_rv()
        self.configmaps[namespace, name] = cm
        return Resp.of(cm)

    def replace_namespaced_config_map(
        self, name: str, namespace: str, body: Json, **_: Any
    ) -> Resp:
        self._call("replace_namespaced_config_map", name)
        current = self.configmaps.get((namespace, name))
        if current is None:
            raise api_exception(404)
        if body["metadata"].get("resourceVersion") != current["metadata"]["resourceVersion"]:
            raise api_exception(409)
        cm = copy.deepcopy(body)
        cm["metadata"]["resourceVersion"] = self._next_rv()
        self.configmaps[namespace, name] = cm
        return Resp.of(cm)

    # --- custom objects ---

    def get_namespaced_custom_object(
        self, group: str, version: str, namespace: str, plural: str, name: str, **_: Any
    ) -> Resp:
        self._call("get_namespaced_custom_object", name)
        if (namespace, name) not in self.sessions:
            raise api_exception(404)
        return Resp.of(self.sessions[namespace, name])

    def patch_namespaced_custom_object_status(
        self,
        group: str,
        version: str,
        namespace: str,
        plural: str,
        name: str,
        body: Json,
        **_: Any,
    ) -> Resp:
        self._call("patch_namespaced_custom_object_status", copy.deepcopy(body))
        obj = self.sessions.get((namespace, name))
        if obj is None:
            raise api_exception(404)
        want = (body.get("metadata") or {}).get("resourceVersion")
        if want is not None and want != obj["metadata"]["resourceVersion"]:
            raise api_exception(409, "the object has been modified")
        if "status" in body:
            status = merge(obj.get("status"), body["status"])
            obj["status"] = status
        obj["metadata"]["resourceVersion"] = self._next_rv()
        return Resp.of(obj)


def fake_kube(api: FakeApi | None = None, qps: float = 1e9, burst: int = 1_000_000) -> Kube:
    """A ``Kube`` whose API groups are all ``api``, with a limiter that never waits."""
    api = api or FakeApi()
    return Kube(
        api=None, limiter=TokenBucket(qps=qps, burst=burst), batch=api, core=api, custom=api
    )


def grid_spec(**overrides: Any) -> SessionSpec:
    """A grid session over x in 0..9 (``overrides`` are spec fields, in the CRD's spelling)."""
    return spec(**overrides)


def job_json(
    spec: SessionSpec,
    ref: SessionRef,
    index: int,
    trials: tuple[int, ...],
    params: list[Params] | None = None,
    conditions: list[Json] | None = None,
    **status: Any,
) -> Json:
    """A Job as the API server returns it: the core's manifest plus metadata and status."""
    job = job_manifest(spec, ref, index, trials, params or [{"x": t} for t in trials])
    job["metadata"]["uid"] = f"job-uid-{index}"
    job["metadata"]["creationTimestamp"] = T0
    job["status"] = {"startTime": T0, **status}
    if conditions is not None:
        job["status"]["conditions"] = conditions
    return job


def condition(kind: str, reason: str | None = None, when: str = "2026-01-01T12:05:00Z") -> Json:
    cond: Json = {"type": kind, "status": "True", "lastTransitionTime": when}
    if reason:
        cond["reason"] = reason
    return cond


def pod_json(name: str, job: str, created: str = T0, **status: Any) -> Json:
    return {
        "metadata": {
            "name": name,
            "labels": {"job-name": job},
            "creationTimestamp": created,
            "ownerReferences": [{"kind": "Job", "name": job, "controller": True}],
        },
        "status": dict(status),
    }
