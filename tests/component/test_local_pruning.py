"""Early stopping in local runs: real runner processes, a journal file, a real Redis.

A local session with ``earlyStopping`` runs its workers as processes whose
trials meet in ``pruning.journal`` in the results folder; hopeless trials end
``Pruned``, counted apart, their curves and last values kept, and the report
draws the learning curves in a real browser. The runner against a real
``redis-server`` meets the other workers' trials there, and runs on unpruned,
promptly, when that Redis is down.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from rich.console import Console
from tests.component.headless_browser import Browser
from tests.component.test_report import RENDERED
from tests.runner.runner_harness import run_runner, trials_json

from minicluster.redis_server import RedisServer, free_port
from tuneop.adapters.results_folder.folder import load_records
from tuneop.api.session import parse_manifest
from tuneop.cli.main import main
from tuneop.cli.run import run_local

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "curve-pruning.yaml"
CURVE = "tuneop_runner.objectives.curves:learning_curve"

pytestmark = pytest.mark.component


def session(**spec: Any) -> dict[str, Any]:
    doc = yaml.safe_load(EXAMPLE.read_text())
    doc["spec"].update(spec)
    return doc


def run(doc: dict[str, Any], results: Path) -> tuple[Any, list[dict[str, Any]]]:
    out = run_local(parse_manifest(doc), results, Console(quiet=True))
    return out, sorted(load_records(out.session_dir), key=lambda r: r["trial"])


def test_a_local_session_prunes_hopeless_trials(tmp_path: Path) -> None:
    out, records = run(session(), tmp_path / "results")
    pruned = [r for r in records if r["outcome"] == "Pruned"]
    t = out.status.trials
    assert pruned, "the median pruner stopped no trial"
    assert (t.pruned, t.failed, t.succeeded + t.pruned) == (len(pruned), 0, 16)
    assert out.status.phase == "Succeeded" and out.status.exit_code == 0
    assert out.status.best is not None
    assert out.status.best.trial not in {r["trial"] for r in pruned}
    assert (out.session_dir / "pruning.journal").is_file()
    for r in pruned:  # its curve ends where it was stopped, and its last value is kept
        assert len(r["intermediate"]) < 20
        assert r["objective"]["value"] == r["intermediate"][-1][1]
        assert r["error"].startswith("pruned at step")
    full = [r for r in records if r["outcome"] == "Succeeded"]
    assert all(len(r["intermediate"]) == 20 for r in full)
    session_json = json.loads((out.session_dir / "session.json").read_text())
    assert session_json["pruned"] == len(pruned) and session_json["errors"] == []


def test_without_early_stopping_curves_are_kept_and_nothing_is_pruned(tmp_path: Path) -> None:
    doc = session(totalTrials=4)
    del doc["spec"]["earlyStopping"]
    out, records = run(doc, tmp_path / "results")
    assert [r["outcome"] for r in records] == ["Succeeded"] * 4
    assert all(len(r["intermediate"]) == 20 for r in records)
    assert not (out.session_dir / "pruning.journal").exists()


def test_the_report_draws_the_learning_curves_in_a_browser(
    tmp_path: Path, browser: Browser
) -> None:
    out, _ = run(session(totalTrials=10), tmp_path / "results")
    page = tmp_path / "report.html"
    assert main(["report", str(out.session_dir), "-o", str(page)]) == 0
    visit = browser.open(page.as_uri(), "document.querySelectorAll('.main-svg').length > 0")
    rendered = dict(browser.evaluate(RENDERED))
    browser.screenshot(tmp_path / "report.png")
    print(f"screenshot: {tmp_path / 'report.png'}")
    assert visit.errors == [] and visit.requests == []
    assert rendered.get("intermediate") is True, rendered
    traces = browser.evaluate(
        "document.querySelector('[data-plot=intermediate] .js-plotly-plot')._fullData.length"
    )
    assert traces >= 10  # a curve per trial, pruned ones included


def env_for(storage: str, *params: dict[str, Any], first: int = 0) -> dict[str, str]:
    config = {
        "type": "median",
        "settings": {"n_startup_trials": 1, "n_warmup_steps": 2},
        "metric": "accuracy",
        "direction": "maximize",
        "study": "tuneop:default/redis-test:-:0",
    }
    return {
        "TUNEOP_TRIALS": trials_json(*params, first=first),
        "TUNEOP_OBJECTIVE": CURVE,
        "TUNEOP_METRIC": "accuracy",
        "TUNEOP_EARLY_STOPPING": json.dumps(config),
        "TUNEOP_PRUNING_STORAGE": storage,
    }


def test_workers_meet_in_redis_and_prune_against_each_other(tmp_path: Path, redis_url: str) -> None:
    first = run_runner(tmp_path, env_for(redis_url, {"x": 0.3, "steps": 8}))
    assert [r["status"] for r in first.results] == ["succeeded"], first.stderr
    # Another worker process, later: its hopeless trial is judged against the first's curve.
    second = run_runner(tmp_path, env_for(redis_url, {"x": -1.0, "steps": 8}, first=1))
    assert second.returncode == 0, second.stderr
    assert [(r["status"], r["error"]) for r in second.results] == [
        ("pruned", "pruned at step 2 by early stopping")
    ]


def test_with_redis_down_trials_run_on_unpruned_and_promptly(tmp_path: Path) -> None:
    down = f"redis://127.0.0.1:{free_port()}/0"
    started = time.monotonic()
    run = run_runner(tmp_path, env_for(down, {"x": 0.3, "steps": 4}, {"x": -1.0, "steps": 4}))
    assert time.monotonic() - started < 20
    assert run.returncode == 0, run.stderr
    assert [r["status"] for r in run.results] == ["succeeded", "succeeded"]
    assert run.stderr.count("the study is out of reach (ConnectionError)") == 2
    assert "Traceback" not in run.stderr


def test_a_hung_redis_costs_a_trial_a_bounded_wait(tmp_path: Path) -> None:
    (tmp_path / "hung").mkdir()
    server = RedisServer(tmp_path / "hung")
    server.start()
    try:
        assert server.proc is not None
        server.proc.send_signal(19)  # SIGSTOP: it accepts connections and never answers
        started = time.monotonic()
        run = run_runner(tmp_path, env_for(server.url, {"x": 0.3, "steps": 2}), timeout=60)
        elapsed = time.monotonic() - started
        server.proc.send_signal(18)
    finally:
        server.stop()
    assert [r["status"] for r in run.results] == ["succeeded"], run.stderr
    assert "out of reach" in run.stderr
    assert elapsed < 20, f"a hung Redis held the trial {elapsed:.1f} s"
