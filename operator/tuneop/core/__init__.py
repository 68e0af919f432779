"""The pure core of tuneop.

Everything here takes data and returns data: the TuningSession model, the
search-space enumeration, the packing of trials into worker Jobs, the planner,
the status computation and the result contract. Nothing here talks to
Kubernetes, Redis, the clock or the filesystem; callers pass those facts in.
"""
