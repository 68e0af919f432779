"""Entry point for ``python -m tuneop_runner``, the same program as ``tuneop-runner``."""

from tuneop_runner.cli import main

__all__: list[str] = []

raise SystemExit(main())
