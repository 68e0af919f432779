"""Property tests: whatever bytes a worker prints, a spec file holds or a trial file contains,
the parsers answer with their documented outcome or error, in bounded memory.

hypothesis generates arbitrary bytes, text and JSON; each parser may only
return its value or raise its one documented error (``SpecError`` for
specs), and its peak allocation stays under a stated bound for inputs up to
the stated size. The bounds of one result line are also pinned by rows.
"""

from __future__ import annotations

import json
import tracemalloc
from collections.abc import Callable
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from builders import job, manifest
from tuneop.api.session import parse_manifest
from tuneop.api.spec import Objective, SpecError
from tuneop.core.jobs.observed import JobState
from tuneop.core.results.harvest import harvest_job
from tuneop.core.results.records import read_record
from tuneop.core.wire.contract import (
    MAX_DEPTH,
    MAX_ENTRIES,
    MAX_LINE_BYTES,
    RESULT_PREFIX,
    Outcome,
    parse_log,
)
from tuneop.core.wire.logscan import scan

# Peak allocation a parser may use for one input of up to INPUT_BYTES.
INPUT_BYTES = 64 * 1024
PEAK_BYTES = 8 * 1024 * 1024

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=30,
)
PROFILE = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def peak(fn: Callable[[], Any]) -> int:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@PROFILE
@given(st.binary(max_size=INPUT_BYTES) | st.text(max_size=INPUT_BYTES).map(str.encode))
def test_the_result_parser_takes_any_bytes(data: bytes) -> None:
    used = peak(lambda: parse_log(data))
    parsed = parse_log(data)
    # Every report and every malformed line is one prefixed line of the input.
    assert len(parsed.reports) + parsed.malformed <= data.count(RESULT_PREFIX.encode())
    assert used < PEAK_BYTES


@PROFILE
@given(JSON)
def test_any_json_after_the_prefix_is_a_report_or_a_counted_malformed_line(doc: Any) -> None:
    parsed = parse_log(RESULT_PREFIX + json.dumps(doc) + "\n")
    assert len(parsed.reports) + parsed.malformed == 1


@PROFILE
@given(st.binary(max_size=INPUT_BYTES))
def test_any_log_harvests_every_trial_of_the_job(data: bytes) -> None:
    finished = job(0, JobState.SUCCEEDED, trials=[0, 1, 2], params=({}, {}, {}))
    results = harvest_job(finished, [data], Objective(metric="loss"))
    assert [r.trial for r in results] == [0, 1, 2]
    assert all(isinstance(r.outcome, Outcome) for r in results)


@PROFILE
@given(JSON)
def test_any_spec_is_a_session_or_a_spec_error(spec: Any) -> None:
    doc = manifest()
    doc["spec"] = spec
    try:
        used = peak(lambda: parse_manifest(doc))
    except SpecError as err:
        assert err.problems and all(isinstance(p, str) for p in err.problems)
    else:
        assert used < PEAK_BYTES


@PROFILE
@given(st.dictionaries(st.sampled_from([*manifest()["spec"], "trials", "x"]), JSON))
def test_any_field_value_in_a_valid_spec_is_a_session_or_a_spec_error(fields: Any) -> None:
    doc = manifest()
    doc["spec"].update(fields)
    try:
        parse_manifest(doc)
    except SpecError as err:
        assert all(p.startswith(("spec", "metadata", "apiVersion", "kind")) for p in err.problems)


@PROFILE
@given(st.binary(max_size=INPUT_BYTES) | JSON.map(lambda d: json.dumps(d).encode()))
def test_a_trial_file_reader_takes_any_content(data: bytes) -> None:
    used = peak(lambda: read_record(data))
    record = read_record(data)
    assert record is None or isinstance(record["trial"], int)
    assert used < PEAK_BYTES


def line(body: str) -> str:
    return f"{RESULT_PREFIX}{body}\n"


def report(**extra: Any) -> dict[str, Any]:
    return {"trial": 0, "params": {}, "metrics": {"loss": 1}, "status": "succeeded", **extra}


