"""The operator on a real control plane: sessions from ``kubectl apply`` to their end.

One ``tuneop operator --results-dir DIR`` process (admin credentials) serves this module's
namespaces; every test applies sessions with kubectl and follows them through the API.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from builders import RULE_BREAKERS, session_doc, spec_data
from minicluster.harness import Cluster
from minicluster.kube import Json
from minicluster.watch import JobWatch
from tests.e2e.operator_support import (
    CRD_NAME,
    EXAMPLES,
    RUNNER_IMAGE,
    Served,
    apply,
    condition,
    explicit_session,
    get_session,
    is_finished,
    parse_table,
    process_gone,
    running_pids,
    served_module,
    session_jobs,
    session_manifest,
    session_path,
    session_pods,
    status_of,
    table_header,
)
from tuneop.api.rules import Rule

NAMESPACES = ("quickstart", "failures", "suspend", "deletion", "lost", "bad-input")
PRINTER_COLUMNS = ["NAME", "PHASE", "PROGRESS", "RUNNING", "QUEUED", "FAILED", "BEST", "AGE"]


served = served_module(*NAMESPACES)


def trial_records(results_dir: Path, namespace: str, name: str) -> dict[int, Json]:
    folder = results_dir / namespace / name / "trials"
    records = (json.loads(path.read_text()) for path in sorted(folder.glob("trial-*.json")))
    return {int(r["trial"]): r for r in records}


def pids_of_running(cluster: Cluster, namespace: str, name: str, count: int) -> list[int]:
    """The process ids of the session's running trials once there are ``count`` (else [])."""
    pids = running_pids(session_pods(cluster, namespace, name))
    return pids if len(pids) == count else []


# --- 1. the quickstart example ------------------------------------------------------------


