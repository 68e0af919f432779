"""The Helm chart, checked with Helm itself and the real Kubernetes schemas."""

from __future__ import annotations

import functools
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from tuneop.api.rbac import CALLS, CLUSTER_MODE_CALLS, LEADER_ELECTION_CALLS, ApiCall

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "tuneop"
K8S_VERSION = "1.30"

MODES: dict[str, list[str]] = {
    "default": [],
    "namespaces": ["--set", "watch.mode=namespaces", "--set", "watch.namespaces={team-a,team-b}"],
    # The default runs the bundled Redis; these are its variants.
    "bundled-redis-ephemeral": ["--set", "redis.bundled.persistence.enabled=false"],
    "bundled-redis-own-password": ["--set", "redis.bundled.password.existingSecret=my-pass"],
    "no-redis": ["--set", "redis.bundled.enabled=false"],
    "external-redis": ["--set", "redis.url=redis://:s3cret@redis.example:6379/0"],
    "redis-secret": ["--set", "redis.existingSecret.name=my-redis"],
    "results-pvc": ["--set", "results.persistence.enabled=true"],
    "optuna-storage": ["--set", "optunaStorage.existingSecret.name=my-optuna"],
    "single-no-election": ["--set", "leaderElection.enabled=false", "--set", "replicaCount=1"],
    "three-replicas": ["--set", "replicaCount=3"],
    "single-elected": ["--set", "replicaCount=1"],
    "service-monitor": [
        "--set",
        "metrics.serviceMonitor.enabled=true",
        "--api-versions",
        "monitoring.coreos.com/v1",
    ],
}


@functools.cache
def helm() -> str:
    out = subprocess.run(
        [str(ROOT / "scripts" / "fetch-helm.sh")], check=True, capture_output=True, text=True
    )
    return out.stdout.strip().splitlines()[-1]


