"""What a current API server does differently from 1.20, met by the operator's client and kopf.

* Watches: kopf restarts its watch from the resourceVersion of a BOOKMARK (the server sends one
  before the watch times out) without replaying or losing events, and its initial streaming
  (``sendInitialEvents``) ends with the ``k8s.io/initial-events-end`` bookmark.
* Lists: the operator's Job LIST (no resourceVersion: a consistent read) is served from the
  watch cache and still sees a Job created a moment before.
* Writes: the operator sends ``fieldValidation=Strict``, so a manifest it builds with a typo
  fails loudly instead of losing the field; the status patch path (``tuningsessions/status``,
  with the resourceVersion) lands, and a stale one is a Conflict.
* Jobs: pods carry the Job controller's tracking finalizer (removed when counted), Jobs report
  ``status.ready`` and ``status.terminating``, and a pod the node evicts carries
  ``DisruptionTarget``, which a ``podFailurePolicy`` can ignore.
"""

from __future__ import annotations

import asyncio
import copy
import re
import sys
import threading
import time
import types
from pathlib import Path
from typing import Any

import pytest
import yaml

from minicluster import controlplane
from minicluster.harness import Cluster
from minicluster.kube import Json
from minicluster.nodesim import EVICT_ANNOTATION
from tests.e2e.operator_support import apply, explicit_session, session_path

JOB_FINALIZER = "batch.kubernetes.io/job-tracking"
BATCH = "/apis/batch/v1"


# --- the operator's own client ------------------------------------------------------------


def operator_kube(cluster: Cluster) -> Any:
    """The operator's ``Kube`` (its ApiClient and write limiter) on the admin kubeconfig."""
    from kubernetes import client

    from tuneop.adapters.kube.client import Kube, load_configuration
    from tuneop.adapters.kube.ratelimit import TokenBucket

    cfg = load_configuration(str(cluster.kubeconfig))
    return Kube(api=client.ApiClient(cfg), limiter=TokenBucket(qps=50, burst=50))


def job_body(name: str, command: list[str], **spec: Any) -> Json:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "labels": {"e2e": name}},
        "spec": {
            "backoffLimit": 0,
            "template": {
                "metadata": {"labels": {"e2e": name}},
                "spec": {
                    "restartPolicy": "Never",
                    "terminationGracePeriodSeconds": 5,
                    "containers": [{"name": "main", "image": "unused", "command": command}],
                },
            },
            **spec,
        },
    }


def pods_of(cluster: Cluster, namespace: str, job: str) -> list[Json]:
    listing = cluster.kube.get(f"/api/v1/namespaces/{namespace}/pods", labelSelector=f"e2e={job}")
    return list(listing["items"])


def metric_total(cluster: Cluster, name: str, **labels: str) -> float:
    """The sum of a counter over the series of /metrics whose labels include ``labels``."""
    text = cluster.kube.request("GET", "/metrics", stream=True).data.decode()
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        series, _, value = line.rpartition(" ")
        found = dict(re.findall(r'(\w+)="([^"]*)"', series))
        # 1.31 labels resources with their storage prefix ("/jobs"), later releases not.
        if all(found.get(k, "").lstrip("/") == v for k, v in labels.items()):
            total += float(value)
    return total


# --- kopf's watch -------------------------------------------------------------------------


