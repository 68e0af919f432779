"""The kopf handlers as plain async functions, over the real adapters and a fake API.

No kopf runtime: the handler functions are called with a memo holding a
``Runtime`` built by ``build_runtime`` over ``FakeApi``, exactly what kopf's
startup handler would build over a real ``ApiClient``.
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import kopf
import pytest
from kopf._cogs.structs.references import Resource  # kopf's own type, to query its registry
from operator_fakes import FakeApi, fake_kube, http_error

from builders import session_doc
from tuneop.adapters.kube.best import BestConfigMap
from tuneop.adapters.kube.yielding import Yielding
from tuneop.adapters.memory import MemoryHistory
from tuneop.assembly.operator import OperatorLoop
from tuneop.assembly.stores import FolderStore
from tuneop.controller import handlers, scheduling
from tuneop.controller.metrics import SESSIONS
from tuneop.controller.runtime import OperatorConfig, Runtime, build_runtime
from tuneop.core.clock import SYSTEM_CLOCK, Clock, FrozenClock
from tuneop.core.planning.planner import Plan

LOG = logging.getLogger("test")
JOBS = Resource("batch", "v1", "jobs", kind="Job", namespaced=True, verbs=["list", "watch"])
SESSIONS_RESOURCE = Resource(
    "tuneop.dev", "v1alpha1", "tuningsessions", kind="TuningSession", namespaced=True
)


def manifest(name: str = "demo", **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "objective": {"metric": "loss"},
        "searchSpace": [{"name": "x", "type": "int", "min": 0, "max": 3}],
        "optimizer": {"type": "grid"},
        "maxParallel": 2,
        "runner": {"image": "example/runner:1"},
    }
    body.update(spec)
    return session_doc(name, body, namespace="ns", uid=f"uid-{name}", generation=1)


class Cluster:
    """A fake API server with one operator runtime over it."""

    def __init__(
        self,
        results_dir: Path | None = None,
        api: FakeApi | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.api = api or FakeApi()
        self.runtime = build_runtime(
            OperatorConfig(results_dir=results_dir), kube=fake_kube(self.api), clock=clock
        )
        self.memo = kopf.Memo(runtime=self.runtime)

    def restarted(self, clock: Clock) -> Cluster:
        """A new operator process over the same API server; it sees every session first
        (kopf's listing feeds the index hooks before any handler runs)."""
        new = Cluster(api=self.api, clock=clock)
        for _, name in list(self.api.sessions):
            handlers.session_seen(body=new.body(name), memo=new.memo)
        for _, name in list(self.api.jobs):
            handlers.job_seen(body=copy.deepcopy(self.api.jobs["ns", name]), memo=new.memo)
        return new

    def best_writes(self) -> Yielding:
        """The best ConfigMap's yielding writes (the operator's thread is not started here)."""
        mirrors = self.runtime.wired.reconciler.mirrors
        best = next(m for m in mirrors if isinstance(m, BestConfigMap))
        assert best.yielding is not None
        return best.yielding

    def apply(self, doc: dict[str, Any]) -> dict[str, Any]:
        return self.api.add_session(doc)

    def body(self, name: str = "demo") -> dict[str, Any]:
        return copy.deepcopy(self.api.sessions["ns", name])

    def status(self, name: str = "demo") -> dict[str, Any]:
        return dict(self.api.sessions["ns", name].get("status") or {})

    def reconcile(self, name: str = "demo") -> Plan | None:
        return asyncio.run(self.runtime.schedule.reconcile_session(self.body(name), LOG))

    def finish(self, job: str, **kw: Any) -> None:
        """The Job ends, and the operator's watch sees it (no handler runs)."""
        self.api.finish("ns", job, **kw)
        handlers.job_seen(body=copy.deepcopy(self.api.jobs["ns", job]), memo=self.memo)

    def job_event(self, job: str, kind: str = "MODIFIED") -> None:
        """What kopf does with a Job's event: the index hook first, then the handler."""
        body = copy.deepcopy(self.api.jobs["ns", job])
        asyncio.run(self.deliver({"type": kind, "object": body}))

    async def deliver(self, event: dict[str, Any]) -> None:
        body = event["object"]
        if event["type"] != "DELETED":
            handlers.job_seen(body=body, memo=self.memo)
        await handlers.job_event(event=event, body=body, memo=self.memo, logger=LOG)


def test_a_session_runs_to_succeeded_on_job_events() -> None:
    c = Cluster()
    c.apply(manifest())
    c.reconcile()
    assert sorted(n for _, n in c.api.jobs) == ["demo-0", "demo-1"]
    assert c.status()["phase"] == "Running"
    for _ in range(10):
        if c.status()["phase"] == "Succeeded":
            break
        for _, name in list(c.api.jobs):
            c.api.finish("ns", name)
            c.job_event(name)
    st = c.status()
    assert st["phase"] == "Succeeded" and st["trials"]["succeeded"] == 4
    assert st["best"]["trial"] == 0 and [e["trial"] for e in st["leaderboard"]] == [0, 1, 2, 3]
    assert c.api.jobs == {}  # harvested, then deleted
    assert json.loads(c.api.configmaps["ns", "demo-best"]["data"]["params.json"]) == {"x": 0}
    reasons = [e["reason"] for e in c.api.events]
    assert "NewBest" in reasons and reasons[-1] == "Succeeded"
    assert SESSIONS.labels(phase="Succeeded")._value.get() >= 1


WRITES = ("POST", "PUT", "PATCH", "DELETE")


def writes(api: FakeApi, since: int) -> list[str]:
    """The writes the API server got from the ``since``-th request on: method, resource."""
    out = []
    for r in api.requests[since:]:
        if r.method in WRITES:
            parts = r.path.split("/")
            resource = parts[parts.index("namespaces") + 2]
            out.append(f"{r.method} {resource}" + ("/status" if parts[-1] == "status" else ""))
    return out


def test_after_a_restart_the_next_job_is_created_before_the_best_configmap() -> None:
    c = Cluster()
    c.apply(manifest(maxParallel=1))
    c.reconcile()
    c.api.finish("ns", "demo-0")  # while no operator runs
    clock = FrozenClock()
    new = c.restarted(clock)
    since = len(c.api.requests)
    new.reconcile()
    assert writes(c.api, since) == ["PATCH tuningsessions/status", "DELETE jobs", "POST jobs"]
    assert new.best_writes().pending() == ["ns/demo"]
    clock.advance(1.0)
    assert new.best_writes().run_due() == 1
    assert writes(c.api, since)[3:] == ["POST configmaps"]
    assert json.loads(c.api.configmaps["ns", "demo-best"]["data"]["params.json"]) == {"x": 0}


def test_after_a_restart_a_session_whose_jobs_still_run_gets_no_write() -> None:
    c = Cluster()
    c.apply(manifest(maxParallel=2))
    c.reconcile()
    c.api.finish("ns", "demo-0")
    c.job_event("demo-0")  # harvested, a best; the next Job's status write left to the next
    c.reconcile()  # ... which writes it
    c.runtime.close()  # stopped: its best ConfigMap written
    assert ("ns", "demo-best") in c.api.configmaps
    clock = FrozenClock()
    new = c.restarted(clock)
    since = len(c.api.requests)
    new.reconcile()
    clock.advance(60.0)
    new.best_writes().run_due()
    assert writes(c.api, since) == []  # no status, no Event, no ConfigMap


def test_results_go_to_the_results_dir_when_set(tmp_path: Path) -> None:
    c = Cluster(results_dir=tmp_path)
    c.apply(manifest(maxParallel=4))
    c.reconcile()
    for _, name in list(c.api.jobs):
        c.finish(name)
    c.reconcile()
    trials = sorted(p.name for p in (tmp_path / "ns" / "demo" / "trials").iterdir())
    assert trials == [f"trial-{i:06d}.json" for i in range(4)]
    assert isinstance(c.runtime.wired.reconciler.store, FolderStore)


def test_without_a_results_dir_the_history_is_kept_in_memory() -> None:
    c = Cluster()
    assert isinstance(c.runtime.wired.reconciler.store, MemoryHistory)


def test_an_invalid_spec_is_recorded_and_never_raised() -> None:
    c = Cluster()
    c.apply(manifest(maxParallel=0))
    assert c.reconcile() is None
    st = c.status()
    assert st["phase"] == "Failed" and st["exitCode"] == 2
    failed = next(x for x in st["conditions"] if x["type"] == "Failed")
    assert failed["reason"] == "InvalidSpec" and "maxParallel" in failed["message"]
    assert c.api.names("create_namespaced_job") == []
    assert [e["reason"] for e in c.api.events] == ["InvalidSpec"]
    c.reconcile()  # again: no new event, no error
    assert [e["reason"] for e in c.api.events] == ["InvalidSpec"]


@pytest.mark.parametrize(
    ("source", "words"),
    [
        ({"results": "tuneop-results/earlier"}, "spec.warmStart.from.results: a results folder"),
        ({"session": "ns/earlier"}, "spec.warmStart.from.session: the operator reads earlier"),
    ],
    ids=["folder-on-a-cluster", "session-without-redis"],
)
def test_a_warm_start_the_operator_cannot_read_fails_the_session_naming_the_field(
    source: dict[str, str], words: str
) -> None:
    c = Cluster()  # no Redis
    space = [{"name": "x", "type": "float", "min": 0, "max": 3}]
    opt = {"type": "bayesian"}
    c.apply(manifest(searchSpace=space, optimizer=opt, totalTrials=4, warmStart={"from": source}))
    assert c.reconcile() is None
    st = c.status()
    failed = next(x for x in st["conditions"] if x["type"] == "Failed")
    assert st["phase"] == "Failed" and failed["reason"] == "InvalidSpec"
    assert failed["message"].startswith(words)
    assert c.api.names("create_namespaced_job") == []


def test_one_bad_session_does_not_block_another() -> None:
    c = Cluster()
    c.apply(manifest("bad", maxParallel=0))
    c.apply(manifest("good"))

    async def both() -> None:
        await asyncio.gather(
            c.runtime.schedule.reconcile_session(c.body("bad"), LOG),
            c.runtime.schedule.reconcile_session(c.body("good"), LOG),
        )

    asyncio.run(both())
    assert c.status("bad")["phase"] == "Failed"
    assert c.status("good")["phase"] == "Running"


def test_transient_api_errors_become_temporary_errors() -> None:
    c = Cluster()
    c.apply(manifest())
    c.api.fail_next("create_namespaced_job", http_error(503))
    with pytest.raises(kopf.TemporaryError) as info:
        c.reconcile()
    assert info.value.delay == scheduling.TRANSIENT_DELAY
    assert "status" not in c.api.sessions["ns", "demo"]  # nothing recorded half-way
    c.reconcile()
    assert c.status()["phase"] == "Running"
    assert sorted(c.api.names("create_namespaced_job")) == ["demo-0", "demo-0", "demo-1"]


def test_a_rejected_request_becomes_a_permanent_error() -> None:
    c = Cluster()
    c.apply(manifest())
    c.api.fail_next("create_namespaced_job", http_error(422, "spec.template: Invalid value"))
    with pytest.raises(kopf.PermanentError, match="Invalid value"):
        c.reconcile()


def test_an_unexpected_error_is_retried_later_not_fatal(monkeypatch: pytest.MonkeyPatch) -> None:
    c = Cluster()
    c.apply(manifest())

    def broken(*_: Any, **__: Any) -> Plan:
        raise KeyError("a bug")

    monkeypatch.setattr(c.runtime.wired.reconciler, "reconcile", broken)
    with pytest.raises(kopf.TemporaryError) as info:
        c.reconcile()
    assert info.value.delay == scheduling.UNEXPECTED_DELAY


def test_a_status_conflict_is_retried_inside_the_reconcile() -> None:
    c = Cluster()
    c.apply(manifest())
    c.api.fail_next("patch_session_status", http_error(409))
    plan = c.reconcile()
    assert plan is not None and c.status()["phase"] == "Running"
    assert sorted(n for _, n in c.api.jobs) == ["demo-0", "demo-1"]


def test_a_gone_or_deleting_session_is_left_alone() -> None:
    c = Cluster()
    assert asyncio.run(c.runtime.schedule.reconcile_session(manifest(), LOG)) is None
    doc = manifest()
    doc["metadata"]["deletionTimestamp"] = "2026-01-01T12:00:00Z"
    c.apply(doc)
    assert c.reconcile() is None
    assert c.api.names("create_namespaced_job") == []


def test_the_timer_skips_a_settled_session_it_just_reconciled() -> None:
    c = Cluster()
    c.apply(manifest(maxParallel=4))
    c.reconcile()
    for _, name in list(c.api.jobs):
        c.finish(name)
    c.reconcile()
    assert c.status()["phase"] == "Succeeded"
    runs = c.runtime.schedule.serial.runs
    asyncio.run(handlers.session_timer(body=c.body(), memo=c.memo, logger=LOG))
    assert c.runtime.schedule.serial.runs == runs
    c.runtime.schedule.last_reconciled.clear()  # long ago: look again
    asyncio.run(handlers.session_timer(body=c.body(), memo=c.memo, logger=LOG))
    assert c.runtime.schedule.serial.runs == runs + 1


def test_the_timer_reconciles_a_running_session() -> None:
    c = Cluster()
    c.apply(manifest())
    c.reconcile()
    runs = c.runtime.schedule.serial.runs
    asyncio.run(handlers.session_timer(body=c.body(), memo=c.memo, logger=LOG))
    assert c.runtime.schedule.serial.runs == runs + 1


def test_only_finished_or_deleted_jobs_trigger_a_reconcile() -> None:
    c = Cluster()
    c.apply(manifest())
    c.reconcile()
    calls = len(c.api.calls)
    c.job_event("demo-0", "MODIFIED")  # still running
    assert len(c.api.calls) == calls
    body = copy.deepcopy(c.api.jobs["ns", "demo-0"])
    c.api.remove_job("ns", "demo-0")  # someone deletes it before harvest
    event = {"type": "DELETED", "object": body}
    asyncio.run(handlers.job_event(event=event, body=body, memo=c.memo, logger=LOG))
    assert len(c.api.calls) > calls
    assert c.status()["trials"]["lost"] == 1  # deleted before harvest: ResultsLost


def test_a_burst_of_job_events_costs_at_most_two_reconciles() -> None:
    c = Cluster()
    c.apply(manifest(maxParallel=4))
    c.reconcile()
    for _, name in list(c.api.jobs):
        c.api.finish("ns", name)
    runs = c.runtime.schedule.serial.runs

    async def burst() -> None:
        tasks = []
        for _, name in list(c.api.jobs):
            body = copy.deepcopy(c.api.jobs["ns", name])
            tasks.append(c.deliver({"type": "MODIFIED", "object": body}))
        await asyncio.gather(*tasks)

    asyncio.run(burst())
    assert c.runtime.schedule.serial.runs - runs <= 2
    assert c.status()["phase"] == "Succeeded"


def test_job_event_errors_are_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    c = Cluster()
    c.apply(manifest())
    c.reconcile()
    c.api.finish("ns", "demo-0")
    c.api.fail_next("patch_session_status", http_error(500))
    c.job_event("demo-0")
    assert "after a Job event failed" in caplog.text


def test_the_owning_session_comes_from_the_controller_reference() -> None:
    job = {
        "metadata": {
            "namespace": "ns",
            "labels": {"tuneop.dev/session": "cut-label"},
            "ownerReferences": [
                {"kind": "Deployment", "name": "x", "controller": False},
                {"kind": "TuningSession", "name": "a-very-long-name", "controller": True},
            ],
        }
    }
    owner_of = Cluster().runtime.wired.owner_of
    assert owner_of(job) == ("ns", "a-very-long-name")
    del job["metadata"]["ownerReferences"]
    assert owner_of(job) == ("ns", "cut-label")


def test_a_deleted_session_is_forgotten() -> None:
    c = Cluster()
    c.apply(manifest())
    c.reconcile()
    assert "ns/demo" in c.runtime.schedule.last_reconciled
    event = {"type": "DELETED", "object": c.body()}
    asyncio.run(handlers.session_event(event=event, memo=c.memo))
    assert "ns/demo" not in c.runtime.schedule.last_reconciled
    assert "ns/demo" not in c.runtime.phases._phases


def test_startup_sets_storage_peering_posting_and_the_job_selector() -> None:
    settings = kopf.OperatorSettings()
    memo = kopf.Memo(runtime=object())
    asyncio.run(handlers.startup(settings=settings, memo=memo))
    progress = settings.persistence.progress_storage
    diffbase = settings.persistence.diffbase_storage
    assert isinstance(progress, kopf.AnnotationsProgressStorage) and progress.prefix == "tuneop.dev"
    assert isinstance(diffbase, kopf.AnnotationsDiffBaseStorage) and diffbase.prefix == "tuneop.dev"
    assert settings.persistence.finalizer == "tuneop.dev/finalizer"
    assert settings.peering.standalone is True
    assert settings.posting.enabled is False
    assert settings.watching.label_selectors.collect(JOBS) == [
        "app.kubernetes.io/managed-by=tuneop"
    ]
    assert settings.watching.label_selectors.collect(SESSIONS_RESOURCE) == []


@pytest.mark.parametrize(
    ("config", "scanning_off"),
    [
        (OperatorConfig(namespaces=("team-a", "team-b")), True),
        (OperatorConfig(all_namespaces=True), False),
        (OperatorConfig(namespaces=("team-*",)), False),  # a kopf glob needs the listing
    ],
)
def test_fixed_namespaces_need_no_cluster_scanning(
    config: OperatorConfig, scanning_off: bool
) -> None:
    # A Role-per-namespace install cannot list namespaces: kopf would retry that for a minute.
    settings = kopf.OperatorSettings()
    memo = kopf.Memo(runtime=object(), config=config)
    asyncio.run(handlers.startup(settings=settings, memo=memo))
    assert settings.scanning.disabled is scanning_off


def test_kopf_keeps_no_state_and_no_finalizer_on_jobs() -> None:
    registry = handlers.registry
    # Only change-detecting handlers store state, and they and timers add finalizers.
    assert not registry._changing.has_handlers(resource=JOBS)
    assert not registry._spawning.has_handlers(resource=JOBS)
    assert registry._watching.has_handlers(resource=JOBS)
    (watcher,) = [h for h in registry._watching.get_all_handlers() if h.selector.check(JOBS)]
    assert watcher.labels == {"app.kubernetes.io/managed-by": "tuneop"}
    assert registry._changing.has_handlers(resource=SESSIONS_RESOURCE)
    assert registry._spawning.has_handlers(resource=SESSIONS_RESOURCE)  # the timer


def test_login_uses_the_runtime_client_settings() -> None:
    from kubernetes import client

    cfg = client.Configuration()
    cfg.host = "https://10.0.0.1:6443"
    cfg.api_key = {"authorization": "Bearer t0ken"}
    cfg.ssl_ca_cert = "/ca.crt"

    rt = Runtime.__new__(Runtime)
    rt.wired = OperatorLoop.__new__(OperatorLoop)
    rt.wired.client_configuration = cfg
    info = handlers.login(memo=kopf.Memo(runtime=rt))
    assert (info.server, info.scheme, info.token, info.ca_path) == (
        "https://10.0.0.1:6443",
        "Bearer",
        "t0ken",
        "/ca.crt",
    )


@pytest.mark.parametrize(
    ("deadline", "scheduled"), [(5, True), (3600, False)], ids=["due_soon", "due_late"]
)
def test_a_deadline_due_before_the_timer_gets_its_own_reconcile(
    deadline: int, scheduled: bool
) -> None:
    cluster = Cluster()
    cluster.apply(manifest(deadlineSeconds=deadline))

    async def scenario() -> tuple[bool, bool]:
        await cluster.runtime.schedule.reconcile_session(cluster.body(), LOG)
        handle = cluster.runtime.schedule.requeues.get("ns/demo")
        when = handle.when() - asyncio.get_running_loop().time() if handle else None
        if handle is not None:
            handle.cancel()
        return handle is not None, when is not None and 4 < when <= deadline + 0.5

    assert asyncio.run(scenario()) == (scheduled, scheduled)


def test_the_operators_own_cleanup_of_a_job_triggers_no_reconcile() -> None:
    c = Cluster()
    c.apply(manifest(maxParallel=1))
    c.reconcile()
    c.finish("demo-0")
    harvested = copy.deepcopy(c.api.jobs["ns", "demo-0"])
    c.job_event("demo-0")  # harvested, deleted, the next Job created
    assert ("ns", "demo-0") not in c.api.jobs
    runs = c.runtime.schedule.serial.runs
    asyncio.run(c.deliver({"type": "DELETED", "object": harvested}))
    assert c.runtime.schedule.serial.runs == runs


def test_a_reconcile_on_a_job_event_reads_nothing_it_has_seen() -> None:
    c = Cluster()
    c.apply(manifest(maxParallel=1))
    c.reconcile()
    handlers.session_seen(body=c.body(), memo=c.memo)  # the watch shows our status write
    before = dict(Counter(m for m, _ in c.api.calls))
    c.finish("demo-0")
    c.job_event("demo-0")
    after = Counter(m for m, _ in c.api.calls)
    new = {m: n - before.get(m, 0) for m, n in after.items() if n > before.get(m, 0)}
    # The harvest (pod list, log) and the writes; no GET of the session, no Job LIST.
    assert new.keys() <= {
        "list_namespaced_pod",
        "read_namespaced_pod_log",
        "patch_session_status",
        "create_namespaced_job",
        "delete_namespaced_job",
        "create_namespaced_event",
        "read_namespaced_config_map",
        "create_namespaced_config_map",
    }, new


def test_the_operator_loads_optuna_only_for_a_bayesian_session() -> None:
    code = "import sys, tuneop.controller.handlers, tuneop.cli; print('optuna' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_a_session_whose_status_cannot_be_read_launches_nothing_and_says_why() -> None:
    c = Cluster()
    c.apply(manifest(maxParallel=4))
    c.api.sessions["ns", "demo"]["status"] = {"phase": "Running", "harvestedJobs": "4-x"}
    with pytest.raises(kopf.PermanentError, match=r"status\.harvestedJobs"):
        c.reconcile()
    assert c.api.jobs == {}
    assert c.status()["harvestedJobs"] == "4-x"  # the ledger is left for a person to fix
    assert c.status()["conditions"][0]["reason"] == "StatusUnreadable"