def run_helm(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([helm(), *args], capture_output=True, text=True, check=False)


@functools.cache
def render(mode: str) -> list[dict[str, Any]]:
    out = run_helm("template", "tuneop", str(CHART), "-n", "tuneop-system", *MODES[mode])
    assert out.returncode == 0, out.stderr
    return [d for d in yaml.safe_load_all(out.stdout) if d]


def of_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


@pytest.mark.parametrize("mode", list(MODES))
def test_helm_lint_strict_passes(mode: str) -> None:
    # lint has no --api-versions: capabilities are exercised by the template tests.
    args = [a for a in MODES[mode] if a not in {"--api-versions", "monitoring.coreos.com/v1"}]
    out = run_helm("lint", "--strict", str(CHART), *args)
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.parametrize("mode", list(MODES))
def test_every_rendered_manifest_matches_the_kubernetes_schema(mode: str) -> None:
    docs = render(mode)
    assert docs
    for doc in docs:
        if doc["apiVersion"].startswith("monitoring.coreos.com"):
            continue  # a Prometheus Operator CRD: not in the Kubernetes schemas
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def granted(rules: list[dict[str, Any]], call: ApiCall) -> bool:
    return any(
        call.group in r["apiGroups"] and call.resource in r["resources"] and call.verb in r["verbs"]
        for r in rules
    )


def test_cluster_mode_rbac_covers_every_api_call() -> None:
    docs = render("default")
    cluster_rules = [r for d in of_kind(docs, "ClusterRole") for r in d["rules"]]
    missing = [c for c in (*CALLS, *CLUSTER_MODE_CALLS) if not granted(cluster_rules, c)]
    assert missing == []
    assert [r["metadata"]["name"] for r in of_kind(docs, "Role")] == ["tuneop-leader-election"]


def is_user_role(doc: dict[str, Any]) -> bool:  # aggregated into admin/edit/view
    return any("/aggregate-to-" in k for k in doc["metadata"].get("labels") or {})


def leader_role(docs: list[dict[str, Any]]) -> dict[str, Any]:
    (role,) = [r for r in of_kind(docs, "Role") if r["metadata"]["name"].endswith("-election")]
    return role


@pytest.mark.parametrize("mode", ["default", "namespaces"])
def test_the_lease_is_granted_in_the_operator_namespace_only_and_narrowed_to_its_name(
    mode: str,
) -> None:
    docs = render(mode)
    role = leader_role(docs)
    assert role["metadata"]["namespace"] == "tuneop-system"
    assert all(granted(role["rules"], c) for c in LEADER_ELECTION_CALLS)
    for rule in role["rules"]:
        if rule["resources"] == ["leases"] and rule["verbs"] != ["create"]:
            # get and update only on this release's Lease (create cannot be narrowed).
            assert rule["resourceNames"] == ["tuneop"], rule
    cluster_rules = [r for d in of_kind(docs, "ClusterRole") for r in d["rules"]]
    assert not any(r["apiGroups"] == ["coordination.k8s.io"] for r in cluster_rules)
    (binding,) = [
        b for b in of_kind(docs, "RoleBinding") if b["roleRef"]["name"] == "tuneop-leader-election"
    ]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "tuneop", "namespace": "tuneop-system"}
    ]
    args = operator_container(docs)["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--leader-elect-lease=tuneop" in args


def test_without_leader_election_there_is_no_lease_role_no_pdb_and_one_recreated_replica() -> None:
    docs = render("single-no-election")
    assert of_kind(docs, "Role") == [] and of_kind(docs, "PodDisruptionBudget") == []
    spec = operator_container(docs)["spec"]
    assert spec["replicas"] == 1 and spec["strategy"] == {"type": "Recreate"}
    (c,) = spec["template"]["spec"]["containers"]
    assert not [a for a in c["args"] if a.startswith("--leader-elect")]


def test_two_replicas_without_an_election_fail_at_install() -> None:
    out = run_helm("template", "tuneop", str(CHART), "--set", "leaderElection.enabled=false")
    assert out.returncode != 0
    assert "replicaCount > 1 needs leaderElection.enabled" in out.stderr


@pytest.mark.parametrize(("mode", "replicas"), [("default", 2), ("three-replicas", 3)])
def test_replicas_roll_one_at_a_time_spread_over_nodes_with_a_disruption_budget(
    mode: str, replicas: int
) -> None:
    docs = render(mode)
    spec = operator_container(docs)["spec"]
    assert spec["replicas"] == replicas
    assert spec["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
    }
    pod = spec["template"]["spec"]
    (term,) = pod["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
    assert term["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
    selector = term["podAffinityTerm"]["labelSelector"]["matchLabels"]
    assert selector.items() <= spec["template"]["metadata"]["labels"].items()
    assert (
        "requiredDuringSchedulingIgnoredDuringExecution" not in pod["affinity"]["podAntiAffinity"]
    )
    (pdb,) = of_kind(docs, "PodDisruptionBudget")
    assert pdb["spec"]["minAvailable"] == 1
    assert pdb["spec"]["selector"]["matchLabels"] == selector
    env = {
        e["name"]: e.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath")
        for e in pod["containers"][0]["env"]
    }
    assert env["POD_NAME"] == "metadata.name" and env["POD_NAMESPACE"] == "metadata.namespace"
    assert pod["containers"][0]["readinessProbe"]["httpGet"]["path"] == "/healthz"
    args = pod["containers"][0]["args"]
    for flag in (
        "--leader-elect",
        "--leader-elect-lease-duration=10",
        "--leader-elect-renew-deadline=7",
        "--leader-elect-retry-period=2",
    ):
        assert flag in args


def test_a_single_elected_replica_gets_no_budget_it_could_never_meet() -> None:
    docs = render("single-elected")
    assert of_kind(docs, "PodDisruptionBudget") == []
    assert operator_container(docs)["spec"]["replicas"] == 1


def test_namespaces_mode_grants_only_in_the_watched_namespaces() -> None:
    docs = render("namespaces")
    roles = [r for r in of_kind(docs, "Role") if r is not leader_role(docs)]
    assert sorted(r["metadata"]["namespace"] for r in roles) == ["team-a", "team-b"]
    for role in roles:
        missing = [c for c in CALLS if not c.cluster_scoped and not granted(role["rules"], c)]
        assert missing == [], role["metadata"]["namespace"]
    operator = [d for d in of_kind(docs, "ClusterRole") if not is_user_role(d)]
    cluster_rules = [r for d in operator for r in d["rules"]]
    assert all(granted(cluster_rules, c) for c in CALLS if c.cluster_scoped)
    # Nothing namespaced (sessions, Jobs, pods) is granted cluster-wide in this mode.
    assert not any(granted(cluster_rules, c) for c in CALLS if not c.cluster_scoped)
    assert not any(granted(cluster_rules, c) for c in CLUSTER_MODE_CALLS)
    bindings = of_kind(docs, "RoleBinding")
    assert {b["subjects"][0]["namespace"] for b in bindings} == {"tuneop-system"}


@pytest.mark.parametrize("mode", ["default", "namespaces"])
def test_rbac_has_no_wildcards_and_grants_nothing_unlisted(mode: str) -> None:
    calls = (*CALLS, *CLUSTER_MODE_CALLS, *LEADER_ELECTION_CALLS)
    listed = {(c.group, c.resource, c.verb) for c in calls}
    for doc in of_kind(render(mode), "ClusterRole") + of_kind(render(mode), "Role"):
        if is_user_role(doc):  # for the cluster's users: test_chart_trial_kinds.py
            continue
        for rule in doc["rules"]:
            for field in ("apiGroups", "resources", "verbs"):
                assert "*" not in rule[field], doc["metadata"]["name"]
            for g in rule["apiGroups"]:
                for res in rule["resources"]:
                    for verb in rule["verbs"]:
                        assert (g, res, verb) in listed, (g, res, verb)


def test_the_chart_crd_is_the_generated_crd() -> None:
    chart_copy = (CHART / "crds" / "tuningsession.yaml").read_text()
    assert chart_copy == (ROOT / "crds" / "tuningsession.yaml").read_text(), (
        "charts/tuneop/crds/ drifted: run `make crd`"
    )


def operator_container(docs: list[dict[str, Any]]) -> dict[str, Any]:
    (deployment,) = [d for d in of_kind(docs, "Deployment") if d["metadata"]["name"] == "tuneop"]
    return deployment


@pytest.mark.parametrize(
    ("mode", "expected_args"),
    [
        ("default", ["--all-namespaces"]),
        ("namespaces", ["--namespace=team-a", "--namespace=team-b"]),
        ("results-pvc", ["--results-dir=/var/lib/tuneop/results"]),
    ],
)
def test_operator_deployment_is_restricted_and_probed(mode: str, expected_args: list[str]) -> None:
    d = operator_container(render(mode))
    spec = d["spec"]
    pod = spec["template"]["spec"]
    (c,) = pod["containers"]
    assert c["command"] == ["tuneop", "operator"]
    assert all(a in c["args"] for a in expected_args)
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert c["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert {p["name"] for p in c["ports"]} == {"health", "metrics"}
    assert pod["serviceAccountName"] == "tuneop"


@pytest.mark.parametrize("mode", ["external-redis", "redis-secret", "default"])
def test_the_redis_url_reaches_the_operator_without_appearing_in_its_spec(mode: str) -> None:
    docs = render(mode)
    (c,) = operator_container(docs)["spec"]["template"]["spec"]["containers"]
    (env,) = [e for e in c["env"] if e["name"] == "TUNEOP_REDIS_URL"]
    assert "value" not in env and "secretKeyRef" in env["valueFrom"]
    assert "s3cret" not in yaml.safe_dump(operator_container(docs))
    if mode == "default":
        assert env["valueFrom"]["secretKeyRef"] == {"name": "tuneop-redis", "key": "url"}


@pytest.mark.parametrize(("mode", "secret"), [("optuna-storage", "my-optuna"), ("default", None)])
def test_the_optuna_storage_url_comes_from_its_secret_only_when_one_is_named(
    mode: str, secret: str | None
) -> None:
    (c,) = operator_container(render(mode))["spec"]["template"]["spec"]["containers"]
    found = [e["valueFrom"] for e in c["env"] if e["name"] == "TUNEOP_OPTUNA_STORAGE"]
    assert found == ([{"secretKeyRef": {"name": secret, "key": "url"}}] if secret else [])


REDIS_KINDS = {"StatefulSet", "Service", "NetworkPolicy", "Secret"}


@pytest.mark.parametrize(
    ("mode", "kinds"),
    [
        ("default", REDIS_KINDS),
        ("bundled-redis-ephemeral", REDIS_KINDS),
        ("bundled-redis-own-password", REDIS_KINDS - {"Secret"}),
        ("external-redis", set()),
        ("redis-secret", set()),
        ("no-redis", set()),
    ],
)
def test_the_bundled_redis_runs_unless_an_external_one_is_named(mode: str, kinds: set[str]) -> None:
    docs = render(mode)
    component = [d["metadata"].get("labels", {}).get("app.kubernetes.io/component") for d in docs]
    redis_docs = [d for d, c in zip(docs, component, strict=True) if c == "redis"]
    assert {d["kind"] for d in redis_docs} == kinds
    if mode == "no-redis":
        (c,) = operator_container(docs)["spec"]["template"]["spec"]["containers"]
        # The Downward API's identity and the MLflow client's bounds: no Redis URL.
        assert [e["name"] for e in c.get("env") or []] == [
            "POD_NAME",
            "POD_NAMESPACE",
            "MLFLOW_HTTP_REQUEST_MAX_RETRIES",
            "MLFLOW_HTTP_REQUEST_TIMEOUT",
        ]


def redis_server(mode: str = "default") -> dict[str, Any]:
    (sts,) = of_kind(render(mode), "StatefulSet")
    return sts


def test_the_bundled_redis_is_fit_for_production() -> None:
    sts = redis_server()
    pod = sts["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    args = c["args"]
    assert c["command"] == ["redis-server"]
    assert args[args.index("--appendonly") + 1] == "yes"
    assert args[args.index("--requirepass") + 1] == "$(REDIS_PASSWORD)"
    (env,) = c["env"]
    assert env["valueFrom"]["secretKeyRef"] == {"name": "tuneop-redis", "key": "password"}
    (claim,) = sts["spec"]["volumeClaimTemplates"]
    assert claim["spec"]["resources"]["requests"]["storage"] == "2Gi"
    assert sts["spec"]["persistentVolumeClaimRetentionPolicy"]["whenDeleted"] == "Retain"
    assert c["resources"]["requests"] and c["resources"]["limits"]["memory"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    assert pod["automountServiceAccountToken"] is False
    (policy,) = of_kind(render("default"), "NetworkPolicy")
    (rule,) = policy["spec"]["ingress"]
    assert rule["from"] == [
        {
            "podSelector": {
                "matchLabels": operator_container(render("default"))["spec"]["selector"][
                    "matchLabels"
                ]
            }
        }
    ]


def test_the_generated_password_is_in_the_operator_url_and_nowhere_else() -> None:
    import base64

    docs = render("default")
    (secret,) = [d for d in of_kind(docs, "Secret") if d["metadata"]["name"] == "tuneop-redis"]
    password = base64.b64decode(secret["data"]["password"]).decode()
    url = base64.b64decode(secret["data"]["url"]).decode()
    assert len(password) == 32 and password.isalnum()
    assert url == f"redis://:{password}@tuneop-redis.tuneop-system.svc:6379/0"
    others = [d for d in docs if d is not secret]
    assert password not in yaml.safe_dump_all(others)


def test_an_ephemeral_bundled_redis_keeps_its_data_in_an_empty_dir() -> None:
    sts = redis_server("bundled-redis-ephemeral")
    assert "volumeClaimTemplates" not in sts["spec"]
    assert sts["spec"]["template"]["spec"]["volumes"] == [{"name": "data", "emptyDir": {}}]


def test_runner_service_account_has_no_token_and_no_binding() -> None:
    docs = render("default")
    (sa,) = [d for d in of_kind(docs, "ServiceAccount") if d["metadata"]["name"] == "tuneop-runner"]
    assert sa["automountServiceAccountToken"] is False
    subjects = [
        s["name"] for d in docs if d["kind"].endswith("Binding") for s in d.get("subjects", [])
    ]
    assert "tuneop-runner" not in subjects


def test_service_monitor_only_when_its_crd_exists() -> None:
    assert of_kind(render("service-monitor"), "ServiceMonitor")
    out = run_helm("template", "tuneop", str(CHART), "--set", "metrics.serviceMonitor.enabled=true")
    assert "ServiceMonitor" not in out.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--set", "watch.mode=everything"], "/watch/mode"),
        (["--set", "replicas=2"], "replicas"),
        (["--set", "redis.url=localhost:6379"], "/redis/url"),
        (["--set", "watch.mode=namespaces"], "needs at least one entry"),
        (["--set", "redis.bundled.port=0"], "/redis/bundled/port"),
        (["--set", "redis.bundled.dataDir=data"], "/redis/bundled/dataDir"),
    ],
    ids=[
        "bad_enum",
        "unknown_key",
        "url_scheme",
        "namespaces_without_list",
        "redis_port",
        "redis_data_dir",
    ],
)
def test_bad_values_fail_at_install_with_the_key_named(args: list[str], message: str) -> None:
    out = run_helm("template", "tuneop", str(CHART), *args)
    assert out.returncode != 0
    assert message in out.stderr


@pytest.mark.parametrize("mode", ["default", "no-redis"])
def test_every_port_names_its_protocol(mode: str) -> None:
    """Helm 4 installs with server-side apply; an API server (1.20 did) may refuse to merge
    a Service port without ``protocol`` (it is part of the list's key)."""
    docs = render(mode)
    ports = [p for d in of_kind(docs, "Service") for p in d["spec"]["ports"]]
    ports += [
        p
        for d in of_kind(docs, "Deployment") + of_kind(docs, "StatefulSet")
        for c in d["spec"]["template"]["spec"]["containers"]
        for p in c.get("ports", [])
    ]
    assert ports and all(p.get("protocol") == "TCP" for p in ports)
