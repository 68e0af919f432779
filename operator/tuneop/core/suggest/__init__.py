"""Suggestions: each trial's parameters, from a grid, random or
quasi-random points (``search``), or Optuna's samplers over the history
(``bayesian``, ``samplers``), warm-started from an earlier session's records.
"""

__all__: list[str] = []
