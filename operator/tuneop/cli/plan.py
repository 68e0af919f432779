"""``tuneop plan``: one dry-run reconcile, shown to a person or a program.

It loads a session (a manifest, or a JSONL job plan), optionally the Jobs a
cluster would have (``--observed``), runs the core planner exactly as the
operator would (a reconcile's rounds folded into one: a harvest batch, then
the launches into the slots its deletions free), and renders the validated spec,
the trials, their grouping into worker Jobs, the first wave's manifests and the status
to be written.

It costs the same whatever the budget: it lists the first ``SHOWN_TRIALS``
trials (200; ``--trials N`` for another bound) and the first wave's Jobs, and
counts the rest, so a ten-million-trial session plans as fast as a ten-trial
one. An int parameter's bounds and step are whole numbers in every format
(the spec model keeps every bound as a float).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

import yaml

from tuneop.api.parameters import ints_as_ints
from tuneop.api.session import Session
from tuneop.api.spec import SessionSpec, SpecError, spec_to_wire
from tuneop.api.status import StatusUnreadable, status_from_wire, status_to_wire
from tuneop.cli.plaintable import draw
from tuneop.cli.plan_lines import kind_lines, spec_lines
from tuneop.cli.text import clean, styled
from tuneop.core.clock import SYSTEM_CLOCK
from tuneop.core.jobs.observed import JobState, Observed, ObservedJob
from tuneop.core.jobs.podtemplate import applied_defaults
from tuneop.core.planning.packing import job_at, job_count
from tuneop.core.planning.planner import Plan, plan
from tuneop.core.results.harvest import harvest_job
from tuneop.core.suggest.search import budget, known_point, point

if TYPE_CHECKING:  # rich is imported only when a table is drawn by it (at a terminal)
    from rich.console import Console

__all__ = [
    "SHOWN_TRIALS",
    "DryRun",
    "as_data",
    "data_text",
    "dry_run",
    "people_spec",
    "plain_table_text",
    "render",
]

# Trials listed when --trials does not say: all of a small session, a screenful of pages
# of a large one (the rest are counted).
SHOWN_TRIALS = 200


@dataclass(frozen=True)
class DryRun:
    session: Session
    plan: Plan
    trials: list[dict[str, Any]]  # the trials shown: the first N (the first wave's if None)
    total_trials: int
    total_jobs: int


def _shape_problem(raw: dict[str, Any], where: str) -> str | None:
    """Why one observed Job's fields are of the wrong type (the file is untrusted), or None."""
    if raw["index"] < 0:
        return f"{where}.index: must be >= 0"
    trials = raw.get("trials", [])
    if not isinstance(trials, list) or not all(
        isinstance(t, int) and not isinstance(t, bool) and t >= 0 for t in trials
    ):
        return f"{where}.trials: a list of trial numbers (>= 0)"
    if not _params_fit(raw.get("params"), raw, trials):
        return f"{where}.params: a list of parameter maps, one per trial"
    logs = raw.get("logs")
    texts = isinstance(logs, list) and all(isinstance(x, str) for x in logs)
    if logs is not None and not isinstance(logs, str) and not texts:
        return f"{where}.logs: text, or a list of texts"
    for key in ("name", "reason", "infraReason"):
        if raw.get(key) is not None and not isinstance(raw[key], str):
            return f"{where}.{key}: text"
    return None


def _params_fit(params: Any, raw: dict[str, Any], trials: list[int]) -> bool:
    """No params, or a list of maps (or nulls), one per trial when the trials are given."""
    return params is None or (
        isinstance(params, list)
        and all(isinstance(p, dict) or p is None for p in params)
        and ("trials" not in raw or not params or len(params) == len(trials))
    )


def _observed_jobs(session: Session, data: Any) -> tuple[list[ObservedJob], Any]:
    if isinstance(data, list):
        data = {"jobs": data}
    if not isinstance(data, dict) or not isinstance(data.get("jobs") or [], list):
        raise SpecError(["observed: must be a list of jobs or a mapping with jobs and status"])
    jobs = [_observed_job(session, raw, n) for n, raw in enumerate(data.get("jobs") or [])]
    return jobs, data.get("status")


def _job_trials(spec: SessionSpec, raw: dict[str, Any], where: str) -> tuple[int, ...]:
    """The trials of an observed Job: as given, or as the spec lays its Jobs out."""
    index = raw["index"]
    total, _ = budget(spec)
    if "trials" in raw:
        return tuple(int(t) for t in raw["trials"])
    if 0 <= index < job_count(spec, total):
        first, size = job_at(spec, total, index)
        return tuple(range(first, first + size))
    raise SpecError([f"{where}.trials: required for a Job outside the layout"])


