"""The CRD: generated from the model, committed, structural, and in agreement both ways."""

from __future__ import annotations

import enum
import types
import typing
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

import annotated_types as at
import jsonschema
import pytest
import yaml
from core_builders import Session
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from builders import manifest, spec
from tuneop.api.crd import PRINTER_COLUMNS, crd, crd_yaml
from tuneop.api.session import parse_manifest
from tuneop.api.spec import SessionSpec
from tuneop.api.status import SessionStatus, status_to_wire
from tuneop.core.conversions.jobsfile import parse_jobs, session_from_jobs

REPO = Path(__file__).resolve().parents[2]
CRD_FILE = REPO / "crds" / "tuningsession.yaml"
EXAMPLES = sorted((REPO / "examples").glob("*.yaml"))
JOB_PLANS = sorted((REPO / "examples").glob("*.jsonl"))
PRESERVE = "x-kubernetes-preserve-unknown-fields"


def root_schema() -> dict[str, Any]:
    (version,) = crd()["spec"]["versions"]
    return version["schema"]["openAPIV3Schema"]  # type: ignore[no-any-return]


def validator() -> jsonschema.Draft4Validator:
    # Draft 4 is closest to OpenAPI v3's schema dialect (boolean exclusiveMinimum);
    # the x-kubernetes-* keywords are unknown to it and ignored.
    return jsonschema.Draft4Validator(root_schema())


def test_committed_crd_is_what_the_model_generates() -> None:
    assert CRD_FILE.read_text() == crd_yaml(), (
        "crds/tuningsession.yaml is stale: run `tuneop crd > crds/tuningsession.yaml`"
    )


def test_crd_identity() -> None:
    doc = yaml.safe_load(crd_yaml())
    assert (doc["apiVersion"], doc["kind"]) == (
        "apiextensions.k8s.io/v1",
        "CustomResourceDefinition",
    )
    assert doc["metadata"]["name"] == "tuningsessions.tuneop.dev"
    names = doc["spec"]["names"]
    assert (names["kind"], names["plural"], names["singular"]) == (
        "TuningSession",
        "tuningsessions",
        "tuningsession",
    )
    (version,) = doc["spec"]["versions"]
    assert (version["name"], version["served"], version["storage"]) == ("v1alpha1", True, True)
    assert version["subresources"] == {"status": {}}


# ---- model <-> schema agreement


def strip_optional(ann: Any) -> Any:
    if get_origin(ann) in (Union, types.UnionType):
        args = [a for a in get_args(ann) if a is not type(None)]
        if len(args) == 1:
            return args[0]
        return Union[tuple(args)]  # noqa: UP007 - rebuilt from runtime args
    return ann


def expected_kind(ann: Any) -> dict[str, Any]:
    """What the schema node of an annotation must say: type, enum, and nested shapes."""
    ann = strip_optional(ann)
    origin = get_origin(ann)
    if origin is Literal:
        values = list(get_args(ann))
        assert all(isinstance(v, str) for v in values)
        return {"type": "string", "enum": values}
    if isinstance(ann, type) and issubclass(ann, enum.StrEnum):
        return {"type": "string", "enum": [m.value for m in ann]}
    if origin in (Union, types.UnionType):
        args = set(get_args(ann))
        if args <= {int, float}:
            return {"type": "number"}
        return {PRESERVE: True}  # a scalar of several JSON types: any value is kept
    if origin is list:
        (item,) = get_args(ann)
        return {"type": "array", "items": item}
    if origin is dict:
        key, value = get_args(ann)
        assert key is str
        return {"type": "object", "values": value}
    if ann is typing.Any:
        return {PRESERVE: True}
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return {"type": "object", "model": ann}
    scalar = {bool: "boolean", int: "integer", float: "number", str: "string"}
    if ann in scalar:
        return {"type": scalar[ann]}
    if ann is datetime:
        return {"type": "string", "format": "date-time"}
    raise AssertionError(f"no schema rule for {ann!r}")


def check_node(node: dict[str, Any], ann: Any, where: str, problems: list[str]) -> None:
    want = expected_kind(ann)
    if PRESERVE in want:
        if node.get(PRESERVE) is not True:
            problems.append(f"{where}: any JSON value, so {PRESERVE} expected")
        return
    if node.get("type") != want["type"]:
        problems.append(f"{where}: type {node.get('type')!r}, model says {want['type']!r}")
        return
    if node.get("enum") != want.get("enum"):
        problems.append(f"{where}: enum {node.get('enum')} != model {want.get('enum')}")
    if "format" in want and node.get("format") != want["format"]:
        problems.append(f"{where}: format {node.get('format')!r} != {want['format']!r}")
    if "items" in want:
        check_node(node.get("items", {}), want["items"], f"{where}[]", problems)
    if "values" in want:
        values = want["values"]
        if values is typing.Any:
            if node.get(PRESERVE) is not True:
                problems.append(f"{where}: free-form map, so {PRESERVE} expected")
        else:
            check_node(node.get("additionalProperties", {}), values, f"{where}{{}}", problems)
    if "model" in want:
        check_model(node, want["model"], where, problems)


