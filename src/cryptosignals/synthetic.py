"""A seeded synthetic market for tests: known events planted into a realistic random walk.

Real data says whether the numbers are right; a planted market says whether each rule fires
where it should and stays quiet elsewhere. The market has:

- correlated coins: each coin's log return is `beta * market + own noise`;
- volatility regimes: a two-state Markov chain (calm / stormy) scales every coin's volatility;
- per-candle USD volumes around a base level (lognormal);
- planted events on the first coin, each recorded as a `PlantedEvent`: a 6% pump inside an hour,
  a volume spike (an hour of 40x volume, which more than doubles the 24h volume), and an RSI dip and
  rebound (a steady slide, then a turn up).

With `regimes=False` the walk stays calm (0.1% per 5 minutes), so a 5% move in an hour or a
doubling of the 24h volume can only come from a planted event.

`regime_market` is a single coin whose volatility follows a known two-state chain, for judging
regime detection; `overreacting_candles` a market with a real, tradeable effect.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cryptosignals.candles import Candles
from cryptosignals.regimes import bar_ends


@dataclass(frozen=True)
class PlantedEvent:
    coin: str
    kind: str  # "pump", "volume_spike", "rsi_dip"
    start: int  # index of the first candle of the event
    stop: int  # index of the candle after the event


@dataclass(frozen=True)
class Market:
    candles: dict[str, Candles]
    events: list[PlantedEvent]


def generate_market(
    coins: tuple[str, ...] = ("bitcoin", "ethereum", "solana"),
    days: int = 6,
    seed: int = 7,
    interval_s: int = 300,
    regimes: bool = True,
    plant: bool = True,
    start_time: int = 1_740_000_000,
) -> Market:
    """Candles for each coin and the events planted in the first one (see module docstring)."""
    rng = np.random.default_rng(seed)
    n = days * 86_400 // interval_s
    calm = 0.001
    volatility = np.full(n, calm)
    if regimes:
        stormy = False
        for i in range(n):
            if rng.random() < (0.02 if stormy else 0.004):
                stormy = not stormy
            volatility[i] = calm * (3.0 if stormy else 1.0)
    market = rng.normal(0.0, 1.0, n) * volatility
    start = (start_time // interval_s) * interval_s * 1000
    timestamps = start + np.arange(n, dtype=np.int64) * interval_s * 1000

    candles: dict[str, Candles] = {}
    events: list[PlantedEvent] = []
    for k, coin in enumerate(coins):
        beta = 1.0 if k == 0 else 0.6 + 0.2 * k
        returns = beta * market + rng.normal(0.0, 0.5, n) * volatility
        volume = 2e6 * (1 + k) * np.exp(rng.normal(0.0, 0.2, n))
        if plant and k == 0:
            events = _plant(coin, returns, volume, n)
        close = 100.0 * (k + 1) * np.exp(np.cumsum(returns))
        open_ = np.concatenate([[close[0] / np.exp(returns[0])], close[:-1]])
        wick = np.abs(rng.normal(0.0, 0.3, (2, n))) * volatility
        high = np.maximum(open_, close) * (1 + wick[0])
        low = np.minimum(open_, close) * (1 - wick[1])
        candles[coin] = Candles(timestamps.copy(), open_, high, low, close, np.round(volume, 2))
    return Market(candles, events)


def _plant(coin: str, returns: np.ndarray, volume: np.ndarray, n: int) -> list[PlantedEvent]:
    """Overwrite returns/volumes in place at fixed fractions of the series."""
    pump = int(n * 0.45)
    returns[pump : pump + 6] = np.log(1.06) / 6  # +6% in 30 minutes
    spike = int(n * 0.65)
    volume[spike : spike + 12] *= 40.0  # an hour of 40x volume
    dip = int(n * 0.85)
    returns[dip : dip + 12] = -0.004  # a steady slide: RSI far below 30
    returns[dip + 12 : dip + 16] = 0.003  # and the rebound
    return [
        PlantedEvent(coin, "pump", pump, pump + 6),
        PlantedEvent(coin, "volume_spike", spike, spike + 12),
        PlantedEvent(coin, "rsi_dip", dip, dip + 16),
    ]


def overreacting_candles(
    days: int = 30, seed: int = 3, every_hours: float = 4.0, jump: float = 0.02,
    vol: float = 0.001, interval_s: int = 300, start_time: int = 1_740_000_000,
) -> Candles:  # fmt: skip
    """A market with a real, tradeable effect: strong mean reversion of overreactions. On a calm
    random walk, about every `every_hours` the price lurches by `jump` (up or down) over 15
    minutes and gives it all back over the next hour. An oversold (overbought) turn then pays
    well over a round trip; the evidence tests plant it to show that the rule exploiting it earns
    `actionable`, and that the rules betting on continuation do not."""
    rng = np.random.default_rng(seed)
    n = days * 86_400 // interval_s
    returns = rng.normal(0.0, vol, n)
    lurch, back = 3, 12  # bars
    i = 0
    while True:
        i += int(rng.exponential(every_hours * 3600 / interval_s)) + lurch + back
        if i + lurch + back >= n:
            break
        sign = 1.0 if rng.random() < 0.5 else -1.0
        size = np.log1p(jump)
        returns[i : i + lurch] += sign * size / lurch
        returns[i + lurch : i + lurch + back] -= sign * size / back
    close = 100.0 * np.exp(np.cumsum(returns))
    open_ = np.concatenate([[100.0], close[:-1]])
    wick = np.abs(rng.normal(0.0, vol / 3, (2, n)))
    high = np.maximum(open_, close) * (1 + wick[0])
    low = np.minimum(open_, close) * (1 - wick[1])
    start = (start_time // interval_s) * interval_s * 1000
    timestamps = start + np.arange(n, dtype=np.int64) * interval_s * 1000
    volume = np.round(2e6 * np.exp(rng.normal(0.0, 0.2, n)), 2)
    return Candles(timestamps, open_, high, low, close, volume)


@dataclass(frozen=True)
class RegimeMarket:
    """Candles with a planted two-state volatility chain; `turbulent[i]` is bar i's true state."""

    candles: Candles
    end: np.ndarray
    turbulent: np.ndarray


