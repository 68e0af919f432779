"""Helpers of the operator's end-to-end tests: the operator as a real process, and probes.

- ``OperatorProcess``: ``tuneop operator`` started with the cluster's admin kubeconfig, its
  output kept in a log file that failure messages quote (``tail``).
- ``serve_namespaces``: fresh namespaces and one operator process serving exactly them, for a
  whole test module; on exit the namespaces are deleted while the operator still runs (so
  kopf can take its finalizer off the sessions in them), then the operator is stopped.
- ``JobWatch``: a watch on a namespace's Jobs in a thread; it records every Job ever created
  (name and uid) and the largest number of unfinished Jobs at any point of the event stream.
- Small readers of sessions, Jobs, pods and ``kubectl get`` tables.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from minicluster import processes
from minicluster.controlplane import REPO_ROOT
from minicluster.harness import Cluster, WaitTimeout
from minicluster.kube import ApiException, Json, Kube

T = TypeVar("T")

CRD_FILE = REPO_ROOT / "crds" / "tuningsession.yaml"
CRD_NAME = "tuningsessions.tuneop.dev"
CRD_PATH = f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{CRD_NAME}"
EXAMPLES = REPO_ROOT / "examples"
API = "/apis/tuneop.dev/v1alpha1"
BATCH = "/apis/batch/v1"
TUNEOP = str(Path(sys.executable).parent / "tuneop")
RUNNER_IMAGE = "tuneop/runner:0.1.0"
LABEL_SESSION = "tuneop.dev/session"
TERMINAL = ("Succeeded", "Failed", "Cancelled")


# --- manifests ----------------------------------------------------------------------------


def session_manifest(name: str, **spec: Any) -> Json:
    return {
        "apiVersion": "tuneop.dev/v1alpha1",
        "kind": "TuningSession",
        "metadata": {"name": name},
        "spec": spec,
    }


def explicit_session(
    name: str, objective: str, trials: Sequence[dict[str, Any]], **spec: Any
) -> Json:
    """A session over an explicit trial list, run by an objective of the runner's package."""
    return session_manifest(
        name,
        objective={"metric": "value", "direction": "minimize"},
        trials=list(trials),
        runner={"image": RUNNER_IMAGE, "objective": f"tuneop_runner.objectives.{objective}"},
        **spec,
    )


def apply(cluster: Cluster, namespace: str, *manifests: Json) -> str:
    """``kubectl apply`` the manifests into ``namespace``; fail with kubectl's output.

    Sent as a stream of JSON objects (no ``---``: kubectl reads a stream that starts with
    ``{`` as JSON), since YAML 1.1 readers like kubectl's take a bare ``y`` for a boolean.
    """
    text = "\n".join(json.dumps(manifest) for manifest in manifests)
    return cluster.kubectl("apply", "-n", namespace, "-f", "-", input=text).stdout


# --- reading the cluster ------------------------------------------------------------------


def session_path(namespace: str, name: str = "") -> str:
    path = f"{API}/namespaces/{namespace}/tuningsessions"
    return f"{path}/{name}" if name else path


def get_session(cluster: Cluster, namespace: str, name: str) -> Json | None:
    return cluster.kube.get_or_none(session_path(namespace, name))


def status_of(cluster: Cluster, namespace: str, name: str) -> Json:
    return dict((get_session(cluster, namespace, name) or {}).get("status") or {})


def condition(status: Json, kind: str) -> Json | None:
    for cond in status.get("conditions") or []:
        if cond.get("type") == kind:
            return dict(cond)
    return None


def is_finished(job: Json) -> bool:
    return any(
        c.get("type") in {"Complete", "Failed"} and c.get("status") == "True"
        for c in (job.get("status") or {}).get("conditions") or []
    )


def session_jobs(cluster: Cluster, namespace: str, name: str) -> list[Json]:
    listing = cluster.kube.get(
        f"{BATCH}/namespaces/{namespace}/jobs", labelSelector=f"{LABEL_SESSION}={name}"
    )
    return list(listing["items"])


