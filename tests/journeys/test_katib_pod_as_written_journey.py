"""Issue 28, item 2: an imported template is the Katib pod as written; plan says so.

A user's ``spec.template`` gets no security defaults (most ML images run as root; the
namespace's Pod Security Admission enforces), the runner short form keeps them, and
``tuneop plan`` names which defaults it applied.
"""

from __future__ import annotations

import json
import shutil

from katib_census import KATIB
from user import User


def test_an_imported_katib_pod_gets_no_security_defaults_and_plan_says_so(user: User) -> None:
    shutil.copy(KATIB / "hp-tuning/random.yaml", user.path("random.yaml"))
    assert user.tuneop("import", "katib", "random.yaml", "-o", "s.yaml").code == 0

    seen = user.tuneop("plan", "s.yaml")
    assert seen.code == 0, seen
    assert "security defaults: none; the trial pod's template is taken as written" in seen.out

    data = json.loads(user.tuneop("plan", "s.yaml", "-o", "json").out)
    assert data["securityDefaults"] == []
    pod = data["manifests"][0]["spec"]["template"]["spec"]
    assert "securityContext" not in pod
    assert all("securityContext" not in c for c in pod["containers"])
    assert not any(v["name"] == "tuneop-tmp" for v in pod["volumes"])


def test_the_runner_short_form_keeps_its_restricted_defaults_and_plan_names_them(
    user: User,
) -> None:
    seen = user.tuneop("plan", "examples/quickstart.yaml")
    assert seen.code == 0, seen
    assert "security defaults applied (spec.runner's short form): runAsNonRoot" in seen.out
    data = json.loads(user.tuneop("plan", "examples/quickstart.yaml", "-o", "json").out)
    pod = data["manifests"][0]["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert "runAsNonRoot" in data["securityDefaults"]