BOUNDS = [
    pytest.param("[" * 5000 + "]" * 5000, "nested deeper", id="nested-5000"),
    pytest.param(
        json.dumps(report())[:-1]
        + ', "deep": '
        + "[" * (MAX_DEPTH + 1)
        + "]" * (MAX_DEPTH + 1)
        + "}",
        "nested deeper",
        id="nested-past-the-bound",
    ),
    pytest.param(
        json.dumps(report(metrics={f"m{i}": i for i in range(MAX_ENTRIES + 1)})),
        "more than",
        id="too-many-metrics",
    ),
    pytest.param(
        json.dumps(report(params={f"p{i}": i for i in range(MAX_ENTRIES + 1)})),
        "more than",
        id="too-many-params",
    ),
    pytest.param(json.dumps(report(error="e" * MAX_LINE_BYTES)), "longer than", id="line-too-long"),
]


@pytest.mark.parametrize(("body", "problem"), BOUNDS)
def test_a_line_past_a_bound_is_malformed_and_its_trial_did_not_report(
    body: str, problem: str
) -> None:
    parsed = parse_log(line(body))
    assert parsed.malformed == 1 and problem in (parsed.first_problem or "")
    finished = job(0, JobState.SUCCEEDED, trials=[0], params=({},))
    (result,) = harvest_job(finished, [line(body)], Objective(metric="loss"))
    assert result.outcome is Outcome.FAILED and problem in (result.error or "")


def test_a_deep_line_beside_good_ones_spoils_only_itself() -> None:
    log = line(json.dumps(report(trial=0))) + line("[" * 5000) + line(json.dumps(report(trial=1)))
    parsed = parse_log(log)
    assert sorted(parsed.reports) == [0, 1] and parsed.malformed == 1


@PROFILE
@given(
    st.lists(st.sampled_from([b"noise\n", b"TUNEOP_RESULT {}\n", b"x" * 50, b"\n"]), max_size=60),
    st.integers(min_value=1, max_value=97),
)
def test_a_log_scan_keeps_the_same_result_lines_however_the_log_is_chunked(
    pieces: list[bytes], size: int
) -> None:
    data = b"".join(pieces)
    chunks = [data[i : i + size] for i in range(0, len(data), size)]
    whole, chunked = scan([data], tail_bytes=64), scan(chunks, tail_bytes=64)
    assert whole == chunked
    # What was kept reads back to what the whole log holds.
    assert parse_log(whole).reports == parse_log(data).reports


def test_an_endless_line_is_cut_and_counts_as_malformed() -> None:
    endless = (RESULT_PREFIX + '{"trial": 0, "x": "').encode() + b"y" * (3 * MAX_LINE_BYTES)
    text = scan([endless[i : i + 65536] for i in range(0, len(endless), 65536)] + [b'"}\n'])
    assert len(text) < MAX_LINE_BYTES + 100
    assert parse_log(text).malformed == 1


# ---- the runner's frames (tuneop.core.wire.framing): issue 25, item 2

NONCE = "0123456789abcdef0123456789abcdef"


def report_line(trial: int, loss: float) -> str:
    return line(json.dumps(report(trial=trial, metrics={"loss": loss}))).rstrip("\n")


FORGED = st.sampled_from(
    [
        "noise",
        f"{RESULT_PREFIX}{{oops",
        "TUNEOP_BEGIN " + "f" * 32 + " 0",
        "TUNEOP_END " + "f" * 32 + " 1",
        "TUNEOP_FRAMES " + "e" * 32,
        'TUNEOP_INTERMEDIATE {"trial": 0, "step": 1, "metrics": {"loss": -5}}',
    ]
) | st.integers(0, 4).map(lambda t: report_line(t, -1e6))


def framed_log(trials: list[int], noise: list[list[str]], between: list[str]) -> str:
    """A runner's framed log: each trial's noise (forgeries included) in its frame, then
    its real result; ``between`` stands outside every frame."""
    out = [f"TUNEOP_FRAMES {NONCE}", *between]
    for t, lines_ in zip(trials, noise, strict=False):
        out += [f"TUNEOP_BEGIN {NONCE} {t}", *lines_, report_line(t, t + 0.5)]
        out += [f"TUNEOP_END {NONCE} {t}", *between]
    return "\n".join(out) + "\n"


