"""The operator's wiring: its settings, and the adapters built over them once, at startup.

``OperatorConfig`` is what ``tuneop operator`` was started with. ``operator_loop``
turns it into an ``OperatorLoop``: one ``Kube`` (ApiClient and write limiter) shared
by the Kubernetes adapters, the result store and the mirrors, and the ``Reconciler``
over them. The controller (``tuneop.controller.runtime``) keeps it for the kopf
handlers, which see only what is here: the reconciler, the reads and the watch
caches' doors, and what to forget and close.

The result store (where results become durable, and the bayesian history comes
from; ``tuneop.assembly.stores``) is the results folder when ``--results-dir`` is
set, else Redis when ``--redis-url`` is, else an in-memory history. The mirrors
are the folder's ``session.json`` (with a folder), the ``<session>-best``
ConfigMap, when ``--redis-url`` is set, the Redis mirror (it backfills from
the result store), and the MLflow tracker (``tuneop.assembly.tracking``: loaded
at the first session tracked in MLflow, by its spec or ``--mlflow-tracking-uri``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from tuneop.adapters.kube.best import BestConfigMap
from tuneop.adapters.kube.client import connect, serves
from tuneop.adapters.kube.events import KubeEvents
from tuneop.adapters.kube.job_cache import JobCache, session_of
from tuneop.adapters.kube.jobs import KubeJobs
from tuneop.adapters.kube.lease import KubeLease
from tuneop.adapters.kube.pod_cache import PodCache
from tuneop.adapters.kube.ratelimit import DEFAULT_BURST, DEFAULT_QPS, TokenBucket
from tuneop.adapters.kube.status import KubeStatus
from tuneop.adapters.kube.transport import Kube
from tuneop.adapters.kube.yielding import Yielding
from tuneop.adapters.memory import MemoryHistory
from tuneop.adapters.results_folder.folder import DirectoryResults
from tuneop.api.session import SessionRef
from tuneop.api.spec import API_GROUP, API_VERSION, PLURAL
from tuneop.assembly.stores import FolderStore
from tuneop.assembly.tracking import LazyTracker
from tuneop.core.clock import Clock
from tuneop.core.election import Election
from tuneop.core.planning.planner import HARVEST_BATCH
from tuneop.core.suggest.bayesian import SessionStudies
from tuneop.core.suggest.warmstart import NoRedisWarmStart
from tuneop.ports import Lease, Mirror, ResultStore, WarmStartSource
from tuneop.reconciler import Reconciler

if TYPE_CHECKING:  # the Redis client is imported only with --redis-url (start-up time)
    from tuneop.adapters.redis_mirror import RedisMirror

__all__ = [
    "DEFAULT_HARVEST_WINDOW",
    "DEFAULT_LIVENESS",
    "DEFAULT_METRICS_PORT",
    "SERVED",
    "STUDIES_KEPT",
    "STUDY_IDLE_SECONDS",
    "JobWatch",
    "OperatorConfig",
    "OperatorLoop",
    "PodWatch",
    "election_lease",
    "operator_loop",
    "optuna_storage_problem",
]

DEFAULT_METRICS_PORT = 9090
DEFAULT_LIVENESS = "http://0.0.0.0:8081/healthz"
DEFAULT_HARVEST_WINDOW = 0.5
# Bayesian studies kept in memory, at most, and how long an unasked one is kept: each holds
# its session's every trial, and a dropped one is rebuilt from the history when next asked.
STUDIES_KEPT = 16
STUDY_IDLE_SECONDS = 60.0

# The resources the operator watches; kopf cannot serve one the API server does not list.
SERVED = ((API_GROUP, API_VERSION, PLURAL), ("batch", "v1", "jobs"))


@dataclass(frozen=True)
class OperatorConfig:
    namespaces: tuple[str, ...] = ()
    all_namespaces: bool = False
    results_dir: Path | None = None
    redis_url: str | None = None
    redis_prefix: str = "tuneop"
    redis_ttl: int | None = None
    # An Optuna RDB storage each session's finished trials stream into (optuna-dashboard).
    optuna_storage: str | None = None
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
    # Leader election (``--leader-elect``); None: this process reconciles from the start.
    election: Election | None = None
    # The MLflow server of sessions that name none (``--mlflow-tracking-uri``); None: none.
    mlflow_tracking_uri: str | None = None
    # A Job finishing this soon after its session's last reconcile waits for the rest of
    # it, so the Jobs finishing together cost one status write and one delete.
    harvest_window: float = DEFAULT_HARVEST_WINDOW


class JobWatch(Protocol):
    """What the Job watch hands the operator's Job cache."""

    def seen(self, job: dict[str, Any]) -> None: ...

    def gone(self, job: dict[str, Any]) -> bool:
        """Forget a deleted Job; True when its deletion was the operator's own cleanup."""
        ...


