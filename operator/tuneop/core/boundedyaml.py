"""YAML from an untrusted file, read within a budget: nodes, text, depth and aliases.

PyYAML's safe loader builds whatever tree a document describes. An alias shares
the node its anchor names, so a "billion laughs" document (each anchor a list of
nine aliases to the one before) composes in milliseconds and expands only later,
when something walks the tree (validation, a JSON dump, a deep copy, a printed
plan): gigabytes and no end. A large flat document costs, too: every node is a
Python object.

``load_all`` reads in two passes. The first walks libyaml's event stream (C, no
tree kept) and counts the document as it would be once every alias is expanded:
an alias costs the nodes and the text of the node it names. Past a bound it
stops with ``YamlBudgetError``, naming the rule, before any tree exists. Only a
document within the budget is composed and constructed (second pass).

The values are JSON's, as Kubernetes reads YAML: mappings, lists, strings,
numbers, booleans and null. ``1e-5`` is a number, as in YAML 1.2 and kubectl
(PyYAML's YAML 1.1 rules would make it the string "1e-5", which a number field
refuses). A timestamp stays the text written (``2024-01-01``
is a string, not a date nothing downstream could serialize); other tags
(``!!set``, ``!!binary``, ``!!python/...``) are refused; an integer longer than
``MAX_INT_DIGITS`` digits is refused rather than parsed (CPython would raise).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import yaml
from yaml.constructor import ConstructorError
from yaml.events import (
    AliasEvent,
    DocumentStartEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
)

__all__ = [
    "MAX_DEPTH",
    "MAX_INT_DIGITS",
    "MAX_NODES",
    "MAX_TEXT_CHARS",
    "Budget",
    "YamlBudgetError",
    "load_all",
]

# A file's budget, counted with every alias expanded (docs/concepts.md, "Untrusted
# input"). The largest real session (32 parameters of 1,024 values, a pod template
# with a long env list, a few thousand explicit trials) is under a tenth of it; a
# longer list of explicit trials belongs in a --jobs-file, read as JSON lines.
MAX_NODES = 100_000  # values, list items, keys
MAX_TEXT_CHARS = 4 * 1024 * 1024  # characters of scalar text
MAX_DEPTH = 64  # lists and mappings inside one another
MAX_INT_DIGITS = 400  # a float's range is 1.8e308: longer integers mean nothing here

# What the loader accepts besides a number: libyaml hands these through as they are.
_BaseLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class Budget:
    """The bounds one file is read within."""

    nodes: int = MAX_NODES
    text: int = MAX_TEXT_CHARS
    depth: int = MAX_DEPTH


class YamlBudgetError(ValueError):
    """A document past a bound; ``str()`` is the rule, ``line`` where it was passed."""

    def __init__(self, rule: str, line: int | None) -> None:
        self.rule = rule
        self.line = line
        super().__init__(rule)


def _line(event: Any) -> int | None:
    mark = getattr(event, "start_mark", None)
    return mark.line + 1 if mark is not None else None


class _Counter:
    """The first pass: the expanded size of the documents, event by event."""

    def __init__(self, budget: Budget) -> None:
        self.budget = budget
        self.nodes = 0
        self.text = 0
        # anchor -> (nodes, text) of its node once expanded; None while it is open.
        self.sizes: dict[str, tuple[int, int] | None] = {}
        self.open: list[tuple[str | None, int, int]] = []

    def add(self, nodes: int, text: int, event: Any) -> None:
        self.nodes += nodes
        self.text += text
        b = self.budget
        if self.nodes > b.nodes:
            aliased = " once its aliases are expanded" if isinstance(event, AliasEvent) else ""
            raise YamlBudgetError(f"more than {b.nodes:,} values{aliased}", _line(event))
        if self.text > b.text:
            aliased = " once its aliases are expanded" if isinstance(event, AliasEvent) else ""
            raise YamlBudgetError(f"more than {b.text:,} characters of text{aliased}", _line(event))

    def alias(self, event: AliasEvent) -> None:
        anchor = event.anchor
        if anchor not in self.sizes:
            return  # an undefined alias: the parse that follows names it
        size = self.sizes[anchor]
        if size is None:
            raise YamlBudgetError(f"the alias *{anchor} is inside its own anchor", _line(event))
        self.add(size[0], size[1], event)

    def feed(self, event: Any) -> None:
        kind = type(event)
        if kind is ScalarEvent:
            start = (self.nodes, self.text)
            self.add(1, len(event.value), event)
            if event.anchor is not None:
                self.sizes[event.anchor] = (self.nodes - start[0], self.text - start[1])
        elif kind is SequenceStartEvent or kind is MappingStartEvent:
            if len(self.open) >= self.budget.depth:
                raise YamlBudgetError(
                    f"nested too deeply (more than {self.budget.depth} levels)", _line(event)
                )
            self.open.append((event.anchor, self.nodes, self.text))
            if event.anchor is not None:
                self.sizes[event.anchor] = None
            self.add(1, 0, event)
        elif kind is SequenceEndEvent or kind is MappingEndEvent:
            anchor, nodes, text = self.open.pop()
            if anchor is not None:
                self.sizes[anchor] = (self.nodes - nodes, self.text - text)
        elif kind is AliasEvent:
            self.alias(event)
        elif kind is DocumentStartEvent:
            self.sizes = {}  # anchors belong to their document


class _JsonLoader(_BaseLoader):  # type: ignore[misc]
    """The safe loader, constructing JSON's values only."""


