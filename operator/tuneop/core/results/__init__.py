"""Results: harvested from a Job's logs, read back bounded from files
and Redis, ranked, summarized, as a Pareto front and as an Optuna study.
"""

__all__: list[str] = []
