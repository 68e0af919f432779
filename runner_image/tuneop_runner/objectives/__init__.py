"""Built-in objectives, each a ``module:function`` taking params and returning metrics.

* ``tuneop_runner.objectives.arbitrage:backtest``: a cross-exchange arbitrage
  backtest on a generated KRW price series (pnl, trades, fees, circuit breaker,
  safety violations);
* ``tuneop_runner.objectives.functions``: optimisation test functions with known
  optima (``branin``, ``hartmann6``, ``sphere``, ``quadratic``);
* ``tuneop_runner.objectives.testing``: tiny objectives that sleep, fail or
  return NaN on purpose, for tests and failure-handling examples.

All are deterministic: the same params give the same metrics.
"""

__all__: list[str] = []
