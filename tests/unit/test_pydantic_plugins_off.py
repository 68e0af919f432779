"""``no_pydantic_plugins``: models built in the block skip the plugin loader, those after it
find the real one (in a fresh interpreter: this process has long imported pydantic)."""

from __future__ import annotations

import os
import subprocess
import sys

SCRIPT = """
import sys
from tuneop.core.imports import no_pydantic_plugins
import pydantic

with no_pydantic_plugins():
    class Inside(pydantic.BaseModel):
        x: int = pydantic.Field(ge=0)
    assert "importlib.metadata" not in sys.modules, "read metadata inside"
    assert Inside(x=1).x == 1
    try:
        Inside(x=-1)
    except pydantic.ValidationError:
        pass
    else:
        raise AssertionError("the model inside the block checks nothing")
assert "pydantic.plugin._loader" not in sys.modules, "the stand-in outlived the block"

class After(pydantic.BaseModel):
    y: str

assert After(y="a").y == "a"
loader = sys.modules["pydantic.plugin._loader"]
assert type(loader).__name__ == "module" and hasattr(loader, "get_plugins"), loader  # the real
print("ok")
"""


def test_the_stand_in_lasts_only_the_block() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-2000:]


def test_a_users_own_setting_is_left_alone() -> None:
    script = SCRIPT.split("with no_pydantic_plugins():")[0] + (
        "with no_pydantic_plugins():\n"
        "    class M(pydantic.BaseModel):\n"
        "        x: int\n"
        "assert type(sys.modules['pydantic.plugin._loader']).__name__ == 'module'\n"
        "print('ok')\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYDANTIC_DISABLE_PLUGINS": "__all__"},
    )
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-2000:]


def test_a_name_the_stand_in_lacks_comes_from_the_real_loader() -> None:
    script = (
        "import sys\n"
        "from tuneop.core.imports import no_pydantic_plugins\n"
        "with no_pydantic_plugins():\n"
        "    stand_in = sys.modules['pydantic.plugin._loader']\n"
        "    group = stand_in.PYDANTIC_ENTRY_POINT_GROUP\n"
        "assert group == 'pydantic', group\n"
        "print('ok')\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-2000:]
