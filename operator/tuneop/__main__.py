"""``python -m tuneop``: the same command line as the ``tuneop`` script."""

from tuneop.main import main

raise SystemExit(main())
