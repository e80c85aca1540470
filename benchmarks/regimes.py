"""Benchmark: regimes, placeholder."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cryptosignals.candles import Candles
from cryptosignals.regimes import bar_ends

DAY = 86_400
BARS_PER_DAY = DAY // 300


@dataclass(frozen=True)
class PlantedMarket:
    """Candles with a planted two-state volatility chain; `turbulent[i]` is bar i's true state."""

    candles: Candles
    end: np.ndarray
    turbulent: np.ndarray


def planted_market(
    days: int = 60, seed: int = 0, calm: float = 0.001, ratio: float = 3.0,
    calm_days: float = 3.0, turbulent_days: float = 1.0, start_time: int = 1_740_000_000,
) -> PlantedMarket:  # fmt: skip
    """A random walk whose volatility follows a two-state Markov chain on 5-minute bars: calm
    (`calm` per bar, about 10 bp) for `calm_days` on average, then turbulent (`ratio` x calm)
    for `turbulent_days` on average; Student-t(5) innovations scaled to unit variance."""
    rng = np.random.default_rng(seed)
    n = days * BARS_PER_DAY
    leave = (1.0 / (calm_days * BARS_PER_DAY), 1.0 / (turbulent_days * BARS_PER_DAY))
    state = np.zeros(n, dtype=bool)
    stormy = False
    draws = rng.random(n)
    for i in range(n):
        if draws[i] < leave[int(stormy)]:
            stormy = not stormy
        state[i] = stormy
    vol = np.where(state, calm * ratio, calm)
    returns = rng.standard_t(5, n) / np.sqrt(5.0 / 3.0) * vol
    close = 100.0 * np.exp(np.cumsum(returns))
    open_ = np.concatenate([[100.0], close[:-1]])
    wick = np.abs(rng.normal(0.0, 0.3, (2, n))) * vol
    high = np.maximum(open_, close) * (1 + wick[0])
    low = np.minimum(open_, close) * (1 - wick[1])
    timestamps = ((start_time // 300) * 300 + 300 * np.arange(n, dtype=np.int64)) * 1000
    volume = np.round(2e6 * np.exp(rng.normal(0.0, 0.2, n)), 2)
    candles = Candles(timestamps, open_, high, low, close, volume)
    return PlantedMarket(candles, bar_ends(timestamps), state)
