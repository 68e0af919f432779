"""The ``tuneop-runner`` command: run a worker's trials and report each one.

The flow is: read the trials, resolve the objective, then evaluate the trials
one after another, printing each result line as soon as its trial ends so a
worker killed halfway keeps what it already reported. One failing trial never
stops the others. With early stopping each trial takes a seat in the
session's pruning study (``tuneop_runner.pruning``) and leaves it with its
outcome.

Exit codes: 0 when every trial succeeded (and reported a finite objective
metric when ``TUNEOP_METRIC`` is set), 1 when any did not, 78 (``EXIT_CONFIG``,
sysexits.h's EX_CONFIG) for configuration errors: the code the worker Job's
``podFailurePolicy`` reserves for "this trial's configuration or objective is
broken", which fails the Job at once and is never retried. A configuration
error found after the trials were read (a missing or unimportable objective, a
bad timeout) still prints a failure line per trial, so the operator can show
why without digging into the pod log. Expected errors are one line on stderr,
never a traceback.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from collections.abc import Mapping, Sequence
from types import FrameType
from typing import Protocol

from tuneop_runner import __version__
from tuneop_runner.config import (
    ENV_JOB_INDEX,
    ENV_SESSION,
    ENV_TRIALS,
    ConfigError,
    Settings,
    Trial,
    parse_trials,
    resolve_settings,
)
from tuneop_runner.contract import (
    Evaluation,
    TrialReport,
    build_report,
    format_result_line,
    truncate_error,
)
from tuneop_runner.frames import begin_line, end_line, header_line, new_nonce
from tuneop_runner.linestart import begin_line as start_line
from tuneop_runner.linestart import follow_stdout
from tuneop_runner.objective import CallableObjective, ObjectiveLoadError, load_callable
from tuneop_runner.pruning import PruningStudy, parse_pruner_config
from tuneop_runner.tracking import trial_run
from tuneop_runner.trial import RunningTrial, running

__all__ = [
    "EXIT_CONFIG",
    "EXIT_OK",
    "EXIT_TRIAL_FAILED",
    "PROG",
    "Evaluator",
    "main",
    "run_job",
    "run_trials",
]

PROG = "tuneop-runner"
EXIT_OK = 0
EXIT_TRIAL_FAILED = 1
# Reserved: the operator's podFailurePolicy fails the Job at once on it (tuneop.api.vocabulary
# EXIT_TRIAL_BROKEN; a test checks the two agree).
EXIT_CONFIG = 78


class Evaluator(Protocol):
    name: str

    def evaluate(self, params: Mapping[str, object], timeout: float | None) -> Evaluation: ...


class _Terminated(BaseException):
    """SIGTERM arrived: unwind so a running command's process group is killed."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description=(
            "Evaluate an objective for the trials in TUNEOP_TRIALS and print one "
            "TUNEOP_RESULT line per trial. Flags override the environment."
        ),
    )
    kind = parser.add_mutually_exclusive_group()
    kind.add_argument("--objective", metavar="MODULE:FUNCTION", help="a Python callable")
    kind.add_argument("--command", metavar="JSON", help="an external command as a JSON argv")
    parser.add_argument("--trials", metavar="JSON", help="the trials, as in TUNEOP_TRIALS")
    parser.add_argument("--metric", metavar="NAME", help="the objective metric to require")
    parser.add_argument("--timeout", metavar="SECONDS", help="per-trial timeout")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return parser


def _error(message: str) -> None:
    print(f"{PROG}: error: {truncate_error(message)}", file=sys.stderr, flush=True)


def _emit(report: TrialReport, nonce: str | None = None) -> None:
    # flush=True per line: a worker killed after this point keeps the line. The result
    # and the end of its frame go in one write, so nothing falls between them.
    line = format_result_line(report)
    if nonce is not None:
        line += "\n" + end_line(nonce, report.trial)
    start_line()  # after an objective that printed without a newline
    print(line, flush=True)


def _begin(trial: int, nonce: str | None) -> None:
    if nonce is not None:
        start_line()
        print(begin_line(nonce, trial), flush=True)


def _load_trials(flag: str | None, env: Mapping[str, str]) -> tuple[Trial, ...]:
    if flag is not None and flag.strip():
        return parse_trials(flag, "--trials")
    text = env.get(ENV_TRIALS, "")
    if not text.strip():
        raise ConfigError(f"no trials given: set {ENV_TRIALS} or pass --trials")
    return parse_trials(text, ENV_TRIALS)


