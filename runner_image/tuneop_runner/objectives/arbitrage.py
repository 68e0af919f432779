"""A cross-exchange arbitrage backtest, a realistic objective with an interior optimum.

The market is generated, not downloaded, so the backtest is deterministic and
self-contained: one asset quoted in KRW on two exchanges, A and B. Its mid price
is a random walk; the premium of A over B is mean-reverting noise (an AR(1)
process) with occasional spikes, the dislocations an arbitrageur waits for.
``random.Random(seed)`` makes the same ``seed`` and ``ticks`` give the same
series, and the series is cached so packed trials do not regenerate it.

The strategy holds inventory on both exchanges. When the premium, in percent,
exceeds ``min_spread_pct`` it sells on the dear exchange and buys on the cheap
one, ``max_position_krw`` worth on each side; it closes both legs when the
premium has mostly reverted, or after a maximum holding time. Every fill pays
a taker fee, ``slippage_bps``, and a market impact that grows with the order
size, so:

* a low threshold trades on noise whose edge is smaller than a round trip's
  cost, and bleeds fees until the circuit breaker stops it;
* a high threshold waits for spikes that never come, and makes nothing;
* in between, it catches the spikes: pnl has an interior optimum in
  ``min_spread_pct`` (and, through the impact, in ``max_position_krw``).

A risk layer sits between the strategy and the market. It caps open exposure
at ``max_position_krw``, rejecting the strategy's attempts to add to a position
as the premium keeps widening, and a circuit breaker trips when the drawdown
from peak equity exceeds ``max_drawdown_krw``: the open position is closed and
no new one is allowed. ``safety_violations`` counts the orders the risk layer
rejected (one per attempt, not per tick), a number a session can constrain.

Params: ``min_spread_pct``, ``slippage_bps``, ``max_position_krw`` (required);
``seed`` (default 7), ``ticks`` (default 5000), ``fee_bps`` (default 5),
``max_drawdown_krw`` (default 1,000,000). Metrics: ``pnl`` and ``total_fees``
(KRW, pnl after fees, slippage and impact), ``trades`` (round trips opened),
``circuit_breaker_active`` (0/1), ``safety_violations``, ``max_drawdown`` (KRW).
"""

from __future__ import annotations

import functools
import math
import random
from collections.abc import Mapping
from dataclasses import dataclass

from tuneop_runner.objectives.params import integer, number

__all__ = ["DEFAULT_SEED", "DEFAULT_TICKS", "MAX_TICKS", "Market", "backtest", "generate_market"]

DEFAULT_SEED = 7
DEFAULT_TICKS = 5000
MAX_TICKS = 1_000_000

_START_MID_KRW = 60_000_000.0
_MID_VOLATILITY = 0.0004  # per tick, log-return standard deviation
_PREMIUM_PERSISTENCE = 0.9  # AR(1) coefficient of the premium (fraction)
_PREMIUM_NOISE = 0.0006  # per tick; stationary std is about 0.14 %
_SPIKE_PROBABILITY = 0.004
_SPIKE_RANGE = (0.006, 0.025)  # size of a spike, as a fraction of the price
_SPIKE_PERSISTENCE = 0.97  # spikes fade more slowly than the noise
_EXIT_FRACTION = 0.2  # close once the premium is below this share of the threshold
_MAX_HOLD_TICKS = 300
_IMPACT_BPS_PER_MILLION_KRW = 0.5


@dataclass(frozen=True)
class Market:
    """The two exchanges' prices, tick by tick."""

    price_a: tuple[float, ...]
    price_b: tuple[float, ...]


@functools.lru_cache(maxsize=8)
def generate_market(seed: int = DEFAULT_SEED, ticks: int = DEFAULT_TICKS) -> Market:
    rng = random.Random(seed)
    mid = _START_MID_KRW
    noise = 0.0
    spike = 0.0
    price_a: list[float] = []
    price_b: list[float] = []
    for _ in range(ticks):
        mid *= math.exp(rng.gauss(0.0, _MID_VOLATILITY))
        noise = _PREMIUM_PERSISTENCE * noise + rng.gauss(0.0, _PREMIUM_NOISE)
        spike *= _SPIKE_PERSISTENCE
        if rng.random() < _SPIKE_PROBABILITY:
            spike += rng.choice((-1.0, 1.0)) * rng.uniform(*_SPIKE_RANGE)
        premium = noise + spike
        price_a.append(mid * (1 + premium / 2))
        price_b.append(mid * (1 - premium / 2))
    return Market(tuple(price_a), tuple(price_b))


@dataclass
class _Position:
    """A hedged pair: short ``direction``'s dear leg, long its cheap leg."""

    direction: int  # +1: short A / long B; -1: long A / short B
    quantity: float
    fill_a: float
    fill_b: float
    entry_premium_pct: float
    opened_at: int
    add_rejected: bool = False

    def value(self, price_a: float, price_b: float) -> float:
        """Mark-to-market gain of the pair, before exit costs."""
        return self.direction * self.quantity * ((self.fill_a - price_a) + (price_b - self.fill_b))


