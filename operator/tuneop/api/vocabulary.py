"""The words of the TuningSession API, defined once.

Phases, condition types and their reasons, event reasons, and the labels and
annotations put on worker Jobs are constants here so the planner, the
adapters, the command line, the docs and the tests all speak the same words.
Nothing here depends on the models: ``tuneop.api.status`` uses these words,
never the other way round.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

__all__ = [
    "ADMITTED",
    "ANN_ATTEMPT",
    "ANN_CONTAINER",
    "ANN_METRICS_CONTAINER",
    "ANN_PARAMS",
    "ANN_START_TIMEOUT",
    "ANN_TIMEOUT",
    "ANN_TRIALS",
    "BUDGET_EXHAUSTED",
    "CANCELLED",
    "COMPLETE",
    "DEADLINE_EXCEEDED",
    "EVENTS_SUPPRESSED",
    "EXIT_TRIAL_BROKEN",
    "FAILED",
    "GOAL_REACHED",
    "INFRASTRUCTURE_DEGRADED",
    "INVALID_SPEC",
    "LABEL_JOB_INDEX",
    "LABEL_MANAGED_BY",
    "LABEL_QUEUE_NAME",
    "LABEL_RETRY_OF",
    "LABEL_SESSION",
    "LAUNCHING",
    "MANAGED_BY",
    "MAX_FAILED_REACHED",
    "NEW_BEST",
    "NOT_ADMITTED",
    "NO_TRIAL_SUCCEEDED",
    "POD_NOT_STARTED",
    "PROGRESSING",
    "REPEATED_TRIAL_ERROR",
    "RESUMED",
    "RETRIED_OUTCOMES",
    "ROUTINE_EVENTS",
    "SEARCH_SPACE_EXHAUSTED",
    "SPEC_VALID",
    "STATUS_UNREADABLE",
    "SUSPENDED",
    "SUSPENDED_BY_USER",
    "TERMINAL_PHASES",
    "TRIALS_FINISHED",
    "TRIALS_STARTED",
    "TRIAL_FAILED",
    "TRIAL_RETRIED",
    "VALID",
    "WAITING",
    "Phase",
    "RetriedOutcome",
]


class Phase(StrEnum):
    # No docstring: pydantic would copy it into the CRD's schema for status.phase.
    PENDING = "Pending"
    RUNNING = "Running"
    SUSPENDED = "Suspended"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    CANCELLED = "Cancelled"


# Phases a session leaves only when its spec changes.
TERMINAL_PHASES = frozenset({Phase.SUCCEEDED, Phase.FAILED, Phase.CANCELLED})

# Condition types
PROGRESSING = "Progressing"
COMPLETE = "Complete"
FAILED = "Failed"
SUSPENDED = "Suspended"
SPEC_VALID = "SpecValid"
# Set when the platform, not a trial, kept trials from running (a worker pod that never
# started); its reason is the pod's (ImagePullBackOff, Unschedulable, ...).
INFRASTRUCTURE_DEGRADED = "InfrastructureDegraded"
# Present once a session's Jobs queue (spec.queueName): False while a Job has waited
# for admission past spec.admissionWarningSeconds (reason NotAdmitted, also a Warning
# event), True again (reason Admitted) once none has.
ADMITTED = "Admitted"

# Condition reasons (the stop reasons double as Warning event reasons)
LAUNCHING = "Launching"
WAITING = "WaitingForWorkers"
BUDGET_EXHAUSTED = "BudgetExhausted"
GOAL_REACHED = "GoalReached"
SEARCH_SPACE_EXHAUSTED = "SearchSpaceExhausted"
MAX_FAILED_REACHED = "MaxFailedReached"
NO_TRIAL_SUCCEEDED = "NoTrialSucceeded"
REPEATED_TRIAL_ERROR = "RepeatedTrialError"
DEADLINE_EXCEEDED = "DeadlineExceeded"
INVALID_SPEC = "InvalidSpec"
VALID = "Valid"
CANCELLED = "Cancelled"
SUSPENDED_BY_USER = "SuspendedByUser"
RESUMED = "Resumed"
STATUS_UNREADABLE = "StatusUnreadable"
NOT_ADMITTED = "NotAdmitted"

# Event reasons beyond the condition reasons; a phase change is an event named
# after the new phase.
TRIALS_STARTED = "TrialsStarted"
TRIALS_FINISHED = "TrialsFinished"
TRIAL_FAILED = "TrialFailed"
NEW_BEST = "NewBest"
# A failed trial launched again in a retry Job (per-trial retries, spec.retries).
TRIAL_RETRIED = "TrialRetried"
# The reason of InfrastructureDegraded when a pod's own reason is not a usable word.
POD_NOT_STARTED = "PodNotStarted"
# Posted by the Kubernetes event sink in place of the routine events it sampled away.
EVENTS_SUPPRESSED = "EventsSuppressed"
# Routine reasons, one per Job or best: an event sink may sample them, never the others.
ROUTINE_EVENTS = frozenset({TRIALS_STARTED, TRIALS_FINISHED, NEW_BEST})

# The exit code a worker reserves for "this trial's configuration or objective is broken"
# (sysexits.h's EX_CONFIG): the Job's podFailurePolicy fails the Job at once on it, and
# its trials are not retried. The runner keeps its own copy (it imports nothing of tuneop).
EXIT_TRIAL_BROKEN = 78

# Labels and annotations on worker Jobs (and the best-params ConfigMap).
LABEL_SESSION = "tuneop.dev/session"
LABEL_JOB_INDEX = "tuneop.dev/job-index"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGED_BY = "tuneop"
ANN_TRIALS = "tuneop.dev/trials"
# Kueue's label: the LocalQueue a Job waits in (spec.queueName).
LABEL_QUEUE_NAME = "kueue.x-k8s.io/queue-name"
# On a worker pod: the container that runs the trials (its log is harvested), and,
# for a Job of one trial, its params as JSON (the params file is this annotation).
ANN_CONTAINER = "tuneop.dev/container"
ANN_PARAMS = "tuneop.dev/params"
# On a worker pod whose metrics come from a file: the sidecar following it (its log is
# harvested instead of the trial container's).
ANN_METRICS_CONTAINER = "tuneop.dev/metrics-container"
# On a retry Job: the Job whose failed trials it runs again (its index), and the attempt
# (1 for the first retry); the attempt also reaches the trial as TUNEOP_ATTEMPT.
LABEL_RETRY_OF = "tuneop.dev/retry-of"
ANN_ATTEMPT = "tuneop.dev/attempt"
# On every worker Job: spec.podStartTimeoutSeconds, so the Kubernetes adapter knows when
# a Job whose pod is not ready is worth a look at its pods (without reading the spec).
ANN_START_TIMEOUT = "tuneop.dev/pod-start-timeout-seconds"
# On a trial resource of another kind than a Job: the seconds it may run before the
# operator ends it as timed out (a Job's own activeDeadlineSeconds does this for a Job).
ANN_TIMEOUT = "tuneop.dev/timeout-seconds"


# A trial's failures of its own that ``spec.retries`` may run again (``spec.retryOn``):
# its error (a non-zero exit), its timeout, its objective's metric missing.
RetriedOutcome = Literal["Failed", "TimedOut", "MetricsUnavailable"]
RETRIED_OUTCOMES: tuple[RetriedOutcome, ...] = ("Failed", "TimedOut", "MetricsUnavailable")
