"""``tuneop report``: the page opened in a real headless Chromium, and its edge cases."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from tests.component.headless_browser import Browser
from tests.component.results_builders import (
    HOSTILE,
    mixed_session,
    record,
    results_folder,
)

from tuneop.cli.main import main
from tuneop.cli.report import MAX_SLICE_PLOTS, build_report
from tuneop.core.results.study import study_data

REPO = Path(__file__).resolve().parents[2]

# A plot rendered: plotly drew its SVG and holds at least one trace of data.
RENDERED = """Array.from(document.querySelectorAll('.tuneop-plot')).map(e => {
  const gd = e.querySelector('.js-plotly-plot');
  return [e.dataset.plot, !!(gd && gd._fullData && gd._fullData.length > 0
          && e.querySelector('.main-svg'))];
})"""


def test_report_renders_every_plot_offline_without_console_errors(
    browser: Browser, tmp_path: Path
) -> None:
    folder = results_folder(tmp_path / "results", mixed_session())
    page = tmp_path / "report.html"
    assert main(["report", str(folder), "-o", str(page)]) == 0

    visit = browser.open(page.as_uri(), "document.querySelectorAll('.main-svg').length > 0")
    rendered = dict(browser.evaluate(RENDERED))
    browser.screenshot(tmp_path / "report.png")  # the test's artifact: look at it
    print(f"screenshot: {tmp_path / 'report.png'}")

    assert visit.errors == []
    assert visit.requests == [], "a self-contained report loads nothing from the network"
    assert set(rendered) >= {"history", "parallel", "importances", "failures", "durations"}
    assert sum(name.startswith("slice-") for name in rendered) == 4  # x, y, kind, the hostile one
    assert all(rendered.values()), f"plots that did not render: {rendered}"
    assert browser.evaluate("window.pwned === undefined")
    assert HOSTILE in browser.evaluate("document.body.innerText")  # shown, as text
    assert (tmp_path / "report.png").stat().st_size > 50_000


def trials_of(n: int, **kw: Any) -> list[dict[str, Any]]:
    return [record(t, **kw) for t in range(n)]


EDGE_CASES = {
    "no trials": ([], []),
    "one succeeded trial": (
        trials_of(1),
        ["history", "slice-0", "slice-1", "slice-2", "durations"],
    ),
    "every trial failed": (
        trials_of(3, outcome="Failed", error="boom"),
        ["failures", "durations"],
    ),
    "one parameter that never changes": (
        [record(t, value=float(t), x=1) for t in range(4)],
        ["history", "parallel", "slice-0", "durations"],  # no importance to tell
    ),
    "pruned trials with learning curves": (
        [record(t, curve=[[1, 1.0 / (t + 1)], [2, 0.5 / (t + 1)]]) for t in range(3)]
        + [record(3, "Pruned", value=2.0, curve=[[1, 2.5]])],
        [
            "history",
            "parallel",
            "importances",
            "intermediate",
            "slice-0",
            "slice-1",
            "slice-2",
            "failures",
            "durations",
        ],
    ),
    "no durations reported": (
        [record(t, duration=None) for t in range(3)],
        ["history", "parallel", "importances", "slice-0", "slice-1", "slice-2"],
    ),
}


@pytest.mark.parametrize(("records", "plots"), EDGE_CASES.values(), ids=EDGE_CASES.keys())
def test_report_of_a_small_or_odd_session_draws_what_it_can(
    records: list[dict[str, Any]], plots: list[str]
) -> None:
    report = build_report(study_data(records))
    assert report.plots == plots
    assert report.html.startswith("<!DOCTYPE html>")


def test_report_draws_a_bounded_number_of_slice_plots() -> None:
    wide = [record(t, **{f"p{i:03d}": (t * i) % 7 for i in range(40)}) for t in range(6)]
    report = build_report(study_data(wide))
    assert sum(p.startswith("slice-") for p in report.plots) == MAX_SLICE_PLOTS
    assert "16 more parameters have no slice plot" in report.html


def test_report_inlines_plotly_and_escapes_what_trials_reported() -> None:
    html = build_report(study_data(mixed_session())).html
    assert "<script src=" not in html
    assert html.count("</script>") == html.count("<script")  # no text closes a script
    assert json.dumps(HOSTILE)[1:-1] not in html
    assert "\x1b" not in html and "\u202e" not in html


def test_local_run_writes_and_names_its_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    example = tmp_path / "quickstart.yaml"
    shutil.copy(REPO / "examples" / "quickstart.yaml", example)
    # --report: the quickstart takes seconds, and a run that short writes it when asked.
    argv = ["run", str(example), "--local", "--no-progress", "--report"]
    code = main([*argv, "--results-dir", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0
    report = tmp_path / "quickstart" / "report.html"
    assert f"report: {report}" in out
    assert report.stat().st_size > 1_000_000  # plotly.js travels with it