@PROFILE
@given(
    st.lists(st.integers(0, 4), min_size=1, max_size=4, unique=True),
    st.lists(st.lists(FORGED, max_size=8), min_size=4, max_size=4),
    st.lists(FORGED, max_size=4),
)
def test_no_result_outside_its_frame_is_accepted(
    trials: list[int], noise: list[list[str]], between: list[str]
) -> None:
    parsed = parse_log(framed_log(trials, noise, between))
    assert {t: r.metrics["loss"] for t, r in parsed.reports.items()} == {t: t + 0.5 for t in trials}
    assert all(s == {} for t, s in parsed.curves.steps.items() if t not in trials)


@settings(PROFILE, max_examples=40)
@given(
    st.lists(st.integers(0, 4), min_size=1, max_size=4, unique=True),
    st.lists(st.tuples(FORGED, st.integers(0, 1500)), min_size=4, max_size=4),
    st.integers(1, 200_000),
)
def test_any_interleaving_of_floods_keeps_every_framed_valid_result(
    trials: list[int], floods: list[tuple[str, int]], size: int
) -> None:
    noise = [[text] * count for text, count in floods]
    data = framed_log(trials, noise, []).encode()
    chunks = [data[i : i + size] for i in range(0, len(data), size)]
    used = peak(lambda: scan(chunks))
    parsed = parse_log(scan(chunks))
    assert {t: r.metrics["loss"] for t, r in parsed.reports.items()} == {t: t + 0.5 for t in trials}
    assert used < PEAK_BYTES


# ---- numbers and text of a trial's output (tuneop.core.untrusted): issue 25, item 1

NUMBER = st.integers(min_value=-(10**600), max_value=10**600) | st.floats() | st.booleans()
TEXT = st.text(alphabet=st.characters(min_codepoint=0xD7F0, max_codepoint=0xE010), max_size=8)


@PROFILE
@given(NUMBER, NUMBER, TEXT, TEXT)
def test_any_number_or_surrogate_in_a_result_line_is_a_classified_outcome(
    value: Any, duration: Any, name: str, error: str
) -> None:
    body = {"trial": 0, "metrics": {"loss": value, name: value}, "status": "succeeded"}
    body |= {"durationSeconds": duration, "error": error}
    finished = job(0, JobState.SUCCEEDED, trials=[0], params=({},))
    (result,) = harvest_job(finished, [line(json.dumps(body))], Objective(metric="loss"))
    doc = result.to_json("ns/s", Objective(metric="loss"))
    json.dumps(doc, allow_nan=False).encode("utf-8")  # storable: finite, no lone surrogate
    value_ = result.value
    assert value_ is None or abs(value_) <= 1e300
    assert result.outcome in (Outcome.SUCCEEDED, Outcome.METRICS_UNAVAILABLE)


@PROFILE
@given(NUMBER, TEXT)
def test_any_number_or_surrogate_in_a_trial_file_reads_back_storable(value: Any, text: str) -> None:
    doc = {"trial": 1, "metrics": {text: value}, "objective": {"value": value}, "error": text}
    doc |= {"durationSeconds": value, "intermediate": [[1, value]]}
    record = read_record(json.dumps(doc))
    assert record is not None
    json.dumps(record, allow_nan=False).encode("utf-8")


# The YAML a spec file may hold: any text, any JSON-like tree written as YAML (with
# anchors and aliases sprinkled in), and the bounded loader's only answers.
YAML_WORDS = st.sampled_from(
    [
        "a: ",
        "- ",
        "&x ",
        "*x ",
        "&y ",
        "*y ",
        "<<: ",
        "[",
        "]",
        "{",
        "}",
        ", ",
        "\n",
        "  ",
        "!!set ",
        "!!binary ",
        "2024-01-01",
        "1e-5",
        "9" * 500,
        "'",
        '"',
        "#",
        "---\n",
        "? ",
    ]
)


