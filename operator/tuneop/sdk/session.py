"""A TuningSession built in Python: the same manifest, the same ``SessionSpec``, as the YAML.

``Session`` builds the manifest a YAML file would hold from keyword arguments (the
space, the objective, the optimizer, the budget, and the trial's objective as a
Python function or a command) and parses it with the very function that parses a
file (``tuneop.api.session.parse_manifest``): the one model, checked by the same rules,
each problem a ``SpecError`` naming the field. Every other field of the spec is
taken by its Python or YAML name (``early_stopping=...``, ``trialTimeoutSeconds=30``).

``Session.from_yaml`` reads a manifest (bounded, as ``tuneop run`` reads a file) and
``to_yaml`` writes one: a session written and read back is equal to itself. ``run``
runs it here (``tuneop.sdk.local``), ``submit`` applies it to a cluster
(``tuneop.sdk.cluster``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from tuneop.api.parameters import ints_as_ints
from tuneop.api.session import Session as ApiSession
from tuneop.api.session import SessionRef, parse_manifest
from tuneop.api.spec import (
    API_GROUP,
    API_VERSION,
    KIND,
    Objective,
    Optimizer,
    Parameter,
    SessionSpec,
    SpecError,
    spec_to_wire,
)
from tuneop.api.worker import METRICS_IMAGE
from tuneop.cli.inputs import MAX_INPUT_BYTES, UsageError, load_session
from tuneop.core.boundedyaml import YamlBudgetError, load_all
from tuneop.sdk.cluster import ClusterSession, submit
from tuneop.sdk.local import DEFAULT_RESULTS_DIR, ProgressCallback, run_local
from tuneop.sdk.results import Results, SessionError
from tuneop.sdk.space import minimize, objective_path

__all__ = ["RUNNER_IMAGE", "Session"]

# The runner image of this version of tuneop (the short form's default on a cluster).
RUNNER_IMAGE = METRICS_IMAGE


def _wire(value: Any) -> Any:
    """A value as the YAML holds it: models by their camelCase names, nulls left out."""
    if isinstance(value, BaseModel):
        return value.model_dump(by_alias=True, exclude_unset=True, exclude_none=True, mode="json")
    if isinstance(value, Mapping):
        return {k: _wire(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_wire(v) for v in value]
    return value


def _wire_name(name: str) -> str:
    """A spec field's YAML name from its Python name (a YAML name is kept)."""
    info = SessionSpec.model_fields.get(name)
    return info.alias if info is not None and info.alias else name


def _runner(
    function: Callable[..., Any] | str | None,
    command: Sequence[str] | None,
    image: str | None,
    env: Mapping[str, str],
) -> dict[str, Any]:
    runner: dict[str, Any] = {}
    if image is not None:
        runner["image"] = image
    if function is not None:
        runner["objective"] = objective_path(function)
    if command is not None:
        runner["objectiveCommand"] = list(command)
    if env:
        runner["env"] = [{"name": k, "value": v} for k, v in env.items()]
    return runner


