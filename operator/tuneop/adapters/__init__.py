"""Adapters: every piece of I/O, each behind a small Protocol with an in-memory fake.

The reconciler talks only to these protocols, so the same observe → plan → act
loop drives Kubernetes Jobs (the operator) and local processes (``tuneop run
--local``), and unit tests drive it with the fakes.
"""

__all__ = []
