"""Issue 28, item 3: Katib's trial-metadata placeholders reach the trial as Katib gives them.

Katib's own ``trial-metadata-substitution.yaml`` imported and run locally, its training
script stood in for by one that prints what it was given: the trial's Job name and
namespace, the Job's kind and API version, its label and annotation.
"""

from __future__ import annotations

import json
import shutil

import yaml
from katib_census import KATIB
from user import User

SHOW = (
    "import json, os, sys; "
    "print(json.dumps({k: v for k, v in os.environ.items() if k.startswith('TRIAL_')}));"
    " print('loss=0.5')"
)


def test_every_trial_metadata_placeholder_is_substituted_as_katib_does(user: User) -> None:
    shutil.copy(KATIB / "trial-template/trial-metadata-substitution.yaml", user.path("exp.yaml"))
    seen = user.tuneop("import", "katib", "exp.yaml", "-o", "s.yaml")
    assert seen.code == 0, seen
    assert "trialSpec" not in user.path("s.yaml").read_text()
    doc = yaml.safe_load(user.path("s.yaml").read_text())
    doc["spec"]["totalTrials"] = 2
    trial = doc["spec"]["template"]["spec"]["containers"][0]
    trial["command"] = ["python3", "-c", SHOW, *trial["command"][2:]]
    user.write("s.yaml", yaml.safe_dump(doc))

    ran = user.tuneop("run", "s.yaml", "--local", "--no-report")
    assert ran.code == 0, ran

    logs = sorted(user.path("tuneop-results/trial-metadata-substitution/logs").iterdir())
    seen_env = [json.loads(p.read_text().splitlines()[0]) for p in logs]
    assert [e["TRIAL_NAME"] for e in seen_env] == [
        "trial-metadata-substitution-0",
        "trial-metadata-substitution-1",
    ]
    for env in seen_env:
        assert env["TRIAL_NAMESPACE"] == "kubeflow"
        assert (env["TRIAL_KIND"], env["TRIAL_API_VERSION"]) == ("Job", "batch/v1")
        assert env["TRIAL_LABEL_CUSTOM"] == "custom-label"
        assert env["TRIAL_ANNOTATION_CUSTOM"] == "custom-annotation"


def test_an_undeclared_trial_parameter_is_refused_naming_it(user: User) -> None:
    text = (KATIB / "trial-template/trial-metadata-substitution.yaml").read_text()
    user.write("exp.yaml", text.replace("${trialParameters.momentum}", "${trialParameters.mom}"))
    seen = user.tuneop("import", "katib", "exp.yaml")
    assert seen.code == 2 and len(seen.err.splitlines()) == 1, seen
    assert "${trialParameters.mom}" in seen.err and "no trial parameter declares" in seen.err, seen