class KopfWatch:
    """kopf's ``continuous_watch`` on ConfigMaps of one namespace, in a thread of its own."""

    def __init__(self, cluster: Cluster, namespace: str, **watching: Any) -> None:
        self.cluster, self.namespace, self.watching = cluster, namespace, watching
        self.events: list[Any] = []
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, name="kopf-watch", daemon=True)
        self.error: BaseException | None = None
        self._task: asyncio.Task[None] | None = None

    def __enter__(self) -> KopfWatch:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        def cancel() -> None:
            if self._task is not None:
                self._task.cancel()

        self.loop.call_soon_threadsafe(cancel)
        self.thread.join(timeout=15)

    def _run(self) -> None:
        try:
            self.loop.run_until_complete(self._watch())
        except asyncio.CancelledError:
            pass
        except BaseException as error:  # reported by the test
            self.error = error

    async def _watch(self) -> None:
        import kopf
        from kopf._cogs.clients import auth, watching
        from kopf._cogs.structs import credentials, references

        config = yaml.safe_load(Path(self.cluster.kubeconfig).read_text())
        cluster, user = config["clusters"][0]["cluster"], config["users"][0]["user"]
        info = credentials.ConnectionInfo(
            server=cluster["server"],
            ca_path=cluster["certificate-authority"],
            certificate_path=user["client-certificate"],
            private_key_path=user["client-key"],
        )
        vault = credentials.Vault()
        await vault.populate({"e2e": info})
        auth.vault_var.set(vault)
        settings = kopf.OperatorSettings()
        for key, value in self.watching.items():
            setattr(settings.watching, key, value)
        resource = references.Resource(group="", version="v1", plural="configmaps", namespaced=True)
        pause: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._task = asyncio.current_task()
        try:
            async for event in watching.continuous_watch(
                settings=settings,
                resource=resource,
                namespace=self.namespace,
                operator_pause_waiter=pause,
            ):
                self.events.append(copy.deepcopy(event))
        finally:
            await vault.close()  # its HTTP sessions

    def of(self, kind: str | None, name: str | None = None) -> list[Json]:
        return [
            e
            for e in list(self.events)
            if isinstance(e, dict)
            and e.get("type") == kind
            and (name is None or e["object"]["metadata"].get("name") == name)
        ]


def config_map(cluster: Cluster, namespace: str, name: str) -> Json:
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}}
    return cluster.kube.post(f"/api/v1/namespaces/{namespace}/configmaps", body)


def test_the_server_is_the_version_the_tier_asked_for(cluster: Cluster) -> None:
    version = cluster.kube.get("/version")
    assert version["gitVersion"] == f"v{controlplane.K8S_VERSION}"
    client = cluster.kubectl("version", "--client", "-o", "yaml").stdout
    assert f"gitVersion: v{controlplane.K8S_VERSION}" in client


def test_kopf_watch_restarts_from_a_bookmark_without_replay_or_loss(
    cluster: Cluster, namespace: str
) -> None:
    config_map(cluster, namespace, "before")
    # A short server-side timeout: the server sends a BOOKMARK about 2 s before it ends the
    # watch, and kopf reconnects from the last resourceVersion it saw (the bookmark's).
    with KopfWatch(cluster, namespace, server_timeout=5) as watch:
        cluster.wait_for("kopf's initial list", lambda: watch.of(None, "before"), timeout=20)
        first = config_map(cluster, namespace, "first")
        cluster.wait_for("kopf to see 'first'", lambda: watch.of("ADDED", "first"), timeout=20)

        def bookmark_after_first() -> list[Json]:
            version = int(first["metadata"]["resourceVersion"])
            return [
                b
                for b in watch.of("BOOKMARK")
                if int(b["object"]["metadata"]["resourceVersion"]) >= version
            ]

        bookmarks = cluster.wait_for("a bookmark", bookmark_after_first, timeout=20)
        # Let the watch time out and kopf reconnect from the bookmark, then change things.
        time.sleep(4)
        config_map(cluster, namespace, "second")
        cluster.wait_for("kopf to see 'second'", lambda: watch.of("ADDED", "second"), timeout=30)
        assert watch.error is None, watch.error
    assert len(watch.of("ADDED", "first")) == 1, "a restart from the bookmark replays nothing"
    assert len(watch.of("ADDED", "second")) == 1
    assert not watch.of("ERROR"), "no 410 Gone: the bookmark kept the version fresh"
    assert bookmarks[0]["object"]["kind"] == "ConfigMap"


def serves_watch_list(cluster: Cluster, namespace: str) -> bool:
    """Whether the server streams initial events in a watch (the WatchList feature)."""
    query = {
        "watch": "true",
        "sendInitialEvents": "true",
        "resourceVersionMatch": "NotOlderThan",
        "allowWatchBookmarks": "true",
        "timeoutSeconds": 1,
    }
    try:
        path = f"/api/v1/namespaces/{namespace}/configmaps"
        response = cluster.kube.request("GET", path, query=query, stream=True)
        # Read the watch to its end (the server ends it after timeoutSeconds) before the
        # connection goes back to the pool: a half-read stream would poison the next request.
        response.read()
        response.release_conn()
    except Exception as error:
        if getattr(error, "status", None) in (400, 403, 422):
            return False
        raise
    return True


