"""No confused deputy: the chart's admission policy and user roles on the real control plane.

The chart's ValidatingAdmissionPolicy (``templates/trial-kinds-policy.yaml``) admits a
TuningSession only when its requesting user may create the session's trial kind in that
namespace (CEL's ``authorizer``) and the operator is granted that kind (the ``trialKinds``
value). Its ``<release>-edit``/``-view`` ClusterRoles aggregate into the cluster's
``edit``/``view``. The policy, its binding and the user roles are rendered by
``helm template`` (the chart's own values, as ``helm install`` would render them) and applied
with kubectl; restricted users are impersonated (``kubectl --as``). No operator runs: the
admission decision is the API server's, and each create is a server-side dry run (it goes
through admission, nothing is stored).

Two releases, each bound to its own namespace (``watch.mode=namespaces``), so that their
policies do not overlap: ``tuneop`` grants Job only (the default), ``tuneop-sets`` grants
JobSet only. The sessions of kind JobSet carry ``spec.trialResource``.
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import yaml

from minicluster.controlplane import REPO_ROOT, bin_dir
from minicluster.harness import Cluster
from minicluster.kube import Json
from tests.journeys.user import doc_block

CHART = REPO_ROOT / "charts" / "tuneop"
POLICY_KINDS = {"ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding", "ClusterRole"}
JOBSET = {"apiVersion": "jobset.x-k8s.io/v1alpha2", "kind": "JobSet"}


@pytest.fixture(scope="module")
def helm_binary() -> str:
    fetched = subprocess.run(
        ["bash", str(REPO_ROOT / "scripts" / "fetch-helm.sh")],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert fetched.returncode == 0, f"scripts/fetch-helm.sh failed:\n{fetched.stderr}"
    return fetched.stdout.strip().splitlines()[-1]


def rendered_policy(helm: str, release: str, namespace: str, *values: str) -> list[Json]:
    """The chart's admission policy, its binding and its user roles, as helm renders them."""
    out = subprocess.run(
        [helm, "template", release, str(CHART), "-n", f"{release}-system",
         "--set", "watch.mode=namespaces", "--set", f"watch.namespaces={{{namespace}}}",
         *values],
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    docs = [d for d in yaml.safe_load_all(out.stdout) if d]
    wanted = [d for d in docs if d["kind"] in POLICY_KINDS and _for_users_or_admission(d)]
    assert {d["kind"] for d in wanted} == POLICY_KINDS, [d["kind"] for d in docs]
    return wanted


def _for_users_or_admission(doc: Json) -> bool:
    if doc["kind"] != "ClusterRole":
        return True
    labels = doc["metadata"].get("labels") or {}
    return any(k.startswith("rbac.authorization.k8s.io/aggregate-to-") for k in labels)


@dataclass
class Policies:
    cluster: Cluster
    jobs_ns: str  # bound to the release that grants Job (the chart's default)
    sets_ns: str  # bound to the release that grants JobSet only

    def create(self, namespace: str, session: Json, user: str | None = None) -> str:
        """A server-side dry-run create (through admission, nothing stored): its output."""
        who = ["--as", user] if user else []
        done = self.cluster.kubectl(
            "create", "--dry-run=server", "-n", namespace, "-f", "-", *who,
            input=json.dumps(session), check=False,
        )  # fmt: skip
        return f"exit {done.returncode}\n{done.stdout}{done.stderr}"


def grant(cluster: Cluster, namespace: str, user: str, role: str, cluster_role: bool) -> None:
    kind = "--clusterrole" if cluster_role else "--role"
    cluster.kubectl(
        "create", "rolebinding", f"{user}-{role}", "-n", namespace, f"{kind}={role}",
        f"--user={user}",
    )  # fmt: skip


@pytest.fixture(scope="module")
def policies(cluster: Cluster, crd: Json, helm_binary: str) -> Iterator[Policies]:
    suffix = uuid.uuid4().hex[:6]
    jobs_ns = cluster.create_namespace(f"admit-jobs-{suffix}")
    sets_ns = cluster.create_namespace(f"admit-sets-{suffix}")
    docs = rendered_policy(helm_binary, "tuneop", jobs_ns) + rendered_policy(
        helm_binary, "tuneop-sets", sets_ns,
        "--set-json", f"trialKinds=[{json.dumps(JOBSET)}]",
    )  # fmt: skip
    text = "\n".join(json.dumps(d) for d in docs)
    cluster.kubectl("apply", "-f", "-", input=text)
    for ns in (jobs_ns, sets_ns):
        # alice: the cluster's `edit` (sessions through tuneop-edit, Jobs through edit
        # itself); bob: sessions only, by a Role of his own; carol: `view`.
        grant(cluster, ns, "alice", "edit", cluster_role=True)
        cluster.kubectl(
            "create", "role", "sessions-only", "-n", ns,
            "--verb=create,get,list", "--resource=tuningsessions.tuneop.dev",
        )  # fmt: skip
        grant(cluster, ns, "bob", "sessions-only", cluster_role=False)
        grant(cluster, ns, "carol", "view", cluster_role=True)
    found = Policies(cluster, jobs_ns, sets_ns)
    # The policy is enforced a moment after it is created (the API server's informer).
    cluster.wait_for(
        "the admission policy to be enforced",
        lambda: "may not create jobs.batch" in found.create(jobs_ns, quickstart(), "bob"),
        timeout=60,
    )
    yield found
    cluster.kubectl("delete", "-f", "-", input=text, check=False)
    for ns in (jobs_ns, sets_ns):
        cluster.kube.delete(f"/api/v1/namespaces/{ns}")


def quickstart() -> Json:
    session: Json = yaml.safe_load((REPO_ROOT / "examples" / "quickstart.yaml").read_text())
    return session


def jobset_session() -> Json:
    """A session of JobSet trials (the #29 interface): a leader and 2 workers."""
    session = quickstart()
    runner = session["spec"].pop("runner")
    job: dict[str, Any] = {
        "template": {
            "spec": {
                "restartPolicy": "Never",
                "containers": [{"name": "trainer", "image": runner["image"], "command": ["true"]}],
            }
        }
    }
    session["spec"]["trialResource"] = {
        "manifest": {
            **JOBSET,
            "spec": {
                "replicatedJobs": [
                    {"name": "leader", "replicas": 1, "template": {"spec": job}},
                    {"name": "workers", "replicas": 2, "template": {"spec": job}},
                ]
            },
        }
    }
    return session


def test_a_user_who_may_create_jobs_may_create_a_job_session(policies: Policies) -> None:
    seen = policies.create(policies.jobs_ns, quickstart(), "alice")
    assert seen.startswith("exit 0") and "created (server dry run)" in seen, seen


def test_a_user_who_may_not_create_jobs_is_refused_a_job_session_naming_why(
    policies: Policies,
) -> None:
    seen = policies.create(policies.jobs_ns, quickstart(), "bob")
    assert seen.startswith("exit 1"), seen
    assert "ValidatingAdmissionPolicy 'tuneop-trial-kinds'" in seen, seen
    assert (
        f"user bob may not create jobs.batch in namespace {policies.jobs_ns}, so may not "
        "create a TuningSession whose trials are Job"
    ) in seen, seen


def test_view_and_edit_cover_sessions_through_the_aggregated_roles(
    cluster: Cluster, policies: Policies
) -> None:
    def can(user: str, verb: str) -> str:
        done = cluster.kubectl(
            "auth", "can-i", verb, "tuningsessions.tuneop.dev", "-n", policies.jobs_ns,
            "--as", user, check=False,
        )  # fmt: skip
        return done.stdout.strip()

    # The aggregation controller fills edit/view a moment after the roles exist.
    cluster.wait_for("view to cover sessions", lambda: can("carol", "list") == "yes", timeout=60)
    assert [can("carol", v) for v in ("get", "watch", "create", "delete")] == [
        "yes", "yes", "no", "no",
    ]  # fmt: skip
    assert [can("alice", v) for v in ("list", "create", "patch", "delete")] == ["yes"] * 4
    refused = policies.create(policies.jobs_ns, quickstart(), "carol")
    assert "forbidden" in refused and "tuningsessions" in refused, refused


def test_a_session_of_a_kind_the_operator_is_not_granted_is_refused_naming_the_value(
    policies: Policies,
) -> None:
    # The tuneop-sets release grants JobSet only; a Job session there names the value.
    seen = policies.create(policies.sets_ns, quickstart())
    assert seen.startswith("exit 1"), seen
    assert (
        "the tuneop operator is not granted Job (batch/v1) trials: add {apiVersion: batch/v1, "
        "kind: Job} to the Helm value trialKinds of release tuneop-sets"
    ) in seen, seen


def test_the_operator_writes_of_a_session_are_not_checked_again(
    cluster: Cluster, policies: Policies
) -> None:
    # A stored session, then a metadata-only write as bob (as kopf's annotations are):
    # the policy matches only a new or changed spec.
    session = quickstart()
    session["metadata"]["name"] = "stored"
    cluster.kubectl("create", "-n", policies.jobs_ns, "-f", "-", input=json.dumps(session))
    cluster.kubectl(
        "create", "role", "annotate", "-n", policies.jobs_ns, "--verb=patch",
        "--resource=tuningsessions.tuneop.dev",
    )  # fmt: skip
    grant(cluster, policies.jobs_ns, "bob", "annotate", cluster_role=False)
    done = cluster.kubectl(
        "annotate", "-n", policies.jobs_ns, "tuningsession/stored", "note=kept", "--as", "bob",
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    changed = cluster.kubectl(
        "patch", "-n", policies.jobs_ns, "tuningsession/stored", "--type=merge",
        "-p", '{"spec": {"maxParallel": 1}}', "--as", "bob", check=False,
    )  # fmt: skip
    assert changed.returncode == 1 and "may not create jobs.batch" in changed.stderr, changed


def test_a_user_who_may_create_jobs_but_not_jobsets_is_refused_a_jobset_session(
    policies: Policies,
) -> None:
    # The namespace whose release grants JobSet: alice's `edit` covers Jobs, not JobSets.
    seen = policies.create(policies.sets_ns, jobset_session(), "alice")
    assert (
        f"user alice may not create jobsets.jobset.x-k8s.io in namespace {policies.sets_ns}"
    ) in seen, seen


def test_a_jobset_session_is_refused_where_the_operator_is_granted_jobs_only(
    policies: Policies,
) -> None:
    seen = policies.create(policies.jobs_ns, jobset_session())
    assert (
        "the tuneop operator is not granted JobSet (jobset.x-k8s.io/v1alpha2) trials: add "
        "{apiVersion: jobset.x-k8s.io/v1alpha2, kind: JobSet} to the Helm value trialKinds"
    ) in seen, seen


def test_the_install_guides_refusal_block_shows_the_refusal(
    cluster: Cluster, crd: Json, helm_binary: str
) -> None:
    """docs/install.md's block, run as written against a release bound to team-a."""
    if cluster.kube.get_or_none("/api/v1/namespaces/team-a") is None:
        cluster.create_namespace("team-a")
    docs = rendered_policy(helm_binary, "tuneop-docs", "team-a")
    text = "\n".join(json.dumps(d) for d in docs)
    cluster.kubectl("apply", "-f", "-", input=text)
    try:
        cluster.kubectl(
            "create", "role", "sessions-only", "-n", "team-a", "--verb=create",
            "--resource=tuningsessions.tuneop.dev",
        )  # fmt: skip
        grant(cluster, "team-a", "bob", "sessions-only", cluster_role=False)
        env = {
            **os.environ,
            "KUBECONFIG": str(cluster.kubeconfig),
            "PATH": f"{bin_dir()}:{os.environ['PATH']}",
        }

        def run() -> str:
            done = subprocess.run(
                ["bash", "-c", doc_block("docs/install.md", "refused-session")],
                cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=60, check=False,
            )  # fmt: skip
            return done.stdout + done.stderr

        def refused() -> str | None:
            out = run()
            return out if "may not create jobs.batch" in out else None

        seen = cluster.wait_for("the block's refusal", refused, timeout=60, describe=run)
        assert seen.splitlines()[0] == "no", seen
        assert "user bob may not create jobs.batch in namespace team-a" in seen, seen
    finally:
        cluster.kubectl("delete", "-f", "-", input=text, check=False)
