"""A Katib Experiment's algorithm, as tuneop's optimizer (``katib``'s table says which).

The algorithm is named exactly as Katib ships it (``random``, ``tpe``, ...; Katib finds
its suggestion service by that name, so ``TPE`` is none and is refused); one Katib does
not ship (a suggestion service of the user's own) becomes random search, with a note.
``random_state`` becomes the seed, hyperband's and pbt's settings tuneop's, checked as
Katib's ``ValidateAlgorithmSettings`` checks them; any other setting is a note.
"""

from __future__ import annotations

import re
from typing import Any

from tuneop.core.conversions.katib_fields import KatibError, listed, mapping, number, whole

__all__ = ["ALGORITHMS", "algorithm", "algorithm_name"]

ALGORITHMS: dict[str, dict[str, Any]] = {
    "random": {"type": "random"},
    "grid": {"type": "grid"},
    # Katib's tpe is hyperopt's: each parameter sampled on its own.
    "tpe": {"type": "bayesian", "multivariate": False},
    "multivariate-tpe": {"type": "bayesian"},
    "bayesianoptimization": {"type": "gp"},
    "cmaes": {"type": "cmaes"},
    "sobol": {"type": "qmc"},
    "hyperband": {"type": "hyperband"},
    "pbt": {"type": "pbt"},
}
# Katib's hyperband and pbt settings → optimizer.hyperband's and optimizer.pbt's fields
_HYPERBAND = {"resource_name": "resource", "r_l": "maxResource", "eta": "eta"}
_PBT = {
    "suggestion_trial_dir": "checkpointDir",
    "n_population": "population",
    "truncation_threshold": "truncation",
    "resample_probability": "resampleProbability",
}
_PBT_CHECKPOINTS = (
    "spec.algorithm: pbt: Katib copies the parent's checkpoint folder into the trial's;"
    " tuneop tells the trial both folders, TUNEOP_CHECKPOINT_DIR (its own, under"
    " suggestion_trial_dir) and TUNEOP_PARENT_CHECKPOINT_DIR: the trial reads the one and"
    " writes the other, on a volume every trial mounts there"
)


def algorithm_name(spec: dict[str, Any]) -> str:
    name = mapping(spec.get("algorithm"), "spec.algorithm").get("algorithmName")
    if name is None or name == "":  # Katib has no default: it refuses
        raise KatibError("spec.algorithm.algorithmName: must be specified")
    if not isinstance(name, str):
        raise KatibError("spec.algorithm.algorithmName: must be a string")
    if name not in ALGORITHMS and name.lower() in ALGORITHMS:
        # Katib finds an algorithm's suggestion service by its exact name: TPE is none.
        raise KatibError(
            f"spec.algorithm.algorithmName: {name[:40]} is not Katib's name (it is"
            f" {name.lower()}; Katib's names are lower case)"
        )
    return name


def algorithm(spec: dict[str, Any], gp: bool, notes: list[str]) -> dict[str, Any]:
    algo = mapping(spec.get("algorithm"), "spec.algorithm")
    name = algorithm_name(spec)
    optimizer = dict(ALGORITHMS.get(name, {"type": "random"}))
    if name not in ALGORITHMS:
        notes.append(f"spec.algorithm.algorithmName: {name[:40]} not carried over; random search")
    elif name == "bayesianoptimization" and not gp:
        optimizer = {"type": "bayesian"}
        notes.append(
            "spec.algorithm.algorithmName: bayesianoptimization becomes TPE (tuneop's gp"
            " optimizer needs PyTorch: pip install 'tuneop[gp]')"
        )
    where = "spec.algorithm.algorithmSettings"
    found: dict[str, Any] = {}
    for i, setting in enumerate(listed(algo.get("algorithmSettings"), where)):
        setting = mapping(setting, f"{where}[{i}]")
        key = setting.get("name")
        if key == "random_state":
            optimizer["seed"] = whole(number(setting.get("value"), f"{where}[{i}].value"))
        elif name == "hyperband" and key in _HYPERBAND:
            found[_HYPERBAND[key]] = _hyperband_setting(key, setting.get("value"), i)
        elif name == "pbt" and key in _PBT:
            found[_PBT[key]] = _pbt_setting(key, setting.get("value"), i, notes)
        else:
            notes.append(f"{where}[{i}]: {str(key)[:40]} not carried over")
    if name == "hyperband":
        optimizer["hyperband"] = _required(name, found, _HYPERBAND, ("eta",))
    elif name == "pbt":
        optimizer["pbt"] = _required(name, found, _PBT, ("resample_probability",))
        notes.append(_PBT_CHECKPOINTS)
    return optimizer


def _hyperband_setting(key: str, value: Any, i: int) -> Any:
    """One of Katib's hyperband settings, checked: a name, or a number (eta, r_l)."""
    where = f"spec.algorithm.algorithmSettings[{i}].value"
    if key == "resource_name":
        if not isinstance(value, str) or not value:
            raise KatibError(f"{where}: resource_name must name a parameter")
        return value
    found = number(value, where)
    if key == "eta":  # Katib: int(float(eta)), and 3 when not positive
        return float(int(found)) if found > 0 else 3.0
    if found < 1:
        raise KatibError(f"{where}: r_l must be at least 1 (Katib's s_max = log(r_l) / log(eta))")
    return found


def _pbt_setting(key: str, value: Any, i: int, notes: list[str]) -> Any:
    """One of Katib's pbt settings, checked as its ValidateAlgorithmSettings does."""
    where = f"spec.algorithm.algorithmSettings[{i}].value"
    if key == "suggestion_trial_dir":
        if not isinstance(value, str) or not re.fullmatch(r"/[A-Za-z0-9._/-]{1,1000}", value):
            raise KatibError(f"{where}: suggestion_trial_dir must be an absolute folder")
        return value
    found = number(value, where)
    if key == "n_population":
        if found < 5 or found != int(found):
            raise KatibError(f"{where}: n_population must be a whole number of at least 5")
        return int(found)
    if not 0 <= found <= 1:
        raise KatibError(f"{where}: {key} must be between 0 and 1")
    if key == "truncation_threshold" and not 0 < found <= 0.5:
        notes.append(
            f"{where}: truncation_threshold {found:g} is read as {min(max(found, 0.05), 0.5):g}"
            " (the bottom fraction that exploits the top one: more than 0 and at most half)"
        )
        return min(max(found, 0.05), 0.5)
    return found


def _required(
    name: str, found: dict[str, Any], fields: dict[str, str], optional: tuple[str, ...]
) -> dict[str, Any]:
    """Katib's settings of ``name`` as tuneop's; those not ``optional`` are required, as
    Katib's ValidateAlgorithmSettings requires them."""
    for key, field in fields.items():
        if key not in optional and field not in found:
            raise KatibError(f"spec.algorithm.algorithmSettings: {name} needs {key}")
    return found