def session_pods(cluster: Cluster, namespace: str, name: str) -> list[Json]:
    listing = cluster.kube.get(
        f"/api/v1/namespaces/{namespace}/pods", labelSelector=f"{LABEL_SESSION}={name}"
    )
    return list(listing["items"])


def running_pids(pods: Sequence[Json]) -> list[int]:
    """The local process ids of the running containers of ``pods`` (the node simulator's)."""
    pids = []
    for pod in pods:
        for status in (pod.get("status") or {}).get("containerStatuses") or []:
            if "running" in (status.get("state") or {}):
                pids.append(int(status["containerID"].removeprefix("nodesim://")))
    return pids


def process_gone(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def parse_table(text: str) -> list[dict[str, str]]:
    """Rows of a ``kubectl get`` table, cut at the header's column offsets (cells may be empty)."""
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        return []
    header = lines[0]
    starts = [i for i, ch in enumerate(header) if ch != " " and (i == 0 or header[i - 1] == " ")]
    names = header.split()
    rows = []
    for line in lines[1:]:
        cells = [
            line[start : starts[n + 1] if n + 1 < len(starts) else None].strip()
            for n, start in enumerate(starts)
        ]
        rows.append(dict(zip(names, cells, strict=True)))
    return rows


def table_header(text: str) -> list[str]:
    lines = text.splitlines()
    return lines[0].split() if lines else []


# --- the operator process -----------------------------------------------------------------


class OperatorProcess:
    """``tuneop operator`` as a child process (its own process group), logging to a file."""

    def __init__(
        self,
        kubeconfig: Path,
        namespaces: Sequence[str],
        log_path: Path,
        extra_args: Sequence[str] = (),
    ) -> None:
        self.kubeconfig = kubeconfig
        self.namespaces = list(namespaces)
        self.log_path = log_path
        self.extra_args = list(extra_args)
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def argv(self) -> list[str]:
        args = [TUNEOP, "operator"]
        for namespace in self.namespaces:
            args += ["--namespace", namespace]
        # Neither kopf's liveness endpoint nor the metrics port: the chart's operator pod
        # binds its own ports on this host, and two test operators must not collide.
        return [*args, "--liveness", "", "--metrics-port", "0", *self.extra_args]

    def start(self) -> OperatorProcess:
        assert self.process is None, "the operator is running already"
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("KUBERNETES_", "TUNEOP_"))
        }
        env.update(KUBECONFIG=str(self.kubeconfig), PYTHONUNBUFFERED="1")
        self.starts += 1
        with self.log_path.open("a") as log:
            log.write(f"===== start #{self.starts}: {' '.join(self.argv)}\n")
        self.process = processes.spawn(self.argv, log_path=self.log_path, env=env, cwd=REPO_ROOT)
        return self

    def stop(self) -> int | None:
        """SIGTERM, then SIGKILL after a grace period; the exit code (None if not running)."""
        if self.process is None:
            return None
        code = processes.stop(self.process, grace=15.0)
        self.process = None
        self._note(f"stopped, exit code {code}")
        return code

    def kill(self) -> None:
        """SIGKILL: no clean-up at all, as when a node dies or the OOM killer strikes."""
        assert self.process is not None, "the operator is not running"
        processes.signal_group(self.process, signal.SIGKILL)
        self.process.wait()
        self.process = None
        self._note("killed with SIGKILL")

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def tail(self, lines: int = 60) -> str:
        state = "running" if self.alive() else "NOT RUNNING"
        return f"--- operator log {self.log_path} ({state}), last {lines} lines ---\n" + (
            processes.tail(self.log_path, lines)
        )

    def _note(self, text: str) -> None:
        with self.log_path.open("a") as log:
            log.write(f"===== {text}\n")


