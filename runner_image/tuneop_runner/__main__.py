"""Entry point for ``python -m tuneop_runner``, the same program as ``tuneop-runner``."""

from tuneop_runner.cli import main

raise SystemExit(main())