def _observed_job(session: Session, raw: Any, n: int) -> ObservedJob:
    """One Job of the observed file, checked (it is untrusted), its logs harvested."""
    where = f"observed.jobs[{n}]"
    if not isinstance(raw, dict) or not isinstance(raw.get("index"), int):
        raise SpecError([f"{where}.index: required, an integer"])
    if problem := _shape_problem(raw, where):
        raise SpecError([problem])
    index = raw["index"]
    try:
        state = JobState(raw.get("state", "Active"))
    except ValueError:
        raise SpecError([f"{where}.state: one of Active, Succeeded, Failed"]) from None
    spec = session.spec
    trials = _job_trials(spec, raw, where)
    bayes = spec.learns_from_history
    params = tuple(raw.get("params") or ([] if bayes else [point(spec, t) for t in trials]))
    job = ObservedJob(
        index=index,
        name=raw.get("name") or f"{session.ref.name}-{index}",
        trials=trials,
        state=state,
        params=params,
        reason=raw.get("reason"),
        infra_reason=raw.get("infraReason"),
    )
    if job.finished:
        logs = raw.get("logs")
        logs = [logs] if isinstance(logs, str) else logs
        job = ObservedJob(
            **{
                **job.__dict__,
                "results": harvest_job(
                    job, logs, spec.objective, spec.metrics_collector, spec.all_objectives
                ),
            }
        )
    return job


def dry_run(
    session: Session,
    observed_data: Any = None,
    now: datetime | None = None,
    trials: int | None = None,
) -> DryRun:
    """One planning step; ``trials``: list the first N trials instead of the first wave's."""
    now = now or SYSTEM_CLOCK.now()  # the command's own moment: tests pass theirs
    jobs: list[ObservedJob] = []
    status = session.status
    if observed_data is not None:
        jobs, raw_status = _observed_jobs(session, observed_data)
        if raw_status is not None:
            try:
                status = status_from_wire(raw_status)
            except StatusUnreadable as err:
                raise SpecError([f"observed.{err}"]) from None
    observed = Observed(session=session.ref, jobs=tuple(jobs), status=status)
    result = _rounds(session.spec, observed, now)
    spec = session.spec
    total, _ = budget(spec)
    planned = {
        t: (c.index, p) for c in result.create for t, p in zip(c.trials, c.params, strict=True)
    }
    if trials is None:
        shown = [{"trial": t, "job": j, "params": p} for t, (j, p) in sorted(planned.items())]
    else:
        shown = _first_trials(spec, total, min(trials, total), planned)
    return DryRun(session, result, shown, total, job_count(spec, total))


def _rounds(spec: SessionSpec, observed: Observed, now: datetime) -> Plan:
    """The plans a reconcile commits one after another (``Plan.again``: a harvest batch,
    then the launches into the slots its deletions free), folded into one, as the
    operator would do them (``Plan.then``)."""
    result = plan(spec, observed, now)
    for _ in range(len(observed.jobs) + 2):  # each round harvests or deletes a Job at least
        if not result.again:
            break
        gone = set(result.delete)
        observed = replace(
            observed,
            jobs=tuple(j for j in observed.jobs if j.name not in gone),
            status=result.status,
        )
        result = result.then(plan(spec, observed, now))
    return result


def _first_trials(
    spec: SessionSpec, total: int, n: int, planned: dict[int, tuple[int, Any]]
) -> list[dict[str, Any]]:
    bayes = spec.learns_from_history
    out: list[dict[str, Any]] = []
    job = 0
    while len(out) < n:
        first, size = job_at(spec, total, job)
        for t in range(first, min(first + size, first + n - len(out))):
            derived = _derived(spec, t) if bayes else point(spec, t)
            params: Any = planned[t][1] if t in planned else derived
            out.append({"trial": t, "job": job, "params": params})
        job += 1
    return out


class _PlainDumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):  # type: ignore[misc]
    """YAML without anchors and aliases: a reader sees every value where it is used.

    libyaml's emitter when PyYAML has it: a plan of a few MiB in a second, not ten.
    """

    def ignore_aliases(self, data: Any) -> bool:
        return True


def people_spec(spec: SessionSpec) -> dict[str, Any]:
    """The spec as stored, an int parameter's ``min``, ``max`` and ``step`` as ints (the
    model holds them as floats, and its wire form keeps the spec's fingerprint stable)."""
    return ints_as_ints(spec_to_wire(spec))


def as_data(d: DryRun) -> dict[str, Any]:
    return {
        "session": {
            "name": d.session.ref.name,
            "namespace": d.session.ref.namespace,
            "spec": people_spec(d.session.spec),
        },
        "warnings": list(d.plan.warnings),
        "securityDefaults": applied_defaults(d.session.spec),
        "totalTrials": d.total_trials,
        "totalJobs": d.total_jobs,
        "trials": d.trials,
        "jobs": [
            {
                "index": c.index,
                "name": c.name,
                "first": c.trials[0],
                "count": len(c.trials),
            }
            for c in d.plan.create
        ],
        "manifests": [c.manifest for c in d.plan.create],
        "delete": list(d.plan.delete),
        "events": [e.__dict__ for e in d.plan.events],
        "status": status_to_wire(d.plan.status),
    }


