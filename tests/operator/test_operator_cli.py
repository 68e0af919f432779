"""``tuneop operator``: flags to ``OperatorConfig``, and usage errors as one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from tuneop import main as cli
from tuneop.controller.runtime import OperatorConfig


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> list[OperatorConfig]:
    seen: list[OperatorConfig] = []
    import tuneop.controller.handlers
    import tuneop.controller.prestart

    # Neither the wiring built early (``begin``, its own tests: test_prestart.py) nor kopf.
    monkeypatch.setattr(tuneop.controller.prestart, "begin", lambda config: None)
    monkeypatch.setattr(tuneop.controller.handlers, "serve", lambda config, e: seen.append(config))
    return seen


def test_flags_become_the_operator_config(served: list[OperatorConfig], tmp_path: Path) -> None:
    code = cli.main(
        [
            "operator",
            "-n",
            "team-a",
            "--namespace",
            "team-b",
            "--results-dir",
            str(tmp_path),
            "--redis-url",
            "redis://redis:6379/0",
            "--redis-prefix",
            "tp",
            "--redis-ttl",
            "60",
            "--api-qps",
            "5",
            "--liveness",
            "http://0.0.0.0:9999/healthz",
            "--metrics-port",
            "0",
            "--log-format",
            "json",
            "--kubeconfig",
            "/k.yaml",
            "--harvest-window",
            "1.5",
        ]
    )
    assert code == 0
    (config,) = served
    assert config.namespaces == ("team-a", "team-b") and not config.all_namespaces
    assert config.results_dir == tmp_path and config.redis_url == "redis://redis:6379/0"
    assert (config.redis_prefix, config.redis_ttl) == ("tp", 60)
    assert (config.api_qps, config.api_burst) == (5.0, 10)
    assert config.liveness == "http://0.0.0.0:9999/healthz"
    assert (config.metrics_port, config.log_format, config.kubeconfig) == (0, "json", "/k.yaml")
    assert config.harvest_window == 1.5


def test_defaults(served: list[OperatorConfig], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TUNEOP_REDIS_URL", raising=False)
    assert cli.main(["operator", "--all-namespaces"]) == 0
    (config,) = served
    assert config.all_namespaces and config.namespaces == ()
    assert (config.api_qps, config.api_burst) == (20.0, 40)
    assert config.metrics_port == 9090 and config.liveness == "http://0.0.0.0:8081/healthz"
    assert config.results_dir is None and config.log_format == "text"
    assert config.redis_url is None
    assert config.harvest_window == 0.5


@pytest.mark.parametrize(("ttl", "deletes_keys"), [(None, True), (600, True), (0, False)])
def test_a_redis_url_adds_the_mirror_after_the_primary_store(
    ttl: int | None, deletes_keys: bool
) -> None:
    from operator_fakes import fake_kube

    from tuneop.adapters.redis_mirror import DEFAULT_TTL_SECONDS, RedisMirror
    from tuneop.assembly.stores import RedisStore
    from tuneop.controller.runtime import build_runtime

    config = OperatorConfig(redis_url="redis://r:6379/0", redis_prefix="lab", redis_ttl=ttl)
    rt = build_runtime(config, kube=fake_kube())
    mirror = rt.wired.reconciler.mirrors[-1]
    assert isinstance(mirror, RedisMirror)
    assert mirror.prefix == "lab"
    assert mirror.ttl_seconds == (DEFAULT_TTL_SECONDS if ttl is None else ttl)
    # Without a results folder Redis is where results become durable: they reach it as the
    # result store (acknowledged before a Job is deleted), not as a mirror.
    store = rt.wired.reconciler.store
    assert isinstance(store, RedisStore) and store.redis is mirror
    assert mirror.mirror_results is False
    assert mirror.source == store.memory.history  # backfill reads the history it keeps
    without = build_runtime(OperatorConfig(), kube=fake_kube())
    assert len(rt.wired.forgetters) - len(without.wired.forgetters) == (1 if deletes_keys else 0)
    assert not any(isinstance(s, RedisMirror) for s in without.wired.reconciler.mirrors)


@pytest.mark.parametrize(
    "args",
    [
        ["operator"],
        ["operator", "-n", "a", "-A"],
        ["operator", "-A", "--api-qps", "0"],
        ["operator", "-A", "--harvest-window", "-1"],
        ["operator", "-A", "--harvest-window", "11"],
        ["operator", "-A", "--harvest-window", "nan"],
    ],
)
def test_usage_errors_are_one_line(
    args: list[str], served: list[OperatorConfig], capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: operator:") and err.count("\n") == 1
    assert served == []


def test_plan_does_not_load_kopf() -> None:
    import subprocess
    import sys

    code = (
        "import sys, tuneop.main, tuneop.cli.main as cli, tuneop.controller.command as op; "
        "cli.build_parser(op.add_parser); print('kopf' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_a_pod_without_a_mounted_token_falls_back_to_its_kubeconfig(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # In a pod (KUBERNETES_SERVICE_HOST set) whose token is not mounted, the identity can
    # come as $KUBECONFIG: the operator must start with it instead of failing.
    from kubernetes import config

    from tuneop.adapters.kube.client import load_configuration

    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        "clusters: [{name: k, cluster: {server: 'https://10.1.2.3:6443'}}]\n"
        "users: [{name: u, user: {token: t0ken}}]\n"
        "contexts: [{name: c, context: {cluster: k, user: u}}]\n"
    )

    def no_token(**_: object) -> None:
        raise config.ConfigException("Service token file does not exist.")

    monkeypatch.setattr(config, "load_incluster_config", no_token)
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1")
    # The client reads $KUBECONFIG once, when it is imported.
    monkeypatch.setattr(config.kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", str(kubeconfig))

    cfg = load_configuration()

    assert cfg.host == "https://10.1.2.3:6443"
    assert cfg.api_key["authorization"] == "Bearer t0ken"


def test_with_a_results_folder_it_is_the_store_and_redis_a_mirror(tmp_path: Path) -> None:
    from operator_fakes import fake_kube

    from tuneop.adapters.redis_mirror import RedisMirror
    from tuneop.assembly.stores import FolderStore
    from tuneop.controller.runtime import build_runtime

    config = OperatorConfig(redis_url="redis://r:6379/0", results_dir=tmp_path)
    rt = build_runtime(config, kube=fake_kube())
    mirror = rt.wired.reconciler.mirrors[-1]
    assert isinstance(rt.wired.reconciler.store, FolderStore)
    assert isinstance(mirror, RedisMirror) and mirror.mirror_results is True
    assert mirror.source == rt.wired.reconciler.store.history


def test_the_optuna_storage_comes_from_its_flag_or_the_environment(
    served: list[OperatorConfig], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path}/live.db"
    monkeypatch.setenv("TUNEOP_OPTUNA_STORAGE", url)  # the chart sets it from a Secret
    assert cli.main(["operator", "-A"]) == 0
    assert cli.main(["operator", "-A", "--optuna-storage", f"{url}-2"]) == 0
    assert [c.optuna_storage for c in served] == [url, f"{url}-2"]


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("sqlite://", "a SQLite database in memory"),
        ("nosuchdb://user:secret@host/db", "no database of that name"),
        ("postgresql://user:secret@host/db", "the database driver this URL needs"),
    ],
)
def test_an_optuna_storage_that_cannot_work_is_one_line_without_the_url(
    served: list[OperatorConfig], capsys: pytest.CaptureFixture[str], url: str, says: str
) -> None:
    assert cli.main(["operator", "-A", "--optuna-storage", url]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: operator: --optuna-storage: ") and says in err, err
    assert len(err.splitlines()) == 1 and "secret" not in err
    assert served == []


def test_the_optuna_storage_follows_the_durable_store(tmp_path: Path) -> None:
    from operator_fakes import fake_kube

    from tuneop.adapters.optuna_storage import OptunaStorageMirror
    from tuneop.controller.runtime import build_runtime

    config = OperatorConfig(results_dir=tmp_path, optuna_storage=f"sqlite:///{tmp_path}/o.db")
    rt = build_runtime(config, kube=fake_kube())
    mirror = rt.wired.reconciler.mirrors[-1]
    assert isinstance(mirror, OptunaStorageMirror)
    assert mirror.source == rt.wired.reconciler.store.history
    assert mirror.forget in rt.wired.forgetters


@pytest.mark.parametrize(
    ("argv", "env", "expected"),
    [
        ([], {}, None),
        (["--mlflow-tracking-uri", "http://mlflow:5000"], {}, "http://mlflow:5000"),
        ([], {"TUNEOP_MLFLOW_TRACKING_URI": "https://ml.example/x"}, "https://ml.example/x"),
    ],
)
def test_the_default_mlflow_server_comes_from_the_flag_or_its_variable(
    served: list[OperatorConfig],
    monkeypatch: pytest.MonkeyPatch,
    argv: list[str],
    env: dict[str, str],
    expected: str | None,
) -> None:
    monkeypatch.delenv("TUNEOP_MLFLOW_TRACKING_URI", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert cli.main(["operator", "--all-namespaces", *argv]) == 0
    assert served[0].mlflow_tracking_uri == expected


def test_a_tracking_uri_with_a_password_is_one_usage_line(
    served: list[OperatorConfig], capsys: pytest.CaptureFixture[str]
) -> None:
    uri = "http://me:secret@mlflow:5000"
    assert cli.main(["operator", "--all-namespaces", "--mlflow-tracking-uri", uri]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--mlflow-tracking-uri" in err and "secret" not in err
    assert served == []
