"""The composition root: the one package that builds adapters and hands them to the reconciler.

Front ends (``tuneop.cli``, ``tuneop.controller``) import it, the ports and the
reconciler, never an adapter: ``operator`` wires the operator, ``local`` a local run,
``stores`` decides which store is durable, ``folders`` is the results folder as
the command line reads and writes it, and ``cli_clients`` builds the command line's
cluster and Redis clients.
"""

__all__: list[str] = []