def test_quickstart_runs_to_success_within_max_parallel(served: Served, crd: Json) -> None:
    cluster, ns, name = served.cluster, served.ns("quickstart"), "quickstart"
    assert CRD_NAME in crd["kubectl"]
    assert condition(crd["crd"]["status"], "Established") is not None

    tables: list[str] = []
    in_flight: list[list[str]] = []  # the unfinished Jobs of each sample

    def sample() -> Json | None:
        """One sample: the Jobs list and ``kubectl get ts`` (checked once it is over:
        ``wait_for`` takes a probe's exception for "not yet")."""
        session = get_session(cluster, ns, name)
        jobs = session_jobs(cluster, ns, name)
        in_flight.append(sorted(j["metadata"]["name"] for j in jobs if not is_finished(j)))
        # Read after the session: once that says Succeeded, so does this (the last) table.
        tables.append(cluster.kubectl("get", "ts", name, "-n", ns).stdout)
        return session if (session or {}).get("status", {}).get("phase") == "Succeeded" else None

    with JobWatch(cluster.kubeconfig, ns) as watch:
        applied = cluster.kubectl("apply", "-n", ns, "-f", str(EXAMPLES / "quickstart.yaml"))
        assert "tuningsession.tuneop.dev/quickstart created" in applied.stdout
        session = served.wait_for(
            "the quickstart session to succeed",
            sample,
            timeout=120,
            describe=lambda: status_of(cluster, ns, name),
        )
        served.wait_for(
            "harvested Jobs to be deleted (jobCleanup: Delete)",
            lambda: not session_jobs(cluster, ns, name),
            describe=lambda: [j["metadata"]["name"] for j in session_jobs(cluster, ns, name)],
        )

    why = served.explain(ns, name)
    status = session["status"]
    # Jobs: one per trial, each created once, never more than maxParallel unfinished.
    assert watch.names() == {f"quickstart-{i}" for i in range(30)}, why
    assert not watch.duplicates(), watch.duplicates()
    assert 2 <= watch.peak_unfinished <= 3, (watch.peak_unfinished, why)
    assert max(len(names) for names in in_flight) <= 3, max(in_flight, key=len)
    assert not watch.errors, watch.errors

    # The printer columns, and their values moving while the session ran.
    assert all(table_header(t) == PRINTER_COLUMNS for t in tables), tables[-1]
    rows = [row for table in tables for row in parse_table(table)]
    running = [r for r in rows if r["PHASE"] == "Running"]
    assert running, f"never saw the session Running: {rows}"
    assert len({r["PROGRESS"] for r in rows}) >= 3, f"progress did not move: {rows}"
    assert rows[-1] | {"AGE": ""} == {
        "NAME": "quickstart",
        "PHASE": "Succeeded",
        "PROGRESS": "30/30",
        "RUNNING": "0",
        "QUEUED": "0",
        "FAILED": "0",
        "BEST": "0",
        "AGE": "",
    }

    # The status: counts, best, the leaderboard, the exit code.
    assert status["progress"] == "30/30", why
    assert status["exitCode"] == 0, why
    trials = status["trials"]
    assert (trials["total"], trials["succeeded"], trials["failed"]) == (30, 30, 0), why
    assert (condition(status, "Complete") or {}).get("status") == "True", why

    # Every trial's result JSON under DIR/<ns>/quickstart/trials/, consistent with the status.
    records = trial_records(served.results_dir, ns, name)
    assert sorted(records) == list(range(30)), sorted(records)
    for trial, record in records.items():
        params = record["params"]
        expected = (params["x"] - 3) ** 2 + (params["y"] + 1) ** 2
        assert record["session"] == f"{ns}/{name}"
        assert record["outcome"] == "Succeeded", record
        assert record["objective"]["value"] == pytest.approx(expected), (trial, record)
    ranked = sorted(records.values(), key=lambda r: (r["objective"]["value"], r["trial"]))
    best = status["best"]
    assert best["value"] == 0 and best["params"] == {"x": 3, "y": -1}, best
    assert records[best["trial"]]["params"] == best["params"]
    board = status["leaderboard"]
    assert len(board) == 5, board
    assert [e["value"] for e in board] == [r["objective"]["value"] for r in ranked[:5]]
    for entry in board:
        assert records[entry["trial"]]["params"] == entry["params"], entry

    # The <session>-best ConfigMap, owned by the session.
    cm = cluster.kube.get(f"/api/v1/namespaces/{ns}/configmaps/quickstart-best")
    assert json.loads(cm["data"]["params.json"]) == best["params"]
    assert json.loads(cm["data"]["best.json"])["trial"] == best["trial"]
    [owner] = cm["metadata"]["ownerReferences"]
    assert owner["uid"] == session["metadata"]["uid"]

    # The Events, through kubectl describe (posted after the status write: wait for them).
    def described() -> str | None:
        out = cluster.kubectl("describe", "ts", name, "-n", ns).stdout
        wanted = ("TrialsStarted", "TrialsFinished", "NewBest", "Succeeded")
        return out if all(reason in out for reason in wanted) else None

    served.wait_for("kubectl describe to show the session's events", described, timeout=30)


# --- 3. failures --------------------------------------------------------------------------


@dataclass(frozen=True)
class FailureCase:
    manifest: Json
    phase: str
    reason: str  # of the Complete (Succeeded) or Failed (Failed) condition
    exit_code: int
    trials: dict[str, int]  # expected status.trials counts (a subset)
    outcomes: dict[int, str]  # expected result JSON outcome per trial (a subset)


FAILURE_CASES = {
    "failure-budget-zero-fails-the-session": FailureCase(
        explicit_session(
            "budget-zero",
            "testing:fail_when",
            [{"x": 1}, {"fail": True}, {"x": 2}, {"x": 3}],
            maxFailedTrials=0,
            maxParallel=1,
        ),
        phase="Failed",
        reason="MaxFailedReached",
        exit_code=1,
        trials={"total": 4, "succeeded": 1, "failed": 1},
        outcomes={0: "Succeeded", 1: "Failed"},
    ),
    "failures-within-budget-still-succeed": FailureCase(
        explicit_session(
            "within-budget",
            "testing:fail_when",
            [{"x": 1}, {"fail": True}, {"x": 2}, {"fail": True}, {"x": 3}],
            maxFailedTrials=2,
            maxParallel=2,
        ),
        phase="Succeeded",
        reason="BudgetExhausted",
        exit_code=1,
        trials={"total": 5, "succeeded": 3, "failed": 2},
        outcomes={0: "Succeeded", 1: "Failed", 2: "Succeeded", 3: "Failed", 4: "Succeeded"},
    ),
    "trial-past-its-timeout-is-timed-out": FailureCase(
        explicit_session(
            "trial-timeout",
            "testing:sleep",
            [{"seconds": 0}, {"seconds": 60}],
            trialTimeoutSeconds=2,
            maxParallel=2,
        ),
        phase="Succeeded",
        reason="BudgetExhausted",
        exit_code=1,
        trials={"total": 2, "succeeded": 1, "failed": 1, "timedOut": 1},
        outcomes={0: "Succeeded", 1: "TimedOut"},
    ),
    "session-deadline-stops-its-jobs": FailureCase(
        explicit_session(
            "deadline",
            "testing:sleep",
            [{"seconds": 300}] * 3,
            deadlineSeconds=2,
            trialTimeoutSeconds=600,
            maxParallel=2,
        ),
        phase="Failed",
        reason="DeadlineExceeded",
        exit_code=2,
        trials={"total": 3, "succeeded": 0, "failed": 0},
        outcomes={},
    ),
}


