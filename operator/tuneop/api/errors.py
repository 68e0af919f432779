"""How a spec that fails validation is reported: one line per problem, naming the field.

``SpecError`` carries the problems; ``format_validation_error`` turns
pydantic's errors into ``spec.<field path>: <rule>`` lines, the camelCase
path the user wrote, with our validators' own "field: rule" messages joined
to the path they were raised at. A value that fits no member of a union (a
parameter value that is a list) is one problem, not one per member.

However many problems a spec has (a thousand bad values, fifty thousand unknown
fields), what is shown is at most ``MAX_SHOWN_PROBLEMS`` lines: the first ones,
then ``… and N more`` (``SpecError.shown``).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

# pydantic is imported when an error is formatted: SpecError itself is caught by
# every command, so importing it must stay cheap (tuneop --help never loads pydantic).
if TYPE_CHECKING:
    from pydantic import ValidationError

__all__ = ["MAX_SHOWN_PROBLEMS", "SpecError", "format_validation_error", "nul_problems"]

MAX_SHOWN_PROBLEMS = 5


class SpecError(ValueError):
    """A spec that fails validation; ``str()`` names each field and rule, at most five.

    ``more`` counts problems found beyond the ``problems`` listed (a reader that
    stops collecting after the first few).
    """

    def __init__(self, problems: list[str], more: int = 0) -> None:
        self.problems = problems
        self.more = more
        super().__init__("; ".join(self.shown()))

    @property
    def count(self) -> int:
        return len(self.problems) + self.more

    def shown(self) -> list[str]:
        """At most ``MAX_SHOWN_PROBLEMS`` lines: the first problems, then how many more."""
        if self.count <= MAX_SHOWN_PROBLEMS:
            return list(self.problems)
        first = self.problems[: MAX_SHOWN_PROBLEMS - 1]
        return [*first, f"… and {self.count - len(first):,} more"]

    def prefixed(self, prefix: str) -> SpecError:
        """The same problems, each after ``prefix`` (the file they were found in)."""
        return SpecError([f"{prefix}{p}" for p in self.problems], self.more)


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


# The members of a union of scalars (a parameter value: int | float | str | bool), as
# pydantic names them at the end of an error's path, and what each accepts.
_UNION_MEMBERS = {"int": "a number", "float": "a number", "str": "a string", "bool": "true/false"}


def _union_rule(members: list[str]) -> str:
    kinds = list(dict.fromkeys(_UNION_MEMBERS[m] for m in members))
    listed = ", ".join(kinds[:-1]) + " or " + kinds[-1] if len(kinds) > 1 else kinds[0]
    return f"must be {listed}"


def _same_value(loc: tuple[int | str, ...], first: tuple[int | str, ...]) -> bool:
    return bool(loc) and loc[-1] in _UNION_MEMBERS and loc[:-1] == first[:-1]


def format_validation_error(err: ValidationError) -> list[str]:
    problems: list[str] = []
    errors = err.errors()
    i = 0
    while i < len(errors):
        e = errors[i]
        loc = tuple(e["loc"])
        if loc and loc[-1] in _UNION_MEMBERS:
            # One line for the value, however many union members refused it.
            j = i
            while j < len(errors) and _same_value(tuple(errors[j]["loc"]), loc):
                j += 1
            members = [str(x["loc"][-1]) for x in errors[i:j]]
            problems.append(f"{_loc(loc[:-1])}: {_union_rule(members)}")
            i = j
            continue
        i += 1
        where = _loc(loc)
        msg = e["msg"].removeprefix("Value error, ")
        if msg.startswith("spec."):
            problems.append(msg)  # a path of its own (inside spec.template)
            continue
        m = _FIELD_PREFIX.match(msg) if e["type"] == "value_error" else None
        if m:
            where, msg = f"{where}.{m.group(1)}", m.group(2)
        problems.append(f"{where}: {msg}")
    return problems


def nul_problems(data: object, root: str = "spec") -> list[str]:
    """One line for each text of ``data`` (keys and values, at any depth) holding a NUL
    character: no such text can reach a worker's environment, command line or file
    name, so a spec that holds one is refused whole, before anything runs."""
    problems: list[str] = []
    stack: list[tuple[str, object]] = [(root, data)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, str):
            if "\x00" in value:
                problems.append(f"{path}: must not contain a NUL character")
        elif isinstance(value, dict):
            for key, item in value.items():
                if "\x00" in str(key):
                    # The name itself cannot be printed safely: report where it sits.
                    problems.append(f"{path}: a field name must not contain a NUL character")
                    stack.append((path, item))
                else:
                    stack.append((f"{path}.{key}", item))
        elif isinstance(value, list):
            stack.extend((f"{path}[{n}]", item) for n, item in enumerate(value))
    return sorted(problems)
