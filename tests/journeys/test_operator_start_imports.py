"""``tuneop operator`` starts without loading what a reconcile does not need at start.

Every second of the operator's start-up is a second in which no session makes progress:
a crash-looping or rescheduled operator pays it on every start (issue 27). The user starts
``tuneop operator`` against a cluster (here one that is not up yet, so the operator waits
for it once it has built everything it runs on); Python's own import report
(``PYTHONPROFILEIMPORTTIME``) shows what loaded by then. Optuna, plotting, the report, the
data libraries and rich load only when a session or a command needs them, and the Redis
client only with ``--redis-url``. Nor do the report's modules, the jsonschema of
kubernetes-validate (installed here by the dev extra; the client's ``kubernetes.dynamic``
would import it) or pydantic's plugin loader (the models are built without its search).
bench/operator_start_bench.py times the start itself.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time

from test_cli_startup_journey import loaded_packages
from user import BIN, User

NOT_AT_START = ("optuna", "plotly", "pandas", "scipy", "numpy", "sklearn", "rich", "matplotlib")
# Installed beside tuneop here, and loaded by nothing the operator runs at its start: the
# dev extra's kubernetes-validate would load it. (Python's import report lists a module the
# client only tried to import, kubernetes_validate itself, as it lists every attempt.)
NOT_AT_START_HERE = ("jsonschema",)
MODULES_NOT_AT_START = ("tuneop.cli.report", "tuneop.core.results.study", "pydantic.plugin._loader")
WAITING = "waiting for the API server"

KUBECONFIG = """\
apiVersion: v1
kind: Config
clusters: [{name: down, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: me, user: {token: not-a-secret}}]
contexts: [{name: down, context: {cluster: down, user: me}}]
current-context: down
"""


def start_operator(user: User, *extra: str, timeout: float = 120) -> str:
    """Start ``tuneop operator`` against a cluster that is down; once it says it waits for
    the API server (everything it runs on is built), Ctrl-C it. Its stderr."""
    kubeconfig = user.write("down.kubeconfig", KUBECONFIG)
    err_path = user.path("operator.err")
    argv = [str(BIN / "tuneop"), "operator", "-n", "demo", "--kubeconfig", str(kubeconfig)]
    argv += ["--liveness", "", "--metrics-port", "0", *extra]
    env = dict(user.env, PYTHONPROFILEIMPORTTIME="1")
    with err_path.open("w") as err:
        proc = subprocess.Popen(
            argv, cwd=user.cwd, env=env, stdout=subprocess.DEVNULL, stderr=err,
            start_new_session=True,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + timeout
            while WAITING not in err_path.read_text(errors="replace"):
                assert proc.poll() is None, err_path.read_text(errors="replace")[-3000:]
                assert time.monotonic() < deadline, "the operator never got to its first request"
                time.sleep(0.2)
        finally:
            os.killpg(proc.pid, signal.SIGINT)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    return err_path.read_text(errors="replace")


def loaded_modules(stderr: str) -> set[str]:
    return {
        line.rsplit("|", 1)[1].strip()
        for line in stderr.splitlines()
        if line.startswith("import time:") and line.count("|") == 2
    }


def test_the_operator_starts_without_optuna_plotting_or_redis(user: User) -> None:
    err = start_operator(user)
    loaded = loaded_packages(err)
    assert {"kopf", "kubernetes", "tuneop"} <= loaded, sorted(loaded)
    assert loaded & set(NOT_AT_START) == set(), sorted(loaded & set(NOT_AT_START))
    assert "redis" not in loaded, "the Redis client loaded without --redis-url"
    assert loaded & set(NOT_AT_START_HERE) == set(), sorted(loaded & set(NOT_AT_START_HERE))
    modules = loaded_modules(err) & set(MODULES_NOT_AT_START)
    assert modules == set(), sorted(modules)


def test_the_operator_loads_redis_when_it_mirrors_into_redis(user: User) -> None:
    loaded = loaded_packages(start_operator(user, "--redis-url", "redis://127.0.0.1:1/0"))
    assert "redis" in loaded
    assert loaded & set(NOT_AT_START) == set(), sorted(loaded & set(NOT_AT_START))
