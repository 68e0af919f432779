"""``optimizer.type: pbt``: population-based training, its settings and rules.

A population of ``population`` members trains in generations. Generation 0 draws each
member's parameters at random; every later generation starts once the one before has
ended, and each member either *explores* (it keeps its own parameters, each moved by a
factor 0.8 or 1.2, or a categorical one to a neighbouring value; with
``resampleProbability`` each is drawn anew with that probability instead) or, when it
ranked in the bottom ``truncation`` fraction of its generation, *exploits*: it takes
the parameters of a member of the top fraction. Either way the trial continues from a
parent's checkpoint: its own member's last trial when exploring, the member it copied
when exploiting. Katib's ``pbt`` (v0.19.0) is the model; ``tuneop.core.suggest.pbt`` says
where tuneop differs.

Checkpoints are files on a volume the trials share (Katib mounts a PVC): each trial is
told, in its environment, the folder to save in (``TUNEOP_CHECKPOINT_DIR``,
``<checkpointDir>/<session>/trial-<n>``) and its parent's (``TUNEOP_PARENT_CHECKPOINT_DIR``,
absent in generation 0). Trial ``n``'s generation and member are ``n // population`` and
``n % population``: a pure function of the spec, as the parameters and the parent are a
pure function of the results of the generation before.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from tuneop.api.worker import ApiModel

__all__ = [
    "ENV_CHECKPOINT_DIR",
    "ENV_PARENT_CHECKPOINT_DIR",
    "Pbt",
    "checkpoint_dir",
    "member_of",
    "pbt_problem",
    "record_fields",
]

ENV_CHECKPOINT_DIR = "TUNEOP_CHECKPOINT_DIR"
ENV_PARENT_CHECKPOINT_DIR = "TUNEOP_PARENT_CHECKPOINT_DIR"


class Pbt(ApiModel):
    """The settings of ``optimizer.type: pbt`` (Katib's algorithmSettings)."""

    population: int = Field(
        ge=2,
        le=1000,
        strict=True,
        description="Members per generation (Katib's n_population).",
    )
    truncation: float = Field(
        default=0.2,
        gt=0,
        le=0.5,
        strict=True,
        allow_inf_nan=False,
        description="The bottom fraction that copies a member of the top fraction"
        " (Katib's truncation_threshold).",
    )
    resample_probability: float | None = Field(
        default=None,
        ge=0,
        le=1,
        strict=True,
        allow_inf_nan=False,
        description="Explore by drawing each parameter anew with this probability;"
        " unset: move it by a factor 0.8 or 1.2 (Katib's resample_probability).",
    )
    checkpoint_dir: str = Field(
        min_length=2,
        max_length=1024,
        pattern=r"^/[A-Za-z0-9._/-]*$",
        description="An absolute folder on a volume every trial mounts (Katib's"
        " suggestion_trial_dir); each trial saves under <checkpointDir>/<session>/trial-<n>.",
    )


def pbt_problem(
    kind: str,
    settings: Pbt | None,
    several_objectives: bool,
    packs: bool,
    conditional: bool = False,
    resource: bool = False,
) -> str | None:
    """Why ``optimizer``'s pbt settings do not fit the session, as one line, or None."""
    if kind != "pbt":
        return "optimizer.pbt: only with type pbt" if settings else None
    if settings is None:
        return "optimizer.pbt: required with type pbt (population, checkpointDir)"
    if several_objectives:
        return "optimizer.type: pbt ranks one objective, not several"
    if packs:  # each trial has its own parent and checkpoint folder
        return "optimizer.type: pbt runs one trial per Job (no workers, trialsPerJob)"
    if resource:  # the checkpoint folders reach a trial through its pod's env
        return "optimizer.type: pbt runs pods of spec.template or spec.runner, not trialResource"
    if conditional:  # a member's params are perturbed in place: its set must not change
        return "optimizer.type: pbt perturbs every parameter of a member: no searchSpace[].when"
    return None


def member_of(settings: Pbt, trial: int) -> tuple[int, int]:
    """Trial ``trial``'s generation and member."""
    return divmod(trial, settings.population)


def checkpoint_dir(settings: Pbt, session: str, trial: int) -> str:
    """The folder trial ``trial`` of session ``session`` saves its checkpoint in."""
    return f"{settings.checkpoint_dir.rstrip('/')}/{session}/trial-{trial}"


def record_fields(settings: Pbt | None, trial: int) -> dict[str, Any]:
    """What a pbt trial's result record says of its place: generation and member."""
    if settings is None:
        return {}
    generation, member = member_of(settings, trial)
    return {"pbt": {"generation": generation, "member": member}}
