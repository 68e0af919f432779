"""Every Kubernetes API call the operator makes, with why: the source of RBAC truth.

The Helm chart renders its Roles from one commented list of rules; a test
renders the chart in each mode and checks that every call listed here is
granted, and nothing here may be a wildcard. Add a call here when the
operator starts making it.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CALLS", "CLUSTER_MODE_CALLS", "LEADER_ELECTION_CALLS", "ApiCall"]


@dataclass(frozen=True)
class ApiCall:
    group: str  # "" is the core API group
    resource: str
    verb: str
    why: str
    cluster_scoped: bool = False


CALLS: tuple[ApiCall, ...] = (
    ApiCall("tuneop.dev", "tuningsessions", "get", "read a session before a status write"),
    ApiCall("tuneop.dev", "tuningsessions", "list", "kopf lists sessions at start-up"),
    ApiCall("tuneop.dev", "tuningsessions", "watch", "kopf watches sessions"),
    ApiCall("tuneop.dev", "tuningsessions", "patch", "kopf stores progress in annotations"),
    ApiCall("tuneop.dev", "tuningsessions/status", "get", "read the status subresource"),
    ApiCall("tuneop.dev", "tuningsessions/status", "patch", "the one status write a reconcile"),
    ApiCall(
        "tuneop.dev",
        "tuningsessions/finalizers",
        "update",
        "Jobs block their session's deletion (OwnerReferencesPermissionEnforcement)",
    ),
    ApiCall("batch", "jobs", "create", "launch worker Jobs"),
    ApiCall("batch", "jobs", "get", "read a worker Job"),
    ApiCall("batch", "jobs", "list", "observe a session's Jobs by label"),
    ApiCall("batch", "jobs", "watch", "Job events trigger reconciles"),
    ApiCall("batch", "jobs", "delete", "clean up harvested or stopped Jobs"),
    ApiCall("batch", "jobs", "deletecollection", "delete a harvested batch of Jobs at once"),
    ApiCall("", "pods", "get", "inspect a worker pod"),
    ApiCall("", "pods", "list", "find a finished Job's pods for harvest"),
    ApiCall("", "pods", "watch", "kopf's watch streams need it with list"),
    ApiCall("", "pods/log", "get", "harvest TUNEOP_RESULT lines from pod logs"),
    ApiCall("", "events", "create", "Events on sessions (tuneop's and kopf's)"),
    ApiCall("", "configmaps", "get", "read the <session>-best ConfigMap"),
    ApiCall("", "configmaps", "create", "export the best parameters"),
    ApiCall("", "configmaps", "update", "refresh the best parameters"),
    ApiCall("", "configmaps", "patch", "refresh the best parameters"),
    ApiCall(
        "apiextensions.k8s.io",
        "customresourcedefinitions",
        "get",
        "kopf checks the CRD exists",
        cluster_scoped=True,
    ),
    ApiCall(
        "apiextensions.k8s.io",
        "customresourcedefinitions",
        "list",
        "kopf's resource discovery",
        cluster_scoped=True,
    ),
    ApiCall(
        "apiextensions.k8s.io",
        "customresourcedefinitions",
        "watch",
        "kopf's resource discovery",
        cluster_scoped=True,
    ),
)

# Only in cluster-wide mode: kopf scans namespaces to serve all of them.
CLUSTER_MODE_CALLS: tuple[ApiCall, ...] = (
    ApiCall("", "namespaces", "list", "kopf's namespace scanning", cluster_scoped=True),
    ApiCall("", "namespaces", "watch", "kopf's namespace scanning", cluster_scoped=True),
)

# Only with leader election, and only in the operator's own namespace (a Role there).
LEADER_ELECTION_CALLS: tuple[ApiCall, ...] = (
    ApiCall("coordination.k8s.io", "leases", "create", "the Lease, the first time"),
    ApiCall("coordination.k8s.io", "leases", "get", "read the Lease (standby and leader)"),
    ApiCall("coordination.k8s.io", "leases", "update", "acquire, renew and release the Lease"),
    ApiCall("", "events", "create", "an Event on the Lease when the leader changes"),
)
