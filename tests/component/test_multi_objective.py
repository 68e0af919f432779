"""Local sessions of several objectives: the example run for real, every objective's value in
the results folder and in a real Redis, the front in ``summary``, and the report's Pareto
front drawn in a real headless Chromium."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import redis
import yaml
from tests.component.headless_browser import Browser
from tests.component.test_report import RENDERED

from tuneop.api.session import parse_manifest
from tuneop.cli.main import main
from tuneop.core.results.pareto import dominates

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "arbitrage-pareto.yaml"


@pytest.fixture(scope="module")
def example_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The arbitrage profit-versus-drawdown example, run locally once for the module."""
    root = tmp_path_factory.mktemp("pareto")
    # --report: the tests below read the page (a run this short writes it when asked).
    args = ["run", str(EXAMPLE), "--local", "--no-progress", "--report", "--results-dir", str(root)]
    assert main(args) == 0
    return root / "arbitrage-pareto"


def losses(values: list[float]) -> tuple[float, float]:
    """pnl is maximized, max_drawdown minimized: both as losses."""
    return (-values[0], values[1])


def test_the_example_keeps_a_bounded_front_of_pnl_against_drawdown(example_run: Path) -> None:
    status = json.loads((example_run / "session.json").read_text())["status"]
    trials = {
        int(p.stem.split("-")[1]): json.loads(p.read_text())
        for p in (example_run / "trials").glob("trial-*.json")
    }
    assert status["phase"] == "Succeeded" and len(trials) == 32
    assert "best" not in status and status["leaderboard"] == []
    front = status["paretoFront"]
    assert 2 <= len(front) <= 10 and status["frontSize"] == len(front)
    # Every trial keeps each objective's value, the same as its metrics.
    for t in trials.values():
        pnl, drawdown = (o["value"] for o in t["objectives"])
        assert (pnl, drawdown) == (t["metrics"]["pnl"], t["metrics"]["max_drawdown"])
    # The status's entries are the trials' values, and no trial of the session beats one.
    everyone = [losses([o["value"] for o in t["objectives"]]) for t in trials.values()]
    for e in front:
        assert [o["value"] for o in trials[e["trial"]]["objectives"]] == e["values"]
        assert not any(dominates(other, losses(e["values"])) for other in everyone)
    with (example_run / "results.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert {"metric.pnl", "metric.max_drawdown"} <= set(rows[0])


def test_summary_shows_the_whole_front(
    example_run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert main(["summary", str(example_run)]) == 0
    out = capsys.readouterr().out
    assert "Pareto front:" in out and "pnl (maximize)" in out and "max_drawdown" in out


def test_the_report_draws_the_pareto_front_in_a_real_browser(
    example_run: Path, browser: Browser, tmp_path: Path
) -> None:
    page = example_run / "report.html"  # written by the run
    ready = "document.querySelectorAll('.main-svg').length > 0"
    visit = browser.open(page.as_uri(), ready, timeout=180)  # a loaded machine is slow
    rendered = dict(browser.evaluate(RENDERED))
    browser.screenshot(tmp_path / "report.png")
    print(f"screenshot: {tmp_path / 'report.png'}")
    assert visit.errors == [] and visit.requests == []
    assert set(rendered) >= {"pareto", "history", "parallel", "importances"}
    assert all(rendered.values()), f"plots that did not render: {rendered}"
    # plotly's Pareto front plot: the front's trials and the others, as two traces.
    traces = browser.evaluate(
        "document.querySelector('[data-plot=pareto] .js-plotly-plot')._fullData.length"
    )
    assert traces >= 2
    text = browser.evaluate("document.body.innerText")
    assert "Pareto front:" in text and "max_drawdown (minimize)" in text


def test_redis_keeps_every_objective_value_and_summary_reads_the_front(
    redis_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = yaml.safe_load(EXAMPLE.read_text())
    doc["metadata"]["name"] = "zdt1"
    doc["spec"] |= {
        "objectives": [
            {"metric": "f1", "direction": "minimize"},
            {"metric": "f2", "direction": "minimize"},
        ],
        "searchSpace": [{"name": f"x{i}", "type": "float", "min": 0, "max": 1} for i in range(3)],
        "totalTrials": 12,
        "optimizer": {"type": "random", "seed": 1},
    }
    doc["spec"]["runner"]["objective"] = "tuneop_runner.objectives.functions:zdt1"
    parse_manifest(doc)  # a valid session
    spec = tmp_path / "zdt1.yaml"
    spec.write_text(yaml.safe_dump(doc))
    args = ["run", str(spec), "--local", "--no-progress", "--no-report", "--redis-url", redis_url]
    assert main([*args, "--results-dir", str(tmp_path / "local")]) == 0

    r = redis.Redis.from_url(redis_url, decode_responses=True)
    keys = r.hgetall("tuneop:session:default/zdt1:trials")  # trial -> its record's key
    docs = [json.loads(r.get(k) or "{}") for k in keys.values()]
    assert len(docs) == 12
    for d in docs:
        values = [o["value"] for o in d["objectives"]]
        assert values == [d["metrics"]["f1"], d["metrics"]["f2"]]
    capsys.readouterr()
    assert main(["summary", "default/zdt1", "--redis-url", redis_url]) == 0
    out = capsys.readouterr().out
    assert "Pareto front:" in out and "f2 (minimize)" in out
