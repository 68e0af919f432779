"""The files a local session runs, fingerprinted in its ``spec.json`` on disk
(``adapters.results_folder.runfiles``), and a claim refused when one changed (``claim``)."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tuneop.adapters.results_folder import runfiles
from tuneop.adapters.results_folder.claim import SPEC_FILE, ForeignResults, claim_folder
from tuneop.adapters.results_folder.runfiles import file_fingerprint, session_files
from tuneop.api.spec import SessionSpec, parse_spec

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def spec(runner: dict[str, Any] | None = None, **more: Any) -> SessionSpec:
    doc: dict[str, Any] = {
        "objective": {"metric": "loss", "direction": "minimize"},
        "searchSpace": [{"name": "x", "type": "int", "min": 0, "max": 3}],
        "optimizer": {"type": "grid"},
        **more,
    }
    if runner is not None:
        doc["runner"] = {"image": "r:1", **runner}
    return parse_spec(doc)


def test_the_objective_module_is_found_first_in_the_working_directory(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "obj.py").write_text("def f(p): return {'loss': 1}\n")
    elsewhere = tmp_path / "site"
    (elsewhere / "pkg").mkdir(parents=True)
    (elsewhere / "pkg" / "obj.py").write_text("other\n")

    files = session_files(spec({"objective": "pkg.obj:f"}), tmp_path, [str(elsewhere)])

    assert list(files) == ["pkg/obj.py"]
    assert files["pkg/obj.py"] == file_fingerprint(tmp_path / "pkg" / "obj.py")


def test_a_module_on_the_search_path_is_named_by_its_full_path(tmp_path: Path) -> None:
    site = tmp_path.parent / f"{tmp_path.name}-site"
    site.mkdir()
    (site / "shared.py").write_text("def f(p): return {}\n")

    files = session_files(spec({"objective": "shared:f"}), tmp_path, [str(site)])

    assert list(files) == [str(site / "shared.py")]


def test_a_module_found_nowhere_is_not_fingerprinted(tmp_path: Path) -> None:
    assert session_files(spec({"objective": "nowhere.mod:f"}), tmp_path, []) == {}


def test_a_template_sessions_script_and_config_are_fingerprinted(tmp_path: Path) -> None:
    (tmp_path / "w" / "conf").mkdir(parents=True)
    (tmp_path / "w" / "train.py").write_text("print('hello')\n")
    (tmp_path / "w" / "conf" / "a.yaml").write_text("lr: 1\n")
    container = {
        "name": "trial",
        "image": "x",
        "command": ["python", "train.py"],
        "args": ["--config=conf/a.yaml", "--x=${params.x}"],
        "workingDir": "w",
    }
    files = session_files(spec(template={"spec": {"containers": [container]}}), tmp_path, [])

    assert list(files) == ["w/conf/a.yaml", "w/train.py"]
    (tmp_path / "w" / "train.py").write_text("print('edited')\n")
    after = session_files(spec(template={"spec": {"containers": [container]}}), tmp_path, [])
    assert after["w/train.py"] != files["w/train.py"]
    assert after["w/conf/a.yaml"] == files["w/conf/a.yaml"]


def test_a_file_past_the_limit_is_fingerprinted_by_size_and_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runfiles, "HASH_LIMIT_BYTES", 10)
    big = tmp_path / "data.csv"
    big.write_text("x" * 11)
    os.utime(big, ns=(1_000_000_000, 2_000_000_000))

    assert file_fingerprint(big) == "size 11, modified 2000000000"
    assert file_fingerprint(tmp_path / "gone") == "unreadable (No such file or directory)"


def test_a_claim_is_refused_when_a_file_changed_and_kept_when_none_did(tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    s = spec({"objective": "obj:f"})
    assert claim_folder(folder, s, False, NOW, {"obj.py": "aaa"}).status.next_trial == 0
    recorded = json.loads((folder / SPEC_FILE).read_text())
    assert recorded["files"] == {"obj.py": "aaa"}

    claim_folder(folder, s, False, NOW, {"obj.py": "aaa"})  # unchanged: resumed
    with pytest.raises(ForeignResults) as refused:
        claim_folder(folder, s, False, NOW, {"obj.py": "bbb"})
    assert str(refused.value) == (
        f"obj.py changed since the results in {folder} were recorded; run with --fresh to"
        f" start over (the old results move to {folder}.archived-<time>), or give another"
        " --results-dir"
    )
    with pytest.raises(ForeignResults, match=r"^obj\.py is gone since the results"):
        claim_folder(folder, s, False, NOW, {})
    # A file that was not there at the first run is something a run wrote: not compared.
    claim_folder(folder, s, False, NOW, {"obj.py": "aaa", "train.log": "ccc"})
    assert json.loads((folder / SPEC_FILE).read_text())["files"] == {"obj.py": "aaa"}


@pytest.mark.parametrize(
    ("now", "outcome"),
    [
        ({"/home/u/lib/obj.py": "aaa"}, None),
        ({"/home/u/lib/obj.py": "bbb"}, "/home/u/lib/obj.py changed"),
        ({"/home/u/other.py": "aaa", "lib/obj.py": "bbb"}, "lib/obj.py changed"),
        ({"/home/u/lib/other.py": "ccc"}, "lib/obj.py is gone"),
    ],
    ids=["same file", "edited", "edited, same name", "gone"],
)
def test_a_run_started_in_another_folder_finds_the_same_files_by_fingerprint(
    tmp_path: Path, now: dict[str, Any], outcome: str | None
) -> None:
    """The first run, started in /home/u, named ``lib/obj.py`` relative to it; a run
    started in /home/u/sub names it by its full path."""
    folder = tmp_path / "demo"
    s = spec({"objective": "obj:f"})
    claim_folder(folder, s, False, NOW, {"lib/obj.py": "aaa"})
    if outcome is None:
        assert claim_folder(folder, s, False, NOW, now).status.next_trial == 0
        return
    with pytest.raises(ForeignResults) as refused:
        claim_folder(folder, s, False, NOW, now)
    assert str(refused.value).startswith(f"{outcome} since the results in {folder}")


@pytest.mark.parametrize(
    ("now", "outcome"),
    [
        ({"/home/u/lib/a.py": "bbb", "/home/u/lib/b.py": "aaa"}, "/home/u/lib/a.py changed"),
        ({"/home/u/lib/a.py": "aaa", "/srv/b.py": "bbb"}, "lib/b.py is gone"),
    ],
    ids=["contents swapped", "same content, another file"],
)
def test_a_file_found_from_another_folder_is_the_one_its_name_ends_with(
    tmp_path: Path, now: dict[str, str], outcome: str
) -> None:
    folder = tmp_path / "demo"
    s = spec({"objective": "obj:f"})
    claim_folder(folder, s, False, NOW, {"lib/a.py": "aaa", "lib/b.py": "bbb"})
    with pytest.raises(ForeignResults) as refused:
        claim_folder(folder, s, False, NOW, now)
    assert str(refused.value).startswith(f"{outcome} since the results in {folder}")


def test_a_damaged_fingerprint_in_the_record_refuses_the_claim(tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    s = spec({"objective": "obj:f"})
    claim_folder(folder, s, False, NOW, {"lib/obj.py": "aaa"})
    doc = json.loads((folder / SPEC_FILE).read_text())
    doc["files"] = {"lib/obj.py": ["aaa"]}
    (folder / SPEC_FILE).write_text(json.dumps(doc))

    with pytest.raises(ForeignResults, match=r"^/home/u/lib/obj\.py changed since"):
        claim_folder(folder, s, False, NOW, {"/home/u/lib/obj.py": "aaa"})


def test_a_folder_recorded_before_files_were_gets_them_recorded(tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    s = spec({"objective": "obj:f"})
    claim_folder(folder, s, False, NOW, {"obj.py": "aaa"})
    doc = json.loads((folder / SPEC_FILE).read_text())
    del doc["files"]
    (folder / SPEC_FILE).write_text(json.dumps(doc))

    claim_folder(folder, s, False, NOW, {"obj.py": "bbb"})

    assert json.loads((folder / SPEC_FILE).read_text())["files"] == {"obj.py": "bbb"}


def test_fresh_moves_the_old_results_aside_and_says_where(tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    s = spec({"objective": "obj:f"})
    claim_folder(folder, s, False, NOW, {"obj.py": "aaa"})
    (folder / "session.json").write_text("{}")

    claim = claim_folder(folder, s, True, NOW, {"obj.py": "bbb"})

    assert claim.archived == tmp_path / "demo.archived-20260101T000000Z"
    assert (claim.archived / "session.json").exists()
    assert json.loads((folder / SPEC_FILE).read_text())["files"] == {"obj.py": "bbb"}
