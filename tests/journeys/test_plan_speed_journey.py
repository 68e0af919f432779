"""``tuneop plan`` piped or redirected prints its tables without loading rich.

Issue 24 asks ``tuneop plan`` of the quickstart to answer within 0.3 s (measured by
bench/startup_bench.py, never here). Rich's console and table were a tenth of a second
of that: off a terminal rich prints plain text, which tuneop now draws itself, the same
to the character. The user pipes the plan (``| cat``, a file, CI): the tables read as
they always did, and Python's own import report shows rich was never loaded.
"""

from __future__ import annotations

from test_cli_startup_journey import loaded_packages
from user import User

SUMMARY = (
    "default/quickstart: grid search, 30 trials in 30 Jobs (1 trial(s) per Job),"
    " maxParallel 3, objective minimize loss"
)
# rich centres a title or caption over its table, trailing spaces included
QUICKSTART_TABLE_TOP = [
    SUMMARY,
    "security defaults applied (spec.runner's short form): runAsNonRoot, readOnlyRootFilesystem"
    " (a writable /tmp), no privilege escalation, capabilities dropped, RuntimeDefault seccomp",
    "               Trials                ",
    "┏━━━━━━━┳━━━━━┳━━━━━━━━━━━━━━━━━━━━━┓",
    "┃ trial ┃ job ┃ params              ┃",
    "┡━━━━━━━╇━━━━━╇━━━━━━━━━━━━━━━━━━━━━┩",
    '│ 0     │ 0   │ {"x": 0, "y": -2.0} │',
]
QUICKSTART_TABLE_END = [
    "└───────┴─────┴─────────────────────┘",
    "         First reconcile          ",
    "┏━━━━━━━━━━━━━━┳━━━━━━━━┳━━━━━━━━┓",
    "┃ job          ┃ trials ┃ action ┃",
    "┡━━━━━━━━━━━━━━╇━━━━━━━━╇━━━━━━━━┩",
    "│ quickstart-0 │ 0      │ create │",
    "│ quickstart-1 │ 1      │ create │",
    "│ quickstart-2 │ 2      │ create │",
    "└──────────────┴────────┴────────┘",
    "27 more Jobs wait for a free slot ",
    "status: phase Running, progress 0/30, 3 active Jobs; 0/30 trials done, 3 running",
    "  SpecValid=True (Valid): spec is valid",
    "  Progressing=True (Launching): 0/30 trials done, 3 running",
]


def test_a_piped_plan_prints_its_tables_without_loading_rich(user: User) -> None:
    user.env["PYTHONPROFILEIMPORTTIME"] = "1"
    seen = user.sh("tuneop plan examples/quickstart.yaml | cat")
    assert seen.code == 0, seen
    lines = seen.out.split("\n")
    assert lines[:7] == QUICKSTART_TABLE_TOP, seen.out[:800]
    assert lines[-14:] == [*QUICKSTART_TABLE_END, ""], seen.out[-1000:]
    # the summary line, Trials (title, 3 head lines, 30 rows, bottom), First reconcile
    # (title, 3 head lines, 3 rows, bottom, caption), the status and its 2 conditions
    # 2: the summary and the security-defaults lines
    assert seen.out.count("\n") == 2 + (1 + 3 + 30 + 1) + (1 + 3 + 3 + 1 + 1) + 3
    loaded = loaded_packages(seen.err)
    assert {"tuneop", "pydantic"} <= loaded
    assert "rich" not in loaded, sorted(loaded)


def test_a_plan_with_markup_like_text_reads_the_same_piped(user: User) -> None:
    # A categorical value that looks like rich markup is shown as written, not styled.
    spec = user.path("examples/quickstart.yaml").read_text()
    spec = spec.replace("type: grid", "type: random\n  totalTrials: 4").replace(
        "  searchSpace:\n",
        "  searchSpace:\n    - name: tag\n      type: categorical\n"
        '      values: ["[bold]x[/bold]"]\n',
    )
    user.write("marked.yaml", spec)
    seen = user.sh("tuneop plan marked.yaml --trials 2 > plan.txt")
    assert seen.code == 0, seen
    rows = [line for line in user.path("plan.txt").read_text().splitlines() if "tag" in line]
    assert len(rows) == 2 and all('"tag": "[bold]x[/bold]"' in r for r in rows), rows