def test_kopf_initial_streaming_ends_with_the_initial_events_bookmark(
    cluster: Cluster, namespace: str
) -> None:
    if not serves_watch_list(cluster, namespace):
        pytest.skip(f"kube-apiserver {controlplane.K8S_VERSION} does not serve sendInitialEvents")
    config_map(cluster, namespace, "listed")
    with KopfWatch(cluster, namespace, initial_streaming=True, server_timeout=30) as watch:

        def end_of_initial() -> list[Json]:
            return [
                b
                for b in watch.of("BOOKMARK")
                if (b["object"]["metadata"].get("annotations") or {}).get(
                    "k8s.io/initial-events-end"
                )
                == "true"
            ]

        cluster.wait_for("the initial-events-end bookmark", end_of_initial, timeout=20)
        config_map(cluster, namespace, "later")
        cluster.wait_for("kopf to see 'later'", lambda: watch.of("ADDED", "later"), timeout=20)
        assert watch.error is None, watch.error
    # The initial events arrive as kopf's "listed" (type None), not as ADDED.
    assert watch.of(None, "listed") and not watch.of("ADDED", "listed")


# --- the operator's writes and reads --------------------------------------------------------


def test_operator_job_list_is_a_consistent_read_from_the_watch_cache(
    cluster: Cluster, namespace: str
) -> None:
    from tuneop.adapters.kube.jobs import KubeJobs
    from tuneop.api.session import SessionRef
    from tuneop.core.jobs.manifests import selector

    kube = operator_kube(cluster)
    try:
        ref = SessionRef(namespace, "cached")
        manifest = job_body("cached-0", ["python", "-c", "pass"])
        labels = dict(part.split("=") for part in selector(ref.name).split(","))
        manifest["metadata"]["labels"].update(labels)
        jobs = KubeJobs(kube)
        served = {"resource": "jobs", "success": "true", "fallback": "false"}
        before = metric_total(cluster, "apiserver_watch_cache_consistent_read_total", **served)
        job = types.SimpleNamespace(name="cached-0", manifest=manifest, trials=(0,))
        jobs.create_job(ref, job)  # type: ignore[arg-type]
        listed = jobs._list(ref)
        after = metric_total(cluster, "apiserver_watch_cache_consistent_read_total", **served)
    finally:
        kube.close()
    # Consistent: the Job written a moment ago is in the list, though the cache served it.
    assert [j["metadata"]["name"] for j in listed] == ["cached-0"]
    assert after > before, "the LIST without resourceVersion was served from the watch cache"


def test_strict_field_validation_refuses_a_typo_in_what_the_operator_writes(
    cluster: Cluster, namespace: str
) -> None:
    from tuneop.adapters.kube.jobs import KubeJobs
    from tuneop.api.session import SessionRef

    kube = operator_kube(cluster)
    try:
        manifest = job_body("typo", ["python", "-c", "pass"])
        container = manifest["spec"]["template"]["spec"]["containers"][0]
        container["comand"] = container.pop("command")  # the typo a builder could make
        job = types.SimpleNamespace(name="typo", manifest=manifest, trials=(0,))
        with pytest.raises(Exception) as failure:
            KubeJobs(kube).create_job(SessionRef(namespace, "typo"), job)  # type: ignore[arg-type]
    finally:
        kube.close()
    assert 'unknown field "spec.template.spec.containers[0].comand"' in str(failure.value)
    assert cluster.kube.get_or_none(f"{BATCH}/namespaces/{namespace}/jobs/typo") is None


def test_status_patch_path_lands_and_a_stale_version_is_a_conflict(
    cluster: Cluster, crd: Json, namespace: str
) -> None:
    from tuneop.adapters.kube.status import KubeStatus
    from tuneop.api.session import SessionRef
    from tuneop.ports import Conflict

    apply(cluster, namespace, explicit_session("patched", "testing:sleep", [{"seconds": 0}]))
    kube = operator_kube(cluster)
    try:
        ref = SessionRef(namespace, "patched")
        statuses = KubeStatus(kube)
        status, version = statuses.read(ref)
        changed = status.model_copy(update={"message": "written by the status patch path"})
        statuses.write(ref, changed, version)
        stored = cluster.kube.get(session_path(namespace, "patched"))
        assert stored["status"]["message"] == "written by the status patch path"
        assert stored["metadata"]["resourceVersion"] != version
        # A writer that read the old version must not overwrite the new one.
        with pytest.raises(Conflict):
            KubeStatus(kube).write(ref, status, version)
    finally:
        kube.close()
    # The status schema is structural: an unknown field in a status write is refused.
    path = session_path(namespace, "patched") + "/status"
    with pytest.raises(Exception) as failure:
        cluster.kube.request(
            "PATCH",
            path,
            body={"status": {"mesage": "typo"}},
            query={"fieldValidation": "Strict"},
            content_type="application/merge-patch+json",
        )
    assert "mesage" in str(getattr(failure.value, "body", failure.value))


