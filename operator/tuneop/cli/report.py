"""``tuneop report``: one self-contained HTML page of a session's results.

The page opens offline: plotly.js is inlined once (from the plotly package,
no CDN), and every plot is a plotly figure. The tuning plots come from
Optuna's visualization module, drawn from the records turned into an Optuna
study (``tuneop.core.results.study``): the optimization history with its best-so-far
line, parallel coordinates, parameter importances, a slice plot per
parameter and, when trials reported intermediate values, their learning
curves (a pruned trial's curve ends where early stopping ended it). Beside
them: the leaderboard, failures by reason and trial durations. A session of
several objectives gets its Pareto front first (Optuna's ``plot_pareto_front``
for two or three objectives, and a table of the front), and the other plots
are drawn for its first objective.

Everything in the records is untrusted. Tables are built with every text
HTML-escaped. Plotly reads a small HTML-like markup in the texts of a figure
(axis titles, hover text), so every name and value that reaches a figure is
first made inert: control characters shown as escapes (``cli.text.clean``),
and ``&``, ``<``, ``>`` written as entities, which plotly shows as the
characters themselves. Plotly writes the figures' data into the page as JSON
with ``<`` escaped, so no text can close the script it sits in.
"""

from __future__ import annotations

import functools
import html
import json
import warnings
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import optuna
import plotly.graph_objects as go
from optuna.distributions import BaseDistribution, CategoricalDistribution
from plotly.offline import get_plotlyjs

from tuneop.cli.text import clean
from tuneop.core.imports import without
from tuneop.core.results.records import Record
from tuneop.core.results.study import StudyData, build_study
from tuneop.core.results.summary import metric_value, pareto_records, summarize

# optuna.importance imports scikit-learn for fANOVA, optuna.visualization scipy and
# matplotlib's pyplot for its matplotlib plots, wherever installed (mlflow brings
# matplotlib): seconds of imports for what the report never uses (core.imports).
# The module itself, not optuna's lazy attribute, so its imports happen inside the block.
with without("sklearn", "scipy", "matplotlib", "mpl_toolkits"):
    import optuna.visualization as vis
    from optuna.importance import PedAnovaImportanceEvaluator

__all__ = ["MAX_SLICE_PLOTS", "Report", "build_report", "inert"]

# Beyond this many parameters the page would be mostly slice plots.
MAX_SLICE_PLOTS = 24
MAX_ERROR_ROWS = 50
LEADERBOARD_ROWS = 10
MAX_FRONT_ROWS = 50
PLOT_CONFIG = {"displaylogo": False, "responsive": True}


def inert(value: Any, limit: int = 200) -> str:
    """Text a plotly figure shows as it is: no markup, no control characters."""
    return html.escape(clean(value, limit), quote=False)


def _inert_scalar(value: Any) -> Any:
    return inert(value) if isinstance(value, str) else value


def _inert_space(space: dict[str, BaseDistribution]) -> dict[str, BaseDistribution]:
    """The declared space as the inert records name it: a text choice made inert as the
    values tried are, so they still fit it."""
    out: dict[str, BaseDistribution] = {}
    for name, dist in space.items():
        if isinstance(dist, CategoricalDistribution):
            dist = CategoricalDistribution([_inert_scalar(c) for c in dist.choices])
        out[inert(name)] = dist
    return out


def _inert_record(r: Record) -> Record:
    """The record with every text a figure may show made inert (keys included)."""
    out = dict(r)
    out["params"] = {inert(k): _inert_scalar(v) for k, v in (r.get("params") or {}).items()}
    out["metrics"] = {inert(k): v for k, v in (r.get("metrics") or {}).items()}
    for key in ("session", "outcome", "error"):
        if isinstance(r.get(key), str):
            out[key] = inert(r[key], 500)
    objective = r.get("objective")
    if isinstance(objective, dict) and isinstance(objective.get("metric"), str):
        out["objective"] = {**objective, "metric": inert(objective["metric"])}
    if isinstance(r.get("objectives"), list):
        out["objectives"] = [
            {**o, "metric": inert(o["metric"])} if isinstance(o.get("metric"), str) else o
            for o in r["objectives"]
            if isinstance(o, dict)
        ]
    return out