@dataclass
class Launched:
    namespace: str
    deadline_pids: list[int]


@pytest.fixture(scope="module")
def failure_sessions(served: Served) -> Launched:
    """All failure cases applied at once (they run side by side: the deadline case waits
    for the operator's 30 s timer, and the others finish meanwhile)."""
    ns = served.ns("failures")
    apply(served.cluster, ns, *(case.manifest for case in FAILURE_CASES.values()))
    pids = served.wait_for(
        "both Jobs of the deadline session to run",
        lambda: pids_of_running(served.cluster, ns, "deadline", 2),
        timeout=60,
    )
    return Launched(ns, pids)


@pytest.mark.parametrize("case", list(FAILURE_CASES), ids=list(FAILURE_CASES))
def test_failures_end_the_session_as_specified(
    served: Served, failure_sessions: Launched, case: str
) -> None:
    expected = FAILURE_CASES[case]
    ns, name = failure_sessions.namespace, expected.manifest["metadata"]["name"]

    session = served.wait_phase(ns, name, "Succeeded", "Failed", timeout=90)

    why = served.explain(ns, name)
    status = session["status"]
    assert status["phase"] == expected.phase, why
    assert status["exitCode"] == expected.exit_code, why
    kind = "Complete" if expected.phase == "Succeeded" else "Failed"
    cond = condition(status, kind) or {}
    assert (cond.get("status"), cond.get("reason")) == ("True", expected.reason), why
    assert {k: status["trials"][k] for k in expected.trials} == expected.trials, why
    records = trial_records(served.results_dir, ns, name)
    assert {t: records[t]["outcome"] for t in expected.outcomes if t in records} == (
        expected.outcomes
    ), records
    if expected.reason == "DeadlineExceeded":
        # Its running Jobs were stopped: Jobs and pods gone, the processes ended.
        served.wait_for(
            "the deadline session's Jobs and pods to be gone",
            lambda: not session_jobs(served.cluster, ns, name)
            and not session_pods(served.cluster, ns, name),
            timeout=60,
        )
        for pid in failure_sessions.deadline_pids:
            served.wait_for(f"trial process {pid} to end", partial(process_gone, pid))
        assert status["trials"]["cancelled"] == 2, why
    else:
        served.wait_for(
            f"the Jobs of {name} to be deleted",
            lambda: not session_jobs(served.cluster, ns, name),
        )


# --- suspend and resume -------------------------------------------------------------------


def test_suspended_session_starts_no_jobs_until_resumed(served: Served) -> None:
    cluster, ns, name = served.cluster, served.ns("suspend"), "paused"
    manifest = explicit_session(
        name, "testing:fail_when", [{"x": x} for x in range(4)], maxParallel=2, suspend=True
    )

    with JobWatch(cluster.kubeconfig, ns) as watch:
        apply(cluster, ns, manifest)
        suspended = served.wait_phase(ns, name, "Suspended")["status"]
        # The reconcile that wrote "Suspended" had created its Jobs (if any) before that.
        assert not session_jobs(cluster, ns, name)
        assert not watch.names(), watch.names()
        cond = condition(suspended, "Suspended") or {}
        assert (cond.get("status"), cond.get("reason")) == ("True", "SuspendedByUser"), suspended

        cluster.kubectl(
            "patch", "ts", name, "-n", ns, "--type=merge", "-p", '{"spec":{"suspend":false}}'
        )
        done = served.wait_phase(ns, name, "Succeeded", "Failed")["status"]

    why = served.explain(ns, name)
    assert done["phase"] == "Succeeded", why
    assert done["trials"]["succeeded"] == 4, why
    assert watch.names() == {f"{name}-{i}" for i in range(4)}
    assert watch.peak_unfinished <= 2
    cond = condition(done, "Suspended") or {}
    assert (cond.get("status"), cond.get("reason")) == ("False", "Resumed"), why