class PodWatch(Protocol):
    """What the pod watch hands the operator's pod cache."""

    def seen(self, pod: dict[str, Any]) -> None: ...

    def gone(self, pod: dict[str, Any]) -> None: ...


def _always_ready() -> bool:
    """Unit tests' wiring, with no API server to ask."""
    return True


@dataclass
class OperatorLoop:
    """The reconciler and what the kopf handlers feed and ask, wired once."""

    reconciler: Reconciler
    # Read a session's whole object by name (None when gone): Job events know only the name.
    fetch: Callable[[SessionRef], dict[str, Any] | None]
    # A version of a session from the watch, for the status store to read from.
    observe_session: Callable[[dict[str, Any]], None] = lambda obj: None
    # The worker Jobs the watch shows, for the Job backend to list from.
    job_cache: JobWatch = field(default_factory=JobCache)
    # The worker pods the watch shows, for the harvest to find a finished Job's pods in.
    pod_cache: PodWatch = field(default_factory=PodCache)
    # The (namespace, name) of the session a Job belongs to, from its ownerReference.
    owner_of: Callable[[Mapping[str, Any]], tuple[str, str] | None] = session_of
    # Drop what the adapters remember about a session once it is deleted.
    forgetters: Sequence[Callable[[str], None]] = ()
    closers: Sequence[Callable[[], None]] = ()
    # Background work to start once kopf is up (the best ConfigMap's yielding writes).
    starters: Sequence[Callable[[], None]] = ()
    # The kubernetes client's settings, for kopf's own login (None in unit tests).
    client_configuration: Any = None
    # Whether the API server serves TuningSessions and Jobs (discovery), checked at startup.
    ready: Callable[[], bool] = _always_ready


@dataclass
class _Results:
    """The result store, the mirrors and the warm-start source, and their upkeep."""

    store: ResultStore
    mirrors: list[Mirror]
    warm_start: WarmStartSource
    forgetters: list[Callable[[str], None]]
    closers: list[Callable[[], None]]


def _results(
    config: OperatorConfig, clock: Clock, on_redis_health: Callable[[bool], None]
) -> _Results:
    """Decide which store is durable: the folder, else Redis, else memory (module doc)."""
    history = MemoryHistory()
    out = _Results(history, [], NoRedisWarmStart(), [], [])
    if config.results_dir is not None:
        folder = DirectoryResults(config.results_dir, nested=True)
        out.store = FolderStore(folder, clock=clock.now)
        out.mirrors.append(folder)  # session.json beside the trials
    else:
        out.forgetters.append(history.forget)
    if config.redis_url:
        from tuneop.adapters.redis_mirror import RedisWarmStart
        from tuneop.assembly.stores import RedisStore

        mirror = _redis_mirror(config, out.store, on_redis_health, clock)
        if config.results_dir is None:
            # No folder: Redis is where results become durable (see assembly.stores).
            mirror.mirror_results = False
            out.store = RedisStore(mirror, history)
        out.mirrors.append(mirror)
        out.closers.append(mirror.close)
        out.warm_start = RedisWarmStart(mirror.client, config.redis_prefix)
        if mirror.ttl_seconds > 0:
            # Retention 0 keeps a session's keys, also after the session is deleted.
            out.forgetters.append(mirror.forget_deleted)
    if config.optuna_storage:
        from tuneop.adapters.optuna_storage import OptunaStorageMirror

        # Caught up from the durable store: what a restart or an outage left unwritten.
        storage_mirror = OptunaStorageMirror(
            config.optuna_storage, source=out.store.history, monotonic=clock.monotonic
        )
        out.mirrors.append(storage_mirror)
        out.forgetters.append(storage_mirror.forget)
    return out


def optuna_storage_problem(url: str) -> str | None:
    """What is wrong with ``url`` as the operator's Optuna storage, or None."""
    from tuneop.adapters.optuna_storage import url_problem

    return url_problem(url)


