"""When a coin moves: hour-of-week profiles of volatility, volume and return.

Crypto trades around the clock but not evenly; the hour of the week (0 = Monday 00:00-01:00
UTC, 167 = Sunday 23:00-24:00) is the calendar unit of these profiles and of the volatility
forecast's seasonal factor (cryptosignals.risk).

What is measured, per bar (a 5-minute candle, or the step between two ticks):

- volatility: |log return| of the bar (mean absolute return: robust to the heavy tails that
  would make squared returns, the realised variance, hang on a handful of bars);
- volume: the quote (USD) volume traded in the bar;
- return: the bar's log return.

How uncertain a profile is. Bars within an hour, and consecutive hours, are not independent
(volatility clusters), so no interval here treats bars as observations. The unit is the UTC
week (Monday 00h to Sunday 24h): each week gives one value per cell (e.g. the mean |return| of
Monday 14h-15h of that week), and the weeks are the replicates. For volatility and volume the
week's values are put on a log scale and the week's own level is taken out (the two-way model
`log value = week level + cell factor + noise`, fitted by alternating means, which also places
a partial week by the cells it has), so a stormy week does not make every cell of it look busy;
what is left varies much less from week to week, and weeks are far less dependent than hours.
A cell's factor is exp(the mean of its weekly log factors): 1 = the coin's typical cell (the
geometric mean over the cells); its interval is a Student-t interval over weeks, exponentiated;
"does this cell differ from the rest" is the t-test over weeks of the same weekly log factors
against 0, and the cells' p-values get Benjamini-Hochberg q-values. The log scale is what holds
the nominal rate: a week-hour of 12 heavy-tailed bars is right-skewed, and the t-test on the
factors themselves rejected 9 % of null cells at 5 %. Returns are averaged as they are (bp per
bar), and their test is on (cell - the week's mean). The Student-t tails are computed here
(regularised incomplete beta), so the core needs numpy only.

Weekend vs weekday (question 20) uses days as units: each UTC day's mean, weekend = Saturday and
Sunday. The log ratio weekend / weekday (the difference, for returns) gets its standard error
from a circular block bootstrap over days in blocks of a week (every resampled block keeps five
weekdays, a weekend and the clustering within them), and its interval is the estimate +- a
Student-t quantile with (blocks - 1) degrees of freedom times that standard error: a percentile
interval from 17 blocks rejected a true "no difference" of returns 9 % of the time at 5 %.

Measured: on generated markets with clustered volatility and no calendar effect the per-cell
test rejects at about its nominal rate and BH flags next to nothing; a planted busy hour is found
(tests/test_profile.py). 17 weeks is not much: see docs/profile.md.
"""

from __future__ import annotations

import functools
import math
import warnings
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np

from cryptosignals.candles import Candles
from cryptosignals.errors import BadInputError
from cryptosignals.evidence import benjamini_hochberg
from cryptosignals.hours import HOURS_PER_WEEK as HOURS_PER_WEEK
from cryptosignals.hours import MONDAY_EPOCH_OFFSET as _MONDAY_EPOCH_OFFSET
from cryptosignals.hours import hour_of_week as hour_of_week

WEEK_SECONDS = 7 * 86_400
DAY_SECONDS = 86_400
DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
#: A (week, cell) or a day counts only when it holds at least this share of the bars a complete
#: one holds; a week counts only when at least this share of its cells do.
MIN_COVERAGE = 0.5


class Grid(StrEnum):
    """The calendar cells of a profile."""

    hour_of_week = "hour_of_week"  # 168 cells, Monday 00h = 0
    hour_of_day = "hour_of_day"  # 24 cells, UTC
    day_of_week = "day_of_week"  # 7 cells, Monday = 0

    @property
    def cells(self) -> int:
        return {"hour_of_week": 168, "hour_of_day": 24, "day_of_week": 7}[self.value]

    def labels(self) -> tuple[str, ...]:
        if self is Grid.hour_of_day:
            return tuple(f"{h:02d}h" for h in range(24))
        if self is Grid.day_of_week:
            return DAYS
        return tuple(f"{d} {h:02d}h" for d in DAYS for h in range(24))


class Measure(StrEnum):
    """What a profile measures per bar."""

    volatility = "volatility"  # |log return|; profiled as a factor of the coin's mean
    volume = "volume"  # quote volume per bar; profiled as a factor of the coin's mean
    returns = "return"  # log return; profiled as a mean in basis points per bar

    @property
    def is_ratio(self) -> bool:
        return self is not Measure.returns


