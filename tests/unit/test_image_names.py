"""One image naming scheme everywhere a user reads or runs one: tuneop/operator and
tuneop/runner, in the examples, the chart, the Dockerfiles and the docs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
SCHEME = re.compile(r"^([a-z0-9.\-]+(:[0-9]+)?/)*tuneop/(operator|runner):[0-9A-Za-z.\-]+$")
# An image name as docker build/push or a manifest writes it: something/tuneop... or
# tuneop-something, followed by a tag.
MENTION = re.compile(r"(?<![\w/$.-])((?:\$REGISTRY/)?[\w.\-/]*tuneop[\w\-/]*:[0-9][\w.\-]*)")
TEXTS = [
    "README.md",
    "Dockerfile",
    "runner_image/README.md",
    "runner_image/Dockerfile",
    "docs/install.md",
    "docs/spec.md",
    "docs/concepts.md",
]


def _mentions(text: str) -> list[str]:
    return [m.replace("$REGISTRY/", "") for m in MENTION.findall(text)]


@pytest.mark.parametrize("path", TEXTS)
def test_every_image_a_document_names_follows_the_scheme(path: str) -> None:
    names = _mentions((REPO / path).read_text())
    assert all(SCHEME.match(n) for n in names), names


@pytest.mark.parametrize("path", sorted((REPO / "examples").glob("*.yaml")), ids=lambda p: p.name)
def test_every_short_form_example_runs_the_runner_image(path: Path) -> None:
    # A session with a template runs its team's own image; the short form runs tuneop's.
    for doc in yaml.safe_load_all(path.read_text()):
        if isinstance(doc, dict) and doc.get("kind") == "TuningSession":
            spec = doc["spec"]
            if "template" in spec or "trialResource" in spec:
                assert "image" not in (spec.get("runner") or {})
            else:
                assert spec["runner"]["image"] == "tuneop/runner:0.1.0"


def test_the_chart_runs_the_operator_image_and_install_md_builds_and_pushes_both() -> None:
    values = yaml.safe_load((REPO / "charts/tuneop/values.yaml").read_text())
    assert values["image"]["repository"] == "tuneop/operator"
    install = (REPO / "docs/install.md").read_text()
    for image in ("tuneop/operator", "tuneop/runner"):
        assert f"docker build -t $REGISTRY/{image}:" in install
        assert f"docker push $REGISTRY/{image}:" in install