def data_text(d: DryRun, output: str) -> str:
    """The plan as JSON or YAML text (``output``)."""
    # Data for programs goes out as text, not through rich (whose highlighting of a
    # plan of a few MiB costs hundreds of MB), and ASCII only: a control character,
    # C1 code or bidi override from a spec is the format's own escape.
    if output == "json":
        return json.dumps(as_data(d), indent=2, ensure_ascii=True) + "\n"
    return str(yaml.dump(as_data(d), Dumper=_PlainDumper, sort_keys=False, width=100))


def render(d: DryRun, output: str, console: Console) -> None:
    if output in ("json", "yaml"):
        console.file.write(data_text(d, output))
        return
    _render_table(d, console)


# What the table output shows, in order: a line (pieces as ``styled`` takes them) or a
# table (title, columns, rows of cleaned text, caption). Drawn by rich at a terminal,
# as plain text elsewhere (``plain_table_text``): the same content either way.
_Line = tuple[str | tuple[str, str], ...]


@dataclass(frozen=True)
class _Table:
    title: str
    columns: tuple[str, ...]
    rows: Sequence[tuple[str, ...]]
    caption: str | None


def _derived(spec: SessionSpec, t: int) -> Any:
    """A learning optimizer's trial known before it runs: a warm-start point, or a trial of
    a hyperband bracket's first rung or of pbt's first generation (a random draw); None
    when it is suggested later."""
    return known_point(spec, t) or None


def _security_line(spec: SessionSpec) -> str:
    """Which security defaults the trial pods get: the short form's, or none."""
    applied = applied_defaults(spec)
    if applied:
        return "security defaults applied (spec.runner's short form): " + ", ".join(applied)
    return "security defaults: none; the trial pod's template is taken as written"


def _table_items(d: DryRun) -> list[_Line | _Table]:
    s, ref = d.session.spec, d.session.ref
    kind = s.trial_resource.kind if s.trial_resource is not None else "Job"
    packing = f"{s.workers} workers" if s.workers else f"{s.trials_per_job or 1} trial(s) per Job"
    if s.trial_resource is not None:
        packing = "one trial each"
    search = "explicit trials" if s.trials is not None else f"{s.optimizer.type} search"
    items: list[_Line | _Table] = [
        (
            (clean(ref.key), "bold"),
            f": {search}, {d.total_trials} trials in {d.total_jobs} {clean(kind)}s ({packing}), "
            f"maxParallel {s.max_parallel}, objective{'s' * s.multi_objective} "
            + ", ".join(f"{o.direction} {o.metric}" for o in s.all_objectives),
        ),
        *kind_lines(s),
    ]
    if s.queue_name is not None:
        items.append((f"Jobs are created suspended in Kueue's LocalQueue {s.queue_name}",))
    items.append((_security_line(s),))
    items += [(("warning: ", "yellow"), w) for w in d.plan.warnings]
    items += [(line,) for line in spec_lines(s)]
    rows = []
    for row in d.trials:
        params = row["params"]
        shown = "(suggested at run time)" if params is None else json.dumps(params)
        rows.append((str(row["trial"]), str(row["job"]), clean(shown)))
    hidden = d.total_trials - len(d.trials)
    more = f"… {hidden} more trials (--trials N lists the first N)" if hidden > 0 else None
    items.append(_Table("Trials", ("trial", "job", "params"), rows, more))
    jobs = []
    for c in d.plan.create:
        first, last = c.trials[0], c.trials[-1]
        jobs.append((c.name, f"{first}-{last}" if last != first else str(first), "create"))
    jobs += [(clean(name), "", "delete") for name in d.plan.delete]
    waiting = d.total_jobs - d.plan.status.jobs.launched
    wait = f"{waiting} more Jobs wait for a free slot" if waiting > 0 else None
    items.append(_Table("First reconcile", ("job", "trials", "action"), jobs, wait))
    st = d.plan.status
    items.append(
        (
            "status: phase ",
            (st.phase, "bold"),
            f", progress {st.progress}, {st.jobs.active} active Jobs; {st.message}",
        )
    )
    items += [(f"  {c.type}={c.status} ({c.reason}): {c.message}",) for c in st.conditions]
    return items


def plain_table_text(d: DryRun) -> str | None:
    """The table output as rich prints it off a terminal, drawn without rich; None when
    a table holds what only rich can lay out (``plaintable.draw``)."""
    out = []
    for item in _table_items(d):
        if isinstance(item, _Table):
            text = draw(item.title, item.columns, item.rows, item.caption)
            if text is None:
                return None
            out.append(text)
        else:
            out.append("".join(p[0] if isinstance(p, tuple) else clean(p) for p in item) + "\n")
    return "".join(out)


def _render_table(d: DryRun, console: Console) -> None:
    from rich.table import Table
    from rich.text import Text

    for item in _table_items(d):
        if not isinstance(item, _Table):
            console.print(styled(*item))
            continue
        table = Table(title=item.title)
        for col in item.columns:
            table.add_column(col)
        for row in item.rows:
            table.add_row(*(Text(cell) for cell in row))  # cleaned text, never markup
        table.caption = item.caption
        console.print(table)
