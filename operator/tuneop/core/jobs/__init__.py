"""Worker Jobs: what a reconcile observed of them, their manifest (the
Job wire format) and pod, what a local run makes of that pod, the files it
runs, and what a worker is told for early stopping.
"""

__all__: list[str] = []
