"""``export`` and ``report`` keep the search space the spec declared, and the objective's name.

The user tunes a learning rate on a log scale, a width on a log scale, a depth on a grid
of 2 and a kind among three; exports to a real SQLite Optuna storage; loads the study with
Optuna itself; and opens the report in a real Chromium. The distributions are the spec's
(log, step, bounds and choices as declared, not the range the trials happened to reach),
the study's metric is called ``val_loss``, and the report draws the log-scale parameter on
a log axis.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from tests.component.headless_browser import Browser, chromium
from toy_sessions import session_yaml, with_toy
from user import User

SPACE = [
    {"name": "lr", "type": "float", "min": 1e-5, "max": 1.0, "log": True},
    {"name": "n", "type": "int", "min": 2, "max": 1024, "log": True},
    {"name": "k", "type": "int", "min": 0, "max": 40, "step": 2},
    {"name": "kind", "type": "categorical", "values": ["adam", "sgd", "rms", "lamb"]},
]
SPEC = {
    "objective": {"metric": "val_loss", "direction": "minimize"},
    "searchSpace": SPACE,
    "optimizer": {"type": "random", "seed": 4},
    "totalTrials": 6,
    "maxParallel": 3,
}
DECLARED = {
    "lr": FloatDistribution(1e-5, 1.0, log=True),
    "n": IntDistribution(2, 1024, log=True),
    "k": IntDistribution(0, 40, step=2),
    "kind": CategoricalDistribution(["adam", "sgd", "rms", "lamb"]),
}


@pytest.fixture
def tuned(user: User) -> User:
    with_toy(user)
    user.write("tuned.yaml", session_yaml("tuned", "tuned", SPEC))
    seen = user.tuneop("run", "tuned.yaml", "--local", "--no-report")
    assert seen.code == 0, seen
    return user


def test_an_exported_study_has_the_declared_distributions_and_the_objective_name(
    tuned: User,
) -> None:
    seen = tuned.tuneop(
        "export", "tuneop-results/tuned", "--optuna-storage", "sqlite:///studies.db"
    )
    assert seen.code == 0, seen
    study = optuna.load_study(
        study_name="default/tuned", storage=f"sqlite:///{tuned.path('studies.db')}"
    )
    assert study.metric_names == ["val_loss"]
    assert len(study.trials) == 6
    for trial in study.trials:
        assert trial.distributions == {k: DECLARED[k] for k in trial.params}, trial.number
        assert isinstance(trial.params["n"], int) and isinstance(trial.params["k"], int)


def test_an_exported_multi_objective_study_names_each_objective(user: User) -> None:
    with_toy(user)
    spec = {
        "objectives": [
            {"metric": "f1", "direction": "minimize"},
            {"metric": "f2", "direction": "maximize"},
        ],
        "searchSpace": [{"name": "x", "type": "int", "min": 0, "max": 20, "step": 5}],
        "optimizer": {"type": "grid"},
        "maxParallel": 5,
    }
    user.write("line.yaml", session_yaml("line", "line", spec))
    assert user.tuneop("run", "line.yaml", "--local", "--no-report").code == 0
    seen = user.tuneop("export", "tuneop-results/line", "--optuna-storage", "sqlite:///s.db")
    assert seen.code == 0, seen
    study = optuna.load_study(study_name="default/line", storage=f"sqlite:///{user.path('s.db')}")
    assert study.metric_names == ["f1", "f2"]
    assert {t.distributions["x"] for t in study.trials} == {IntDistribution(0, 20, step=5)}


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Browser]:
    binary = chromium()
    if binary is None:
        pytest.skip("needs Debian's chromium (apt-get install chromium; .ci/run installs it)")
    profile = tmp_path / "chromium-profile"
    profile.mkdir()
    b = Browser(binary, profile)
    yield b
    b.close()


AXIS = """Array.from(document.querySelectorAll('.tuneop-plot')).map(e => {
  const gd = e.querySelector('.js-plotly-plot');
  return [e.dataset.plot, gd && gd._fullLayout.xaxis ? gd._fullLayout.xaxis.type : null,
          gd && gd._fullLayout.xaxis ? gd._fullLayout.xaxis.title.text : null];
})"""


def test_the_report_draws_a_log_scale_parameter_on_a_log_axis(
    tuned: User, browser: Browser
) -> None:
    seen = tuned.tuneop("report", "tuneop-results/tuned", "-o", "report.html")
    assert seen.code == 0, seen
    visit = browser.open(
        tuned.path("report.html").as_uri(), "document.querySelectorAll('.main-svg').length > 0"
    )
    assert visit.errors == []
    axes = {title: kind for _plot, kind, title in browser.evaluate(AXIS) if title}
    assert axes.get("lr") == "log", axes
    assert axes.get("n") == "log", axes
    assert axes.get("k") == "linear", axes