def regime_market(
    days: int = 60, seed: int = 0, calm: float = 0.001, ratio: float = 3.0,
    calm_days: float = 3.0, turbulent_days: float = 1.0, start_time: int = 1_740_000_000,
) -> RegimeMarket:  # fmt: skip
    """A random walk whose volatility follows a two-state Markov chain on 5-minute bars: calm
    (`calm` per bar, about 10 bp) for `calm_days` on average, then turbulent (`ratio` x calm)
    for `turbulent_days` on average; Student-t(5) innovations scaled to unit variance."""
    rng = np.random.default_rng(seed)
    n = days * 288
    leave = (1.0 / (calm_days * 288), 1.0 / (turbulent_days * 288))
    state = np.zeros(n, dtype=bool)
    stormy = False
    draws = rng.random(n)
    for i in range(n):
        if draws[i] < leave[int(stormy)]:
            stormy = not stormy
        state[i] = stormy
    vol = np.where(state, calm * ratio, calm)
    returns = rng.standard_t(5, n) / np.sqrt(5.0 / 3.0) * vol
    candles = candles_from_returns(returns, vol, rng, start_time)
    return RegimeMarket(candles, bar_ends(candles.timestamp), state)


@dataclass(frozen=True)
class VolatilityMarket:
    """Candles whose 5-minute log returns have a known sigma: `sigma[i]` is the true standard
    deviation of the return of the bar closing at `end[i]`, known before that bar."""

    candles: Candles
    end: np.ndarray
    sigma: np.ndarray


def garch_market(
    days: int = 60, seed: int = 0, omega: float = 1e-8, alpha: float = 0.08, beta: float = 0.9,
    nu: float = float("inf"), start_time: int = 1_740_000_000,
) -> VolatilityMarket:  # fmt: skip
    """A random walk whose 5-minute variance follows a GARCH(1,1): v[t+1] = omega + alpha r[t]^2
    + beta v[t] (long-run sigma sqrt(omega / (1 - alpha - beta)): 0.1 % by default), with
    Student-t(`nu`) innovations scaled to unit variance (normal when nu is infinite; fat tails
    for small nu). alpha = 0 and beta = 0 give a constant sigma of sqrt(omega)."""
    rng = np.random.default_rng(seed)
    n = days * 288
    if np.isinf(nu):
        shocks = rng.standard_normal(n)
    else:
        shocks = rng.standard_t(nu, n) / np.sqrt(nu / (nu - 2.0))
    persistence = alpha + beta
    v = omega / (1.0 - persistence) if persistence < 1 else omega
    sigma, returns = np.empty(n), np.empty(n)
    for i in range(n):
        sigma[i] = np.sqrt(v)
        returns[i] = sigma[i] * shocks[i]
        v = omega + alpha * returns[i] ** 2 + beta * v
    candles = candles_from_returns(returns, sigma, rng, start_time)
    return VolatilityMarket(candles, bar_ends(candles.timestamp), sigma)