def _timestamp(loader: Any, node: yaml.ScalarNode) -> str:
    return str(node.value)


def _int(loader: Any, node: yaml.ScalarNode) -> int:
    digits = str(node.value).lstrip("+-").replace("_", "")
    if len(digits) > MAX_INT_DIGITS:
        raise ConstructorError(
            None, None, f"an integer of more than {MAX_INT_DIGITS} digits", node.start_mark
        )
    return yaml.SafeLoader.construct_yaml_int(loader, node)


def _refuse(loader: Any, node: yaml.Node) -> Any:
    tag = str(node.tag).replace("tag:yaml.org,2002:", "!!")
    raise ConstructorError(None, None, f"the tag {tag} is not JSON data", node.start_mark)


# YAML 1.2's exponents (1e-5, 1.5e3, 2E3); YAML 1.1 wants a dot and a sign (1.0e-5).
_JsonLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)[eE][-+]?[0-9]+$"),
    list("-+.0123456789"),
)
_JsonLoader.add_constructor("tag:yaml.org,2002:timestamp", _timestamp)
_JsonLoader.add_constructor("tag:yaml.org,2002:int", _int)
for _tag in ("binary", "set", "omap", "pairs"):
    _JsonLoader.add_constructor(f"tag:yaml.org,2002:{_tag}", _refuse)


def load_all(data: bytes | str, budget: Budget | None = None) -> list[Any]:
    """The documents of ``data``, or ``YamlBudgetError`` past a bound, or ``yaml.YAMLError``.

    Empty documents are left out.
    """
    counter = _Counter(budget or Budget())
    try:
        for event in yaml.parse(data, Loader=_BaseLoader):
            counter.feed(event)
    except yaml.MarkedYAMLError as err:
        # PyYAML 6.0.2 and later stop deep nesting in the scanner, which reads ahead of
        # the events this budget counts: the same refusal, in the budget's words.
        if "nesting depth" not in str(err.problem):
            raise
        mark = err.problem_mark
        depth = (budget or Budget()).depth
        raise YamlBudgetError(
            f"nested too deeply (more than {depth} levels)", mark.line + 1 if mark else None
        ) from None
    return [d for d in yaml.load_all(data, Loader=_JsonLoader) if d is not None]
