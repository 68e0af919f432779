"""``tuneop plan`` builds the API's models without reading every installed package's metadata.

Issue 24 asks ``tuneop plan`` of the quickstart to answer within 0.3 s
(bench/startup_bench.py times it, never a journey). pydantic's plugin loader imports
``importlib.metadata`` (and with it ``zipfile``, ``email``, ``csv``...) just to learn
that plugins are switched off, which tuneop does for its own models: 20-40 ms of the
command. The user plans the quickstart; Python's import report shows the plan as before
and no ``importlib.metadata`` loaded. A session validated afterwards in the same
command still reads (``tuneop run --local`` builds more models later; its journeys run).
"""

from __future__ import annotations

from user import User


def imported_modules(stderr: str) -> set[str]:
    """Every module Python's import report (``PYTHONPROFILEIMPORTTIME``) lists."""
    return {
        line.rsplit("|", 1)[1].strip()
        for line in stderr.splitlines()
        if line.startswith("import time:") and line.count("|") == 2
    }


def test_a_plan_reads_no_package_metadata(user: User) -> None:
    user.env["PYTHONPROFILEIMPORTTIME"] = "1"
    seen = user.sh("tuneop plan examples/quickstart.yaml | cat")
    assert seen.code == 0, seen
    assert "grid search, 30 trials in 30 Jobs" in seen.out, seen.out[:400]
    assert "status: phase Running, progress 0/30" in seen.out, seen.out[-600:]
    loaded = imported_modules(seen.err)
    assert {"pydantic", "tuneop.api.spec", "tuneop.api.status"} <= loaded, sorted(loaded)[:40]
    assert "importlib.metadata" not in loaded
    assert "pydantic.plugin._loader" not in loaded


def test_a_plan_with_a_bad_field_still_names_it(user: User) -> None:
    # The models built without the plugin loader still check every field.
    spec = user.path("examples/quickstart.yaml").read_text()
    user.write("bad.yaml", spec.replace("maxParallel: 3", "maxParallel: -3"))
    seen = user.tuneop("plan", "bad.yaml")
    assert seen.code == 2, seen
    assert "maxParallel" in seen.err and "Traceback" not in seen.err, seen.err