def predictable_candles(
    days: int = 30, seed: int = 5, strength: float = 0.1, lookback: int = 12,
    vol: float = 0.001, interval_s: int = 300, start_time: int = 1_740_000_000,
) -> Candles:  # fmt: skip
    """A random walk with a planted directional effect, for judging P(up) models: each bar's
    return drifts by `strength` x `vol` in the direction of the last `lookback` bars' return
    (momentum), so the sign of the next hour's return depends on a feature the models see
    (`ret_12`). With `strength=0` it is a plain random walk: nothing to find."""
    rng = np.random.default_rng(seed)
    n = days * 86_400 // interval_s
    noise = rng.normal(0.0, vol, n)
    returns = np.zeros(n)
    window = 0.0
    for i in range(n):
        returns[i] = noise[i] + strength * vol * float(np.sign(window))
        window += returns[i] - (returns[i - lookback] if i >= lookback else 0.0)
    close = 100.0 * np.exp(np.cumsum(returns))
    open_ = np.concatenate([[100.0], close[:-1]])
    wick = np.abs(rng.normal(0.0, vol / 3, (2, n)))
    high = np.maximum(open_, close) * (1 + wick[0])
    low = np.minimum(open_, close) * (1 - wick[1])
    start = (start_time // interval_s) * interval_s * 1000
    timestamps = start + np.arange(n, dtype=np.int64) * interval_s * 1000
    volume = np.round(2e6 * np.exp(rng.normal(0.0, 0.2, n)), 2)
    return Candles(timestamps, open_, high, low, close, volume)


def candles_from_returns(
    returns: np.ndarray, vol: float | np.ndarray, rng: np.random.Generator, start_time: int
) -> Candles:
    """Five-minute candles whose closes follow `returns` from 100, with wicks of about
    0.3 x `vol` and a log-normal volume, from `start_time` on (one shape for every generator)."""
    n = len(returns)
    close = 100.0 * np.exp(np.cumsum(returns))
    open_ = np.concatenate([[100.0], close[:-1]])
    wick = np.abs(rng.normal(0.0, 0.3, (2, n))) * vol
    high = np.maximum(open_, close) * (1 + wick[0])
    low = np.minimum(open_, close) * (1 - wick[1])
    timestamps = ((start_time // 300) * 300 + 300 * np.arange(n, dtype=np.int64)) * 1000
    volume = np.round(2e6 * np.exp(rng.normal(0.0, 0.2, n)), 2)
    return Candles(timestamps, open_, high, low, close, volume)


def volatility_shift_market(
    days: int = 60, change_day: float = 40.0, factor: float = 2.0, seed: int = 0,
    nu: float = 4.0, start_time: int = 1_740_000_000,
) -> VolatilityMarket:  # fmt: skip
    """`garch_market` (Student-t(`nu`) shocks) whose returns are multiplied by `factor` from
    `change_day` on: a planted volatility change for drift detectors (`factor=1`: none)."""
    base = garch_market(days, seed, nu=nu, start_time=start_time)
    returns = np.diff(np.log(np.r_[100.0, base.candles.close]))
    sigma = base.sigma.copy()
    cut = int(change_day * 288)
    returns[cut:] *= factor
    sigma[cut:] *= factor
    rng = np.random.default_rng(seed + 1)
    candles = candles_from_returns(returns, sigma, rng, start_time)
    return VolatilityMarket(candles, bar_ends(candles.timestamp), sigma)


def flipping_candles(
    days: int = 60, flip_day: float = 40.0, strength: float = 0.3, lookback: int = 12,
    vol: float = 0.001, seed: int = 5, start_time: int = 1_740_000_000,
) -> Candles:  # fmt: skip
    """`predictable_candles` whose planted effect turns round at `flip_day`: momentum (each
    bar drifts by `strength` x `vol` with the last `lookback` bars' return) before, reversal
    (against it) after. A model fitted before the flip is then wrong in a way its errors show."""
    rng = np.random.default_rng(seed)
    n = days * 288
    noise = rng.normal(0.0, vol, n)
    sign = np.where(np.arange(n) < int(flip_day * 288), 1.0, -1.0)
    returns = np.zeros(n)
    window = 0.0
    for i in range(n):
        returns[i] = noise[i] + sign[i] * strength * vol * float(np.sign(window))
        window += returns[i] - (returns[i - lookback] if i >= lookback else 0.0)
    return candles_from_returns(returns, np.full(n, vol / 3 / 0.3), rng, start_time)


def factor_bars(
    n: int, coins: int, common: float, own: float, seed: int = 0,
    start_time: int = 1_740_000_000,
) -> dict[str, tuple[np.ndarray, np.ndarray]]:  # fmt: skip
    """`coins` coins ("c0", "c1", ...) of `n` five-minute bars, (end, close) from 10: each
    return is one Gaussian factor x `common` plus the coin's own Gaussian noise x `own`, so
    co-movement of a known strength for the market trackers (`common=0`: independent coins)."""
    rng = np.random.default_rng(seed)
    factor = rng.normal(0.0, 1.0, n)
    end = (start_time // 300) * 300 + 300 * np.arange(n, dtype=np.int64)
    return {
        f"c{j}": (end, 10.0 * np.exp(np.cumsum(common * factor + rng.normal(0.0, own, n))))
        for j in range(coins)
    }