def operator_loop(
    config: OperatorConfig,
    clock: Clock,
    kube: Kube | None = None,
    on_redis_health: Callable[[bool], None] = lambda up: None,
) -> OperatorLoop:
    """Everything the handlers need, built once; ``kube`` is injected by tests.
    Every part reads the time from ``clock``. ``on_redis_health`` is told whether Redis
    answers (the controller's gauge)."""
    if kube is None:
        limiter = TokenBucket(qps=config.api_qps, burst=config.api_burst, clock=clock.monotonic)
        kube = connect(config.kubeconfig, limiter)
    job_cache = JobCache(clock=clock.monotonic)
    pod_cache = PodCache()
    jobs = KubeJobs(kube, cache=job_cache, pods=pod_cache, clock=clock.now)
    statuses = KubeStatus(kube, clock=clock.now)
    events = KubeEvents(kube, clock=clock.now)
    # The ConfigMap copies the status: its writes wait for the reconciles' (a restart's
    # recovery is bounded by the write budget, and each copy made first delays a Job).
    best = BestConfigMap(kube, yielding=Yielding(kube.limiter, clock=clock.monotonic))
    results = _results(config, clock, on_redis_health)
    suggester = SessionStudies(
        max_sessions=STUDIES_KEPT, idle_seconds=STUDY_IDLE_SECONDS, monotonic=clock.monotonic
    )
    # MLflow: the trials get their runs and the Secret's credentials; backfilled from the store.
    tracker = LazyTracker(
        secrets=True, source=results.store.history, default_uri=config.mlflow_tracking_uri
    )
    reconciler = Reconciler(
        jobs=jobs,
        statuses=statuses,
        store=results.store,
        mirrors=[best, tracker, *results.mirrors],
        tracker=tracker,
        events=events,
        clock=clock,
        suggester=suggester,
        warm_start=results.warm_start,
        running_logs=jobs,  # early stopping reads running trials' output
        defer_launch_writes=True,  # each status write is an API request
        batch_harvests=True,  # and each harvest a write and a delete
        log_readers=HARVEST_BATCH,  # a round's log reads at once, not one request after another
    )

    def observe(obj: dict[str, Any]) -> None:
        # The events first: a session's first version seen is how it is known adopted.
        events.observe(obj)
        statuses.observe(obj)

    forgetters = [statuses.forget, best.forget, job_cache.forget, jobs.forget, events.forget]
    forgetters.append(tracker.forget)
    # A deleted session's study goes with it (kopf tells the forgetters its namespace/name).
    forgetters.append(lambda key: suggester.release(_named(key)))
    return OperatorLoop(
        reconciler=reconciler,
        fetch=statuses.fetch,
        observe_session=observe,
        job_cache=job_cache,
        pod_cache=pod_cache,
        forgetters=[*forgetters, *results.forgetters],
        starters=[best.start],
        closers=[best.close, kube.close, *results.closers],
        client_configuration=kube.configuration,
        ready=lambda: all(serves(kube, *resource) for resource in SERVED),
    )


def election_lease(kubeconfig: str | None, election: Election) -> Lease:
    """The leader election's Lease over a connection and a limiter of its own: a renewal
    never queues behind the reconciles' requests or their write budget (it is one small
    write every retry period)."""
    kube = connect(kubeconfig, TokenBucket(qps=50, burst=50))
    return KubeLease(kube, election.namespace, election.name)


def _named(key: str) -> SessionRef:
    """The session a ``namespace/name`` key names, whichever object (uid) it is."""
    namespace, _, name = key.partition("/")
    return SessionRef(namespace, name)


def _redis_mirror(
    config: OperatorConfig, source: ResultStore, on_health: Callable[[bool], None], clock: Clock
) -> RedisMirror:
    from tuneop.adapters.redis_mirror import DEFAULT_TTL_SECONDS, RedisMirror

    assert config.redis_url is not None
    ttl = DEFAULT_TTL_SECONDS if config.redis_ttl is None else config.redis_ttl
    return RedisMirror.from_url(
        config.redis_url,
        prefix=config.redis_prefix,
        ttl_seconds=ttl,
        source=source.history,
        on_health=on_health,
        clock=clock.now,
        monotonic=clock.monotonic,
    )
