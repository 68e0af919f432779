"""The results folder as the command line reads and writes it.

The front ends import no adapter (an import-linter contract): ``tuneop report``,
``summary``, ``results``, ``export`` and a local run's last lines reach the
results-folder adapter (``tuneop.adapters.results_folder``) through these names,
the one door the composition root opens for them.
"""

from __future__ import annotations

from pathlib import Path

from tuneop.adapters.results_folder.claim import ForeignResults
from tuneop.adapters.results_folder.folder import (
    DirectoryResults,
    load_records,
    recorded_objective,
    session_folders,
    session_records,
    write_atomic,
    write_session_folder,
)
from tuneop.adapters.results_folder.safefs import UnsafePath, read_capped
from tuneop.adapters.results_folder.tree import holds_file
from tuneop.api.session import SessionRef

__all__ = [
    "ForeignResults",
    "UnsafePath",
    "holds_file",
    "load_records",
    "read_capped",
    "recorded_objective",
    "session_dir",
    "session_folders",
    "session_records",
    "write_atomic",
    "write_session_folder",
]


def session_dir(results_dir: Path, ref: SessionRef) -> Path:
    """Where a local run of ``ref`` keeps its results below ``results_dir``."""
    return DirectoryResults(results_dir).session_dir(ref)
