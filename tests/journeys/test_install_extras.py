"""A user who installed only the default (``pip install tuneop``, no extras).

The fixture types docs/install.md's local install into a copy of the repository: a fresh
venv holding tuneop without its report, qmc and operator extras. Local sessions run in it
(template sessions included: tuneop ships the schema it checks them against), and every
command that needs an extra says which in one line and exits 2, never a traceback; a local
run that cannot write its report still ends with its summary and its own exit code.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from katib_census import KATIB
from user import Seen, User, clone_repository, doc_block, notebook_argv

HEAVY = {
    "kubernetes",
    "kopf",
    "plotly",
    "scipy",
    "kubernetes-validate",
    "prometheus-client",
    "pandas",
}


@pytest.fixture(scope="module")
def bare(tmp_path_factory: pytest.TempPathFactory) -> Iterator[User]:
    """A clone of the repository with the default install in its ``.venv``."""
    root = tmp_path_factory.mktemp("bare") / "tuneop"
    clone_repository(root)
    user = User(root, copy_examples=False)
    seen = user.sh(doc_block("docs/install.md", "install-local"), timeout=900)
    assert seen.code == 0, seen
    user.env["PATH"] = f"{root / '.venv' / 'bin'}:{user.env['PATH']}"
    yield user


def tuneop(user: User, *args: str) -> Seen:
    return user.run([str(user.cwd / ".venv" / "bin" / "tuneop"), *args], timeout=600)


def one_error_line(seen: Seen, extra: str) -> None:
    assert seen.code == 2, seen
    assert "Traceback" not in seen.both, seen
    lines = seen.err.strip().splitlines()
    assert len(lines) == 1, seen
    assert f"pip install 'tuneop[{extra}]'" in lines[0], seen


def test_the_default_install_leaves_the_cluster_report_and_scipy_packages_out(
    bare: User,
) -> None:
    seen = bare.run([str(bare.cwd / ".venv" / "bin" / "pip"), "list", "--format=json"])
    names = {p["name"].lower() for p in json.loads(seen.out)}
    assert "optuna" in names and "tuneop" in names
    assert names & HEAVY == set()


def test_a_local_run_without_the_report_extra_ends_with_its_summary_and_a_line_naming_it(
    bare: User,
) -> None:
    seen = tuneop(bare, "run", "examples/quickstart.yaml", "--local", "--results-dir", "r1")
    assert seen.code == 0, seen
    assert "Traceback" not in seen.both, seen
    assert "Succeeded" in seen.out, seen
    assert "pip install 'tuneop[report]'" in seen.both, seen
    assert (bare.path("r1/quickstart/session.json")).is_file()
    assert not (bare.path("r1/quickstart/report.html")).exists()


def test_tuneop_report_without_the_report_extra_says_which_extra_and_exits_2(bare: User) -> None:
    seen = tuneop(bare, "run", "examples/quickstart.yaml", "--local", "--results-dir", "r2")
    assert seen.code == 0, seen
    one_error_line(tuneop(bare, "report", "r2/quickstart", "-o", "r.html"), "report")
    assert not bare.path("r.html").exists()


def test_tuneop_operator_without_the_operator_extra_says_which_extra_and_exits_2(
    bare: User,
) -> None:
    one_error_line(tuneop(bare, "operator", "--all-namespaces"), "operator")


def test_a_cluster_run_without_the_operator_extra_names_it_and_local(bare: User) -> None:
    seen = tuneop(bare, "run", "examples/quickstart.yaml")
    one_error_line(seen, "operator")
    assert "--local" in seen.err


def test_a_qmc_session_without_scipy_is_refused_naming_the_qmc_extra(bare: User) -> None:
    text = bare.path("examples/branin-random.yaml").read_text()
    assert "type: random" in text
    bare.write("qmc.yaml", text.replace("type: random", "type: qmc"))
    one_error_line(tuneop(bare, "plan", "qmc.yaml"), "qmc")
    one_error_line(tuneop(bare, "run", "qmc.yaml", "--local"), "qmc")


def test_the_python_api_runs_without_pandas_and_its_dataframe_names_the_extra(
    bare: User,
) -> None:
    cells = [
        "from tuneop.sdk import Session, SessionError\n"
        "results = Session.from_file('examples/quickstart.yaml').run('r4')\n"
        "print(results.phase, len(results.trials))\n"
        "try:\n"
        "    results.to_dataframe()\n"
        "except SessionError as err:\n"
        "    print(err)\n"
        "try:\n"
        "    Session.from_file('examples/quickstart.yaml').submit()\n"
        "except SessionError as err:\n"
        "    print(err)\n"
    ]
    python = str(bare.cwd / ".venv" / "bin" / "python")
    seen = bare.run([python, "-c", notebook_argv()[2]], stdin=json.dumps(cells), timeout=600)
    assert seen.code == 0, seen
    assert "Succeeded 30" in seen.out, seen
    assert (
        "Results.to_dataframe() needs pandas, which this Python does not have;"
        " install it with pip install 'tuneop[dataframe]'"
    ) in seen.out, seen
    assert "needs kubernetes" in seen.out and "pip install 'tuneop[operator]'" in seen.out, seen


def test_a_template_session_is_checked_without_kubernetes_validate(bare: User) -> None:
    seen = tuneop(bare, "plan", "examples/sklearn-gbm.yaml")
    assert seen.code == 0, seen
    good = bare.path("examples/sklearn-gbm.yaml").read_text()
    assert "containers:" in good
    bare.write("typo.yaml", good.replace("containers:", "containerz:", 1))
    seen = tuneop(bare, "plan", "typo.yaml")
    assert seen.code == 2, seen
    assert "Traceback" not in seen.both
    assert "spec.template.spec.containerz: unknown field" in seen.err, seen


def test_tuneop_installs_beside_another_version_of_a_dependency_without_changing_it(
    bare: User,
) -> None:
    # A project of the user's already has its own rich (an older one within tuneop's range).
    pip = str(bare.cwd / ".venv" / "bin" / "pip")
    seen = bare.run([pip, "install", "-q", "rich==14.1.0"], timeout=600)
    assert seen.code == 0, seen
    seen = bare.run([pip, "install", "-q", "-e", "."], timeout=600)
    assert seen.code == 0, seen
    seen = bare.run([pip, "check"])
    assert seen.code == 0, seen  # no "tuneop has requirement rich==..., but you have ..."
    seen = bare.run([pip, "show", "rich"])
    assert "Version: 14.1.0" in seen.out, seen
    seen = tuneop(bare, "run", "examples/quickstart.yaml", "--local", "--results-dir", "r3")
    assert seen.code == 0, seen
    assert "Traceback" not in seen.both


def test_a_session_tracked_in_mlflow_without_the_mlflow_extra_names_it(bare: User) -> None:
    text = bare.path("examples/quickstart.yaml").read_text()
    bare.write(
        "tracked.yaml", text + "  tracking:\n    mlflow: {trackingUri: http://127.0.0.1:9}\n"
    )
    one_error_line(tuneop(bare, "run", "tracked.yaml", "--local"), "mlflow")


def test_a_katib_sobol_experiment_imports_with_a_note_naming_the_qmc_extra(bare: User) -> None:
    # Katib's sobol is tuneop's qmc, which needs scipy to plan or run here: said at once.
    bare.write("sobol.yaml", (KATIB / "hp-tuning" / "sobol.yaml").read_text())
    for strict in ([], ["--strict"]):  # carried over whole: --strict takes it too
        seen = tuneop(bare, "import", "katib", "sobol.yaml", *strict, "-o", "s.yaml")
        assert seen.code == 0 and "Traceback" not in seen.both, seen
        said = [line for line in seen.err.splitlines() if "tuneop[qmc]" in line]
        assert len(said) == 1 and said[0].startswith("notice: "), seen


def test_a_katib_import_from_the_cluster_names_the_operator_extra_not_the_kubeconfig(
    bare: User,
) -> None:
    source = KATIB / "trial-template" / "trial-configmap-source.yaml"
    bare.write("exp.yaml", source.read_text())
    bare.write("kc", "apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n")
    seen = tuneop(bare, "import", "katib", "exp.yaml", "--from-cluster", "--kubeconfig", "kc")
    one_error_line(seen, "operator")
    assert "--configmap FILE" in seen.err and "kubeconfig" not in seen.err, seen
