"""``tuneop import katib FILE``: a Katib v1beta1 Experiment as a TuningSession.

The conversion itself is pure (``tuneop.core.conversions.katib``); this reads the
file within the YAML budget (``tuneop.cli.inputs``), prints one ``note:`` line on
stderr per field that does not carry over as Katib runs it (with ``--strict``,
those lines are ``error:`` lines and the command exits 2 writing nothing), checks
the result is a valid session, writes it as YAML to stdout or ``-o FILE``, and
ends with the command that runs it.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path
from typing import Any

from tuneop.api.errors import SpecError
from tuneop.cli.inputs import UsageError, yaml_docs
from tuneop.cli.text import clean

__all__ = ["cmd_import"]


def _grid_note(spec: Any) -> str | None:
    """A grid the budget cuts short, named: which points run differs from Katib's."""
    from tuneop.core.suggest.search import grid_size

    if spec.optimizer.type != "grid" or spec.total_trials is None:
        return None
    size = grid_size(spec)
    if spec.total_trials >= size:
        return None
    return (
        f"spec.maxTrialCount: {spec.total_trials} of the grid's {size} points run, the first"
        " in grid order (Katib draws unvisited points at random)"
    )


def _next_step(output: str | None) -> str:
    if output is None:
        return "run it: save it with -o session.yaml, then tuneop run session.yaml"
    name = shlex.quote(output)
    return f"run it: tuneop run {name} (add --local to run the trials on this machine)"


def cmd_import(args: argparse.Namespace) -> int:
    """``tuneop import katib FILE``: a Katib Experiment as a TuningSession."""
    import yaml

    from tuneop.api.session import parse_manifest
    from tuneop.core.conversions.katib import KatibError, convert_experiment
    from tuneop.core.extras import missing_module

    docs = [d for d in yaml_docs(args.file) if isinstance(d, dict)]
    found = [d for d in docs if d.get("kind") == "Experiment"]
    if len(found) != 1:
        raise UsageError(f"{args.file}: expected one Katib Experiment, found {len(found)}")
    try:
        doc, notes = convert_experiment(found[0], gp=missing_module("torch") is None)
    except KatibError as err:
        raise UsageError(f"{args.file}: {err}") from None
    try:
        session = parse_manifest(doc)
    except SpecError as err:
        raise err.prefixed(f"{args.file}: as a TuningSession, ") from None
    if grid := _grid_note(session.spec):
        notes.append(grid)
    strict = getattr(args, "strict", False)
    for note in notes:
        word = "error" if strict else "note"
        print(f"{word}: {clean(note)}", file=sys.stderr)
    if strict and notes:
        return 2
    text = yaml.safe_dump(doc, sort_keys=False, width=100)
    if args.output:
        Path(args.output).write_text(text)
    else:
        sys.stdout.write(text)
    print(clean(_next_step(args.output)), file=sys.stderr)
    return 0