def cell_of(timestamps: np.ndarray, grid: Grid) -> np.ndarray:
    """The cell (0..grid.cells - 1) of each unix-second timestamp."""
    how = hour_of_week(timestamps)
    if grid is Grid.hour_of_day:
        return how % 24
    if grid is Grid.day_of_week:
        return how // 24
    return how


def week_of(timestamps: np.ndarray) -> np.ndarray:
    """The UTC week (Monday 00h to Sunday 24h) of unix-second timestamps, as a week number."""
    return (np.asarray(timestamps, dtype=np.int64) + _MONDAY_EPOCH_OFFSET) // WEEK_SECONDS


def bar_measures(
    timestamps: np.ndarray, prices: np.ndarray, volume: np.ndarray | None = None
) -> tuple[np.ndarray, dict[Measure, np.ndarray]]:
    """Per-bar values of every measure from prices observed at `timestamps` (unix seconds).

    The return from one price to the next happened between their times, so it is dated by the
    earlier one (for candles: pass close times, and each return is dated by its candle's open).
    A step longer than 1.5 typical steps (a gap in the data) gives NaN, never a return.
    `volume[i]` is the volume traded between prices i-1 and i (a candle's own volume); without
    it the volume measure is absent. Returns (the dates, {measure: values}), one per step."""
    t = np.asarray(timestamps, dtype=np.int64)
    p = np.asarray(prices, dtype=float)
    if len(t) < 3 or len(t) != len(p):
        raise BadInputError("need at least three prices, one per timestamp")
    step = np.diff(t)
    if np.any(step <= 0):
        raise BadInputError("timestamps must increase")
    gaps, counts = np.unique(step, return_counts=True)
    typical = gaps[np.argmax(counts)]
    r = np.diff(np.log(p))
    r[step > 1.5 * typical] = np.nan
    values = {Measure.volatility: np.abs(r), Measure.returns: r}
    if volume is not None:
        values[Measure.volume] = np.asarray(volume, dtype=float)[1:]
    return t[:-1], values


def candle_measures(candles: Candles) -> tuple[np.ndarray, dict[Measure, np.ndarray]]:
    """`bar_measures` of candles: dated by each candle's open time, in unix seconds."""
    interval = candles.interval_ms // 1000
    return bar_measures(candles.timestamp // 1000 + interval, candles.close, candles.volume)


# --- Student-t tails without scipy -----------------------------------------------------------


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (modified Lentz)."""
    tiny = 1e-300
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 500):
        for aa in (
            m * (b - m) * x / ((a - 1.0 + 2 * m) * (a + 2 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 1.0 + 2 * m)),
        ):
            d = 1.0 + aa * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + aa / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < 1e-15:
            break
    return h


def _betainc(a: float, b: float, x: float) -> float:
    """The regularised incomplete beta function I_x(a, b)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    front = math.exp(
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    )
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, 1.0 - x) / b


def t_two_sided_p(t: float, df: float) -> float:
    """P(|T| >= |t|) for Student's t with `df` degrees of freedom."""
    if math.isnan(t) or df <= 0:
        return math.nan
    return _betainc(df / 2.0, 0.5, df / (df + t * t))


@functools.lru_cache(maxsize=256)
def t_quantile(confidence: float, df: float) -> float:
    """The half-width multiplier of a two-sided `confidence` interval: P(|T| <= q) = confidence."""
    lo, hi = 0.0, 1e6
    for _ in range(200):
        mid = (lo + hi) / 2.0
        if t_two_sided_p(mid, df) > 1.0 - confidence:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2.0


