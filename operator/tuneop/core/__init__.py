"""The pure core of tuneop: what a reconcile decides, as functions of data.

What was observed (``observed``) goes through the planner (``planner``, whose
steps are ``ledger``, ``stop``, ``launch`` and ``phase``) to a plan: Jobs to
create (``manifests``, the Job wire format; ``packing``; ``search`` and
``bayesian`` for parameters), results to persist (``contract``, the result
contract; ``harvest``), events (``events``) and the new status. ``ranges`` is
the codec of index ranges, ``ranking`` the order of trials, ``summary`` and
``jobsfile`` serve the command line. Nothing here talks to Kubernetes, Redis,
the clock or the filesystem; callers pass those facts in.
"""

__all__: list[str] = []
