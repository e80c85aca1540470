"""Candles made by hand for the backtest tests."""

from __future__ import annotations

import numpy as np

from cryptosignals.candles import Candles

START_MS = 1_742_774_400_000  # 2025-03-24T00:00:00Z, on a 5-minute boundary
STEP_MS = 300_000


def make_candles(
    close: list[float] | np.ndarray,
    open_: list[float] | np.ndarray | None = None,
    high: list[float] | np.ndarray | None = None,
    low: list[float] | np.ndarray | None = None,
) -> Candles:
    """5-minute candles; open defaults to the previous close, high/low to the body's ends."""
    close = np.asarray(close, dtype=float)
    open_ = np.concatenate([[close[0]], close[:-1]]) if open_ is None else np.asarray(open_, float)
    high = np.maximum(open_, close) if high is None else np.asarray(high, float)
    low = np.minimum(open_, close) if low is None else np.asarray(low, float)
    n = len(close)
    return Candles(
        START_MS + STEP_MS * np.arange(n, dtype=np.int64),
        open_,
        high,
        low,
        close,
        np.full(n, 1_000_000.0),
    )


def random_walk(n: int, seed: int, start: float = 100.0, vol: float = 0.004) -> Candles:
    """A seeded geometric random walk with plausible highs and lows."""
    rng = np.random.default_rng(seed)
    close = start * np.exp(np.cumsum(rng.normal(0.0, vol, n)))
    open_ = np.concatenate([[start], close[:-1]]) * np.exp(rng.normal(0, vol / 5, n))
    wick = np.abs(rng.normal(0, vol / 2, n))
    high = np.maximum(open_, close) * (1 + wick)
    low = np.minimum(open_, close) * (1 - wick)
    return make_candles(close, open_, high, low)
