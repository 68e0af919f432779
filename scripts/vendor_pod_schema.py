"""Write tuneop's copy of the Kubernetes PodTemplateSpec schema from kubernetes-validate.

``spec.template`` is checked against the PodTemplateSpec schema of one Kubernetes
release (``tuneop.api.template.SCHEMA_VERSION``). kubernetes-validate ships it, with
every other kind of twenty releases (77 MB installed); tuneop needs one kind of one
release, so it ships the PodTemplateSpec schema and only the definitions it reaches
(``operator/tuneop/data/``). This script writes that file; ``--check`` exits 1 when the
file differs from what the installed kubernetes-validate gives (a unit test runs it).

    python scripts/vendor_pod_schema.py [--check]

kubernetes-validate (Apache-2.0) takes its schemas from the Kubernetes OpenAPI
documents (Apache-2.0).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "operator"))

from tuneop.api.template import SCHEMA_FILE, SCHEMA_VERSION  # noqa: E402

__all__ = ["main", "vendored"]

# The schema refers to the definitions file; definitions refer to each other.
_PREFIXES = ("/api/_definitions.json#/$defs/", "#/$defs/")


def _refs(node: Any) -> set[str]:
    """The definition names a schema node refers to, at any depth."""
    found: set[str] = set()
    if isinstance(node, dict):
        ref = node.get("$ref")
        for prefix in _PREFIXES:
            if isinstance(ref, str) and ref.startswith(prefix):
                found.add(ref[len(prefix) :])
        for value in node.values():
            found |= _refs(value)
    elif isinstance(node, list):
        for value in node:
            found |= _refs(value)
    return found


def vendored() -> str:
    """The file's text: the schema and the closure of the definitions it refers to."""
    from kubernetes_validate.utils import schema_contents

    folder = f"kubernetes-json-schema/v{SCHEMA_VERSION}-local-strict"
    schema = schema_contents(f"{folder}/podtemplatespec-v1.json", SCHEMA_VERSION)
    defs = schema_contents(f"{folder}/_definitions.json", SCHEMA_VERSION)
    every = defs["$defs"]
    keep: set[str] = set()
    todo = _refs(schema)
    while todo:
        name = todo.pop()
        if name not in keep:
            keep.add(name)
            todo |= _refs(every[name]) - keep
    closure = {**defs, "$defs": {name: every[name] for name in sorted(keep)}}
    doc = {"version": SCHEMA_VERSION, "schema": schema, "definitions": closure}
    return json.dumps(doc, sort_keys=True, separators=(",", ":")) + "\n"


def main(argv: list[str]) -> int:
    target = ROOT / "operator" / "tuneop" / "data" / SCHEMA_FILE
    text = vendored()
    if "--check" in argv:
        same = target.is_file() and target.read_text() == text
        print(f"{target.relative_to(ROOT)}: {'up to date' if same else 'differs'}")
        return 0 if same else 1
    target.parent.mkdir(exist_ok=True)
    target.write_text(text)
    print(f"wrote {target.relative_to(ROOT)} ({len(text):,} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