def check_model(
    node: dict[str, Any], model: type[BaseModel], where: str, problems: list[str]
) -> None:
    props: dict[str, Any] = node.get("properties", {})
    fields = {(f.alias or name): f for name, f in model.model_fields.items()}
    for extra in sorted(set(props) - set(fields)):
        problems.append(f"{where}.{extra}: in the CRD, not in {model.__name__}")
    required = set(node.get("required", []))
    for alias, f in fields.items():
        path = f"{where}.{alias}"
        if alias not in props:
            problems.append(f"{path}: in {model.__name__}, not in the CRD")
            continue
        sub = props[alias]
        check_node(sub, f.annotation, path, problems)
        if f.is_required() != (alias in required):
            problems.append(
                f"{path}: required={f.is_required()} but CRD required={alias in required}"
            )
        if f.default_factory is not None:
            factory: Any = f.default_factory
            if "default" in sub and sub["default"] != _json(factory()):
                problems.append(f"{path}: CRD default {sub['default']!r} != model's")
        elif f.default is PydanticUndefined or f.default is None:
            if "default" in sub:
                problems.append(f"{path}: CRD default {sub['default']!r}, model has none")
        elif f.default == "" and "default" not in sub:
            pass  # empty-string defaults are left out of the CRD on purpose (see crd.py)
        elif sub.get("default") != f.default:
            problems.append(f"{path}: CRD default {sub.get('default')!r} != model {f.default!r}")
        want = constraints(f, array=sub.get("type") == "array")
        have = {k: sub[k] for k in CONSTRAINT_KEYS if k in sub}
        if have != want:
            problems.append(f"{path}: CRD constraints {have} != model {want}")


CONSTRAINT_KEYS = (
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "minLength",
    "maxLength",
    "minItems",
    "maxItems",
    "pattern",
)


def constraints(f: FieldInfo, array: bool) -> dict[str, Any]:
    """The schema keywords a field's pydantic constraints stand for."""
    out: dict[str, Any] = {}
    for m in f.metadata:
        if isinstance(m, at.Ge):
            out["minimum"] = m.ge
        elif isinstance(m, at.Gt):
            out |= {"minimum": m.gt, "exclusiveMinimum": True}
        elif isinstance(m, at.Le):
            out["maximum"] = m.le
        elif isinstance(m, at.MinLen):
            out["minItems" if array else "minLength"] = m.min_length
        elif isinstance(m, at.MaxLen):
            out["maxItems" if array else "maxLength"] = m.max_length
        elif getattr(m, "pattern", None) is not None:
            out["pattern"] = m.pattern
    return out