# --- deadlines count running time ---------------------------------------------------------

DEADLINE = 4  # seconds; each test lets more than this pass where it must not count


def _later(served: Served, seconds: float, why: str) -> None:
    """Let ``seconds`` pass: these tests are about time, so waiting is what they check."""
    end = time.monotonic() + seconds
    served.wait_for(why, lambda: time.monotonic() >= end or None, timeout=seconds + 10)


def _patch(served: Served, ns: str, name: str, spec: Json) -> None:
    patch = json.dumps({"spec": spec})
    served.cluster.kubectl("patch", "ts", name, "-n", ns, "--type=merge", "-p", patch)


def _seen(
    served: Served, ns: str, name: str, generation: int, phases: tuple[str, ...] = ()
) -> Json | None:
    """The status once it reflects ``generation`` (and is in one of ``phases``)."""
    st = status_of(served.cluster, ns, name)
    if st.get("observedGeneration") != generation or (phases and st.get("phase") not in phases):
        return None
    return st


def _grid_session(name: str, total: int, **spec: Any) -> Json:
    return session_manifest(
        name,
        objective={"metric": "value"},
        searchSpace=[{"name": "x", "type": "int", "min": 0, "max": 99}],
        optimizer={"type": "grid"},
        totalTrials=total,
        runner={"image": RUNNER_IMAGE, "objective": "tuneop_runner.objectives.testing:fail_when"},
        **spec,
    )


def test_time_suspended_does_not_count_against_the_deadline(served: Served) -> None:
    cluster, ns, name = served.cluster, served.ns("suspend"), "waits-for-capacity"
    apply(cluster, ns, _grid_session(name, 2, deadlineSeconds=DEADLINE, suspend=True))
    served.wait_phase(ns, name, "Suspended")
    _later(served, DEADLINE + 2, "the deadline to pass while suspended")
    _patch(served, ns, name, {"maxParallel": 3})  # a reconcile while still suspended
    still = served.wait_for(
        "the suspended session to be reconciled again", partial(_seen, served, ns, name, 2)
    )
    why = served.explain(ns, name)
    assert still["phase"] == "Suspended", why
    assert still.get("runSeconds", 0) < DEADLINE and "runningSince" not in still, why
    _patch(served, ns, name, {"suspend": False})
    done = served.wait_phase(ns, name, "Succeeded", "Failed")["status"]
    assert (done["phase"], done["trials"]["succeeded"]) == ("Succeeded", 2), why


def test_extending_a_finished_session_after_its_deadline_continues_it(served: Served) -> None:
    cluster, ns, name = served.cluster, served.ns("suspend"), "extended"
    apply(cluster, ns, _grid_session(name, 2, deadlineSeconds=DEADLINE))
    assert served.wait_phase(ns, name, "Succeeded", "Failed")["status"]["phase"] == "Succeeded"
    _later(served, DEADLINE + 2, "the first allowance to pass")
    _patch(served, ns, name, {"totalTrials": 4})

    terminal = ("Succeeded", "Failed")
    seen = partial(_seen, served, ns, name, 2, terminal)
    st = served.wait_for("the extended session to finish", seen, timeout=90)
    why = served.explain(ns, name)
    assert (st["phase"], st["trials"]["succeeded"], st["exitCode"]) == ("Succeeded", 4, 0), why
    assert sorted(trial_records(served.results_dir, ns, name)) == [0, 1, 2, 3]


# --- deletion -----------------------------------------------------------------------------