@PROFILE
@given(st.lists(YAML_WORDS, max_size=80).map("".join) | st.text(max_size=2000))
def test_the_bounded_loader_loads_or_refuses_any_text(text: str) -> None:
    from tuneop.core.boundedyaml import YamlBudgetError, load_all

    try:
        used = peak(lambda: load_all(text))
    except (YamlBudgetError, yaml.YAMLError):
        return
    assert used < PEAK_BYTES
    json.dumps(load_all(text), default=str)  # a tree that serializes: no cycle, no date


@PROFILE
@given(JSON, st.integers(min_value=1, max_value=12))
def test_an_aliased_tree_is_loaded_within_the_budget_or_refused(doc: Any, uses: int) -> None:
    from tuneop.core.boundedyaml import Budget, YamlBudgetError, load_all

    body = yaml.safe_dump(doc, default_flow_style=True).strip()
    text = f"base: &b {body}\nuses: [" + ", ".join(["*b"] * uses) + "]\n"
    budget = Budget(nodes=200, text=2000)
    try:
        (loaded,) = load_all(text, budget)
    except YamlBudgetError:
        return
    except yaml.YAMLError:  # a key PyYAML wrote that it cannot read back (a float NaN key)
        return
    assert len(loaded["uses"]) == uses
    assert len(json.dumps(loaded, default=str)) < 20 * budget.text


@PROFILE
@given(st.dictionaries(st.sampled_from(["min", "max", "step", "log", "type", "values"]), JSON))
def test_any_parameter_is_a_session_or_a_spec_error_naming_a_field(fields: Any) -> None:
    doc = manifest()
    doc["spec"]["searchSpace"] = [{"name": "p", "type": "float", "min": 0, "max": 1, **fields}]
    try:
        parse_manifest(doc)
    except SpecError as err:
        assert 1 <= len(err.shown()) <= 5
        assert all(p.startswith(("spec", "…")) for p in err.shown())


KATIB_FIELDS = st.sampled_from(
    [
        "maxTrialCount",
        "parallelTrialCount",
        "maxFailedTrialCount",
        "algorithm",
        "objective",
        "parameters",
        "trialTemplate",
        "metricsCollectorSpec",
        "earlyStopping",
    ]
)


@PROFILE
@given(st.dictionaries(KATIB_FIELDS, JSON, max_size=4))
def test_any_katib_experiment_converts_or_is_a_katib_error(fields: Any) -> None:
    from tuneop.core.conversions.katib import KatibError, convert_experiment

    exp = {
        "apiVersion": "kubeflow.org/v1beta1",
        "kind": "Experiment",
        "metadata": {"name": "e"},
        "spec": {
            "objective": {"objectiveMetricName": "loss"},
            "parameters": [
                {"name": "x", "parameterType": "double", "feasibleSpace": {"min": "0", "max": "1"}}
            ],
            "trialTemplate": {
                "trialSpec": {
                    "apiVersion": "batch/v1",
                    "kind": "Job",
                    "spec": {"template": {"spec": {"containers": [{"name": "t", "image": "i"}]}}},
                }
            },
            **fields,
        },
    }
    try:
        doc, notes = convert_experiment(exp)
    except KatibError as err:
        assert str(err) and "\n" not in str(err)
        return
    assert all(isinstance(n, str) for n in notes)
    try:
        parse_manifest(doc)
    except SpecError as err:
        assert err.shown()


@PROFILE
@given(
    st.lists(YAML_WORDS | st.sampled_from(["spec:\n", "  ", "searchSpace: ", "min: "]), max_size=60)
)
def test_any_spec_file_is_a_session_or_a_one_line_error(words: list[str]) -> None:
    import tempfile

    from tuneop.cli.inputs import UsageError, load_session

    base = yaml.safe_dump(manifest())
    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as f:
        f.write(base + "".join(words))
        f.flush()
        try:
            load_session(f.name)
        except UsageError as err:
            assert "\n" not in str(err)
        except SpecError as err:
            assert 1 <= len(err.shown()) <= 5 and all("\n" not in p for p in err.shown())