@dataclass
class Served:
    """An operator process and the namespaces it serves, by the key a test asked for."""

    cluster: Cluster
    operator: OperatorProcess
    namespaces: dict[str, str]
    results_dir: Path

    def ns(self, key: str) -> str:
        return self.namespaces[key]

    def wait_for(
        self,
        what: str,
        probe: Callable[[], T | None],
        *,
        timeout: float = 60.0,
        interval: float = 0.2,
        describe: Callable[[], object] | None = None,
    ) -> T:
        """``cluster.wait_for``, failing with the operator's log tail too."""
        return wait_with_log(self.cluster, self.operator, what, probe, timeout, interval, describe)

    def wait_phase(self, namespace: str, name: str, *phases: str, timeout: float = 60.0) -> Json:
        return wait_phase(self.cluster, self.operator, namespace, name, *phases, timeout=timeout)

    def explain(self, namespace: str, name: str) -> str:
        """For assertion messages: the session's status and the operator's log tail."""
        return explain(self.cluster, self.operator, namespace, name)


def wait_with_log(
    cluster: Cluster,
    operator: OperatorProcess | None,
    what: str,
    probe: Callable[[], T | None],
    timeout: float = 60.0,
    interval: float = 0.2,
    describe: Callable[[], object] | None = None,
) -> T:
    try:
        return cluster.wait_for(what, probe, timeout=timeout, interval=interval, describe=describe)
    except WaitTimeout as error:
        if operator is None:
            raise
        raise WaitTimeout(f"{error}\n{operator.tail()}") from None


def wait_phase(
    cluster: Cluster,
    operator: OperatorProcess | None,
    namespace: str,
    name: str,
    *phases: str,
    timeout: float = 60.0,
) -> Json:
    """Wait until the session's phase is one of ``phases``; return the whole session."""

    def reached() -> Json | None:
        session = get_session(cluster, namespace, name)
        phase = ((session or {}).get("status") or {}).get("phase")
        return session if phase in phases else None

    return wait_with_log(
        cluster,
        operator,
        f"session {namespace}/{name} to reach {'/'.join(phases)}",
        reached,
        timeout,
        describe=lambda: status_of(cluster, namespace, name),
    )


def explain(cluster: Cluster, operator: OperatorProcess | None, namespace: str, name: str) -> str:
    status = json.dumps(status_of(cluster, namespace, name), indent=1, sort_keys=True)
    text = f"session {namespace}/{name} status:\n{status}"
    return f"{text}\n{operator.tail()}" if operator is not None else text


def create_namespaces(cluster: Cluster, stems: Sequence[str]) -> list[str]:
    """Fresh namespaces (one per stem, with a random suffix), ready for pods."""
    suffix = uuid.uuid4().hex[:6]
    names = [f"{stem[:40]}-{suffix}" for stem in stems]
    for name in names:
        cluster.kube.post(
            "/api/v1/namespaces",
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}},
        )
    for name in names:
        cluster.wait_for_service_account(name, "default")
    return names


def delete_namespaces(
    cluster: Cluster, names: Sequence[str], operator: OperatorProcess | None
) -> None:
    """Delete namespaces and wait until the sessions in them are gone.

    The operator must still run: kopf's finalizer on each session is only taken off by it.
    """
    for name in names:
        cluster.kube.delete(f"/api/v1/namespaces/{name}")

    def sessions_left() -> list[str]:
        left = []
        for name in names:
            with contextlib.suppress(ApiException):
                items = cluster.kube.get(session_path(name))["items"]
                left += [f"{name}/{s['metadata']['name']}" for s in items]
        return left

    wait_with_log(
        cluster,
        operator,
        "the sessions of deleted namespaces to be gone (kopf removes its finalizer)",
        lambda: not sessions_left(),
        timeout=60,
        describe=sessions_left,
    )


def release_sessions(cluster: Cluster, namespace: str) -> None:
    """Take kopf's finalizer off every session of a namespace (no operator runs to do it)."""
    with contextlib.suppress(ApiException):
        for item in cluster.kube.get(session_path(namespace))["items"]:
            cluster.kube.patch(
                session_path(namespace, item["metadata"]["name"]),
                {"metadata": {"finalizers": None}},
            )


