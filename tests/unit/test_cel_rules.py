"""The cross-field rules: the same words from ``tuneop plan`` and from the API server.

Each rule of ``tuneop.api.rules`` is in the generated CRD as CEL, and the
model's validator raises with a message holding the rule's words. A row per
rule: a spec that breaks only that rule, and what ``parse_spec`` says.
"""

from __future__ import annotations

from typing import Any

import pytest

from builders import RULE_BREAKERS, spec_data
from tuneop.api import rules as R
from tuneop.api.crd import crd
from tuneop.api.spec import SpecError, parse_spec

CASES = RULE_BREAKERS


def test_every_rule_has_a_case() -> None:
    assert {id(rule) for rule, _ in CASES} == {
        id(r) for r in (*R.PARAMETER_RULES, *R.RUNNER_RULES, *R.SPEC_RULES, *R.EARLY_STOPPING_RULES)
    }


@pytest.mark.parametrize(("rule", "overrides"), CASES, ids=[r.message for r, _ in CASES])
def test_plan_says_what_the_api_server_says(rule: R.Rule, overrides: dict[str, Any]) -> None:
    with pytest.raises(SpecError) as err:
        parse_spec(spec_data(**overrides))
    field, _, words = rule.message.partition(": ")
    assert any(f"{field.replace('[]', '[0]')}: {words}" in p for p in err.value.problems), (
        err.value.problems
    )


def test_the_crd_carries_every_rule_cel_can_state() -> None:
    schema = crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    found = [v["message"] for v in schema["x-kubernetes-validations"]]
    found += [v["message"] for v in schema["properties"]["runner"]["x-kubernetes-validations"]]
    early = schema["properties"]["earlyStopping"]
    found += [v["message"] for v in early["x-kubernetes-validations"]]
    item = schema["properties"]["searchSpace"]["items"]
    found += [v["message"] for v in item["x-kubernetes-validations"]]
    all_rules = (*R.PARAMETER_RULES, *R.RUNNER_RULES, *R.SPEC_RULES, *R.EARLY_STOPPING_RULES)
    assert sorted(found) == sorted(r.message for r in all_rules if r.cel is not None)
