"""The ``tuneop`` command: the command line plus the ``operator`` subcommand.

``tuneop.cli`` holds every subcommand that works without a cluster's
controller (plan, run, summary, watch, crd); ``tuneop.controller.command``
adds ``operator``. This module is the one place both meet.
"""

from __future__ import annotations

from collections.abc import Sequence

from tuneop.cli.main import main as cli_main
from tuneop.controller.command import add_parser
from tuneop.core.imports import imports_done, rare_collections, walk_nothing_at_exit

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    # A command's imports go faster with the collector kept out of the way; the long
    # ones (``operator``, ``run``, ``watch``) call ``imports_done`` once they have theirs.
    rare_collections()
    walk_nothing_at_exit()  # the end of the process frees it all at once
    try:
        return cli_main(argv, extend=add_parser)
    finally:
        imports_done()
