"""kopf handlers: thin adapters from kopf's triggers to one reconcile of a session.

Triggers, all ending in ``reconcile_session`` (or ``reconcile_named`` when
only the session's name is known):

- a TuningSession is created, resumed (operator start) or updated (its spec,
  labels or annotations; status writes do not count);
- a slow timer (every ``TIMER_SECONDS``) per session: a safety net for
  missed events and the session deadline; finished sessions are re-checked
  only every ``settled_recheck_seconds``;
- an event of a worker Job (server-side label selector
  ``app.kubernetes.io/managed-by=tuneop``) that finished or was deleted, or
  that Kueue admitted or suspended again: the owning session is found from the
  Job's controller ownerReference.

Three silent hooks keep the runtime's memory of what the watches show, so a
reconcile reads nothing it already knows: ``session_seen`` hands every
version of a session to ``KubeStatus`` (no GET before a status write),
``job_seen`` every version of a worker Job to the ``JobCache`` (no Job LIST
per reconcile) and ``pod_seen`` every version of a worker pod (same label
selector) to the ``PodCache`` (no pod LIST per harvest). They are kopf
*index* handlers because kopf calls those for every event, before any other
handler, without logging each call, and holds the other handlers until the
initial listing has been indexed; they return nothing, so kopf itself keeps
no index. A Job's deletion reaches the cache through ``job_event``, which
also skips the reconcile when the deletion was the operator's own cleanup
after harvest; a pod's through ``pod_gone``.

Reconciles of one session are serialized and bursts coalesced by the
runtime's ``Scheduler`` (its ``Coalescer``); the blocking ``kubernetes``
client calls run in a worker thread (``asyncio.to_thread``) so the event
loop stays responsive.
The status is written by the reconciler itself (with the resourceVersion),
never through handler return values.

Errors never take the operator down, and one session never blocks another:
an invalid spec is recorded on the session (phase Failed, InvalidSpec) and
the handler returns normally; a ``TransientError`` becomes
``kopf.TemporaryError`` (kopf retries after ``TRANSIENT_DELAY``); a request
the API server rejects as invalid becomes ``kopf.PermanentError`` (no retry
until the session changes; the timer still looks again); anything else is
logged with its traceback and retried after ``UNEXPECTED_DELAY``.

kopf itself only writes to sessions: its progress and diff-base annotations
(prefix ``tuneop.dev``) and, for the timer, a finalizer. Jobs are only
watched (an ``on.event`` handler stores no state and adds no finalizer), so
a Job event never waits on kopf's consistency check of its own patches.
kopf's own Event posting is off: every API write goes through the
operator's rate limiter.
"""

from __future__ import annotations

import asyncio
import copy
import logging
from collections.abc import Coroutine, Mapping
from typing import Any

import kopf

from tuneop.api.spec import API_GROUP, API_VERSION, PLURAL
from tuneop.api.vocabulary import LABEL_MANAGED_BY, LABEL_QUEUE_NAME, MANAGED_BY
from tuneop.controller.prestart import Prestart
from tuneop.controller.runtime import OperatorConfig, Runtime, build_runtime
from tuneop.controller.scheduling import TIMER_SECONDS, plain, session_ref, settled

__all__ = [
    "FINALIZER",
    "JOB_LABELS",
    "PREFIX",
    "admission_changed",
    "cleanup",
    "configure",
    "exact_namespaces",
    "job_event",
    "job_event_matters",
    "job_seen",
    "login",
    "pod_gone",
    "pod_seen",
    "serve",
    "session_changed",
    "session_event",
    "session_seen",
    "session_timer",
    "startup",
]

log = logging.getLogger(__name__)

registry = kopf.OperatorRegistry()

PREFIX = "tuneop.dev"
FINALIZER = "tuneop.dev/finalizer"
JOB_LABELS = {LABEL_MANAGED_BY: MANAGED_BY}


def job_event_matters(event_type: str | None, job: Mapping[str, Any]) -> bool:
    """Only a finished or deleted Job can change a plan; starts and pod churn cannot.

    Nor can they change the status, except for a Job queued for Kueue being admitted
    (or suspended again): its trials move between queued and running.
    """
    if event_type == "DELETED":
        return True
    conditions = (job.get("status") or {}).get("conditions") or []
    return admission_changed(job) or any(
        c.get("type") in {"Complete", "Failed"} and c.get("status") == "True" for c in conditions
    )


def admission_changed(job: Mapping[str, Any]) -> bool:
    """A Job of a queue whose ``suspend`` Kueue just flipped.

    Kueue admits a Job by setting ``spec.suspend`` false and suspends it again to
    preempt it; the Job controller then brings its ``Suspended`` condition in line.
    The one event between the two, where they disagree, marks the change (and a Job
    just created suspended, before the controller's condition, costs one reconcile).
    """
    if LABEL_QUEUE_NAME not in ((job.get("metadata") or {}).get("labels") or {}):
        return False
    suspended = (job.get("spec") or {}).get("suspend") is True
    conditions = (job.get("status") or {}).get("conditions") or []
    held = any(c.get("type") == "Suspended" and c.get("status") == "True" for c in conditions)
    return suspended != held


