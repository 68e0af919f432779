"""``python -m tuneop``: the same command line as the ``tuneop`` script."""

from tuneop.cli import main

raise SystemExit(main())
