"""A small stateful fake of the Kubernetes API server tuneop's adapters talk to, and builders.

``FakeApi`` is a ``Sender`` (``tuneop.adapters.kube.transport``): it stands behind
the one ``Kube.request`` every adapter calls, as httpx's ``MockTransport`` stands
behind a client. Each request is routed by its method and path (``ROUTES``) to a
handler that answers a status and a JSON body (or the bytes of a log), over a
small store: Jobs, their pods and logs, TuningSessions with a status
subresource and resourceVersions, Events and ConfigMaps. Creating a Job also
creates its first pod, as the Job controller would; ``finish`` moves a Job to
Complete or Failed with a log. Failures are injected per route with
``fail_next``: an ``http_error`` (the API server answers that status) or any
exception (the request got no answer). Every call is recorded in ``calls``, by
its route's name.

Test modules import it as ``from operator_fakes import ...`` (pytest puts this
folder on ``sys.path``); the name is prefixed so it cannot shadow a helper of
another test tier.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from operator_builders import T0, Json, condition, grid_spec, job_json, loss, pod_json, result_log

from tuneop.adapters.kube.ratelimit import TokenBucket
from tuneop.adapters.kube.transport import Answer, Kube, Request

__all__ = [
    "T0", "FakeApi", "HttpError", "Json", "answer", "condition", "fake_kube", "grid_spec",
    "http_error", "job_json", "loss", "pod_json", "result_log",
]  # fmt: skip


CHUNK = 64 * 1024


class HttpError(Exception):
    """An answer of the fake API server that is an error status (a ``Status`` object)."""

    def __init__(self, status: int, message: str = "") -> None:
        super().__init__(status, message)
        self.status = status
        self.body = {"kind": "Status", "code": status, "message": message or str(status)}


def http_error(status: int, message: str = "") -> HttpError:
    return HttpError(status, message)


def answer(status: int, payload: Any, released: list[bool] | None = None) -> Answer:
    """An ``Answer`` of ``payload`` (bytes as they are, anything else as JSON), in chunks."""
    data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    chunks = [data[i : i + CHUNK] for i in range(0, len(data), CHUNK)]
    return Answer(status, chunks, release=lambda: (released or []).append(True))


# method, path pattern, route name (the name ``calls``, ``names`` and ``fail_next`` use).
_NS = r"/namespaces/(?P<namespace>[^/]+)"
_NAME = r"/(?P<name>[^/]+)"
ROUTES: list[tuple[str, re.Pattern[str], str]] = [
    (m, re.compile(p), n)
    for m, p, n in [
        ("GET", rf"/apis/batch/v1{_NS}/jobs", "list_namespaced_job"),
        ("POST", rf"/apis/batch/v1{_NS}/jobs", "create_namespaced_job"),
        ("GET", rf"/apis/batch/v1{_NS}/jobs{_NAME}", "read_namespaced_job"),
        ("DELETE", rf"/apis/batch/v1{_NS}/jobs{_NAME}", "delete_namespaced_job"),
        ("DELETE", rf"/apis/batch/v1{_NS}/jobs", "delete_collection_namespaced_job"),
        ("GET", rf"/api/v1{_NS}/pods", "list_namespaced_pod"),
        ("GET", rf"/api/v1{_NS}/pods{_NAME}/log", "read_namespaced_pod_log"),
        ("POST", rf"/api/v1{_NS}/events", "create_namespaced_event"),
        ("GET", rf"/api/v1{_NS}/configmaps{_NAME}", "read_namespaced_config_map"),
        ("POST", rf"/api/v1{_NS}/configmaps", "create_namespaced_config_map"),
        ("PUT", rf"/api/v1{_NS}/configmaps{_NAME}", "replace_namespaced_config_map"),
        ("GET", rf"/apis/tuneop\.dev/v1alpha1{_NS}/tuningsessions{_NAME}", "get_session"),
        (
            "PATCH",
            rf"/apis/tuneop\.dev/v1alpha1{_NS}/tuningsessions{_NAME}/status",
            "patch_session_status",
        ),
        ("GET", r"/apis/(?P<group>[^/]+)/(?P<version>[^/]+)", "discovery"),
    ]
]


def matches(labels: dict[str, str], selector: str | None) -> bool:
    """A label selector's equality terms and ``key in (a,b)`` terms, all of them."""
    for term in re.findall(r"[^,(]+(?:\([^)]*\))?", selector or ""):
        key, is_set, values = term.partition(" in (")
        if is_set:
            if labels.get(key.strip()) not in values.rstrip(")").split(","):
                return False
            continue
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
    # Every request as the transport sent it.
    requests: list[Request] = field(default_factory=list)
    # One entry per answer whose connection was released.
    released: list[bool] = field(default_factory=list)

    # --- the one entry point: a Sender ---

    def __call__(self, request: Request) -> Answer:
        self.requests.append(request)
        for method, pattern, route in ROUTES:
            found = pattern.fullmatch(request.path)
            if method == request.method and found:
                params = {k: unquote(v) for k, v in found.groupdict().items()}
                try:
                    status, payload = getattr(self, f"_{route}")(request, **params)
                except HttpError as err:
                    status, payload = err.status, err.body
                return answer(status, payload, self.released)
        return answer(404, HttpError(404, f"no route {request.method} {request.path}").body)

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

    def add_job(self, namespace: str, body: Json) -> Json:
        """Someone (an earlier create of ours, say) creates a Job, as a POST would."""
        _, job = self._create_namespaced_job(Request("POST", "", body=body), namespace)
        return dict(job)

    def remove_job(self, namespace: str, name: str) -> None:
        """Someone deletes the Job (and the garbage collector its pods, at once)."""
        self._delete_namespaced_job(Request("DELETE", ""), namespace, name)

    # --- batch/v1 (each handler answers (status, payload); an HttpError is an error status) ---

    def _list_namespaced_job(self, req: Request, namespace: str) -> tuple[int, Any]:
        selector = dict(req.query).get("labelSelector", "")
        self._call("list_namespaced_job", selector)
        items = [
            j
            for (ns, _), j in sorted(self.jobs.items())
            if ns == namespace and matches(j["metadata"].get("labels") or {}, selector)
        ]
        return 200, {"kind": "JobList", "items": items}

    def _read_namespaced_job(self, req: Request, namespace: str, name: str) -> tuple[int, Any]:
        self._call("read_namespaced_job", name)
        if (namespace, name) not in self.jobs:
            raise HttpError(404)
        return 200, self.jobs[namespace, name]

    def _create_namespaced_job(self, req: Request, namespace: str) -> tuple[int, Any]:
        body = req.body
        name = body["metadata"]["name"]
        self._call("create_namespaced_job", name)
        if (namespace, name) in self.jobs:
            raise HttpError(409, f'jobs.batch "{name}" already exists')
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
        return 201, job

    def _delete_namespaced_job(self, req: Request, namespace: str, name: str) -> tuple[int, Any]:
        self._call("delete_namespaced_job", (name, dict(req.query).get("propagationPolicy")))
        if self.jobs.pop((namespace, name), None) is None:
            raise HttpError(404)
        for pod in self.job_pods(namespace, name):  # the garbage collector, at once
            del self.pods[namespace, pod["metadata"]["name"]]
        return 200, {"kind": "Status", "status": "Success"}

    def _delete_collection_namespaced_job(self, req: Request, namespace: str) -> tuple[int, Any]:
        query = dict(req.query)
        selector = query.get("labelSelector", "")
        self._call("delete_collection_namespaced_job", (selector, query.get("propagationPolicy")))
        chosen = [
            name
            for (ns, name), j in sorted(self.jobs.items())
            if ns == namespace and matches(j["metadata"].get("labels") or {}, selector)
        ]
        items = [self.jobs.pop((namespace, name)) for name in chosen]
        for name in chosen:
            for pod in self.job_pods(namespace, name):
                del self.pods[namespace, pod["metadata"]["name"]]
        return 200, {"kind": "JobList", "items": items}

    # --- core/v1 ---

    def _list_namespaced_pod(self, req: Request, namespace: str) -> tuple[int, Any]:
        selector = dict(req.query).get("labelSelector", "")
        self._call("list_namespaced_pod", selector)
        items = [
            p
            for (ns, _), p in self.pods.items()
            if ns == namespace and matches(p["metadata"]["labels"], selector)
        ]
        return 200, {"kind": "PodList", "items": items}

    def _read_namespaced_pod_log(self, req: Request, namespace: str, name: str) -> tuple[int, Any]:
        query = dict(req.query)
        container = query.get("container")
        limit_bytes, tail_lines = query.get("limitBytes"), query.get("tailLines")
        self._call("read_namespaced_pod_log", (name, container, limit_bytes, tail_lines))
        if (namespace, name) not in self.pods:
            raise HttpError(404)
        log = self.logs.get((namespace, name))
        if log is None:
            raise HttpError(400, f'container "{container}" is waiting to start')
        if tail_lines is not None:
            log = b"".join(log.splitlines(keepends=True)[-int(tail_lines) :])
        if limit_bytes is not None:
            log = log[: int(limit_bytes)]
        return 200, log

    def _create_namespaced_event(self, req: Request, namespace: str) -> tuple[int, Any]:
        self._call("create_namespaced_event", req.body.get("reason"))
        self.events.append(copy.deepcopy(req.body))
        return 201, req.body

    def _read_namespaced_config_map(
        self, req: Request, namespace: str, name: str
    ) -> tuple[int, Any]:
        self._call("read_namespaced_config_map", name)
        if (namespace, name) not in self.configmaps:
            raise HttpError(404)
        return 200, self.configmaps[namespace, name]

    def _create_namespaced_config_map(self, req: Request, namespace: str) -> tuple[int, Any]:
        name = req.body["metadata"]["name"]
        self._call("create_namespaced_config_map", name)
        if (namespace, name) in self.configmaps:
            raise HttpError(409)
        cm = copy.deepcopy(req.body)
        cm["metadata"]["resourceVersion"] = self._next_rv()
        self.configmaps[namespace, name] = cm
        return 201, cm

    def _replace_namespaced_config_map(
        self, req: Request, namespace: str, name: str
    ) -> tuple[int, Any]:
        self._call("replace_namespaced_config_map", name)
        current = self.configmaps.get((namespace, name))
        if current is None:
            raise HttpError(404)
        if req.body["metadata"].get("resourceVersion") != current["metadata"]["resourceVersion"]:
            raise HttpError(409)
        cm = copy.deepcopy(req.body)
        cm["metadata"]["resourceVersion"] = self._next_rv()
        self.configmaps[namespace, name] = cm
        return 200, cm

    # --- TuningSessions and discovery ---

    def _get_session(self, req: Request, namespace: str, name: str) -> tuple[int, Any]:
        self._call("get_session", name)
        if (namespace, name) not in self.sessions:
            raise HttpError(404)
        return 200, self.sessions[namespace, name]

    def _patch_session_status(self, req: Request, namespace: str, name: str) -> tuple[int, Any]:
        body = req.body
        self._call("patch_session_status", copy.deepcopy(body))
        obj = self.sessions.get((namespace, name))
        if obj is None:
            raise HttpError(404)
        want = (body.get("metadata") or {}).get("resourceVersion")
        if want is not None and want != obj["metadata"]["resourceVersion"]:
            raise HttpError(409, "the object has been modified")
        if "status" in body:
            obj["status"] = merge(obj.get("status"), body["status"])
        obj["metadata"]["resourceVersion"] = self._next_rv()
        return 200, obj

    def _discovery(self, req: Request, group: str, version: str) -> tuple[int, Any]:
        self._call("discovery", f"{group}/{version}")
        plural = {"batch": "jobs", "tuneop.dev": "tuningsessions"}.get(group)
        return 200, {"kind": "APIResourceList", "resources": [{"name": plural}] if plural else []}


def fake_kube(api: FakeApi | None = None, qps: float = 1e9, burst: int = 1_000_000) -> Kube:
    """A ``Kube`` whose requests ``api`` answers, with a limiter that never waits."""
    return Kube(send=api or FakeApi(), limiter=TokenBucket(qps=qps, burst=burst))