# --- Jobs on a current server (harness and simulator against the real Job controller) --------


def test_job_pods_carry_the_tracking_finalizer_and_jobs_report_ready_and_terminating(
    cluster: Cluster, namespace: str
) -> None:
    jobs = f"{BATCH}/namespaces/{namespace}/jobs"
    sleeper = [sys.executable, "-c", "import time; time.sleep(60)"]
    cluster.kube.post(jobs, job_body("tracked", sleeper))

    def running() -> Json | None:
        job = cluster.kube.get(f"{jobs}/tracked")
        return job if (job.get("status") or {}).get("ready") == 1 else None

    job = cluster.wait_for("the Job to report a ready pod", running, timeout=30)
    assert job["status"]["active"] == 1
    (pod,) = pods_of(cluster, namespace, "tracked")
    assert JOB_FINALIZER in pod["metadata"].get("finalizers", [])
    conditions = {c["type"]: c["status"] for c in pod["status"]["conditions"]}
    assert conditions["PodReadyToStartContainers"] == "True" and conditions["Ready"] == "True"
    # Delete the pod gracefully: the Job counts it as terminating while it stops.
    name = pod["metadata"]["name"]
    cluster.kube.delete(
        f"/api/v1/namespaces/{namespace}/pods/{name}",
        {"apiVersion": "v1", "kind": "DeleteOptions", "gracePeriodSeconds": 5},
    )
    failed = cluster.wait_for(
        "the Job to count the deleted pod as failed",
        lambda: (j := cluster.kube.get(f"{jobs}/tracked"))
        and (j.get("status") or {}).get("failed") == 1
        and j,
        timeout=30,
    )
    assert failed["status"].get("terminating", 0) == 0
    # Counted, the finalizer goes and the pod with it.
    cluster.wait_for(
        "the pod to be gone",
        lambda: not [
            p for p in pods_of(cluster, namespace, "tracked") if p["metadata"]["name"] == name
        ],
        timeout=30,
    )


def test_evicted_pod_carries_disruption_target_and_pod_failure_policy_ignores_it(
    cluster: Cluster, namespace: str
) -> None:
    jobs = f"{BATCH}/namespaces/{namespace}/jobs"
    code = "import time; time.sleep(60)"
    policy = {"rules": [{"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]}]}
    body = job_body("evicted", [sys.executable, "-c", code], podFailurePolicy=policy)
    cluster.kube.post(jobs, body)

    def one_running() -> Json | None:
        pods = [
            p for p in pods_of(cluster, namespace, "evicted") if p["status"]["phase"] == "Running"
        ]
        return pods[0] if pods else None

    pod = cluster.wait_for("the pod to run", one_running, timeout=30)
    name = pod["metadata"]["name"]
    cluster.kube.patch(
        f"/api/v1/namespaces/{namespace}/pods/{name}",
        {"metadata": {"annotations": {EVICT_ANNOTATION: "The node was low on resource: memory."}}},
    )

    def replaced() -> list[Json] | None:
        pods = pods_of(cluster, namespace, "evicted")
        return pods if any(p["metadata"]["name"] != name for p in pods) else None

    cluster.wait_for("a replacement pod (the eviction is ignored)", replaced, timeout=60)
    # The Job controller removes its finalizer from the failed pod but leaves the pod there.
    evicted = cluster.kube.get(f"/api/v1/namespaces/{namespace}/pods/{name}")
    assert evicted["status"]["phase"] == "Failed" and evicted["status"]["reason"] == "Evicted"
    target = next(c for c in evicted["status"]["conditions"] if c["type"] == "DisruptionTarget")
    assert target["status"] == "True" and target["reason"] == "TerminationByKubelet"
    job = cluster.kube.get(f"{jobs}/evicted")
    assert (job.get("status") or {}).get("failed", 0) == 0, "Ignore: not counted as a failure"
