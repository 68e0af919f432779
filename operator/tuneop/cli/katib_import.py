"""``tuneop import katib FILE``: a Katib v1beta1 Experiment as a TuningSession.

The conversion itself is pure (``tuneop.core.conversions.katib``); this prints one
``note:`` line on stderr per thing not carried over, checks the result is a
valid session, and writes it as YAML to stdout or ``-o FILE``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tuneop.api.errors import SpecError
from tuneop.cli.inputs import UsageError, yaml_docs
from tuneop.cli.text import clean

__all__ = ["cmd_import"]


def cmd_import(args: argparse.Namespace) -> int:
    """``tuneop import katib FILE``: a Katib Experiment as a TuningSession."""
    import yaml

    from tuneop.api.session import parse_manifest
    from tuneop.core.conversions.katib import KatibError, convert_experiment

    docs = [d for d in yaml_docs(args.file) if isinstance(d, dict)]
    found = [d for d in docs if d.get("kind") == "Experiment"]
    if len(found) != 1:
        raise UsageError(f"{args.file}: expected one Katib Experiment, found {len(found)}")
    try:
        doc, notes = convert_experiment(found[0])
    except KatibError as err:
        raise UsageError(f"{args.file}: {err}") from None
    for note in notes:
        print(f"note: {clean(note)}", file=sys.stderr)
    try:
        parse_manifest(doc)
    except SpecError as err:
        raise err.prefixed(f"{args.file}: as a TuningSession, ") from None
    text = yaml.safe_dump(doc, sort_keys=False, width=100)
    if args.output:
        Path(args.output).write_text(text)
    else:
        sys.stdout.write(text)
    return 0
