"""The operator's long-lived state: its settings, its clients and its per-session memory.

``OperatorConfig`` is what ``tuneop operator`` was started with.
``build_runtime`` turns it into a ``Runtime`` once, at kopf's startup: one
``ApiClient`` and write limiter shared by the Kubernetes adapters, the
result sinks, the ``Reconciler`` over them, the ``Coalescer`` that
serializes reconciles per session, and the metrics' phase tracker. The kopf
handlers find it in kopf's ``memo``, and feed the session versions and the
Job cache the watches bring; ``Runtime.close`` releases it at cleanup.

The result store (where results become durable, and the bayesian history
comes from; ``tuneop.controller.stores``) is the results folder when
``--results-dir`` is set, else Redis when ``--redis-url`` is, else an
in-memory history. The mirrors are the folder's ``session.json`` (with a folder), the
``<session>-best`` ConfigMap and, when ``--redis-url`` is set, the Redis
mirror (it backfills from the result store).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import redis

from tuneop.adapters.kube.best import BestConfigMap
from tuneop.adapters.kube.client import Kube, load_configuration, serves
from tuneop.adapters.kube.events import KubeEvents
from tuneop.adapters.kube.job_cache import JobCache
from tuneop.adapters.kube.jobs import KubeJobs
from tuneop.adapters.kube.pod_cache import PodCache
from tuneop.adapters.kube.ratelimit import DEFAULT_BURST, DEFAULT_QPS, TokenBucket
from tuneop.adapters.kube.status import KubeStatus
from tuneop.adapters.local.folder import DirectoryResults
from tuneop.adapters.memory import MemoryHistory
from tuneop.adapters.redis_mirror import (
    DEFAULT_TTL_SECONDS,
    NoRedisWarmStart,
    RedisMirror,
    RedisWarmStart,
)
from tuneop.api.session import SessionRef
from tuneop.api.spec import API_GROUP, API_VERSION, PLURAL
from tuneop.controller.metrics import REDIS_UP, PhaseTracker
from tuneop.controller.scheduling import Coalescer
from tuneop.controller.stores import FolderStore, RedisStore
from tuneop.core.suggest.bayesian import CachedSuggester
from tuneop.ports import Mirror, ResultStore, WarmStartSource
from tuneop.reconciler import Reconciler

__all__ = [
    "DEFAULT_LIVENESS",
    "DEFAULT_METRICS_PORT",
    "SERVED",
    "OperatorConfig",
    "Runtime",
    "build_runtime",
    "utcnow",
]

log = logging.getLogger(__name__)

DEFAULT_METRICS_PORT = 9090
DEFAULT_LIVENESS = "http://0.0.0.0:8081/healthz"


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class OperatorConfig:
    namespaces: tuple[str, ...] = ()
    all_namespaces: bool = False
    results_dir: Path | None = None
    redis_url: str | None = None
    redis_prefix: str = "tuneop"
    redis_ttl: int | None = None
    api_qps: float = DEFAULT_QPS
    api_burst: int = DEFAULT_BURST
    liveness: str | None = DEFAULT_LIVENESS
    # How long startup waits for the API server to serve its resources before giving up.
    startup_timeout: float = 300.0
    metrics_port: int = DEFAULT_METRICS_PORT
    log_format: str = "text"
    kubeconfig: str | None = None
    # A finished session is re-checked this rarely (Jobs left behind by a failed delete).
    settled_recheck_seconds: float = 600.0


@dataclass
class Runtime:
    config: OperatorConfig
    reconciler: Reconciler
    # Read a session's whole object by name (None when gone): Job events know only the name.
    fetch: Callable[[SessionRef], dict[str, Any] | None]
    # A version of a session from the watch, for the status store to read from.
    observe_session: Callable[[dict[str, Any]], None] = lambda obj: None
    # The worker Jobs the watch shows, for the Job backend to list from.
    job_cache: JobCache = field(default_factory=JobCache)
    # The worker pods the watch shows, for the harvest to find a finished Job's pods in.
    pod_cache: PodCache = field(default_factory=PodCache)
    # Drop what the adapters remember about a session once it is deleted.
    forgetters: Sequence[Callable[[str], None]] = ()
    closers: Sequence[Callable[[], None]] = ()
    # The kubernetes client's settings, for kopf's own login (None in unit tests).
    client_configuration: Any = None
    # Whether the API server serves TuningSessions and Jobs (discovery), checked at startup.
    ready: Callable[[], bool] = lambda: True
    serial: Coalescer = field(default_factory=Coalescer)
    phases: PhaseTracker = field(default_factory=PhaseTracker)
    monotonic: Callable[[], float] = time.monotonic
    last_reconciled: dict[str, float] = field(default_factory=dict)
    # Reconciles scheduled for when something comes due (a session deadline).
    requeues: dict[str, asyncio.TimerHandle] = field(default_factory=dict)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def background(self, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` as a task kept alive until it ends (asyncio keeps weak references)."""
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def forget(self, key: str) -> None:
        """Drop what is remembered about a deleted session."""
        for forget in self.forgetters:
            forget(key)
        handle = self.requeues.pop(key, None)
        if handle is not None:
            handle.cancel()
        self.phases.forget(key)
        self.last_reconciled.pop(key, None)

    def close(self) -> None:
        for close in self.closers:
            close()