# --- kopf wiring ---


def exact_namespaces(config: OperatorConfig) -> bool:
    """Whether the operator serves a fixed list of namespaces (no kopf glob patterns)."""
    return not config.all_namespaces and not any(
        mark in namespace for namespace in config.namespaces for mark in "*?!,"
    )


def configure(settings: kopf.OperatorSettings, config: OperatorConfig | None = None) -> None:
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=PREFIX)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=PREFIX, key="last-handled-configuration"
    )
    settings.persistence.finalizer = FINALIZER
    # No kopf peering: with several replicas, the Lease elects the one that runs kopf.
    settings.peering.standalone = True
    settings.peering.mandatory = False
    settings.posting.enabled = False  # our Events go through the rate limiter instead
    settings.watching.label_selectors["batch", "v1", "jobs"] = f"{LABEL_MANAGED_BY}={MANAGED_BY}"
    settings.watching.label_selectors["", "v1", "pods"] = f"{LABEL_MANAGED_BY}={MANAGED_BY}"
    if config is not None and exact_namespaces(config):
        # A fixed list of namespaces needs no cluster scanning. Left on, kopf lists and
        # watches all namespaces first, which a namespaced install (a Role per namespace,
        # no cluster-wide namespace access) may not do: kopf retries the forbidden list for
        # about a minute before it serves anything. Off, the TuningSession CRD must exist
        # when the operator starts (kopf no longer follows CRD changes).
        settings.scanning.disabled = True


