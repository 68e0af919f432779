"""``tuneop run`` on a cluster, its pure parts: what it applies, when following ends, the
overrides of the spec. The API server is a scripted stand-in; the e2e tier runs the real one."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from rich.console import Console

from builders import DROP, TWO_OBJECTIVES, manifest
from tuneop.api.session import parse_manifest
from tuneop.cli.cluster import ClusterRun, follow, leaderboard_records
from tuneop.cli.main import main
from tuneop.cli.sources import UsageError
from tuneop.core.results.summary import summarize


class NotFound(Exception):
    status = 404


class Unavailable(Exception):
    status = 503


def obj(generation: int, phase: str | None, observed: int | None = None) -> dict[str, Any]:
    status: dict[str, Any] = {}
    if phase:
        status = {"phase": phase, "observedGeneration": observed or generation, "exitCode": 0}
    return {"metadata": {"generation": generation}, "status": status}


class Scripted(ClusterRun):
    """Hands out the objects (or raises the errors) of its script, one per read."""

    def __init__(self, script: list[Any]) -> None:
        super().__init__(api=None, session=parse_manifest(manifest()))
        self.script: Iterator[Any] = iter(script)
        self.reads = 0

    def read(self) -> dict[str, Any]:
        self.reads += 1
        step = next(self.script)
        if isinstance(step, Exception):
            raise step
        return dict(step)


FOLLOWS = {
    "finished at the first read": ([obj(1, "Succeeded")], 1),
    "pending, running, then finished": ([obj(1, None), obj(1, "Running"), obj(1, "Failed")], 3),
    # A re-applied spec: the status of the generation before must not end the wait.
    "an earlier generation's result is not the answer": (
        [obj(2, "Succeeded", observed=1), obj(2, "Running"), obj(2, "Succeeded")],
        3,
    ),
    "a blip of the API server is waited out": (
        [Unavailable(), Unavailable(), obj(1, "Succeeded")],
        3,
    ),
}


@pytest.mark.parametrize(("script", "reads"), FOLLOWS.values(), ids=FOLLOWS.keys())
def test_following_ends_when_the_applied_generation_is_finished(
    script: list[Any], reads: int
) -> None:
    run = Scripted(script)
    generation = script[-1]["metadata"]["generation"]
    status = follow(run, generation, Console(quiet=True), False, sleep=lambda _: None)
    assert status.terminal and run.reads == reads


def test_a_session_deleted_while_followed_is_one_line() -> None:
    run = Scripted([obj(1, "Running"), NotFound()])
    with pytest.raises(UsageError, match="session ns/demo was deleted"):
        follow(run, 1, Console(quiet=True), False, sleep=lambda _: None)


def test_without_redis_the_summary_ranks_the_status_leaderboard() -> None:
    session = parse_manifest(
        {
            **manifest(),
            "status": {
                "phase": "Succeeded",
                "leaderboard": [
                    {"trial": 4, "value": 0.5, "params": {"x": 1}},
                    {"trial": 2, "value": 0.7, "params": {"x": 2}},
                ],
            },
        }
    )
    s = summarize(leaderboard_records(session, session.status))
    assert [r["trial"] for r in s.top] == [4, 2] and s.best_params == {"x": 1}


def test_summary_without_redis_shows_the_status_front_of_two_objectives() -> None:
    session = parse_manifest(
        {
            **manifest(objective=DROP, objectives=TWO_OBJECTIVES),
            "status": {
                "phase": "Succeeded",
                "paretoFront": [
                    {"trial": 4, "values": [0.5, 1.0], "params": {"x": 1}},
                    {"trial": 2, "values": [0.7, 3.0], "params": {"x": 2}},
                ],
            },
        }
    )
    s = summarize(leaderboard_records(session, session.status))
    assert s.objectives == [("loss", "minimize"), ("score", "maximize")]
    assert [r["trial"] for r in s.front] == [4, 2]


BAD_RUNS = {
    "max-parallel of 0": (["--max-parallel", "0"], "maxParallel"),
    "negative retries": (["--retries", "-1"], "retries"),
    "trial timeout of 0": (["--trial-timeout", "0"], "trialTimeoutSeconds"),
    "no-wait with a local run": (["--local", "--no-wait"], "are for a cluster run"),
    "cancel-on-interrupt with a local run": (
        ["--local", "--cancel-on-interrupt"],
        "are for a cluster run",
    ),
}


@pytest.mark.parametrize(("args", "message"), BAD_RUNS.values(), ids=BAD_RUNS.keys())
def test_bad_run_options_are_one_line_before_anything_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(manifest()))
    code = main(["run", str(path), "--results-dir", str(tmp_path / "r"), *args])
    err = capsys.readouterr().err
    assert code == 2 and len(err.splitlines()) == 1 and message in err, err