@dataclass
class _Book:
    """Running account of the backtest."""

    fee_rate: float
    cost_rate: float  # slippage plus impact, per fill
    realized: float = 0.0
    fees: float = 0.0
    trades: int = 0

    def fill(self, price: float, quantity: float, buy: bool) -> float:
        """Execute one taker fill; returns its price after slippage and impact."""
        executed = price * (1 + self.cost_rate) if buy else price * (1 - self.cost_rate)
        fee = executed * quantity * self.fee_rate
        self.fees += fee
        self.realized -= fee
        return executed

    def open(self, direction: int, notional: float, a: float, b: float, tick: int) -> _Position:
        quantity = notional / ((a + b) / 2)
        fill_a = self.fill(a, quantity, buy=direction < 0)
        fill_b = self.fill(b, quantity, buy=direction > 0)
        self.trades += 1
        premium = (a - b) / b * 100
        return _Position(direction, quantity, fill_a, fill_b, premium, tick)

    def close(self, position: _Position, a: float, b: float) -> None:
        exit_a = self.fill(a, position.quantity, buy=position.direction > 0)
        exit_b = self.fill(b, position.quantity, buy=position.direction < 0)
        self.realized += position.value(exit_a, exit_b)


@dataclass(frozen=True)
class _Settings:
    threshold: float
    slippage_bps: float
    max_position: float
    seed: int
    ticks: int
    fee_bps: float
    max_drawdown_limit: float


def _settings(params: Mapping[str, object]) -> _Settings:
    """The backtest's params, read and checked."""
    s = _Settings(
        threshold=number(params, "min_spread_pct"),
        slippage_bps=number(params, "slippage_bps"),
        max_position=number(params, "max_position_krw"),
        seed=integer(params, "seed", default=DEFAULT_SEED),
        ticks=integer(params, "ticks", default=DEFAULT_TICKS),
        fee_bps=number(params, "fee_bps", default=5.0),
        max_drawdown_limit=number(params, "max_drawdown_krw", default=1_000_000.0),
    )
    if s.threshold < 0 or s.slippage_bps < 0 or s.fee_bps < 0:
        raise ValueError("min_spread_pct, slippage_bps and fee_bps must not be negative")
    if s.max_position <= 0 or s.max_drawdown_limit <= 0:
        raise ValueError("max_position_krw and max_drawdown_krw must be positive")
    if not 2 <= s.ticks <= MAX_TICKS:
        raise ValueError(f"ticks must be between 2 and {MAX_TICKS}, got {s.ticks}")
    return s


def backtest(params: Mapping[str, object]) -> dict[str, float | int]:
    settings = _settings(params)
    threshold, slippage_bps, max_position = (
        settings.threshold,
        settings.slippage_bps,
        settings.max_position,
    )
    seed, ticks, fee_bps = settings.seed, settings.ticks, settings.fee_bps
    max_drawdown_limit = settings.max_drawdown_limit

    market = generate_market(seed, ticks)
    impact_bps = _IMPACT_BPS_PER_MILLION_KRW * max_position / 1_000_000
    book = _Book(fee_rate=fee_bps / 10_000, cost_rate=(slippage_bps + impact_bps) / 10_000)
    position: _Position | None = None
    breaker = False
    signal_was_on = False
    violations = 0
    peak = 0.0
    max_drawdown = 0.0

    for tick, (a, b) in enumerate(zip(market.price_a, market.price_b, strict=True)):
        premium = (a - b) / b * 100
        equity = book.realized + (position.value(a, b) if position else 0.0)
        peak = max(peak, equity)
        max_drawdown = max(max_drawdown, peak - equity)
        if not breaker and peak - equity > max_drawdown_limit:
            breaker = True
            if position is not None:
                book.close(position, a, b)  # flattening reduces risk: allowed
                position = None

        signal_on = abs(premium) > threshold
        rising_edge = signal_on and not signal_was_on
        signal_was_on = signal_on

        if position is not None:
            relative = position.direction * premium
            reverted = relative <= threshold * _EXIT_FRACTION
            if reverted or tick - position.opened_at >= _MAX_HOLD_TICKS:
                book.close(position, a, b)
                position = None
            elif relative >= position.direction * position.entry_premium_pct + threshold:
                # The strategy would double down; the cap forbids it.
                if not position.add_rejected:
                    position.add_rejected = True
                    violations += 1
            continue

        if signal_on:
            if breaker:
                if rising_edge:
                    violations += 1
                continue
            direction = 1 if premium > 0 else -1
            position = book.open(direction, max_position, a, b, tick)

    if position is not None:
        book.close(position, market.price_a[-1], market.price_b[-1])

    return {
        "pnl": round(book.realized, 2),
        "trades": book.trades,
        "total_fees": round(book.fees, 2),
        "circuit_breaker_active": int(breaker),
        "safety_violations": violations,
        "max_drawdown": round(max_drawdown, 2),
    }
