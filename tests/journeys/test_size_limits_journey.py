"""A developer runs the size check (``scripts/check_sizes.py``, as ``scripts/test.sh`` does):
the operator and the runner pass, and code over a limit is named, one line each."""

from __future__ import annotations

from user import REPO, User, doc_block

CHECK = f"python {REPO}/scripts/check_sizes.py"


def test_the_size_check_passes_on_the_operator_and_the_runner(user: User) -> None:
    seen = user.sh(f"cd {REPO} && " + doc_block("docs/development.md", "check-sizes"))
    assert seen.code == 0, seen
    assert "within 400 lines, functions within 80 lines and complexity 20" in seen.out


def test_the_size_check_names_each_function_and_module_over_a_limit(user: User) -> None:
    long_body = "".join(f"    x{i} = {i}\n" for i in range(90))
    user.write("src/long.py", f"def long_function():\n{long_body}")
    conditions = " or ".join(f"a == {i}" for i in range(25))
    user.write("src/tangled.py", f"def tangled(a):\n    if {conditions}:\n        return 1\n")
    user.write("src/huge.py", "X = 1\n" * 401)
    user.write("src/fine.py", "def fine():\n    return 1\n")

    seen = user.sh(f"{CHECK} src")
    assert seen.code == 1, seen
    assert seen.out.splitlines() == [
        "src/huge.py:1 (module): 401 lines > 400",
        "src/long.py:1 long_function: 91 lines > 80",
        "src/tangled.py:1 tangled: complexity 26 > 20",
    ]
    missing = user.sh(f"{CHECK} nowhere")
    assert missing.code == 2 and "no such path: nowhere" in missing.err, missing