@dataclass
class Report:
    """The page and the plots it holds (the test checks each one rendered)."""

    html: str
    plots: list[str]


class _Page:
    def __init__(self) -> None:
        self.parts: list[str] = []
        self.plots: list[str] = []

    def section(self, title: str) -> None:
        self.parts.append(f"<h2>{html.escape(title)}</h2>")

    def note(self, text: str) -> None:
        self.parts.append(f'<p class="note">{html.escape(clean(text, 500))}</p>')

    def figure(self, name: str, fig: go.Figure) -> None:
        import plotly.io as pio

        fig.update_layout(height=420, margin={"t": 50})
        # The page's template goes into the figure's JSON as plotly ships it: set on the
        # figure, plotly would copy and check all of it, twice per figure (the most of a
        # small report's time), to write the same JSON.
        spec = fig.to_plotly_json()
        spec["layout"]["template"] = _white_template()
        div = pio.to_html(
            spec,
            full_html=False,
            include_plotlyjs=False,
            config=PLOT_CONFIG,
            div_id=f"plot-{name}",
            validate=False,
        )
        self.parts.append(f'<div class="tuneop-plot" data-plot="{name}">{div}</div>')
        self.plots.append(name)

    def table(self, head: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        cells = "".join(f"<th>{html.escape(h)}</th>" for h in head)
        body = [
            "<tr>" + "".join(f"<td>{html.escape(clean(c, 2000))}</td>" for c in row) + "</tr>"
            for row in rows
        ]
        self.parts.append(f"<table><thead><tr>{cells}</tr></thead><tbody>{''.join(body)}")
        self.parts.append("</tbody></table>")


def _optuna_plot(page: _Page, name: str, draw: Callable[[], go.Figure], why: str) -> None:
    """An Optuna figure, or a note saying why there is none (too few trials, say)."""
    try:
        fig = draw()
    except (ValueError, RuntimeError, ZeroDivisionError) as err:
        page.note(f"{why}: {err}")
        return
    if not fig.data:
        page.note(f"{why}: no trial to draw")
        return
    page.figure(name, fig)


def _importances(study: optuna.Study, params: list[str], target: dict[str, Any]) -> go.Figure:
    """Importances by PED-ANOVA: Optuna's default (fANOVA) would need scikit-learn."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        evaluator = PedAnovaImportanceEvaluator()
    if not target:
        return vis.plot_param_importances(study, evaluator=evaluator, params=params)
    # PED-ANOVA ranks by low target values: a maximized first objective is turned around.
    sign = -1.0 if study.directions[0] == optuna.study.StudyDirection.MAXIMIZE else 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # its note that a target ranks low first
        return vis.plot_param_importances(
            study,
            evaluator=evaluator,
            params=params,
            target=lambda t: sign * t.values[0],
            target_name=target["target_name"],
        )


def _first_objective(data: StudyData) -> dict[str, Any]:
    """With several objectives Optuna's single-valued plots need a target: the first one."""
    if not data.objectives:
        return {}
    return {"target": lambda t: t.values[0], "target_name": data.objectives[0][0]}


def _pareto_plot(page: _Page, study: optuna.Study, data: StudyData) -> None:
    page.section("Pareto front")
    names = [m for m, _ in data.objectives]
    if len(names) > 3:
        page.note(f"a Pareto front plot shows two or three objectives, not {len(names)}")
        return
    draw = functools.partial(vis.plot_pareto_front, study, target_names=names)
    _optuna_plot(page, "pareto", draw, "no front")


def _tuning_plots(
    page: _Page, study: optuna.Study, params: list[str], target: dict[str, Any]
) -> None:
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    page.section("Optimization history")
    draw = functools.partial(vis.plot_optimization_history, study, **target)
    _optuna_plot(page, "history", draw, "no history")
    # Optuna leaves out a trial that lacks one of the parameters asked for: ask for the
    # ones every succeeded trial has (an explicit trial list may vary them).
    common = sorted(set.intersection(*(set(t.params) for t in complete))) if complete else []
    if not common or len(complete) < 2:
        page.note("parallel coordinates and importances need two succeeded trials")
    else:
        page.section("Parallel coordinates")
        draw = functools.partial(vis.plot_parallel_coordinate, study, params=common, **target)
        _optuna_plot(page, "parallel", draw, "not drawn")
        page.section("Parameter importances")
        # Optuna up to 4.8 refuses to rank parameters none of which varies, 4.9 draws bars
        # for them: with no variation there is nothing to tell, whatever the version.
        if any(len({repr(t.params[p]) for t in complete}) > 1 for p in common):
            draw = functools.partial(_importances, study, common, target)
            _optuna_plot(page, "importances", draw, "not drawn")
        else:
            page.note("not drawn: no parameter takes more than one value")
    if any(t.intermediate_values for t in study.trials):
        page.section("Learning curves")
        draw = functools.partial(vis.plot_intermediate_values, study)
        _optuna_plot(page, "intermediate", draw, "not drawn")
    if not complete:
        return
    page.section("Slices")
    for n, p in enumerate(params[:MAX_SLICE_PLOTS]):
        draw = functools.partial(vis.plot_slice, study, params=[p], **target)
        _optuna_plot(page, f"slice-{n}", draw, p)
    if len(params) > MAX_SLICE_PLOTS:
        page.note(f"{len(params) - MAX_SLICE_PLOTS} more parameters have no slice plot")


def _leaderboard(page: _Page, records: Sequence[Record], data: StudyData) -> None:
    s = summarize(records, metric=data.metric, direction=data.direction, top_n=LEADERBOARD_ROWS)
    page.section(f"Leaderboard: top {len(s.top)} by {clean(data.metric, 64)} ({data.direction})")
    rows = []
    for n, r in enumerate(s.top, start=1):
        value = metric_value(r, data.metric)
        rows.append(
            [
                n,
                r.get("trial"),
                f"{value:.6g}" if value is not None else "-",
                json.dumps(r.get("params") or {}),
                json.dumps(r.get("metrics") or {}),
            ]
        )
    page.table(["rank", "trial", data.metric, "params", "metrics"], rows)


def _front_table(page: _Page, records: Sequence[Record], data: StudyData) -> None:
    found = pareto_records(records, data.objectives)
    shown = found[:MAX_FRONT_ROWS]
    page.section(f"Pareto front: {len(found)} trials no other beats on every objective")
    if len(shown) < len(found):
        page.note(f"the first {len(shown)} by {data.metric}")
    rows = []
    for r in shown:
        values = [metric_value(r, m) for m, _ in data.objectives]
        cells = [f"{v:.6g}" if v is not None else "-" for v in values]
        rows.append([r.get("trial"), *cells, json.dumps(r.get("params") or {})])
    head = ["trial", *(f"{m} ({d})" for m, d in data.objectives), "params"]
    page.table(head, rows)


def _failures(page: _Page, records: Sequence[Record], safe: Sequence[Record]) -> None:
    page.section("Failures by reason")
    counts = Counter(str(r.get("outcome")) for r in safe if r.get("outcome") != "Succeeded")
    if not counts:
        page.note("no trial failed")
        return
    reasons = sorted(counts)
    fig = go.Figure(go.Bar(x=reasons, y=[counts[k] for k in reasons]))
    fig.update_layout(title="Trials by outcome (all but Succeeded)", yaxis_title="trials")
    page.figure("failures", fig)
    # A pruned trial did nothing wrong: it is in the chart, not among the errors.
    failed = [r for r in records if r.get("outcome") not in ("Succeeded", "Pruned")]
    failed = failed[-MAX_ERROR_ROWS:]
    if not failed:
        return
    page.table(
        ["trial", "outcome", "error"],
        [[r.get("trial"), r.get("outcome"), r.get("error") or ""] for r in failed],
    )


def _durations(page: _Page, safe: Sequence[Record]) -> None:
    page.section("Trial durations")
    timed = [r for r in safe if isinstance(r.get("durationSeconds"), int | float)]
    if not timed:
        page.note("no trial reported its duration")
        return
    fig = go.Figure()
    for outcome in sorted({str(r.get("outcome")) for r in timed}):
        mine = [r for r in timed if str(r.get("outcome")) == outcome]
        fig.add_trace(
            go.Bar(
                x=[r["trial"] for r in mine], y=[r["durationSeconds"] for r in mine], name=outcome
            )
        )
    fig.update_layout(title="Duration of each trial", xaxis_title="trial", yaxis_title="seconds")
    page.figure("durations", fig)


STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.15em; margin-top: 2em; }
table { border-collapse: collapse; font-size: 0.9em; }
td, th { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
td { max-width: 40em; overflow-wrap: anywhere; } .note { color: #666; }
"""


@functools.cache
def _white_template() -> dict[str, Any]:
    """plotly's ``plotly_white`` template as the JSON plotly ships (what ``to_html`` would
    write for it)."""
    import pkgutil

    import plotly.io as pio

    try:
        raw = pkgutil.get_data("plotly", "package_data/templates/plotly_white.json")
    except OSError:
        raw = None
    if raw is None:  # another layout of the package: its (slower) template object
        template: dict[str, Any] = pio.templates["plotly_white"].to_plotly_json()
        return template
    loaded: dict[str, Any] = json.loads(raw)
    return loaded


@contextmanager
def _white_figures() -> Iterator[None]:
    """Figures made in the block start with no template: the page sets its own in each
    figure's JSON (``_Page.figure``), and a figure made with a template copies and checks
    it (a quarter of a small report's time)."""
    import plotly.io as pio

    templates = pio.templates
    before = templates.default
    templates.default = None  # (checked: nothing to check)
    try:
        yield
    finally:
        # The earlier value was checked when it was set: set it back as it was, where
        # plotly's setter would check (build) the whole template again.
        if hasattr(templates, "_default"):
            templates._default = before
        else:
            templates.default = before


def build_report(data: StudyData) -> Report:
    """The report page of a session's records (any number, even none)."""
    safe = [_inert_record(r) for r in data.records]
    metric = inert(data.metric)
    objectives = [(inert(m), d) for m, d in data.objectives]
    study = build_study(
        StudyData(safe, metric, data.direction, objectives, _inert_space(data.space))
    )
    # Why a plot is missing is said on the page: Optuna need not say it on stderr too.
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    params = sorted({k for r in safe for k in r["params"]})
    outcomes = Counter(str(r.get("outcome")) for r in data.records)
    page = _Page()
    page.parts.append(f"<h1>tuneop report: {html.escape(clean(data.session, 300))}</h1>")
    tally = ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items())) or "none"
    wanted = data.objectives or [(data.metric, data.direction)]
    said = ", ".join(f"{m} ({d})" for m, d in wanted)
    page.note(f"{len(data.records)} trials ({tally}); objective{'s' * (len(wanted) > 1)} {said}")
    for name, words in data.notes():
        page.note(f"{clean(name, 100)}: {words}")
    if data.records:
        with _white_figures():
            if data.objectives:
                _pareto_plot(page, study, StudyData(safe, metric, data.direction, objectives))
                _front_table(page, data.records, data)
            _tuning_plots(page, study, params, _first_objective(data))
            _leaderboard(page, data.records, data)
            _failures(page, data.records, safe)
            _durations(page, safe)
    title = html.escape(clean(f"tuneop report: {data.session}", 300))
    document = (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{title}</title><style>{STYLE}</style>"
        f"<script>{get_plotlyjs()}</script></head>\n<body>\n"
        + "\n".join(page.parts)
        + "\n</body></html>\n"
    )
    return Report(html=document, plots=page.plots)
