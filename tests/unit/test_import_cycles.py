"""No import cycle among tuneop's modules, those under ``TYPE_CHECKING`` included.

A cycle hidden under ``TYPE_CHECKING`` still ties two modules together: neither
can move or be read without the other. The graph is grimp's (import-linter's own
engine), built with the type-checking imports kept; a cycle is a strongly
connected set of more than one module, each listed by its modules.
"""

from __future__ import annotations

import grimp


def cycles(imports: dict[str, set[str]]) -> list[frozenset[str]]:
    """The strongly connected sets of more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[frozenset[str]] = []
    for root in sorted(imports):
        if root in index:
            continue
        work = [(root, iter(sorted(imports.get(root, ()))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(imports.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                members = set()
                while True:
                    top = stack.pop()
                    on_stack.discard(top)
                    members.add(top)
                    if top == node:
                        break
                if len(members) > 1:
                    found.append(frozenset(members))
    return found


def tuneop_cycles() -> list[frozenset[str]]:
    graph = grimp.build_graph(
        "tuneop", include_external_packages=False, exclude_type_checking_imports=False
    )
    return cycles({m: set(graph.find_modules_directly_imported_by(m)) for m in graph.modules})


def test_no_import_cycle_among_tuneop_modules() -> None:
    assert [sorted(c) for c in tuneop_cycles()] == []


def test_the_search_finds_cycles_through_several_modules_and_only_those() -> None:
    imports = {
        "a": {"b"},
        "b": {"c"},
        "c": {"a", "d"},
        "d": {"e"},
        "e": set(),
        "f": {"f"},  # a module importing itself is no cycle between modules
        "g": {"h"},
        "h": {"g"},
    }
    assert sorted(sorted(c) for c in cycles(imports)) == [["a", "b", "c"], ["g", "h"]]
