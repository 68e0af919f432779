"""Helpers of the operator's end-to-end tests: sessions, probes, and a served namespace.

The operator process itself (``minicluster.operator_process.OperatorProcess``) and the Job
watcher (``minicluster.watch.JobWatch``) are the harness's, shared with the benchmarks.
What is test-specific is here:

- ``serve_namespaces``: fresh namespaces and one operator process serving exactly them, for a
  whole test module; on exit the namespaces are deleted while the operator still runs (so
  kopf can take its finalizer off the sessions in them), then the operator is stopped.
- ``wait_with_log``/``wait_phase``/``explain``: waits and assertion messages that quote the
  operator's log.
- Session manifests, and small readers of sessions, Jobs, pods and ``kubectl get`` tables.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

from builders import RUNNER_IMAGE, session_doc
from minicluster.controlplane import REPO_ROOT
from minicluster.harness import Cluster, WaitTimeout
from minicluster.kube import ApiException, Json
from minicluster.operator_process import OperatorProcess
from minicluster.watch import job_done

T = TypeVar("T")

CRD_FILE = REPO_ROOT / "crds" / "tuningsession.yaml"
CRD_NAME = "tuningsessions.tuneop.dev"
CRD_PATH = f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{CRD_NAME}"
EXAMPLES = REPO_ROOT / "examples"
API = "/apis/tuneop.dev/v1alpha1"
BATCH = "/apis/batch/v1"
LABEL_SESSION = "tuneop.dev/session"
TERMINAL = ("Succeeded", "Failed", "Cancelled")


# --- manifests ----------------------------------------------------------------------------


def session_manifest(name: str, **spec: Any) -> Json:
    return session_doc(name, spec)


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
    return job_done(job) is not None


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


def served_module(*keys: str) -> Any:
    """A module's ``served`` fixture: namespaces for ``keys`` and one ``tuneop operator``
    serving them, started after the CRD (``served = served_module(*NAMESPACES)``)."""

    @pytest.fixture(scope="module")
    def served(
        cluster: Cluster, crd: Json, tmp_path_factory: pytest.TempPathFactory
    ) -> Iterator[Served]:
        with serve_namespaces(cluster, tmp_path_factory.mktemp("operator"), keys) as running:
            yield running

    return served
