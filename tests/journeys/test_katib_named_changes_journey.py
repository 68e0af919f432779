"""Issue 28, item 5: nothing of a Katib Experiment changes meaning silently.

The Job's backoffLimit (Kubernetes' default 6 when absent), labels, annotations and
``retain`` carry over; discrete values stay as written; ``list: "sgd"`` is an error naming
the field; what cannot carry over is one ``note:`` line per field, and ``--strict`` makes
those ``error:`` lines and exit 2, writing nothing.
"""

from __future__ import annotations

import shutil

import yaml
from katib_census import KATIB
from user import User


def write(user: User, example: str, edit: object = None) -> None:
    exp = yaml.safe_load((KATIB / example).read_text())
    if callable(edit):
        edit(exp)
    user.write("exp.yaml", yaml.safe_dump(exp))


def session(user: User) -> dict[str, object]:
    return yaml.safe_load(user.path("s.yaml").read_text())["spec"]  # type: ignore[no-any-return]


def test_the_jobs_backoff_limit_labels_annotations_and_retain_carry_over(user: User) -> None:
    def edit(exp: dict) -> None:  # type: ignore[type-arg]
        tt = exp["spec"]["trialTemplate"]
        tt["retain"] = True
        tt["trialSpec"]["metadata"] = {"labels": {"team": "ml"}, "annotations": {"a": "b"}}

    write(user, "hp-tuning/random.yaml", edit)
    seen = user.tuneop("import", "katib", "exp.yaml", "-o", "s.yaml")
    assert seen.code == 0, seen
    spec = session(user)
    assert spec["retries"] == 6  # Kubernetes' default backoffLimit: Katib's Job retries 6 times
    assert spec["jobCleanup"] == "Keep"
    meta = spec["template"]["metadata"]  # type: ignore[index]
    assert (meta["labels"], meta["annotations"]) == ({"team": "ml"}, {"a": "b"})
    assert "note: spec.trialTemplate.trialSpec.metadata.labels: on each trial's pod" in seen.err


def test_discrete_values_stay_as_written_and_a_string_list_is_an_error(user: User) -> None:
    def discrete(exp: dict) -> None:  # type: ignore[type-arg]
        exp["spec"]["parameters"][0] = {
            "name": "lr",
            "parameterType": "discrete",
            "feasibleSpace": {"list": ["0.010", "0.05", "2.50"]},
        }

    write(user, "hp-tuning/random.yaml", discrete)
    assert user.tuneop("import", "katib", "exp.yaml", "-o", "s.yaml").code == 0
    assert session(user)["searchSpace"][0]["values"] == ["0.010", "0.05", "2.50"]  # type: ignore[index]

    def sgd(exp: dict) -> None:  # type: ignore[type-arg]
        exp["spec"]["parameters"][0] = {
            "name": "optimizer",
            "parameterType": "categorical",
            "feasibleSpace": {"list": "sgd"},
        }

    write(user, "hp-tuning/random.yaml", sgd)
    seen = user.tuneop("import", "katib", "exp.yaml")
    assert seen.code == 2 and len(seen.err.splitlines()) == 1, seen
    assert "spec.parameters[0].feasibleSpace.list: must be a list" in seen.err, seen


def test_resume_policy_is_named_and_strict_refuses_what_does_not_carry(user: User) -> None:
    shutil.copy(KATIB / "resume-experiment/long-running-resume.yaml", user.path("exp.yaml"))
    seen = user.tuneop("import", "katib", "exp.yaml", "-o", "s.yaml")
    assert seen.code == 0, seen
    assert "note: spec.resumePolicy: LongRunning not carried over" in seen.err, seen

    user.path("s.yaml").unlink()
    seen = user.tuneop("import", "katib", "exp.yaml", "--strict", "-o", "s.yaml")
    assert seen.code == 2 and seen.out == "", seen
    assert seen.err.splitlines() == [
        "error: spec.resumePolicy: LongRunning not carried over (a tuneop session resumes"
        " from its results whenever it is run again)"
    ], seen
    assert not user.path("s.yaml").exists()

    shutil.copy(KATIB / "hp-tuning/random.yaml", user.path("random.yaml"))
    seen = user.tuneop("import", "katib", "random.yaml", "--strict", "-o", "s.yaml")
    assert seen.code == 0 and "error" not in seen.err, seen