def test_deleting_a_session_collects_its_jobs_and_best_configmap(served: Served) -> None:
    cluster, ns, name = served.cluster, served.ns("deletion"), "doomed"
    manifest = explicit_session(
        name, "testing:sleep", [{"seconds": 0}, {"seconds": 300}, {"seconds": 300}], maxParallel=3
    )
    apply(cluster, ns, manifest)
    uid = cluster.kube.get(session_path(ns, name))["metadata"]["uid"]
    cm_path = f"/api/v1/namespaces/{ns}/configmaps/{name}-best"

    served.wait_for("the best ConfigMap", lambda: cluster.kube.get_or_none(cm_path))
    pids = served.wait_for(
        "two trials still running", lambda: pids_of_running(cluster, ns, name, 2)
    )
    owned: list[Json] = [*session_jobs(cluster, ns, name), cluster.kube.get(cm_path)]
    assert len(owned) >= 3, owned
    for obj in owned:
        [owner] = obj["metadata"]["ownerReferences"]
        assert (owner["kind"], owner["uid"], owner["controller"]) == ("TuningSession", uid, True)

    cluster.kubectl("delete", "ts", name, "-n", ns, "--wait=false")

    def leftovers() -> dict[str, Any]:
        return {
            "session": get_session(cluster, ns, name) is not None,
            "jobs": [j["metadata"]["name"] for j in session_jobs(cluster, ns, name)],
            "pods": [p["metadata"]["name"] for p in session_pods(cluster, ns, name)],
            "configmap": cluster.kube.get_or_none(cm_path) is not None,
        }

    served.wait_for(
        "the session, its Jobs, pods and best ConfigMap to be gone",
        lambda: not any(leftovers().values()),
        timeout=60,
        describe=leftovers,
    )
    for pid in pids:
        served.wait_for(f"trial process {pid} to end", partial(process_gone, pid))


def test_a_job_deleted_by_hand_before_its_harvest_is_lost_and_the_session_goes_on(
    served: Served,
) -> None:
    # The operator knows its Jobs from its watch: a deletion it did not make must reach it.
    cluster, ns, name = served.cluster, served.ns("lost"), "unlucky"
    manifest = explicit_session(
        name, "testing:sleep", [{"seconds": 300}, {"seconds": 0}, {"seconds": 0}], maxParallel=1
    )
    apply(cluster, ns, manifest)
    [pid] = served.wait_for(
        "the first trial running", lambda: pids_of_running(cluster, ns, name, 1)
    )
    cluster.kubectl("delete", "job", f"{name}-0", "-n", ns, "--wait=false")
    # Well before the 30 s timer or the Job cache's 30 s re-LIST could catch it instead.
    done = served.wait_phase(ns, name, "Succeeded", "Failed", timeout=25)["status"]

    why = served.explain(ns, name)
    assert (done["trials"]["lost"], done["trials"]["succeeded"]) == (1, 2), why
    assert done["jobs"]["launched"] == 3, why
    served.wait_for(f"trial process {pid} to end", partial(process_gone, pid))


# --- 6. bad input -------------------------------------------------------------------------


def valid_spec() -> dict[str, Any]:
    return dict(explicit_session("x", "testing:fail_when", [{"x": 1}])["spec"])


def with_spec(name: str, **changes: Any) -> Json:
    spec = valid_spec()
    for key, value in changes.items():
        if value is None:
            spec.pop(key, None)
        else:
            spec[key] = value
    return session_manifest(name, **spec)


SCHEMA_REJECTS = {
    "max-parallel-zero": (with_spec("zero-parallel", maxParallel=0), "spec.maxParallel"),
    "unknown-optimizer": (
        with_spec("annealing", optimizer={"type": "annealing"}),
        "spec.optimizer.type",
    ),
    "template-without-containers": (
        with_spec("no-containers", template={"spec": {"volumes": []}}),
        "spec.template.spec.containers",
    ),
    "negative-failure-budget": (
        with_spec("negative-budget", maxFailedTrials=-1),
        "spec.maxFailedTrials",
    ),
}


