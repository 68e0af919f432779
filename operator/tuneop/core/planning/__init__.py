"""Planning: one reconcile's decisions, the planner and its steps.

The ledger folds what finished, ``stop`` decides whether to stop, ``launch``
which Jobs to create (packed by ``packing``, retried by ``retry``), ``phase``
the new status; ``queueing`` and ``starting`` watch Jobs that wait or never
start, ``events`` words what happened, ``resume`` runs a session again.
"""

__all__: list[str] = []