# The resources the operator watches; kopf cannot serve one the API server does not list.
SERVED = ((API_GROUP, API_VERSION, PLURAL), ("batch", "v1", "jobs"))


def build_runtime(config: OperatorConfig, kube: Kube | None = None) -> Runtime:
    """Everything the handlers need, built once; ``kube`` is injected by tests."""
    if kube is None:
        from kubernetes import client

        limiter = TokenBucket(qps=config.api_qps, burst=config.api_burst)
        kube = Kube(client.ApiClient(load_configuration(config.kubeconfig)), limiter)
    job_cache = JobCache()
    pod_cache = PodCache()
    jobs = KubeJobs(kube, cache=job_cache, pods=pod_cache)
    statuses = KubeStatus(kube)
    events = KubeEvents(kube)
    best = BestConfigMap(kube)
    forgetters = [statuses.forget, best.forget, job_cache.forget, jobs.forget, events.forget]
    store: ResultStore
    mirrors: list[Mirror] = [best]
    closers = [kube.close]
    history = MemoryHistory()
    warm_start: WarmStartSource = NoRedisWarmStart()
    if config.results_dir is not None:
        folder = DirectoryResults(config.results_dir, nested=True)
        store = FolderStore(folder)
        mirrors.append(folder)  # session.json beside the trials
    else:
        store = history
        forgetters.append(history.forget)
    if config.redis_url:
        mirror = _redis_mirror(config, store)
        if config.results_dir is None:
            # No folder: Redis is where results become durable (see controller.stores).
            mirror.mirror_results = False
            store = RedisStore(mirror, history)
        mirrors.append(mirror)
        closers.append(mirror.close)
        warm_start = RedisWarmStart(mirror.client, config.redis_prefix)
        if mirror.ttl_seconds > 0:
            # Retention 0 keeps a session's keys, also after the session is deleted.
            forgetters.append(lambda key: _forget_in_redis(mirror, key))
    reconciler = Reconciler(
        jobs=jobs,
        statuses=statuses,
        store=store,
        mirrors=mirrors,
        events=events,
        clock=utcnow,
        suggest=CachedSuggester(),
        warm_start=warm_start,
    )
    return Runtime(
        config=config,
        reconciler=reconciler,
        fetch=statuses.fetch,
        observe_session=statuses.observe,
        job_cache=job_cache,
        pod_cache=pod_cache,
        forgetters=forgetters,
        closers=closers,
        client_configuration=getattr(kube.api, "configuration", None),
        ready=lambda: all(serves(kube, *resource) for resource in SERVED),
    )


def _redis_mirror(config: OperatorConfig, source: ResultStore) -> RedisMirror:
    assert config.redis_url is not None
    ttl = DEFAULT_TTL_SECONDS if config.redis_ttl is None else config.redis_ttl
    return RedisMirror.from_url(
        config.redis_url,
        prefix=config.redis_prefix,
        ttl_seconds=ttl,
        source=source.history,
        on_health=REDIS_UP.set,
    )


def _forget_in_redis(mirror: RedisMirror, key: str) -> None:
    namespace, _, name = key.partition("/")
    try:
        mirror.forget(SessionRef(namespace, name))
    except redis.RedisError as err:
        log.warning("%s: could not delete its Redis keys: %s", key, type(err).__name__)