@contextlib.contextmanager
def serve_namespaces(
    cluster: Cluster, workdir: Path, keys: Sequence[str], extra_args: Sequence[str] = ()
) -> Iterator[Served]:
    """Namespaces for ``keys`` and one ``tuneop operator --results-dir`` serving them."""
    names = create_namespaces(cluster, keys)
    results = workdir / "results"
    operator = OperatorProcess(
        cluster.kubeconfig,
        names,
        workdir / "operator.log",
        ["--results-dir", str(results), *extra_args],
    ).start()
    try:
        yield Served(cluster, operator, dict(zip(keys, names, strict=True)), results)
        delete_namespaces(cluster, names, operator)
    finally:
        if not operator.alive():
            for name in names:
                release_sessions(cluster, name)
        operator.stop()


# --- watching Jobs ------------------------------------------------------------------------


@dataclass
class JobWatch:
    """Every Job of a namespace, as a watch stream tells it, recorded in a thread.

    ``created`` maps each Job name to the uids it was created with (a name created twice
    has two); ``peak_unfinished`` is the largest number of existing Jobs without a
    Complete/Failed condition after any event. Events come in resourceVersion order, so
    this is exact, not sampled. ``errors`` holds what would make the record incomplete (the
    server ending the watch with an error, e.g. 410 Gone); a dropped connection is only
    noted in ``reconnects``: the watch resumes from the last resourceVersion seen.
    """

    kubeconfig: Path
    namespace: str
    selector: str | None = None
    created: dict[str, list[str]] = field(default_factory=dict)
    peak_unfinished: int = 0
    errors: list[str] = field(default_factory=list)
    reconnects: list[str] = field(default_factory=list)
    _unfinished: dict[str, bool] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    @property
    def path(self) -> str:
        return f"{BATCH}/namespaces/{self.namespace}/jobs"

    def start(self) -> JobWatch:
        kube = Kube(str(self.kubeconfig))
        listing = kube.get(self.path, labelSelector=self.selector)
        for job in listing["items"]:
            self._see("ADDED", job)
        version = str(listing["metadata"]["resourceVersion"])
        self._thread = threading.Thread(
            target=self._run, args=(kube, version), name=f"jobwatch-{self.namespace}", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=15)
            self._thread = None

    def __enter__(self) -> JobWatch:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def names(self) -> set[str]:
        with self._lock:
            return set(self.created)

    def duplicates(self) -> dict[str, list[str]]:
        with self._lock:
            return {name: uids for name, uids in self.created.items() if len(uids) > 1}

    def _run(self, kube: Kube, version: str) -> None:
        try:
            while not self._stop.is_set():
                try:
                    # A short server-side timeout: the loop sees the stop flag every second.
                    for event in kube.watch(
                        self.path, version, timeout_seconds=1, labelSelector=self.selector
                    ):
                        obj = event.get("object") or {}
                        if event.get("type") == "ERROR":
                            # e.g. 410 Gone: events were missed, so the record has a gap.
                            self.errors.append(f"watch error: {obj}")
                            return
                        version = str(obj["metadata"]["resourceVersion"])
                        if event.get("type") != "BOOKMARK":
                            self._see(str(event.get("type")), obj)
                except Exception as error:  # a dropped connection: resume from `version`
                    self.reconnects.append(f"{type(error).__name__}: {error}")
                    if len(self.reconnects) > 20:
                        self.errors.append(f"gave up after: {self.reconnects[-1]}")
                        return
                    self._stop.wait(0.2)  # a pause before reconnecting, not a synchronization
        finally:
            kube.close()

    def _see(self, kind: str, job: Json) -> None:
        meta = job["metadata"]
        name, uid = str(meta["name"]), str(meta["uid"])
        with self._lock:
            uids = self.created.setdefault(name, [])
            if uid not in uids:
                uids.append(uid)
            if kind == "DELETED":
                self._unfinished.pop(uid, None)
            else:
                self._unfinished[uid] = not is_finished(job)
            self.peak_unfinished = max(self.peak_unfinished, sum(self._unfinished.values()))
