"""Where the price will be in 5, 15 and 30 minutes: a fan of quantiles, honest about what is known.

At these horizons the direction of the next move is not predictable (QUESTIONS.md: near a coin
flip; nothing published reliably beats the random walk's centre), but its size is: the
volatility forecast of cryptosignals.risk passes its VaR backtests on 11 of 11 real coins. So the
fan is, after each closed 5-minute bar (the stream's part: numpy only, resumable, no look-ahead):

- **centre** `q50`: the last close (a random walk). A drift would have to earn its place out of
  sample; on real coins it does not (docs/forecast.md);
- **width**: the horizon's sigma of the log return from the coin's fitted volatility model
  (`risk.model_for`: EWMA/GARCH on deseasonalised returns; `horizon_sigma` sums the expected
  variances of the horizon's bars, so 15 minutes comes from the same recursion as risk's 5m/30m),
  or, with no fitted model, an EWMA of squared 5-minute log returns (lambda 0.96 a bar) times
  sqrt(bars) (`method` says which);
- **calibration**: the fan is z quantiles of the standardised outcome z = log(P[t+h] / P[t]) /
  sigma_h[t], `q10 = close * exp(z_lo * sigma)`, `q90 = close * exp(z_hi * sigma)`. z_lo and
  z_hi start at the normal's -1.2816 / +1.2816 and are tracked online (quantile tracking, the
  proportional part of conformal PID control, Angelopoulos, Candes & Tibshirani 2023; the
  quantile-scale form of Gibbs & Candes' adaptive conformal inference, 2021): when the outcome of
  a forecast matures, z_lo -= STEP * (miss below - 0.1) and z_hi += STEP * (miss above - 0.1).
  Whatever the data, the long-run share of misses on each side is 10 % to within
  (range of z + STEP) / (STEP * T), so the 10-90 % interval covers 80 %. One pair is tracked
  per group of bars (Mondrian conformal): calm, usual or turbulent, by how the 5-minute sigma
  stands against its own trailing level (an EWMA of log sigma over about two days: below
  exp(-0.25), above exp(0.25)), so each group covers 80 % on its own. With one pair only, calm
  hours were covered 75 % and turbulent ones 84 % on real coins (a variance forecast without a
  long-run level runs low in calm spells and high after a burst); with three, 78 % and 82 %;
- **p_up**: the trailing base rate of up-moves (strictly higher after h) over matured outcomes,
  exponentially weighted (a week of bars), with a uniform prior. It is a base rate, not a
  prediction of this move: the evidence says direction is not forecastable here.

An outcome matures h after its forecast: the forecast made at the close of bar t is scored at
the close of the bar ending at t + h, never before (a bar missing at t + h drops that outcome).
Each bar is processed in the order the stream sees it: first the outcomes it matures update the
trackers, then the variance takes in its return, then the new fan is issued; so a row depends on
nothing after its timestamp, and feeding bars in chunks equals feeding them at once.

Two layers: `ConformalFan` is the calibration alone (groups, tracked quantiles, p_up, the
forecasts waiting for their outcome: about 0.8 KB of JSON, 0.35 KB zlib-compressed), fed with
sigma forecasts made elsewhere; the engine feeds it its own `RiskForecaster`'s (`fan_sigma`),
so the stream keeps no second variance. `PriceForecaster` is a `ConformalFan` with its own
variance recursion, for the command and for history outside the engine.

The first `WARMUP_BARS` bars (6 hours) issue no fan: the variance forgets its starting value
(0.954 ** 72 = 3 % of its weight is left) before the trackers learn from it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cryptosignals.hours import HOURS_PER_WEEK, hour_of_week
from cryptosignals.risk import (
    BAR_SECONDS,
    RiskForecast,
    RiskForecaster,
    VolatilityModel,
    model_for,
)

#: The fan's horizons, in 5-minute bars.
HORIZONS: dict[str, int] = {"5m": 1, "15m": 3, "30m": 6}
LEVELS = (0.1, 0.5, 0.9)  # the fan's quantiles: q10, q50, q90
TAIL = LEVELS[0]  # the share of outcomes each side of the fan should miss
Z90 = 1.2815515655446004  # the normal's 90 % quantile: the uncalibrated fan's multiple of sigma
#: The quantile tracker's step in units of z (chosen on the bundled samples, docs/forecast.md):
#: it reacts to a change of calibration within about a day and wobbles by about 0.05 sigma.
STEP = 0.01
WARMUP_BARS = 72
FALLBACK_LAMBDA = 0.96  # the EWMA's decay per 5-minute bar when the coin has no fitted model
UP_DECAY = 1.0 - 1.0 / 2016  # p_up's weight per matured outcome: about a week of bars
GROUPS = ("calm", "usual", "turbulent")  # each with its own z quantiles
GROUP_EDGES = (-0.25, 0.25)  # log(sigma / its trailing level) between the groups
LEVEL_DECAY = 1.0 / 576  # the trailing level's EWMA weight per bar: about two days
#: The fan's edges are issued as whole multiples of this log offset from the close (1e-8: a
#: price of 100,000 to 0.001), so that the forecasts waiting for their outcome store small.
EDGE_UNIT = 1e-8
#: The fan's columns per base bar (`Fan.columns`), e.g. fan_q90_30m.
FAN_COLUMNS = tuple(f"fan_{q}_{h}" for h in HORIZONS for q in ("q10", "q50", "q90", "p_up"))
_BARS_PER_HOUR = 3600 // BAR_SECONDS
_BARS_PER_WEEK = HOURS_PER_WEEK * _BARS_PER_HOUR
_STATE_VERSION = 2


def horizon_sigma(
    model: VolatilityModel, end: np.ndarray, next_variance: np.ndarray, bars: int
) -> np.ndarray:
    """The sigma of the log return over the `bars` bars after bars closing at `end`, from the
    next bar's deseasonalised variance: risk's `VolatilityModel.horizon_sigma` for any number of
    bars (the same sums: bar k's expected variance is s(its hour)^2 (V + phi^(k-1) (v - V)))."""
    return _sigma(model, _week_sums(model, bars), end, next_variance)


def _sigma(
    model: VolatilityModel, sums: tuple[np.ndarray, np.ndarray], end: np.ndarray,
    next_variance: np.ndarray,
) -> np.ndarray:  # fmt: skip
    sums0, sums1 = sums
    end = np.asarray(end, dtype=np.int64)
    start = hour_of_week(end) * _BARS_PER_HOUR + end % 3600 // BAR_SECONDS
    v = np.asarray(next_variance, dtype=float)
    return np.sqrt(model.long_run_variance * (sums0[start] - sums1[start]) + v * sums1[start])


#: `_week_sums` per model and number of bars (the stream asks at every tick: 0.4 ms each).
#: Keeps each model it was asked about (one a coin), so an id is never reused while cached.
_SUMS: dict[tuple[int, int], tuple[VolatilityModel, tuple[np.ndarray, np.ndarray]]] = {}


def _week_sums(model: VolatilityModel, bars: int) -> tuple[np.ndarray, np.ndarray]:
    cached = _SUMS.get((id(model), bars))
    if cached is None or cached[0] is not model:
        if len(_SUMS) >= 4096:  # models made afresh again and again: do not hold them all
            _SUMS.clear()
        cached = _SUMS[(id(model), bars)] = (model, _sums_over(model, bars))
    return cached[1]


def _sums_over(model: VolatilityModel, bars: int) -> tuple[np.ndarray, np.ndarray]:
    square = np.repeat(np.asarray(model.seasonal) ** 2, _BARS_PER_HOUR)
    ahead = (np.arange(_BARS_PER_WEEK)[:, None] + np.arange(bars)) % _BARS_PER_WEEK
    decay = model.persistence ** np.arange(bars)
    return square[ahead].sum(axis=1), (square[ahead] * decay).sum(axis=1)


@dataclass
class Fan:
    """One batch's forecasts, per bar closing at `end` (NaN while warming up): per horizon the
    sigma of the log return, the tracked z quantiles of the fan and p_up; and each bar's group
    (an index into `GROUPS`)."""

    end: np.ndarray
    close: np.ndarray
    sigma: dict[str, np.ndarray]
    z_low: dict[str, np.ndarray]
    z_high: dict[str, np.ndarray]
    p_up: dict[str, np.ndarray]
    group: np.ndarray

    def quantiles(self, horizon: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """q10, q50, q90 of the price `horizon` after each bar (calibrated)."""
        s = self.sigma[horizon]
        low = self.close * np.exp(self.z_low[horizon] * s)
        high = self.close * np.exp(self.z_high[horizon] * s)
        centre = np.where(np.isfinite(s), self.close, np.nan)
        return np.minimum(low, centre), centre, np.maximum(high, centre)

    def raw(self, horizon: str) -> tuple[np.ndarray, np.ndarray]:
        """q10 and q90 of the uncalibrated fan: normal quantiles of the same sigma."""
        s = self.sigma[horizon]
        return self.close * np.exp(-Z90 * s), self.close * np.exp(Z90 * s)

    def columns(self) -> dict[str, np.ndarray]:
        """The fan as the engine's bar columns (`FAN_COLUMNS`): per horizon q10, q50, q90 and
        p_up, NaN where no fan is issued."""
        out: dict[str, np.ndarray] = {}
        for h in HORIZONS:
            low, centre, high = self.quantiles(h)
            p_up = np.where(np.isfinite(self.sigma[h]), self.p_up[h], np.nan)
            out |= {f"fan_q10_{h}": low, f"fan_q50_{h}": centre, f"fan_q90_{h}": high,
                    f"fan_p_up_{h}": p_up}  # fmt: skip
        return out

    @classmethod
    def concatenate(cls, parts: list[Fan]) -> Fan:
        def cat(name: str) -> dict[str, np.ndarray]:
            return {h: np.concatenate([getattr(p, name)[h] for p in parts]) for h in HORIZONS}

        return cls(
            np.concatenate([p.end for p in parts]), np.concatenate([p.close for p in parts]),
            cat("sigma"), cat("z_low"), cat("z_high"), cat("p_up"),
            np.concatenate([p.group for p in parts]),
        )  # fmt: skip


def _check_order(end: np.ndarray, close: np.ndarray, last_end: int | None) -> None:
    if len(end) != len(close):
        raise ValueError("end and close must have the same length")
    if len(end) and (np.any(np.diff(end) <= 0) or (last_end is not None and end[0] <= last_end)):
        raise ValueError("bar ends must increase (each bar fed once, in order)")


class ConformalFan:
    """The fan from sigma forecasts made elsewhere: the engine's (`fan_sigma` of its
    `RiskForecaster`'s forecast) or `PriceForecaster`'s own. Per bar it groups the bar (calm,
    usual, turbulent), learns the outcomes that bar matures, then issues the calibrated fan.

    Resumable: `to_json()` is its whole state, plain JSON, about 0.3 KB compressed; feeding bars
    in chunks (restoring the state in between) gives what feeding them at once gives. Each
    group's quantiles are kept as whole counts (outcomes, misses below, misses above), from
    which z_lo = -1.2816 - STEP (below - 0.1 n) and z_hi = 1.2816 + STEP (above - 0.1 n): the
    tracker's recursion summed up, exact and small to store."""

    def __init__(self, state: dict[str, Any] | None = None) -> None:
        state = state or {}
        if state and state.get("version") != _STATE_VERSION:
            raise ValueError(f"fan state version {state.get('version')!r} is not mine")
        self.last_end: int | None = state.get("last_end")
        self.seen = int(state.get("seen", 0))
        self.level: float | None = state.get("level")  # trailing mean of log sigma_5m
        counts = state.get("counts") or {}
        ups = state.get("ups") or {}
        pending = state.get("pending") or {}
        # per horizon: outcomes matured, then per group outcomes, misses below, misses above
        self.counts = {h: [int(x) for x in counts.get(h, [0] * (1 + 3 * len(GROUPS)))]
                       for h in HORIZONS}  # fmt: skip
        self.ups = {h: float(ups.get(h, 0.0)) for h in HORIZONS}  # discounted up-moves
        # per horizon: forecasts waiting for their outcome, as [end, close, q10, q90, group],
        # q10 and q90 as log offsets from the close in EDGE_UNITs
        self.pending: dict[str, list[list[Any]]] = {
            h: [[int(e), float(c), int(lo), int(hi), int(g)] for e, c, lo, hi, g in
                pending.get(h, [])] for h in HORIZONS
        }  # fmt: skip

    def matured(self, horizon: str) -> int:
        """How many of the horizon's outcomes the quantiles have learnt from."""
        return self.counts[horizon][0]

    def z(self, horizon: str, group: int) -> tuple[float, float]:
        """The group's tracked z quantiles (z_lo, z_hi) for the horizon, as of now."""
        n, below, above = self.counts[horizon][1 + 3 * group : 4 + 3 * group]
        return -Z90 - STEP * (below - TAIL * n), Z90 + STEP * (above - TAIL * n)

    def p_up(self, horizon: str) -> float:
        """The trailing base rate of up-moves over the matured outcomes (uniform prior)."""
        weight = (1.0 - UP_DECAY ** self.counts[horizon][0]) / (1.0 - UP_DECAY)
        return (self.ups[horizon] + 1.0) / (weight + 2.0)

    def _group(self, s5: float) -> int:
        """Calm, usual or turbulent: the 5-minute sigma against its trailing level."""
        if not s5 > 0:
            return 0 if s5 == 0 else 1
        x = math.log(s5)
        self.level = x if self.level is None else self.level + LEVEL_DECAY * (x - self.level)
        low_edge, high_edge = GROUP_EDGES
        return 0 if x - self.level < low_edge else 2 if x - self.level > high_edge else 1

    def _learn(self, horizon: str, end: int, close: float) -> None:
        """Score the forecasts whose outcome is this bar's close (h after them)."""
        counts, queue = self.counts[horizon], self.pending[horizon]
        due = end - HORIZONS[horizon] * BAR_SECONDS
        while queue and queue[0][0] <= due:
            made, before, low, high, was = queue.pop(0)
            if made < due:  # the bar at its horizon is missing: no outcome
                continue
            k = 1 + 3 * int(was)
            counts[k] += 1
            counts[k + 1] += close < before * math.exp(low * EDGE_UNIT)
            counts[k + 2] += close > before * math.exp(high * EDGE_UNIT)
            self.ups[horizon] = self.ups[horizon] * UP_DECAY + (close > before)
            counts[0] += 1

    def update(
        self, end: np.ndarray, close: np.ndarray, sigma: Mapping[str, np.ndarray],
        group: np.ndarray | None = None,
    ) -> Fan:  # fmt: skip
        """The fan after each bar closing at `end` (unix seconds, increasing), from `sigma[h]`,
        the sigma of the log return over each of `HORIZONS` forecast at that bar's close (NaN:
        no fan at that bar). `group` (0 calm, 1 usual, 2 turbulent per bar) replaces the own
        grouping by sigma's trailing level. No later bar is read, and an outcome is used only
        from the bar at which it is known."""
        end = np.asarray(end, dtype=np.int64)
        close = np.asarray(close, dtype=float)
        _check_order(end, close, self.last_end)
        missing = [h for h in HORIZONS if h not in sigma]
        if missing:
            raise ValueError(f"the fan needs a sigma forecast for {', '.join(missing)}")
        n = len(end)
        out = {h: np.array(sigma[h], dtype=float) for h in HORIZONS}
        if any(len(s) != n for s in out.values()) or (group is not None and len(group) != n):
            raise ValueError("sigma and group need one value per bar")
        if group is not None and not np.isin(group, range(len(GROUPS))).all():
            raise ValueError(f"a group is 0, 1 or 2 ({', '.join(GROUPS)})")
        z_low = {h: np.full(n, np.nan) for h in HORIZONS}
        z_high = {h: np.full(n, np.nan) for h in HORIZONS}
        p_up = {h: np.full(n, np.nan) for h in HORIZONS}
        groups = np.ones(n, dtype=np.int64)
        sig = {h: s.tolist() for h, s in out.items()}
        given = None if group is None else np.asarray(group).tolist()
        for i, (e, c) in enumerate(zip(end.tolist(), close.tolist(), strict=True)):
            g = self._group(sig["5m"][i]) if given is None else int(given[i])
            groups[i] = g
            issue = self.seen >= WARMUP_BARS
            for h in HORIZONS:
                self._learn(h, e, c)
                s = sig[h][i]
                if issue and s == s and s > 0 and c > 0:
                    zl, zh = self.z(h, g)
                    low, high = round(zl * s / EDGE_UNIT), round(zh * s / EDGE_UNIT)
                    z_low[h][i], z_high[h][i] = low * EDGE_UNIT / s, high * EDGE_UNIT / s
                    p_up[h][i] = self.p_up(h)
                    self.pending[h].append([e, c, low, high, g])
                else:
                    out[h][i] = np.nan
            self.seen += 1
            self.last_end = e
        return Fan(end, close, out, z_low, z_high, p_up, groups)

    def to_json(self) -> dict[str, Any]:
        return {
            "version": _STATE_VERSION, "last_end": self.last_end, "seen": self.seen,
            "level": self.level, "counts": self.counts, "ups": self.ups,
            "pending": self.pending,
        }  # fmt: skip


def fan_sigma(model: VolatilityModel, forecast: RiskForecast) -> dict[str, np.ndarray]:
    """The fan's sigmas from the engine's own volatility forecast (`RiskForecaster.update`'s
    result): risk's 5m and 30m as they are, and 15m, which risk does not list, from the same
    recursion (`horizon_sigma` of the next bar's variance over 3 bars: no interpolation)."""
    return {
        h: forecast.sigma[h] if h in forecast.sigma
        else horizon_sigma(model, forecast.end, forecast.next_variance, bars)
        for h, bars in HORIZONS.items()
    }  # fmt: skip


class PriceForecaster:
    """The fan over 5-minute bar closes with its own variance recursion, resumable: `to_json()`
    is its whole state, so feeding bars in chunks (restoring the state in between) gives what
    feeding them at once gives. The calibration is a `ConformalFan`'s.

    `model` is the coin's fitted volatility model (`for_coin` finds it); None falls back to an
    EWMA of squared 5-minute log returns (`method` is then "ewma fallback")."""

    def __init__(self, model: VolatilityModel | None, state: dict[str, Any] | None = None) -> None:
        self.model = model
        state = state or {}
        if state and state.get("version") != _STATE_VERSION:
            raise ValueError(f"forecast state version {state.get('version')!r} is not mine")
        self.last_close: float | None = state.get("last_close")
        variance = state.get("variance")
        if variance is None and model is not None:
            variance = model.initial_variance
        self.variance: float | None = None if variance is None else float(variance)
        self.fan = ConformalFan(state.get("fan"))
        self._sums = {h: _week_sums(model, b) for h, b in HORIZONS.items()} if model else {}

    @classmethod
    def for_coin(cls, coin: str, path: str | Path | None = None) -> PriceForecaster:
        """With the coin's fitted volatility model (or the models file's default), else the
        EWMA fallback."""
        return cls(model_for(coin, path))

    @property
    def method(self) -> str:
        if self.model is None:
            return f"ewma fallback (lambda {FALLBACK_LAMBDA} a bar, no fitted model)"
        return f"fitted {self.model.kind}"

    def matured(self, horizon: str) -> int:
        """How many of the horizon's outcomes the trackers have learnt from."""
        return self.fan.matured(horizon)

    def _variances(self, end: np.ndarray, close: np.ndarray) -> dict[str, np.ndarray]:
        """Per horizon the sigma forecast after each bar (each bar's return taken in first)."""
        if self.model is not None:
            risk = RiskForecaster(
                self.model, {"last_close": self.last_close, "variance": self.variance}
            )
            v = risk.update(end, close).next_variance
            self.last_close, self.variance = risk.last_close, risk.variance
            return {h: _sigma(self.model, self._sums[h], end, v) for h in HORIZONS}
        out = np.full(len(end), np.nan)
        last, var = self.last_close, self.variance
        lam = FALLBACK_LAMBDA
        for i, c in enumerate(close.tolist()):
            if last is not None and c > 0 and last > 0:
                r = math.log(c / last)
                var = r * r if var is None else lam * var + (1.0 - lam) * r * r
            last = c
            if var is not None:
                out[i] = var
        self.last_close, self.variance = last, var
        return {h: np.sqrt(out * bars) for h, bars in HORIZONS.items()}

    def update(self, end: np.ndarray, close: np.ndarray) -> Fan:
        """The fan after each bar closing at `end` (unix seconds, increasing); no later bar is
        read, and an outcome is used only from the bar at which it is known."""
        end = np.asarray(end, dtype=np.int64)
        close = np.asarray(close, dtype=float)
        _check_order(end, close, self.fan.last_end)
        return self.fan.update(end, close, self._variances(end, close))

    def to_json(self) -> dict[str, Any]:
        return {"version": _STATE_VERSION, "last_close": self.last_close,
                "variance": self.variance, "fan": self.fan.to_json()}  # fmt: skip


def forecast_fan(
    end: np.ndarray, close: np.ndarray, model: VolatilityModel | None, chunk: int = 0,
    progress: Any = None,
) -> Fan:  # fmt: skip
    """The fan over a whole series, walk-forward (the stream's forecaster fed in `chunk`s of
    bars, all at once if 0; `progress(done, total)` is told after each)."""
    forecaster = PriceForecaster(model)
    step = chunk or max(1, len(end))
    parts = []
    for start in range(0, len(end), step):
        parts.append(forecaster.update(end[start : start + step], close[start : start + step]))
        if progress is not None:
            progress(min(start + step, len(end)), len(end))
    if not parts:
        return forecaster.update(np.asarray(end, np.int64), np.asarray(close, float))
    return Fan.concatenate(parts)


# -- judging the fan (after the fact: reads the future on purpose) ------------------------------


def outcomes(end: np.ndarray, close: np.ndarray, horizon: str) -> np.ndarray:
    """The close `horizon` after each bar (NaN where that bar is missing or beyond the data):
    what the forecast is judged against, never what it is made from."""
    end = np.asarray(end, dtype=np.int64)
    target = end + HORIZONS[horizon] * BAR_SECONDS
    at = np.searchsorted(end, target)
    found = at < len(end)
    found[found] = end[at[found]] == target[found]
    out = np.full(len(end), np.nan)
    out[found] = np.asarray(close, dtype=float)[at[found]]
    return out


@dataclass(frozen=True)
class Coverage:
    """How a fan fared on the rows whose outcome is known: the share inside [q10, q90], below
    q10 and above q90, and the mean width (q90 - q10) / close."""

    n: int
    inside: float
    below: float
    above: float
    width: float

    def to_json(self) -> dict[str, float]:
        return {"n": self.n, "coverage": self.inside, "below": self.below,
                "above": self.above, "mean_width": self.width}  # fmt: skip


def coverage(
    close: np.ndarray, low: np.ndarray, high: np.ndarray, outcome: np.ndarray, step: int = 1
) -> Coverage:
    """The coverage of [low, high] on rows with a fan and an outcome; every `step`-th of those
    rows only (step = the horizon in bars gives non-overlapping outcomes)."""
    rows = np.flatnonzero(np.isfinite(low) & np.isfinite(high) & np.isfinite(outcome))[::step]
    if len(rows) == 0:
        return Coverage(0, math.nan, math.nan, math.nan, math.nan)
    y = outcome[rows]
    below, above = y < low[rows], y > high[rows]
    return Coverage(
        len(rows), float(1.0 - (below | above).mean()), float(below.mean()), float(above.mean()),
        float(np.mean((high[rows] - low[rows]) / close[rows])),
    )  # fmt: skip


def binomial_tolerance(n: int, p: float = LEVELS[2] - LEVELS[0], z: float = 3.0) -> float:
    """z standard errors of a share of n independent outcomes at rate p (n non-overlapping)."""
    return z * math.sqrt(p * (1.0 - p) / max(n, 1))