# --- profiles --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Profile:
    """One measure over the cells of one grid, with intervals and the test of each cell.

    `estimate` is a factor for volatility and volume (1 = the coin's average over the cells;
    1.4 = this cell moves 40 % more than the average cell) and the mean log return in basis
    points per bar for returns. `p_value` tests "this cell differs from the rest of its week"
    (t-test over weeks), `q_value` is its Benjamini-Hochberg q over the grid's cells."""

    grid: Grid
    measure: Measure
    estimate: np.ndarray
    low: np.ndarray
    high: np.ndarray
    p_value: np.ndarray
    q_value: np.ndarray
    weeks: np.ndarray  # weeks behind each cell
    level: float  # the coin's overall level: mean |r|, mean volume per bar, mean r in bp
    confidence: float = 0.95
    fdr: float = 0.10

    @property
    def labels(self) -> tuple[str, ...]:
        return self.grid.labels()

    @property
    def flagged(self) -> np.ndarray:
        """Cells that differ from the rest at the profile's false-discovery rate."""
        return np.nan_to_num(self.q_value, nan=1.0) <= self.fdr

    def grid_7x24(self, values: np.ndarray | None = None) -> np.ndarray:
        """An hour-of-week array as 7 rows (Monday first) x 24 columns (UTC hours)."""
        if self.grid is not Grid.hour_of_week:
            raise ValueError("only an hour-of-week profile has a 7 x 24 grid")
        return np.asarray(self.estimate if values is None else values).reshape(7, 24)

    def cells(self) -> list[dict[str, Any]]:
        """One JSON-ready row per cell."""
        return [
            {
                "cell": k,
                "label": label,
                "estimate": _num(self.estimate[k]),
                "low": _num(self.low[k]),
                "high": _num(self.high[k]),
                "p_value": _num(self.p_value[k]),
                "q_value": _num(self.q_value[k]),
                "flagged": bool(self.flagged[k]),
                "weeks": int(self.weeks[k]),
            }
            for k, label in enumerate(self.labels)
        ]

    def to_json(self) -> dict[str, Any]:
        return {
            "grid": self.grid.value,
            "measure": self.measure.value,
            "unit": "factor" if self.measure.is_ratio else "bp per bar",
            "level": _num(self.level),
            "confidence": self.confidence,
            "fdr": self.fdr,
            "flagged": [self.labels[k] for k in np.flatnonzero(self.flagged)],
            "cells": self.cells(),
        }


def _num(x: float) -> float | None:
    x = float(x)
    return None if math.isnan(x) else round(x, 6)


def week_cell_means(timestamps: np.ndarray, values: np.ndarray, grid: Grid) -> np.ndarray:
    """Weeks x cells: the mean of `values` in each (week, cell), in week order. A (week, cell)
    with less than half the bars of a complete one is NaN; a week with less than half its cells
    is left out."""
    t = np.asarray(timestamps, dtype=np.int64)
    v = np.asarray(values, dtype=float)
    ok = ~np.isnan(v)
    t, v = t[ok], v[ok]
    if len(t) == 0:
        raise BadInputError("no values to profile")
    week = week_of(t)
    week -= week.min()
    n_weeks, n_cells = int(week.max()) + 1, grid.cells
    index = week * n_cells + cell_of(t, grid)
    sums = np.bincount(index, v, minlength=n_weeks * n_cells)
    counts = np.bincount(index, minlength=n_weeks * n_cells)
    full = counts >= MIN_COVERAGE * counts.max()
    means = np.where(full, sums / np.maximum(counts, 1), np.nan).reshape(n_weeks, n_cells)
    covered = np.mean(~np.isnan(means), axis=1) >= MIN_COVERAGE
    return means[covered]


def weekly_log_factors(means: np.ndarray, iterations: int = 100) -> np.ndarray:
    """log(mean) of each (week, cell) less its week's log level, under the two-way model
    `log mean = week level + cell factor + noise` with the cell factors summing to 0, fitted by
    alternating means so that a week missing some cells is placed by the cells it has. For a
    complete week this is the log mean less the week's mean log. NaN stays NaN."""
    available = ~np.isnan(means)
    positive = means[available & (means > 0)]
    if len(positive) == 0:
        raise BadInputError("nothing to profile: every value is 0")
    logs = np.log(np.maximum(means, 1e-6 * float(np.median(positive))))
    cell = np.zeros(means.shape[1])
    weekly = logs
    for _ in range(iterations):
        level = np.nanmean(logs - cell[None, :], axis=1)
        weekly = logs - level[:, None]
        new = np.nanmean(weekly, axis=0)
        new -= np.mean(new)
        if np.allclose(new, cell, rtol=0.0, atol=1e-12):
            break
        cell = new
    return weekly


def _t_over_weeks(
    values: np.ndarray, contrast: np.ndarray, confidence: float
) -> tuple[np.ndarray, ...]:
    """Per cell (column): mean and t-interval of `values`, and the two-sided t-test p-value of
    mean(`contrast`) = 0, both over the weeks (rows) where the cell has a value."""
    n = np.sum(~np.isnan(values), axis=0)
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # cells with fewer than 2 weeks: NaN
        mean = np.nanmean(values, axis=0)
        sd = np.nanstd(values, axis=0, ddof=1)
        c_mean = np.nanmean(contrast, axis=0)
        c_sd = np.nanstd(contrast, axis=0, ddof=1)
    low, high, p = (np.full(len(n), np.nan) for _ in range(3))
    for k in np.flatnonzero(n >= 2):
        half = t_quantile(confidence, float(n[k] - 1)) * sd[k] / math.sqrt(n[k])
        low[k], high[k] = mean[k] - half, mean[k] + half
        if c_sd[k] > 0:
            p[k] = t_two_sided_p(c_mean[k] / (c_sd[k] / math.sqrt(n[k])), float(n[k] - 1))
        else:
            p[k] = 1.0 if c_mean[k] == 0 else 0.0
    return mean, low, high, p, n


