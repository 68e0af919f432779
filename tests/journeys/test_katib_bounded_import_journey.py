"""Issue 28, item 6: Katib's own examples made hostile are refused, bounded, in one line.

A billion laughs in the env of Katib's ``trial-metadata-substitution.yaml`` (whose
placeholders the import rewrites across the whole template) is refused by the YAML budget
before anything is expanded; each malformed field of Katib's ``random.yaml`` is one
``error:`` line naming it, exit 2, never a traceback.
"""

from __future__ import annotations

import pytest
import yaml
from capped import PEAK_MB, capped
from katib_census import KATIB
from test_hostile_specs import laughs
from user import User

CPU_SECONDS = 5.0  # a refusal takes about one second of CPU with Python's start; a bomb, minutes


def test_a_billion_laughs_in_a_katib_example_is_refused_in_a_second(user: User) -> None:
    text = (KATIB / "trial-template/trial-metadata-substitution.yaml").read_text()
    bomb = "x:\n" + laughs("  ") + "spec:"
    text = text.replace("spec:", bomb, 1).replace(
        "- name: TRIAL_NAME\n", "- name: TRIAL_NAME\n                    bomb: *l8\n", 1
    )
    user.write("exp.yaml", text)
    seen = capped(user, "import", "katib", "exp.yaml")
    assert seen.seen.code == 2 and "Traceback" not in seen.seen.err, seen
    assert len(seen.lines) == 1 and "aliases are expanded" in seen.lines[0], seen
    assert seen.cpu_seconds < CPU_SECONDS and seen.peak_mb < PEAK_MB, seen


TEMPLATE = ["trialTemplate", "trialSpec", "spec", "template", "spec"]
MALFORMED = [
    pytest.param(["maxTrialCount"], "twelve", "spec.maxTrialCount", id="count-word"),
    pytest.param(["parallelTrialCount"], [3], "spec.parallelTrialCount", id="count-list"),
    pytest.param(
        ["algorithm", "algorithmSettings"], "seed", "algorithmSettings", id="settings-string"
    ),
    pytest.param([*TEMPLATE, "containers"], "c", "template.spec.containers", id="containers"),
    pytest.param(
        ["trialTemplate", "trialParameters", 0, "reference"],
        "${trialSpec.Labels[none]}",
        "trialParameters[0].reference",
        id="missing-label",
    ),
    pytest.param(
        ["trialTemplate", "trialParameters"], "lr", "trialParameters", id="parameters-string"
    ),
    pytest.param(
        ["objective", "metricStrategies"],
        [{"name": "loss", "value": "avg"}],
        "metricStrategies[0]",
        id="strategy",
    ),
]


@pytest.mark.parametrize(("path", "value", "field"), MALFORMED)
def test_a_malformed_field_of_a_katib_example_is_one_error_line_naming_it(
    user: User, path: list[str | int], value: object, field: str
) -> None:
    exp = yaml.safe_load((KATIB / "hp-tuning/random.yaml").read_text())
    node = exp["spec"]
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    user.write("exp.yaml", yaml.safe_dump(exp))
    seen = capped(user, "import", "katib", "exp.yaml")
    assert seen.seen.code == 2 and "Traceback" not in seen.seen.err, seen
    assert len(seen.lines) == 1 and seen.lines[0].startswith("error: exp.yaml: "), seen
    assert field in seen.lines[0], seen