@kopf.on.startup(registry=registry)
async def startup(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    configure(settings, getattr(memo, "config", None))
    if getattr(memo, "runtime", None) is None:  # tests may provide one
        config: OperatorConfig = memo.config
        early: Prestart | None = getattr(memo, "prestart", None)
        memo.prestart = None  # used once: a retry of this handler builds anew
        served = False
        if early is None:
            memo.runtime = await asyncio.to_thread(build_runtime, config)
        else:  # built while kopf was importing; asked the API server then, too
            memo.runtime = Runtime(config, early.wired(), clock=early.clock)
            served = await asyncio.to_thread(early.served)
        if not served:
            await wait_until_served(memo.runtime, config.startup_timeout)
        memo.runtime.start()


async def wait_until_served(rt: Runtime, timeout: float) -> None:
    """Hold kopf's start until the API server serves TuningSessions and Jobs.

    kopf resolves the resources it watches once, when it starts: an operator started
    while the API server is still coming up (or before the CRD is installed) would stay
    up serving nothing. Startup handlers run before any watch, so waiting here lets kopf
    resolve them once they are served; after ``timeout`` the operator exits non-zero and
    its Deployment starts it again.
    """
    monotonic = rt.schedule.monotonic
    deadline = monotonic() + timeout
    delay = 0.5
    while not await asyncio.to_thread(rt.wired.ready):
        if monotonic() >= deadline:
            raise kopf.PermanentError(
                f"the API server did not serve tuningsessions and jobs within {timeout:.0f}s"
            )
        log.warning("waiting for the API server to serve tuningsessions and jobs")
        await asyncio.sleep(delay)
        delay = min(delay * 2, 5.0)


@kopf.on.cleanup(registry=registry)
async def cleanup(memo: kopf.Memo, **_: Any) -> None:
    runtime: Runtime | None = getattr(memo, "runtime", None)
    if runtime is not None:
        # Closing writes what is pending (the best ConfigMaps, seconds at most): off the
        # event loop, so kopf's own shutdown goes on meanwhile.
        await asyncio.to_thread(runtime.close)


@kopf.on.login(registry=registry)
def login(memo: kopf.Memo, **_: Any) -> kopf.ConnectionInfo:
    """kopf's own connection, from the very same client settings as the adapters'."""
    cfg = memo.runtime.wired.client_configuration
    header = cfg.get_api_key_with_prefix("BearerToken") or cfg.get_api_key_with_prefix(
        "authorization"
    )
    scheme, _sep, token = (header or "").rpartition(" ")
    return kopf.ConnectionInfo(
        server=cfg.host,
        ca_path=cfg.ssl_ca_cert,
        insecure=not cfg.verify_ssl,
        username=cfg.username or None,
        password=cfg.password or None,
        scheme=scheme or None,
        token=token or None,
        certificate_path=cfg.cert_file,
        private_key_path=cfg.key_file,
    )


@kopf.on.create(API_GROUP, API_VERSION, PLURAL, id="create", registry=registry)
@kopf.on.resume(API_GROUP, API_VERSION, PLURAL, id="resume", registry=registry)
@kopf.on.update(API_GROUP, API_VERSION, PLURAL, id="update", registry=registry)
async def session_changed(body: kopf.Body, memo: kopf.Memo, logger: kopf.Logger, **_: Any) -> None:
    await memo.runtime.schedule.reconcile_session(body, logger)


@kopf.timer(API_GROUP, API_VERSION, PLURAL, interval=TIMER_SECONDS, registry=registry)
async def session_timer(body: kopf.Body, memo: kopf.Memo, logger: kopf.Logger, **_: Any) -> None:
    rt: Runtime = memo.runtime
    quiet = rt.schedule.quiet_for(session_ref(body).key)
    if settled(body) and quiet < rt.config.settled_recheck_seconds:
        return
    await rt.schedule.reconcile_session(body, logger)


def _deleted(event: kopf.RawEvent, **_: Any) -> bool:
    return event.get("type") == "DELETED"


def _job_matters(event: kopf.RawEvent, body: kopf.Body, **_: Any) -> bool:
    return job_event_matters(event.get("type"), body)


# The ``when`` filters keep kopf from calling (and logging) a handler for events that
# cannot matter: our own status writes, Jobs starting, pods churning.
@kopf.on.event(API_GROUP, API_VERSION, PLURAL, when=_deleted, registry=registry)
async def session_event(event: kopf.RawEvent, memo: kopf.Memo, **_: Any) -> None:
    if event.get("type") == "DELETED":
        memo.runtime.forget(session_ref(event["object"]).key)


@kopf.index(API_GROUP, API_VERSION, PLURAL, registry=registry)
def session_seen(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    memo.runtime.wired.observe_session(copy.deepcopy(plain(body)))


@kopf.index("batch", "v1", "jobs", labels=JOB_LABELS, registry=registry)
def job_seen(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    memo.runtime.wired.job_cache.seen(plain(body))


@kopf.index("", "v1", "pods", labels=JOB_LABELS, registry=registry)
def pod_seen(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    memo.runtime.wired.pod_cache.seen(plain(body))


@kopf.on.event("", "v1", "pods", labels=JOB_LABELS, when=_deleted, registry=registry)
async def pod_gone(event: kopf.RawEvent, memo: kopf.Memo, **_: Any) -> None:
    memo.runtime.wired.pod_cache.gone(event["object"])


@kopf.on.event("batch", "v1", "jobs", labels=JOB_LABELS, when=_job_matters, registry=registry)
async def job_event(
    event: kopf.RawEvent, body: kopf.Body, memo: kopf.Memo, logger: kopf.Logger, **_: Any
) -> None:
    rt: Runtime = memo.runtime
    owner = rt.wired.owner_of(body)
    if owner is None or not job_event_matters(event.get("type"), body):
        return
    if event.get("type") == "DELETED" and rt.wired.job_cache.gone(plain(body)):
        return  # the operator's own cleanup of a harvested Job: nothing changed
    finished = event.get("type") != "DELETED" and not admission_changed(body)
    reconcile = rt.schedule.reconcile_finished if finished else rt.schedule.reconcile_named
    try:
        await reconcile(*owner, logger)
    except (kopf.TemporaryError, kopf.PermanentError) as err:
        # kopf does not retry event handlers; the session's own timer looks again.
        logger.warning("reconcile of %s/%s after a Job event failed: %s", *owner, err)


def serve(config: OperatorConfig, early: Prestart | None = None) -> None:
    """Run the operator until SIGTERM/SIGINT (kopf installs the signal handlers).

    ``early``: what ``tuneop operator`` started before it imported kopf (``begin``): the
    wiring being built and, with ``--leader-elect``, the candidate already standing.
    """
    from tuneop.controller import metrics
    from tuneop.controller.process import limit_arenas

    limit_arenas()  # before any worker thread allocates

    kopf.configure(
        log_format=kopf.LogFormat.JSON if config.log_format == "json" else kopf.LogFormat.FULL
    )
    if early is not None and early.logs is not None:
        early.logs.hand_over()
    metrics.serve(config.metrics_port)

    def operate(liveness: str | None) -> Coroutine[Any, Any, None]:
        return kopf.operator(
            registry=registry,
            memo=kopf.Memo(config=config, prestart=early),
            standalone=True,
            clusterwide=config.all_namespaces,
            namespaces=list(config.namespaces),
            liveness_endpoint=liveness,
        )

    if config.election is None:
        asyncio.run(operate(config.liveness))
        return
    from tuneop.controller.leadership import run_elected, stand

    candidate = early.candidate if early is not None else None
    if candidate is None:
        candidate = stand(config.election, config.kubeconfig, config.liveness)
    # kopf starts only once this replica leads; /healthz is the elector's meanwhile.
    run_elected(candidate, lambda: operate(None))