def seasonal_profile(
    timestamps: np.ndarray,
    values: np.ndarray,
    grid: Grid,
    measure: Measure,
    confidence: float = 0.95,
    fdr: float = 0.10,
) -> Profile:
    """The profile of per-bar `values` dated by unix-second `timestamps` over the cells of
    `grid`, weeks as replicates (module docstring). NaN values are skipped."""
    means = week_cell_means(timestamps, values, grid)
    if len(means) < 2:
        raise BadInputError("a profile needs at least two weeks of data (half-covered or more)")
    if measure.is_ratio:
        if np.nanmin(means) < 0:
            raise BadInputError(f"{measure.value} values must not be negative")
        weekly = weekly_log_factors(means)
        contrast = weekly  # the week's level is out already: 0 = the week's typical cell
        level = float(np.nanmean(values))
    else:
        weekly = means * 1e4
        contrast = weekly - np.nanmean(weekly, axis=1, keepdims=True)
        level = float(np.nanmean(values)) * 1e4
    mean, low, high, p, n = _t_over_weeks(weekly, contrast, confidence)
    if measure.is_ratio:
        mean, low, high = np.exp(mean), np.exp(low), np.exp(high)
    return Profile(
        grid=grid,
        measure=measure,
        estimate=mean,
        low=low,
        high=high,
        p_value=p,
        q_value=benjamini_hochberg(p),
        weeks=n,
        level=level,
        confidence=confidence,
        fdr=fdr,
    )


def hour_of_week_volatility(
    timestamps: np.ndarray, prices: np.ndarray, confidence: float = 0.95, fdr: float = 0.10
) -> Profile:
    """The hour-of-week volatility factors of a price series (unix-second `timestamps` at which
    the `prices` were seen, e.g. ticks or candle close times): 168 factors of mean |log return|
    (1 = the coin's average hour) with intervals and flags; `.grid_7x24()` for a heatmap."""
    t, values = bar_measures(timestamps, prices)
    return seasonal_profile(
        t, values[Measure.volatility], Grid.hour_of_week, Measure.volatility, confidence, fdr
    )


# --- weekend vs weekday ----------------------------------------------------------------------


@dataclass(frozen=True)
class SessionComparison:
    """Weekend (Saturday + Sunday UTC) against weekdays for one measure. `estimate` is the
    ratio weekend / weekday of the days' mean values (volatility, volume) or the difference in
    basis points per bar (returns); `low`-`high` is its interval: the estimate (the log ratio)
    +- t(blocks - 1) x its circular-block-bootstrap standard error (exponentiated)."""

    measure: Measure
    weekend: float
    weekday: float
    estimate: float
    low: float
    high: float
    weekend_days: int
    weekday_days: int
    block_days: int
    replicates: int
    confidence: float = 0.95

    @property
    def null(self) -> float:
        return 1.0 if self.measure.is_ratio else 0.0

    @property
    def excludes_null(self) -> bool:
        """Whether the interval excludes "no difference" (ratio 1, difference 0)."""
        return bool(self.low > self.null or self.high < self.null)

    def to_json(self) -> dict[str, Any]:
        return {
            "measure": self.measure.value,
            "statistic": "ratio" if self.measure.is_ratio else "difference (bp per bar)",
            "weekend": _num(self.weekend),
            "weekday": _num(self.weekday),
            "estimate": _num(self.estimate),
            "low": _num(self.low),
            "high": _num(self.high),
            "excludes_null": self.excludes_null,
            "weekend_days": self.weekend_days,
            "weekday_days": self.weekday_days,
            "block_days": self.block_days,
            "replicates": self.replicates,
            "confidence": self.confidence,
        }


