"""How a spec that fails validation is reported: one line per problem, naming the field.

``SpecError`` carries the problems; ``format_validation_error`` turns
pydantic's errors into ``spec.<field path>: <rule>`` lines, the camelCase
path the user wrote, with our validators' own "field: rule" messages joined
to the path they were raised at.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

# pydantic is imported when an error is formatted: SpecError itself is caught by
# every command, so importing it must stay cheap (tuneop --help never loads pydantic).
if TYPE_CHECKING:
    from pydantic import ValidationError

__all__ = ["SpecError", "format_validation_error"]


class SpecError(ValueError):
    """A spec that fails validation; ``str()`` names each field and rule."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


def _loc(loc: tuple[int | str, ...]) -> str:
    from pydantic.alias_generators import to_camel

    out = "spec"
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in {"function-after", "function-before"} or "[" in str(part):
            continue
        else:
            out += f".{to_camel(str(part)) if '_' in str(part) else part}"
    return out


# Our validators word their messages "field: rule"; the field joins the error's path.
_FIELD_PREFIX = re.compile(r"^([A-Za-z][A-Za-z0-9_.\[\] ]*): (.*)$", re.DOTALL)


def format_validation_error(err: ValidationError) -> list[str]:
    problems = []
    for e in err.errors():
        where = _loc(tuple(e["loc"]))
        msg = e["msg"].removeprefix("Value error, ")
        if msg.startswith("spec."):
            problems.append(msg)  # a path of its own (inside spec.template)
            continue
        m = _FIELD_PREFIX.match(msg) if e["type"] == "value_error" else None
        if m:
            where, msg = f"{where}.{m.group(1)}", m.group(2)
        problems.append(f"{where}: {msg}")
    return problems
