"""tuneop's copy of the PodTemplateSpec schema is kubernetes-validate's, pruned.

``scripts/vendor_pod_schema.py --check`` rebuilds the file from the installed
kubernetes-validate (a dev dependency) and compares; a template the full schema refuses
is refused by the copy with the same path.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest

from tuneop.api.template import SCHEMA_VERSION, template_problems

REPO = Path(__file__).resolve().parents[2]


def test_the_shipped_schema_is_what_kubernetes_validate_gives() -> None:
    run = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "vendor_pod_schema.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr


@pytest.mark.parametrize(
    ("template", "problem"),
    [
        ({"spec": {"containers": [{"name": "t", "imagePullPolicy": 3}]}}, "imagePullPolicy"),
        ({"spec": {"containers": [{"name": "t", "volumeMounts": [{"name": "v"}]}]}}, "mountPath"),
        ({"spec": {"containerz": []}}, "containerz"),
    ],
)
def test_the_copy_refuses_what_the_full_schema_refuses(
    template: dict[str, Any], problem: str
) -> None:
    pod = {"apiVersion": "v1", "kind": "PodTemplate", "metadata": {"name": "x"}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate({**pod, "template": template}, SCHEMA_VERSION, strict=True)
    problems = template_problems(template)
    assert problems and problem in problems[0]