def _json(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(by_alias=True, mode="json")
    return value


@pytest.mark.parametrize(
    ("model", "key"),
    [(SessionSpec, "spec"), (SessionStatus, "status")],
    ids=["spec", "status"],
)
def test_model_and_crd_schema_agree_both_ways(model: type[BaseModel], key: str) -> None:
    problems: list[str] = []
    check_model(root_schema()["properties"][key], model, key, problems)
    assert problems == []


def test_the_agreement_check_catches_a_drifted_schema() -> None:
    node = root_schema()["properties"]["spec"]
    node["properties"]["maxParallel"]["default"] = 5
    node["properties"]["objective"]["properties"]["direction"]["enum"] = ["minimize"]
    node["properties"]["runner"]["properties"].pop("image")
    node["properties"]["typo"] = {"type": "string"}
    node["properties"]["retries"]["maximum"] = 10
    problems: list[str] = []
    check_model(node, SessionSpec, "spec", problems)
    assert len(problems) == 5, problems


def walk(node: dict[str, Any], where: str) -> typing.Iterator[tuple[str, dict[str, Any]]]:
    yield where, node
    for name, sub in node.get("properties", {}).items():
        yield from walk(sub, f"{where}.{name}")
    if isinstance(node.get("items"), dict):
        yield from walk(node["items"], f"{where}[]")
    if isinstance(node.get("additionalProperties"), dict):
        yield from walk(node["additionalProperties"], f"{where}{{}}")


def test_schema_is_structural() -> None:
    untyped = [w for w, n in walk(root_schema(), "") if "type" not in n and not n.get(PRESERVE)]
    assert untyped == []
    for where, node in walk(root_schema(), ""):
        for banned in ("$ref", "anyOf", "oneOf", "allOf", "nullable", "additionalItems"):
            assert banned not in node, f"{where}: {banned} is not structural"
        if "properties" in node:
            assert "additionalProperties" not in node, (
                f"{where}: properties and additionalProperties"
            )


def resolve_status_path(path: str) -> Any:
    """Follow ``.status.a.b`` through the status models; the leaf's annotation."""
    parts = path.removeprefix(".status.").split(".")
    model: Any = SessionStatus
    ann: Any = None
    for part in parts:
        fields = {(f.alias or n): f for n, f in model.model_fields.items()}
        assert part in fields, f"{path}: no field {part} in {model.__name__}"
        ann = strip_optional(fields[part].annotation)
        model = ann
    return ann


@pytest.mark.parametrize(
    "column", [c for c in PRINTER_COLUMNS if c["jsonPath"].startswith(".status.")], ids=str
)
def test_printer_column_points_at_a_status_field_of_its_type(column: dict[str, str]) -> None:
    ann = resolve_status_path(column["jsonPath"])
    assert expected_kind(ann)["type"] == column["type"]
    node = root_schema()
    for part in column["jsonPath"].lstrip(".").split("."):
        node = node["properties"][part]
    assert node["type"] == column["type"]


def test_printer_columns_are_the_documented_ones() -> None:
    assert [c["name"] for c in PRINTER_COLUMNS] == [
        "Phase",
        "Progress",
        "Running",
        "Queued",
        "Failed",
        "Best",
        "Front",
        "Age",
    ]
    assert PRINTER_COLUMNS[-1]["jsonPath"] == ".metadata.creationTimestamp"


def undeclared(data: Any, node: dict[str, Any], where: str) -> list[str]:
    """Keys the API server would prune from ``data`` under this schema."""
    if node.get(PRESERVE) or not isinstance(data, dict | list):
        return []
    if isinstance(data, list):
        return [
            x for i, v in enumerate(data) for x in undeclared(v, node["items"], f"{where}[{i}]")
        ]
    out = []
    for k, v in data.items():
        if k in node.get("properties", {}):
            out += undeclared(v, node["properties"][k], f"{where}.{k}")
        elif isinstance(node.get("additionalProperties"), dict):
            out += undeclared(v, node["additionalProperties"], f"{where}.{k}")
        else:
            out.append(f"{where}.{k}")
    return out


def test_a_written_status_survives_the_api_server_schema_unpruned() -> None:
    s = Session(spec(maxParallel=3, suspend=False))
    s.reconcile()
    s.finish(0)
    status = s.reconcile().status
    wire = status_to_wire(status)
    for required in ("harvestedJobs", "nextJob", "nextTrial", "inflight", "leaderboard"):
        assert required in wire
    schema = root_schema()["properties"]["status"]
    assert undeclared(wire, schema, "status") == []
    jsonschema.Draft4Validator(schema).validate(wire)


# ---- examples


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_validates_against_the_crd_and_parses(path: Path) -> None:
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
    assert len(docs) == 1
    validator().validate(docs[0])
    assert parse_manifest(docs[0]).ref.name == docs[0]["metadata"]["name"]


@pytest.mark.parametrize("path", JOB_PLANS, ids=lambda p: p.name)
def test_example_job_plan_parses_and_its_session_validates(path: Path) -> None:
    trials = parse_jobs(path.read_text(), source=path.name)
    assert trials
    doc = session_from_jobs(trials, name=path.stem)
    validator().validate(doc)
    assert parse_manifest(doc).spec.trials == trials


def test_there_are_examples_to_check() -> None:
    assert len(EXAMPLES) >= 4 and JOB_PLANS


def bad(**spec_overrides: Any) -> dict[str, Any]:
    return manifest(**spec_overrides)


def template_without_containers() -> dict[str, Any]:
    doc = manifest()
    del doc["spec"]["runner"]["image"]
    doc["spec"]["template"] = {"spec": {"volumes": []}}
    return doc


@pytest.mark.parametrize(
    "doc",
    [
        pytest.param(bad(objective={"metric": "m", "direction": "up"}), id="direction-enum"),
        pytest.param(bad(optimizer={"type": "annealing"}), id="optimizer-enum"),
        pytest.param(bad(jobCleanup="Never"), id="cleanup-enum"),
        pytest.param(bad(maxParallel=0), id="maxParallel-0"),
        pytest.param(bad(maxParallel=201), id="maxParallel-201"),
        pytest.param(bad(maxParallel="4"), id="maxParallel-string"),
        pytest.param(template_without_containers(), id="template-without-containers"),
        pytest.param(bad(runner={"image": ""}), id="empty-runner-image"),
        pytest.param(
            bad(searchSpace=[{"name": "x", "type": "float", "min": 0, "max": 1, "step": 0}]),
            id="step-0",
        ),
        pytest.param(bad(searchSpace=[{"name": "x", "min": 0, "max": 1}]), id="parameter-type"),
        pytest.param(
            bad(searchSpace=[{"name": "1x", "type": "int", "min": 0, "max": 1}]), id="name"
        ),
        pytest.param(bad(objective={}), id="missing-metric"),
        pytest.param(bad(totalTrials=0), id="totalTrials-0"),
        pytest.param({k: v for k, v in manifest().items() if k != "spec"}, id="no-spec"),
    ],
)
def test_schema_rejects_what_the_api_server_must_refuse(doc: dict[str, Any]) -> None:
    assert list(validator().iter_errors(doc)), "the CRD schema accepted it"