def day_means(timestamps: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(UTC day numbers, the mean of `values` per day), days with less than half the bars of a
    complete day left out."""
    t = np.asarray(timestamps, dtype=np.int64)
    v = np.asarray(values, dtype=float)
    ok = ~np.isnan(v)
    day = t[ok] // DAY_SECONDS
    days, index = np.unique(day, return_inverse=True)
    sums = np.bincount(index, v[ok], minlength=len(days))
    counts = np.bincount(index, minlength=len(days))
    full = counts >= MIN_COVERAGE * counts.max()
    return days[full], sums[full] / counts[full]


def circular_block_indices(
    n: int, block: int, replicates: int, rng: np.random.Generator
) -> np.ndarray:
    """Replicates x n indices of a circular block bootstrap: blocks of `block` consecutive
    positions (wrapping at the end) from uniform starts, concatenated and cut to n."""
    blocks = -(-n // block)
    starts = rng.integers(0, n, size=(replicates, blocks))
    index = (starts[:, :, None] + np.arange(block)[None, None, :]) % n
    return index.reshape(replicates, blocks * block)[:, :n]


def weekend_vs_weekday(
    timestamps: np.ndarray,
    values: np.ndarray,
    measure: Measure,
    confidence: float = 0.95,
    block_days: int = 7,
    replicates: int = 2000,
    seed: int = 0,
) -> SessionComparison:
    """Weekend against weekday days of per-bar `values` (module docstring)."""
    days, means = day_means(timestamps, values)
    weekend = ((days + 3) % 7) >= 5  # day 0 (1970-01-01) was a Thursday
    if weekend.sum() < 2 or (~weekend).sum() < 2:
        raise BadInputError("weekend vs weekday needs at least two days of each")
    scale = 1.0 if measure.is_ratio else 1e4

    def statistic(m: np.ndarray, w: np.ndarray) -> np.ndarray:
        """log(weekend / weekday) for ratios, the difference in bp for returns."""
        with np.errstate(invalid="ignore", divide="ignore"):
            end = np.sum(m * w, axis=-1) / np.sum(w, axis=-1)
            mid = np.sum(m * ~w, axis=-1) / np.sum(~w, axis=-1)
            return np.log(end / mid) if measure.is_ratio else (end - mid) * scale

    index = circular_block_indices(len(days), block_days, replicates, np.random.default_rng(seed))
    boot = statistic(means[index], weekend[index])
    estimate = float(statistic(means, weekend))
    blocks = max(2, len(days) // block_days)
    half = t_quantile(confidence, float(blocks - 1)) * float(np.nanstd(boot, ddof=1))
    low, high = estimate - half, estimate + half
    if measure.is_ratio:
        estimate, low, high = math.exp(estimate), math.exp(low), math.exp(high)
    return SessionComparison(
        measure=measure,
        weekend=float(means[weekend].mean() * scale),
        weekday=float(means[~weekend].mean() * scale),
        estimate=estimate,
        low=low,
        high=high,
        weekend_days=int(weekend.sum()),
        weekday_days=int((~weekend).sum()),
        block_days=block_days,
        replicates=replicates,
        confidence=confidence,
    )


# --- a coin's whole answer -------------------------------------------------------------------


@dataclass(frozen=True)
class CoinProfile:
    """Every profile (grid x measure) and the weekend comparison of one coin's candles."""

    coin: str
    start: int  # unix seconds, first bar's open
    end: int  # unix seconds, last bar's close
    bars: int
    weeks: int  # weeks (half-covered or more) behind the hour-of-week grid
    profiles: dict[tuple[Grid, Measure], Profile]
    sessions: dict[Measure, SessionComparison]

    def to_json(self) -> dict[str, Any]:
        return {
            "coin": self.coin,
            "start": self.start,
            "end": self.end,
            "bars": self.bars,
            "weeks": self.weeks,
            "profiles": {
                grid.value: {
                    measure.value: self.profiles[grid, measure].to_json() for measure in Measure
                }
                for grid in Grid
            },
            "weekend_vs_weekday": {m.value: s.to_json() for m, s in self.sessions.items()},
        }


def profile_candles(
    coin: str,
    candles: Candles,
    confidence: float = 0.95,
    fdr: float = 0.10,
    replicates: int = 2000,
    seed: int = 0,
) -> CoinProfile:
    """All of a coin's profiles and weekend comparisons from its candles."""
    t, values = candle_measures(candles)
    profiles = {
        (grid, measure): seasonal_profile(t, values[measure], grid, measure, confidence, fdr)
        for grid in Grid
        for measure in Measure
    }
    sessions = {
        measure: weekend_vs_weekday(t, values[measure], measure, confidence, 7, replicates, seed)
        for measure in Measure
    }
    hour_of_week_grid = profiles[Grid.hour_of_week, Measure.volatility]
    return CoinProfile(
        coin=coin,
        start=int(candles.timestamp[0] // 1000),
        end=int(candles.timestamp[-1] // 1000 + candles.interval_ms // 1000),
        bars=len(candles),
        weeks=int(np.max(hour_of_week_grid.weeks)),
        profiles=profiles,
        sessions=sessions,
    )
