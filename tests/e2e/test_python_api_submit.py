"""docs/python-api.md's cluster cell against a real API server, with the operator serving it.

The notebook is the page's: its first cell builds the quickstart, a cell of the test's
puts it in the namespace the operator serves (the user's kubeconfig names the cluster),
then the page's submit cell applies it, follows it to Succeeded and reads the results.
Submitted again, the finished session gives its results at once, and with the operator's
Redis every trial lands in a results folder the command line reads.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from minicluster.harness import Cluster
from minicluster.kube import Json
from minicluster.redis_server import RedisServer
from tests.e2e.operator_support import Served, get_session, serve_namespaces
from tests.journeys.user import REPO, doc_block, notebook_argv, python_blocks

DOC = REPO / "docs" / "python-api.md"


@pytest.fixture(scope="module")
def served(
    cluster: Cluster, crd: Json, redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    workdir = tmp_path_factory.mktemp("operator-python-api")
    with serve_namespaces(cluster, workdir, ["py"], ["--redis-url", redis_server.url]) as served:
        yield served


def run_notebook(cluster: Cluster, folder: Path, cells: list[str]) -> tuple[int, str, list[str]]:
    proc = subprocess.run(
        notebook_argv(),
        input=json.dumps(cells),
        env={**os.environ, "KUBECONFIG": str(cluster.kubeconfig)},
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    outputs = re.split(r"^--- cell \d+\n", proc.stdout, flags=re.M)[1:]
    return proc.returncode, proc.stdout + proc.stderr, outputs


def test_the_pages_submit_cell_follows_the_quickstart_on_a_cluster_to_its_results(
    served: Served, redis_server: RedisServer, tmp_path: Path
) -> None:
    ns = served.ns("py")
    build = python_blocks(DOC)[0].text
    assert "Session(" in build and "quickstart" in build
    cells = [
        build,
        f"session = session.in_namespace({ns!r})\n",
        doc_block("docs/python-api.md", "python-api-submit"),
        # Again: finished for this spec, so at once; every trial from the operator's Redis.
        "with session.submit() as again:\n"
        "    followed = list(again.follow())\n"
        f"    every = again.results(redis_url={redis_server.url!r}, results_dir='r')\n"
        "print(len(followed), followed[-1].phase, len(every.trials), every.folder)\n",
    ]
    code, out, outputs = run_notebook(served.cluster, tmp_path, cells)
    assert code == 0, out + served.explain(ns, "quickstart")
    lines = outputs[2].strip().splitlines()
    assert lines[-1] == "Succeeded best {'x': 3, 'y': -1.0} 0.0", out
    assert lines[-2] == "Succeeded: 30/30", out
    assert any(re.fullmatch(r"(Pending|Running): \d+/30", line) for line in lines), out
    assert outputs[3].split() == ["1", "Succeeded", "30", "r/quickstart"], out
    assert len(list((tmp_path / "r" / "quickstart" / "trials").glob("trial-*.json"))) == 30
    stored = get_session(served.cluster, ns, "quickstart") or {}
    assert stored["metadata"]["managedFields"][0]["manager"] == "tuneop-cli", stored
