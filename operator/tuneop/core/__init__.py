"""The pure core of tuneop: what a reconcile decides, as functions of data.

Its modules live in rooms named for their role, highest first (the ``Core rooms``
contract in ``pyproject.toml`` holds the order): ``planning`` (the planner and its
steps: what was observed goes through ``ledger``, ``stop``, ``launch`` and ``phase``
to a plan) and ``conversions`` (Katib Experiments, JSONL plans), then ``suggest``
(each trial's parameters), ``results`` (harvested, read back, ranked, summarized),
``jobs`` (what was observed of worker Jobs, their manifest and pod) and ``wire`` (what
a worker reports and how it is read). The modules at this level are the ones they
share: ``clock``, ``untrusted``, ``ranges``, ``fingerprint``, ``boundedyaml``,
``extras``, ``imports``. Nothing here talks to Kubernetes, Redis, the clock or the filesystem;
callers pass those facts in.
"""

__all__: list[str] = []
