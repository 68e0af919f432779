"""``tuneop plan``: one dry-run reconcile, shown to a person or a program.

It loads a session (a manifest, or a JSONL job plan), optionally the Jobs a
cluster would have (``--observed``), runs the core planner exactly as the
operator would, and renders the validated spec, the trials, their grouping
into worker Jobs, the first wave's manifests and the status to be written.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import yaml
from rich.console import Console
from rich.table import Table

from tuneop.api.session import Session
from tuneop.api.spec import SessionSpec, SpecError, spec_to_wire
from tuneop.api.status import status_from_wire, status_to_wire
from tuneop.core.harvest import harvest_job
from tuneop.core.observed import JobState, Observed, ObservedJob
from tuneop.core.packing import job_sizes
from tuneop.core.planner import Plan, plan
from tuneop.core.search import budget, point

__all__ = ["TABLE_ROWS", "DryRun", "as_data", "dry_run", "render"]

TABLE_ROWS = 20


@dataclass(frozen=True)
class DryRun:
    session: Session
    plan: Plan
    trials: list[dict[str, Any]]
    layout: list[tuple[int, int]]  # (first trial, size) per Job


def _layout(spec: SessionSpec) -> list[tuple[int, int]]:
    total, _ = budget(spec)
    out, first = [], 0
    for size in job_sizes(spec, total):
        out.append((first, size))
        first += size
    return out


def _observed_jobs(
    session: Session, data: Any, layout: list[tuple[int, int]]
) -> tuple[list[ObservedJob], Any]:
    if isinstance(data, list):
        data = {"jobs": data}
    if not isinstance(data, dict):
        raise SpecError(["observed: must be a list of jobs or a mapping with jobs and status"])
    jobs = []
    spec = session.spec
    for n, raw in enumerate(data.get("jobs") or []):
        where = f"observed.jobs[{n}]"
        if not isinstance(raw, dict) or not isinstance(raw.get("index"), int):
            raise SpecError([f"{where}.index: required, an integer"])
        index = raw["index"]
        try:
            state = JobState(raw.get("state", "Active"))
        except ValueError:
            raise SpecError([f"{where}.state: one of Active, Succeeded, Failed"]) from None
        if "trials" in raw:
            trials = tuple(int(t) for t in raw["trials"])
        elif index < len(layout):
            first, size = layout[index]
            trials = tuple(range(first, first + size))
        else:
            raise SpecError([f"{where}.trials: required for a Job outside the layout"])
        bayes = spec.optimizer.type == "bayesian" and spec.trials is None
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
            job = ObservedJob(**{**job.__dict__, "results": harvest_job(job, logs, spec.objective)})
        jobs.append(job)
    return jobs, data.get("status")


def dry_run(session: Session, observed_data: Any = None, now: datetime | None = None) -> DryRun:
    now = now or datetime.now(UTC)
    layout = _layout(session.spec)
    jobs: list[ObservedJob] = []
    status = session.status
    if observed_data is not None:
        jobs, raw_status = _observed_jobs(session, observed_data, layout)
        if raw_status is not None:
            status = status_from_wire(raw_status)
    observed = Observed(session=session.ref, jobs=tuple(jobs), status=status)
    result = plan(session.spec, observed, now)
    spec = session.spec
    bayes = spec.optimizer.type == "bayesian" and spec.trials is None
    planned = {t: p for c in result.create for t, p in zip(c.trials, c.params, strict=True)}
    trials = []
    for job, (first, size) in enumerate(layout):
        for t in range(first, first + size):
            params: Any = planned.get(t) or (None if bayes else point(spec, t))
            trials.append({"trial": t, "job": job, "params": params})
    return DryRun(session, result, trials, layout)


def as_data(d: DryRun) -> dict[str, Any]:
    created = {c.index for c in d.plan.create}
    return {
        "session": {
            "name": d.session.ref.name,
            "namespace": d.session.ref.namespace,
            "spec": spec_to_wire(d.session.spec),
        },
        "warnings": list(d.plan.warnings),
        "trials": d.trials,
        "jobs": [
            {
                "index": i,
                "trials": [first, first + size - 1],
                "action": "create" if i in created else "later",
            }
            for i, (first, size) in enumerate(d.layout)
        ],
        "manifests": [c.manifest for c in d.plan.create],
        "delete": list(d.plan.delete),
        "events": [e.__dict__ for e in d.plan.events],
        "status": status_to_wire(d.plan.status),
    }


def render(d: DryRun, output: str, console: Console) -> None:
    if output == "json":
        console.print_json(json.dumps(as_data(d)))
        return
    if output == "yaml":
        console.print(
            yaml.safe_dump(as_data(d), sort_keys=False, width=100),
            end="",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
        return
    _render_table(d, console)


def _render_table(d: DryRun, console: Console) -> None:
    s, ref = d.session.spec, d.session.ref
    total, _ = budget(s)
    packing = f"{s.workers} workers" if s.workers else f"{s.trials_per_job or 1} trial(s) per Job"
    search = "explicit trials" if s.trials is not None else f"{s.optimizer.type} search"
    console.print(
        f"[bold]{ref.key}[/]: {search}, {total} trials in {len(d.layout)} Jobs ({packing}), "
        f"maxParallel {s.max_parallel}, objective {s.objective.direction} {s.objective.metric}"
    )
    for w in d.plan.warnings:
        console.print(f"[yellow]warning:[/] {w}")
    trials = Table(title="Trials", show_lines=False)
    for col in ("trial", "job", "params"):
        trials.add_column(col)
    for row in d.trials[:TABLE_ROWS]:
        params = row["params"]
        shown = "(suggested at run time)" if params is None else json.dumps(params)
        trials.add_row(str(row["trial"]), str(row["job"]), shown)
    if len(d.trials) > TABLE_ROWS:
        trials.caption = f"{len(d.trials) - TABLE_ROWS} more trials: use -o yaml for all"
    console.print(trials)
    jobs = Table(title="First reconcile")
    for col in ("job", "trials", "action"):
        jobs.add_column(col)
    for c in d.plan.create:
        first, last = c.trials[0], c.trials[-1]
        jobs.add_row(c.name, f"{first}-{last}" if last != first else str(first), "create")
    for name in d.plan.delete:
        jobs.add_row(name, "", "delete")
    waiting = len(d.layout) - d.plan.status.jobs.launched
    if waiting > 0:
        jobs.caption = f"{waiting} more Jobs wait for a free slot"
    console.print(jobs)
    st = d.plan.status
    console.print(
        f"status: phase [bold]{st.phase}[/], progress {st.progress}, "
        f"{st.jobs.active} active Jobs; {st.message}"
    )
    for cond in st.conditions:
        console.print(f"  {cond.type}={cond.status} ({cond.reason}): {cond.message}")
