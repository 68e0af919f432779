"""The runner's configuration: what the planner put in the worker's environment.

The operator's planner sets these variables on the worker container:

* ``TUNEOP_TRIALS`` (required): JSON array of ``{"trial": <int>, "params": {...}}``,
  run in the given order;
* ``TUNEOP_OBJECTIVE`` (``module:function``) or ``TUNEOP_OBJECTIVE_COMMAND`` (JSON
  argv): exactly one of them;
* ``TUNEOP_METRIC`` (optional): the objective metric every trial must report;
* ``TUNEOP_TRIAL_TIMEOUT_SECONDS`` (optional): per-trial timeout;
* ``TUNEOP_SESSION``, ``TUNEOP_JOB_INDEX``: informational.

Command-line flags override them for local debugging. An empty variable counts
as unset, since manifests often render optional values as "". Every problem is
a ``ConfigError`` whose message fits on one line of the pod log.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = [
    "ENV_JOB_INDEX",
    "ENV_METRIC",
    "ENV_OBJECTIVE",
    "ENV_OBJECTIVE_COMMAND",
    "ENV_SESSION",
    "ENV_TIMEOUT",
    "ENV_TRIALS",
    "ConfigError",
    "Settings",
    "Trial",
    "parse_command",
    "parse_timeout",
    "parse_trials",
    "resolve_settings",
]

ENV_TRIALS = "TUNEOP_TRIALS"
ENV_OBJECTIVE = "TUNEOP_OBJECTIVE"
ENV_OBJECTIVE_COMMAND = "TUNEOP_OBJECTIVE_COMMAND"
ENV_METRIC = "TUNEOP_METRIC"
ENV_TIMEOUT = "TUNEOP_TRIAL_TIMEOUT_SECONDS"
ENV_SESSION = "TUNEOP_SESSION"
ENV_JOB_INDEX = "TUNEOP_JOB_INDEX"


class ConfigError(Exception):
    """The worker was configured wrongly; no trial can run as intended."""


@dataclass(frozen=True)
class Trial:
    index: int
    params: dict[str, object]


@dataclass(frozen=True)
class Settings:
    """How to evaluate the trials: the objective and the rules around it."""

    objective: str | None
    command: tuple[str, ...] | None
    metric: str | None
    timeout: float | None


def _reject_constant(name: str) -> object:
    # Python's json accepts NaN/Infinity, which could never be echoed back as
    # valid JSON on the result line.
    raise ValueError(f"{name} is not valid JSON")


def parse_trials(text: str, source: str = ENV_TRIALS) -> tuple[Trial, ...]:
    """Parse a trials array; ``source`` names where it came from in errors."""
    try:
        data = json.loads(text, parse_constant=_reject_constant)
    except ValueError as exc:
        raise ConfigError(f"{source} is not valid JSON: {exc}") from exc
    shape = 'a JSON array of {"trial": <non-negative int>, "params": {...}}'
    if not isinstance(data, list):
        raise ConfigError(f"{source} must be {shape}, got {type(data).__name__}")
    if not data:
        raise ConfigError(f"{source} is an empty array: there is no trial to run")
    trials: list[Trial] = []
    for position, entry in enumerate(data):
        if not isinstance(entry, dict):
            raise ConfigError(f"{source}[{position}] must be an object, as in {shape}")
        index = entry.get("trial")
        if not isinstance(index, int) or isinstance(index, bool) or index < 0:
            raise ConfigError(f"{source}[{position}].trial must be a non-negative integer")
        params = entry.get("params", {})
        if not isinstance(params, dict):
            raise ConfigError(f"{source}[{position}].params must be an object")
        trials.append(Trial(index=index, params=params))
    return tuple(trials)


def _present(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    return value.strip()


def parse_command(text: str, source: str = ENV_OBJECTIVE_COMMAND) -> tuple[str, ...]:
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ConfigError(f"{source} is not valid JSON: {exc}") from exc
    if (
        not isinstance(data, list)
        or not data
        or not all(isinstance(arg, str) for arg in data)
        or not data[0]
    ):
        raise ConfigError(
            f'{source} must be a non-empty JSON array of strings (an argv), e.g. ["python", "x.py"]'
        )
    return tuple(data)


def parse_timeout(text: str, source: str = ENV_TIMEOUT) -> float:
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not math.isfinite(seconds) or seconds <= 0:
        raise ConfigError(f"{source} must be a positive number of seconds, got {text!r}")
    return seconds


def resolve_settings(
    env: Mapping[str, str],
    *,
    objective: str | None = None,
    command: str | None = None,
    metric: str | None = None,
    timeout: str | None = None,
) -> Settings:
    """Settings from ``env``, with the given flag values taking precedence.

    A flag naming the objective (either kind) replaces both objective
    variables, so ``--objective`` works in a shell that has
    ``TUNEOP_OBJECTIVE_COMMAND`` exported.
    """
    objective, command = _present(objective), _present(command)
    if objective is not None or command is not None:
        objective_source, command_source = "--objective", "--command"
    else:
        objective = _present(env.get(ENV_OBJECTIVE))
        command = _present(env.get(ENV_OBJECTIVE_COMMAND))
        objective_source, command_source = ENV_OBJECTIVE, ENV_OBJECTIVE_COMMAND
    if objective is not None and command is not None:
        raise ConfigError(f"both {objective_source} and {command_source} are set; set exactly one")
    if objective is None and command is None:
        raise ConfigError(
            f"no objective given: set {ENV_OBJECTIVE} (module:function) "
            f"or {ENV_OBJECTIVE_COMMAND} (JSON argv)"
        )
    argv = parse_command(command, command_source) if command is not None else None

    metric_value = _present(metric) or _present(env.get(ENV_METRIC))

    timeout_source = "--timeout" if _present(timeout) is not None else ENV_TIMEOUT
    timeout_text = _present(timeout) or _present(env.get(ENV_TIMEOUT))
    seconds = parse_timeout(timeout_text, timeout_source) if timeout_text is not None else None

    return Settings(objective=objective, command=argv, metric=metric_value, timeout=seconds)
