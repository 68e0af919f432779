"""Journeys: `tuneop run FILE` on a cluster whose API server answers what it should not.

What the API server answers is untrusted: an answer larger than tuneop reads
(``tuneop.adapters.kube.transport.MAX_RESPONSE_BYTES``) is refused before it is
parsed, and an answer that is no TuningSession is refused too; each is one
line on stderr and exit 2, never a traceback. The API server here is a stub
on a loopback port (``stub_apiserver``); the real one's journeys are in
``tests/e2e/test_cli_cluster_run.py``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from stub_apiserver import StubApiServer
from user import User

from tuneop.adapters.kube.transport import MAX_RESPONSE_BYTES

SESSION = "/apis/tuneop.dev/v1alpha1/namespaces/default/tuningsessions/quickstart"


@pytest.fixture
def stub() -> Iterator[StubApiServer]:
    with StubApiServer() as server:
        yield server


def run_on(user: User, stub: StubApiServer) -> tuple[int, str, str]:
    kubeconfig = stub.kubeconfig(user.path("kubeconfig"))
    seen = user.tuneop("run", "examples/quickstart.yaml", "--kubeconfig", str(kubeconfig),
                       "--no-wait", "--no-progress", timeout=120)  # fmt: skip
    return seen.code, seen.out, seen.err


def test_an_api_server_answer_past_the_cap_is_refused_in_one_line(
    user: User, stub: StubApiServer
) -> None:
    pad = "x" * (MAX_RESPONSE_BYTES + 1024)
    answer = {"metadata": {"name": "quickstart", "generation": 1}, "pad": pad}
    stub.answers[("PATCH", SESSION)] = (200, json.dumps(answer).encode())
    code, out, err = run_on(user, stub)
    assert code == 2, (out, err[-2000:])
    assert "applied" not in out
    assert err.count("\n") == 1 and "Traceback" not in err, err[-2000:]
    assert "cannot apply the session" in err and f"larger than {MAX_RESPONSE_BYTES} bytes" in err


@pytest.mark.parametrize(
    "answer",
    [{"metadata": "not an object"}, ["a", "list"], "a string"],
    ids=["metadata_no_object", "a_list", "a_string"],
)
def test_an_apply_answered_with_no_session_is_one_line_not_a_traceback(
    user: User, stub: StubApiServer, answer: object
) -> None:
    stub.answers[("PATCH", SESSION)] = (200, json.dumps(answer).encode())
    code, out, err = run_on(user, stub)
    assert code == 2, (out, err)
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert "cannot apply the session" in err and "no TuningSession" in err, err


def test_a_refused_apply_names_the_servers_reason(user: User, stub: StubApiServer) -> None:
    status = {"kind": "Status", "code": 422, "message": 'spec.maxTrials: Invalid value: "x"'}
    stub.answers[("PATCH", SESSION)] = (422, json.dumps(status).encode())
    code, out, err = run_on(user, stub)
    assert code == 2 and err.count("\n") == 1, (out, err)
    assert 'cannot apply the session: HTTP 422 spec.maxTrials: Invalid value: "x"' in err, err