@pytest.mark.parametrize("case", list(SCHEMA_REJECTS), ids=list(SCHEMA_REJECTS))
def test_crd_schema_rejects(served: Served, case: str) -> None:
    cluster, ns = served.cluster, served.ns("bad-input")
    manifest, field = SCHEMA_REJECTS[case]
    name = manifest["metadata"]["name"]
    text = json.dumps(manifest)

    # As a user runs it: kubectl validates against the schema the API server publishes...
    plain = cluster.kubectl("apply", "-n", ns, "-f", "-", input=text, check=False)
    # ...and without kubectl's own validation, the API server rejects it itself.
    server = cluster.kubectl(
        "apply", "--validate=false", "-n", ns, "-f", "-", input=text, check=False
    )

    assert plain.returncode != 0, plain.stdout
    parent, _, leaf = field.rpartition(".")
    message = plain.stderr
    assert field in message or (parent.split(".")[-1] in message and leaf in message), message
    assert server.returncode != 0, server.stdout
    # One problem is "is invalid: FIELD: ..."; with the CEL rules left unchecked beside it,
    # the server lists them, one "* FIELD: ..." line each.
    assert f'TuningSession "{name}" is invalid: ' in server.stderr, server.stderr
    assert f"invalid: {field}" in server.stderr or f"* {field}" in server.stderr, server.stderr
    assert get_session(cluster, ns, name) is None


CEL_RULES = [(r, o) for r, o in RULE_BREAKERS if r.cel is not None]
# Rules about the free-form parameter values (values, trials): the operator's to check.
OPERATOR_RULES = [(r, o) for r, o in RULE_BREAKERS if r.cel is None]


@pytest.mark.parametrize(("rule", "overrides"), CEL_RULES, ids=[r.message for r, _ in CEL_RULES])
def test_a_cross_field_rule_is_checked_by_the_api_server_at_apply(
    served: Served, rule: Rule, overrides: dict[str, Any]
) -> None:
    cluster, ns = served.cluster, served.ns("bad-input")
    name = f"rule-{abs(hash(rule.message)) % 10**8}"
    text = json.dumps(session_doc(name, spec_data(**overrides)))
    refused = cluster.kubectl("apply", "-n", ns, "-f", "-", input=text, check=False)
    assert refused.returncode != 0, refused.stdout
    assert rule.message in refused.stderr, refused.stderr
    if rule.field:
        assert f".{rule.field}: Invalid value" in refused.stderr, refused.stderr
    assert get_session(cluster, ns, name) is None


# Rules only the planner can check (a Job's trials from the size of a grid) stay in the
# operator: the session is stored, then fails with InvalidSpec.
INVALID_SPECS = {
    "too-many-trials-per-job": (
        with_spec(
            "one-huge-job",
            trials=None,
            workers=1,
            searchSpace=[{"name": "x", "type": "int", "min": 0, "max": 1999}],
            optimizer={"type": "grid"},
        ),
        "spec.workers",
    ),
    **{
        f"rule-{i}": (session_doc(f"operator-rule-{i}", spec_data(**o)), r.message.split(": ")[1])
        for i, (r, o) in enumerate(OPERATOR_RULES)
    },
}


@pytest.fixture(scope="module")
def bad_input_sessions(served: Served) -> str:
    """The invalid sessions and one valid session, applied together into one namespace."""
    ns = served.ns("bad-input")
    valid = explicit_session("valid", "testing:fail_when", [{"x": x} for x in range(3)])
    apply(served.cluster, ns, *(manifest for manifest, _ in INVALID_SPECS.values()), valid)
    return ns


@pytest.mark.parametrize("case", list(INVALID_SPECS), ids=list(INVALID_SPECS))
def test_semantically_invalid_spec_fails_the_session(
    served: Served, bad_input_sessions: str, case: str
) -> None:
    manifest, field = INVALID_SPECS[case]
    ns, name = bad_input_sessions, manifest["metadata"]["name"]

    status = served.wait_phase(ns, name, "Failed", "Succeeded", "Running")["status"]

    why = served.explain(ns, name)
    assert status["phase"] == "Failed", why
    assert status["exitCode"] == 2, why
    failed = condition(status, "Failed") or {}
    assert (failed.get("status"), failed.get("reason")) == ("True", "InvalidSpec"), why
    assert field in failed.get("message", ""), why
    valid = condition(status, "SpecValid") or {}
    assert (valid.get("status"), valid.get("reason")) == ("False", "InvalidSpec"), why
    assert not session_jobs(served.cluster, ns, name)


def test_valid_session_beside_invalid_ones_completes(
    served: Served, bad_input_sessions: str
) -> None:
    status = served.wait_phase(bad_input_sessions, "valid", "Succeeded", "Failed")["status"]

    assert status["phase"] == "Succeeded", served.explain(bad_input_sessions, "valid")
    assert status["trials"]["succeeded"] == 3