class Session:
    """A TuningSession: its name and namespace (``ref``) and its ``spec``."""

    def __init__(
        self,
        name: str,
        *,
        space: Sequence[Parameter] = (),
        objective: Objective | str | None = None,
        optimizer: Optimizer | str | None = None,
        total_trials: int | None = None,
        function: Callable[..., Any] | str | None = None,
        command: Sequence[str] | None = None,
        image: str | None = RUNNER_IMAGE,
        env: Mapping[str, str] | None = None,
        namespace: str = "default",
        **fields: Any,
    ) -> None:
        """``objective``: a metric to minimize, or ``minimize(...)``/``maximize(...)``;
        ``function``: the trial's objective, an importable function or ``"module:function"``;
        ``command``: instead, a program run per trial; ``fields``: any other spec field."""
        spec: dict[str, Any] = {}
        if objective is not None:
            spec["objective"] = minimize(objective) if isinstance(objective, str) else objective
        if space:
            spec["searchSpace"] = list(space)
        if optimizer is not None:
            spec["optimizer"] = {"type": optimizer} if isinstance(optimizer, str) else optimizer
        if total_trials is not None:
            spec["totalTrials"] = total_trials
        given = {_wire_name(k): v for k, v in fields.items()}
        # A template or a trial resource describes the pod: the runner names no image then.
        pod = "template" in given or "trialResource" in given
        runner = _runner(function, command, None if pod else image, env or {})
        if runner:
            spec["runner"] = {**runner, **_wire(given.pop("runner", {}))}
        spec.update(given)
        doc = {
            "apiVersion": f"{API_GROUP}/{API_VERSION}",
            "kind": KIND,
            "metadata": {"name": name, "namespace": namespace},
            "spec": _wire(spec),
        }
        self._session = parse_manifest(doc)

    @classmethod
    def of(cls, session: ApiSession) -> Session:
        """The session a manifest was parsed into."""
        made = cls.__new__(cls)
        made._session = session
        return made

    @classmethod
    def from_yaml(cls, text: str, namespace: str = "default") -> Session:
        """The one TuningSession of a YAML text, read within the bounds a file is read in."""
        if len(text.encode("utf-8", "replace")) > MAX_INPUT_BYTES:
            raise SpecError([f"manifest: larger than {MAX_INPUT_BYTES // 2**20} MiB"])
        try:
            docs = load_all(text)
        except YamlBudgetError as err:
            raise SpecError([f"manifest: YAML past its bounds: {err.rule}"]) from None
        except yaml.YAMLError as err:
            mark = getattr(err, "problem_mark", None)
            where = f" at line {mark.line + 1}" if mark is not None else ""
            raise SpecError([f"manifest: not valid YAML{where}"]) from None
        sessions = [d for d in docs if isinstance(d, dict) and d.get("kind") == KIND]
        if len(sessions) != 1:
            raise SpecError([f"manifest: expected one {KIND}, found {len(sessions)}"])
        return cls.of(parse_manifest(sessions[0], default_namespace=namespace))

    @classmethod
    def from_file(cls, path: str | Path, namespace: str = "default") -> Session:
        """The session of a YAML file, read as ``tuneop run FILE`` reads it."""
        try:
            return cls.of(load_session(str(path), namespace=namespace))
        except UsageError as err:
            raise SessionError(str(err)) from None

    @property
    def ref(self) -> SessionRef:
        return self._session.ref

    @property
    def name(self) -> str:
        return self._session.ref.name

    @property
    def spec(self) -> SessionSpec:
        return self._session.spec

    def manifest(self) -> dict[str, Any]:
        """The manifest ``kubectl apply`` or ``tuneop run`` would take."""
        return {
            "apiVersion": f"{API_GROUP}/{API_VERSION}",
            "kind": KIND,
            "metadata": {"name": self.ref.name, "namespace": self.ref.namespace},
            "spec": spec_to_wire(self.spec),
        }

    def to_yaml(self) -> str:
        """The manifest as YAML, with the fields the session sets (defaults left out:
        read back, they come back the same)."""
        doc = self.manifest()
        doc["spec"] = ints_as_ints(
            self.spec.model_dump(by_alias=True, exclude_unset=True, exclude_none=True, mode="json")
        )
        return yaml.safe_dump(doc, sort_keys=False)

    def with_changes(self, **fields: Any) -> Session:
        """The same session with spec fields changed (``total_trials=60``), checked again."""
        spec = {**spec_to_wire(self.spec), **{_wire_name(k): _wire(v) for k, v in fields.items()}}
        return Session.of(parse_manifest({**self.manifest(), "spec": spec}))

    def in_namespace(self, namespace: str) -> Session:
        """The same session in ``namespace`` (checked as a manifest's)."""
        doc = self.manifest()
        doc["metadata"]["namespace"] = namespace
        return Session.of(parse_manifest(doc))

    def run(
        self,
        results_dir: str | Path = DEFAULT_RESULTS_DIR,
        *,
        fresh: bool = False,
        max_parallel: int | None = None,
        on_progress: ProgressCallback | None = None,
        warm_workers: bool = True,
    ) -> Results:
        """Run (or resume) it here, as ``tuneop run --local`` (``tuneop.sdk.local``)."""
        return run_local(
            self._session,
            results_dir,
            fresh=fresh,
            max_parallel=max_parallel,
            on_progress=on_progress,
            warm_workers=warm_workers,
        )

    def submit(self, kubeconfig: str | None = None, *, dry_run: bool = False) -> ClusterSession:
        """Apply it to a cluster, as ``tuneop run FILE`` (``tuneop.sdk.cluster``)."""
        return submit(self._session, kubeconfig, dry_run)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Session):
            return NotImplemented
        mine, theirs = self.ref, other.ref
        same = (mine.namespace, mine.name) == (theirs.namespace, theirs.name)
        return same and self.spec == other.spec

    def __hash__(self) -> int:
        return hash((self.ref.namespace, self.ref.name))

    def __repr__(self) -> str:
        kind, metric = self.spec.optimizer.type, self.spec.objective.metric
        return f"Session({self.ref.key!r}, {kind}, objective={metric!r})"