def _evaluator(settings: Settings, loaded: dict[str, Evaluator] | None = None) -> Evaluator:
    if settings.command is not None:
        # Imported here: subprocess and threading are start-up time a worker
        # with a callable objective does not need to pay.
        from tuneop_runner.command import CommandObjective

        return CommandObjective(settings.command)
    assert settings.objective is not None
    if loaded is not None and settings.objective in loaded:
        return loaded[settings.objective]
    try:
        function = load_callable(settings.objective)
    except ObjectiveLoadError as exc:
        raise ConfigError(str(exc)) from exc
    evaluator = CallableObjective(function, settings.objective)
    if loaded is not None:
        loaded[settings.objective] = evaluator
    return evaluator


def _report_config_failure(trials: Sequence[Trial], message: str, nonce: str | None) -> None:
    for trial in trials:
        _begin(trial.index, nonce)
        _emit(build_report(trial.index, trial.params, Evaluation.failed(message), 0.0), nonce)


def run_trials(
    trials: Sequence[Trial],
    evaluator: Evaluator,
    settings: Settings,
    pruning: PruningStudy | None = None,
    nonce: str | None = None,
) -> list[TrialReport]:
    """Evaluate ``trials`` in order, printing each report as it is known; with a
    ``nonce``, each trial's output in its frame (``tuneop_runner.frames``)."""
    reports: list[TrialReport] = []
    for trial in trials:
        _begin(trial.index, nonce)
        started = time.monotonic()
        seat = pruning.begin(trial.index) if pruning is not None else None
        with (
            running(RunningTrial(trial.index, settings.metric or "value", seat)),
            trial_run(trial.index),  # its MLflow run, in a Job of several trials
        ):
            evaluation = evaluator.evaluate(trial.params, settings.timeout)
        duration = time.monotonic() - started
        report = build_report(trial.index, trial.params, evaluation, duration, settings.metric)
        _emit(report, nonce)
        if seat is not None:
            value = report.metrics.get(settings.metric or "value") if report.ok else None
            number = float(value) if isinstance(value, int | float) else None
            seat.finish(report.status, number)
        reports.append(report)
    return reports


def _describe_worker(env: Mapping[str, str], trials: Sequence[Trial], evaluator: Evaluator) -> str:
    where = " ".join(
        f"{label}={env[key]}"
        for label, key in (("session", ENV_SESSION), ("job", ENV_JOB_INDEX))
        if env.get(key)
    )
    prefix = f"{PROG} {__version__}: " + (f"{where}: " if where else "")
    return f"{prefix}{len(trials)} trial(s) with {evaluator.name}"


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise _Terminated


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    # First, before the objective is imported: the log's frames (tuneop_runner.frames).
    nonce = new_nonce()
    print(header_line(nonce), flush=True)
    return run_job(os.environ, nonce, args)


def run_job(
    env: Mapping[str, str],
    nonce: str,
    args: argparse.Namespace | None = None,
    loaded: dict[str, Evaluator] | None = None,
) -> int:
    """One worker's trials, framed by ``nonce``, as configured by ``env`` (and the flags
    in ``args``); its exit code. ``loaded`` keeps callable objectives imported by an
    earlier call (a warm worker, ``tuneop_runner.warm``)."""
    follow_stdout()  # contract lines then start lines of their own (tuneop_runner.linestart)
    flags = (
        args
        if args is not None
        else argparse.Namespace(
            trials=None, objective=None, command=None, metric=None, timeout=None
        )
    )
    try:
        trials = _load_trials(flags.trials, env)
    except ConfigError as exc:
        _error(str(exc))
        return EXIT_CONFIG
    try:
        settings = resolve_settings(
            env,
            objective=flags.objective,
            command=flags.command,
            metric=flags.metric,
            timeout=flags.timeout,
        )
        evaluator = _evaluator(settings, loaded)
        pruner = parse_pruner_config(env)
    except ConfigError as exc:
        _error(str(exc))
        _report_config_failure(trials, str(exc), nonce)
        return EXIT_CONFIG

    print(_describe_worker(env, trials, evaluator), file=sys.stderr, flush=True)
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        pruning = PruningStudy(pruner) if pruner is not None else None
        reports = run_trials(trials, evaluator, settings, pruning, nonce)
    except _Terminated:
        _error("terminated by SIGTERM; trials not yet reported did not finish")
        return 128 + signal.SIGTERM
    except KeyboardInterrupt:
        _error("interrupted; trials not yet reported did not finish")
        return 128 + signal.SIGINT
    finally:
        signal.signal(signal.SIGTERM, previous)
    return EXIT_OK if all(report.ok for report in reports) else EXIT_TRIAL_FAILED
