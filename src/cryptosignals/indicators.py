"""Technical indicators with TA-Lib semantics, resumable: (state, new values) -> (outputs, state).

Every indicator is one loop kernel that reads and writes an explicit state vector (a float64
array). The batch call runs the kernel over the whole series from a fresh state; the stream
processor runs the *same* kernel over each new batch with the state it stored last time. So
chunked == whole holds exactly (bit for bit), not approximately, and there is one
implementation per indicator.

Semantics follow TA-Lib (the tests use it as the oracle, to 1e-9 relative error):

- outputs have the input's length, NaN during the warm-up (`lookback` values);
- the arithmetic is TA-Lib's, step for step: running sums for SMA/STDDEV/BBANDS, SMA-seeded EMA
  (MACD's fast EMA seeded on the slow EMA's first output bar, as TA-Lib does), Wilder smoothing
  for RSI/ATR/ADX, TA-Lib's zero thresholds;
- leading NaNs are skipped (warm-up starts at the first number), so indicators chain, e.g. an
  SMA of an ATR.

The kernels are compiled by numba when it is installed (the `fast` extra) and run as plain
Python otherwise (the Lambda, where batches are a few values per coin). Same source either way.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from cryptosignals._jit import kernel as _kernel

#: TA-Lib's epsilon for "is zero" tests (TA_IS_ZERO / TA_IS_ZERO_OR_NEG in ta_utility.h).
EPSILON = 1e-14


# State layout shared by all kernels: [0] values counted since the first number, [1] started
# (a number has been seen), then indicator-specific slots.
_N, _STARTED = 0, 1


@_kernel
def _skip_leading_nan(state, value):  # type: ignore[no-untyped-def]
    """True while the series has only produced NaNs so far (TA-Lib starts at the first number)."""
    if state[_STARTED] == 0.0:
        if math.isnan(value):
            return True
        state[_STARTED] = 1.0
    return False


# --- rolling mean and variance: SMA, STDDEV, BBANDS ---------------------------------------------
# The mean is TA_INT_SMA's running sum, bit for bit. The variance is two-pass over the window
# (mean first, then squared deviations): TA-Lib >= 0.6 is accurate here too, while the old
# E[x^2] - E[x]^2 form loses 7 digits on bitcoin prices. O(period) per value, chunk-independent.
# state: n, started, running sum, (unused), ring buffer[period]
@_kernel
def _mean_var_kernel(x, period, with_var, state, mean_out, var_out):  # type: ignore[no-untyped-def]
    for i in range(x.shape[0]):
        value = x[i]
        mean_out[i] = np.nan
        var_out[i] = np.nan
        if _skip_leading_nan(state, value):
            continue
        n = int(state[_N])
        state[4 + n % period] = value
        state[2] += value
        n += 1
        state[_N] = n
        if n >= period:
            mean = state[2] / period
            mean_out[i] = mean
            if with_var:
                total = 0.0
                for j in range(period):
                    deviation = state[4 + (n + j) % period] - mean
                    total += deviation * deviation
                var_out[i] = total / period
            state[2] -= state[4 + n % period]


# --- EMA, seeded with the SMA of `period` values after `skip` values (TA_INT_EMA) --------------
# state: n, started, seed sum, previous EMA
@_kernel
def _ema_kernel(x, period, k, skip, state, out):  # type: ignore[no-untyped-def]
    for i in range(x.shape[0]):
        value = x[i]
        out[i] = np.nan
        if _skip_leading_nan(state, value):
            continue
        n = int(state[_N]) + 1
        state[_N] = n
        if n <= skip:
            continue
        if n < skip + period:
            state[2] += value
        elif n == skip + period:
            state[2] += value
            state[3] = state[2] / period
            out[i] = state[3]
        else:
            state[3] = ((value - state[3]) * k) + state[3]
            out[i] = state[3]


# --- RSI with Wilder smoothing (TA_RSI) ---------------------------------------------------------
# state: n, started, previous value, average gain, average loss
@_kernel
def _rsi_kernel(x, period, state, out):  # type: ignore[no-untyped-def]
    for i in range(x.shape[0]):
        value = x[i]
        out[i] = np.nan
        if _skip_leading_nan(state, value):
            continue
        n = int(state[_N]) + 1
        state[_N] = n
        if n == 1:
            state[2] = value
            continue
        diff = value - state[2]
        state[2] = value
        if n > period + 1:
            state[3] *= period - 1
            state[4] *= period - 1
        if diff < 0:
            state[4] -= diff
        else:
            state[3] += diff
        if n >= period + 1:
            state[3] /= period
            state[4] /= period
            total = state[3] + state[4]
            out[i] = 100.0 * (state[3] / total) if not (-EPSILON < total < EPSILON) else 0.0


@_kernel
def _true_range(high, low, prev_close):  # type: ignore[no-untyped-def]
    greatest = high - low
    up = abs(prev_close - high)
    if up > greatest:
        greatest = up
    down = abs(prev_close - low)
    if down > greatest:
        greatest = down
    return greatest


# --- ATR with Wilder smoothing, seeded by the SMA of the first `period` true ranges (TA_ATR) ----
# state: n, started, previous close, seed sum, previous ATR
@_kernel
def _atr_kernel(high, low, close, period, state, out):  # type: ignore[no-untyped-def]
    for i in range(close.shape[0]):
        out[i] = np.nan
        if _skip_leading_nan(state, high[i] + low[i] + close[i]):
            continue
        n = int(state[_N]) + 1
        state[_N] = n
        if n > 1:
            tr = _true_range(high[i], low[i], state[2])
            if period == 1:
                out[i] = tr
            elif n <= period + 1:
                state[3] += tr
                if n == period + 1:
                    state[4] = state[3] / period
                    out[i] = state[4]
            else:
                state[4] *= period - 1
                state[4] += tr
                state[4] /= period
                out[i] = state[4]
        state[2] = close[i]


# --- ADX (TA_ADX, including its Wilder "x -= x / n" form and zero tests) -------------------------
# state: n, started, prev high, prev low, prev close, +DM, -DM, TR, sum of DX, ADX
@_kernel
def _adx_kernel(high, low, close, period, state, out):  # type: ignore[no-untyped-def]
    for i in range(close.shape[0]):
        out[i] = np.nan
        if _skip_leading_nan(state, high[i] + low[i] + close[i]):
            continue
        n = int(state[_N]) + 1
        state[_N] = n
        if n == 1:
            state[2], state[3], state[4] = high[i], low[i], close[i]
            continue
        diff_plus = high[i] - state[2]
        diff_minus = state[3] - low[i]
        state[2], state[3] = high[i], low[i]
        smoothing = n > period
        if smoothing:
            state[5] -= state[5] / period
            state[6] -= state[6] / period
        if diff_minus > 0 and diff_plus < diff_minus:
            state[6] += diff_minus
        elif diff_plus > 0 and diff_plus > diff_minus:
            state[5] += diff_plus
        tr = _true_range(high[i], low[i], state[4])
        state[7] = state[7] - (state[7] / period) + tr if smoothing else state[7] + tr
        state[4] = close[i]
        if not smoothing:
            continue
        dx = np.nan
        if not (-EPSILON < state[7] < EPSILON):
            minus_di = 100.0 * (state[6] / state[7])
            plus_di = 100.0 * (state[5] / state[7])
            di_sum = minus_di + plus_di
            if not (-EPSILON < di_sum < EPSILON):
                dx = 100.0 * (abs(minus_di - plus_di) / di_sum)
        if n <= 2 * period:
            if not math.isnan(dx):
                state[8] += dx
            if n == 2 * period:
                state[9] = state[8] / period
                out[i] = state[9]
        else:
            if not math.isnan(dx):
                state[9] = ((state[9] * (period - 1)) + dx) / period
            out[i] = state[9]


# --- ROC: (x / x[t - period] - 1) * 100, 0 where x[t - period] is 0 (TA_ROC) --------------------
# state: n, started, ring buffer[period]
@_kernel
def _roc_kernel(x, period, state, out):  # type: ignore[no-untyped-def]
    for i in range(x.shape[0]):
        value = x[i]
        out[i] = np.nan
        if _skip_leading_nan(state, value):
            continue
        n = int(state[_N])
        slot = 2 + n % period
        if n >= period:
            old = state[slot]
            out[i] = ((value / old) - 1.0) * 100.0 if old != 0.0 else 0.0
        state[slot] = value
        state[_N] = n + 1


# --- linear regression slope over the last `period` values (TA_LINEARREG_SLOPE) ----------------
# state: n, started, ring buffer[period]
@_kernel
def _slope_kernel(x, period, state, out):  # type: ignore[no-untyped-def]
    sum_x = period * (period - 1) * 0.5
    sum_x_sqr = float(period * (period - 1) * (2 * period - 1) // 6)
    divisor = sum_x * sum_x - period * sum_x_sqr
    for i in range(x.shape[0]):
        value = x[i]
        out[i] = np.nan
        if _skip_leading_nan(state, value):
            continue
        n = int(state[_N])
        state[2 + n % period] = value
        n += 1
        state[_N] = n
        if n >= period:
            sum_xy = 0.0
            sum_y = 0.0
            for back in range(period - 1, -1, -1):
                y = state[2 + (n - 1 - back) % period]
                sum_y += y
                sum_xy += back * y
            out[i] = (period * sum_xy - sum_x * sum_y) / divisor


# --- rolling MIN / MAX over `period` values (TA_MIN / TA_MAX) ------------------------------------
# state: n, started, ring buffer[period]
@_kernel
def _extreme_kernel(x, period, sign, state, out):  # type: ignore[no-untyped-def]
    for i in range(x.shape[0]):
        value = x[i]
        out[i] = np.nan
        if _skip_leading_nan(state, value):
            continue
        n = int(state[_N])
        state[2 + n % period] = value
        n += 1
        state[_N] = n
        if n >= period:
            best = state[2]
            for j in range(1, period):
                if sign * state[2 + j] > sign * best:
                    best = state[2 + j]
            out[i] = best


# --- the public, declarative layer ---------------------------------------------------------------


def _stddev_from_var(var: np.ndarray, nbdev: float) -> np.ndarray:
    """TA-Lib: sqrt(var) * nbdev, 0 where the variance is zero or negative (rounding)."""
    with np.errstate(invalid="ignore"):
        return np.where(var < EPSILON, np.where(np.isnan(var), np.nan, 0.0), np.sqrt(var) * nbdev)


def _as_float(x: Any) -> np.ndarray:
    return np.ascontiguousarray(x, dtype=np.float64)


def _run_mean_var(
    state: np.ndarray, x: np.ndarray, period: int, with_var: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    mean, var = np.empty_like(x), np.empty_like(x)
    _mean_var_kernel(x, period, with_var, state, mean, var)
    return mean, var


def _run_sma(state: np.ndarray, x: np.ndarray, *, period: int) -> tuple[np.ndarray]:
    return (_run_mean_var(state, x, period, with_var=False)[0],)


def _run_stddev(
    state: np.ndarray, x: np.ndarray, *, period: int, nbdev: float
) -> tuple[np.ndarray]:
    return (_stddev_from_var(_run_mean_var(state, x, period)[1], nbdev),)


def _run_bbands(
    state: np.ndarray, x: np.ndarray, *, period: int, nbdev_up: float, nbdev_dn: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    middle, var = _run_mean_var(state, x, period)
    deviation = _stddev_from_var(var, 1.0)
    return middle + deviation * nbdev_up, middle, middle - deviation * nbdev_dn


def _run_ema(state: np.ndarray, x: np.ndarray, *, period: int) -> tuple[np.ndarray]:
    out = np.empty_like(x)
    _ema_kernel(x, period, 2.0 / (period + 1), 0, state, out)
    return (out,)


def _macd_periods(fast: int, slow: int) -> tuple[int, int]:
    return (slow, fast) if slow < fast else (fast, slow)  # TA-Lib swaps them


def _run_macd(
    state: np.ndarray, x: np.ndarray, *, fast: int, slow: int, signal: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    fast, slow = _macd_periods(fast, slow)
    fast_ema, slow_ema, signal_line = np.empty_like(x), np.empty_like(x), np.empty_like(x)
    # TA-Lib seeds the fast EMA on the slow EMA's first bar: its SMA seed ends where slow's does.
    _ema_kernel(x, fast, 2.0 / (fast + 1), slow - fast, state[0:4], fast_ema)
    _ema_kernel(x, slow, 2.0 / (slow + 1), 0, state[4:8], slow_ema)
    line = fast_ema - slow_ema
    _ema_kernel(line, signal, 2.0 / (signal + 1), 0, state[8:12], signal_line)
    line = np.where(np.isnan(signal_line), np.nan, line)
    return line, signal_line, line - signal_line


def _run_rsi(state: np.ndarray, x: np.ndarray, *, period: int) -> tuple[np.ndarray]:
    out = np.empty_like(x)
    _rsi_kernel(x, period, state, out)
    return (out,)


def _run_atr(
    state: np.ndarray, high: np.ndarray, low: np.ndarray, close: np.ndarray, *, period: int
) -> tuple[np.ndarray]:
    out = np.empty_like(close)
    _atr_kernel(high, low, close, period, state, out)
    return (out,)


def _run_adx(
    state: np.ndarray, high: np.ndarray, low: np.ndarray, close: np.ndarray, *, period: int
) -> tuple[np.ndarray]:
    out = np.empty_like(close)
    _adx_kernel(high, low, close, period, state, out)
    return (out,)


def _run_roc(state: np.ndarray, x: np.ndarray, *, period: int) -> tuple[np.ndarray]:
    out = np.empty_like(x)
    _roc_kernel(x, period, state, out)
    return (out,)


def _run_slope(state: np.ndarray, x: np.ndarray, *, period: int) -> tuple[np.ndarray]:
    out = np.empty_like(x)
    _slope_kernel(x, period, state, out)
    return (out,)


def _run_min(state: np.ndarray, x: np.ndarray, *, period: int) -> tuple[np.ndarray]:
    out = np.empty_like(x)
    _extreme_kernel(x, period, -1.0, state, out)
    return (out,)


def _run_max(state: np.ndarray, x: np.ndarray, *, period: int) -> tuple[np.ndarray]:
    out = np.empty_like(x)
    _extreme_kernel(x, period, 1.0, state, out)
    return (out,)


@dataclass(frozen=True)
class Indicator:
    """What an indicator is, as data: CLI help, rule parameters and pickers are made from it."""

    name: str
    summary: str
    inputs: tuple[str, ...]
    params: dict[str, float | int]
    outputs: tuple[str, ...]
    lookback: Callable[..., int]
    state_size: Callable[..., int]
    run: Callable[..., tuple[np.ndarray, ...]]
    min_period: int = 1

    def resolve(self, params: dict[str, Any]) -> dict[str, Any]:
        """Defaults filled in, unknown names and bad periods rejected with a clear message."""
        unknown = set(params) - set(self.params)
        if unknown:
            raise ValueError(
                f"{self.name}: unknown parameter(s) {sorted(unknown)}; known: {sorted(self.params)}"
            )
        resolved = {**self.params, **params}
        for key, default in self.params.items():
            if isinstance(default, int):
                value = resolved[key]
                if int(value) != value or value < self.min_period:
                    raise ValueError(f"{self.name}: {key} must be an integer >= {self.min_period}")
                resolved[key] = int(value)
            else:
                resolved[key] = float(resolved[key])
        return resolved


def _ring(size_param: str) -> Callable[..., int]:
    return lambda **p: 2 + p[size_param]


INDICATORS: dict[str, Indicator] = {
    ind.name: ind
    for ind in (
        Indicator("sma", "simple moving average", ("x",), {"period": 30}, ("sma",),
                  lambda period: period - 1, lambda period: 4 + period, _run_sma),
        Indicator("ema", "exponential moving average, SMA-seeded", ("x",), {"period": 30},
                  ("ema",), lambda period: period - 1, lambda period: 4, _run_ema),
        Indicator("rsi", "relative strength index, Wilder smoothing", ("x",), {"period": 14},
                  ("rsi",), lambda period: period, lambda period: 5, _run_rsi, min_period=2),
        Indicator("macd", "moving average convergence/divergence", ("x",),
                  {"fast": 12, "slow": 26, "signal": 9}, ("macd", "signal", "hist"),
                  lambda fast, slow, signal: max(fast, slow) - 1 + signal - 1,
                  lambda fast, slow, signal: 12, _run_macd, min_period=2),
        Indicator("bbands", "Bollinger bands around an SMA", ("x",),
                  {"period": 5, "nbdev_up": 2.0, "nbdev_dn": 2.0}, ("upper", "middle", "lower"),
                  lambda period, **_: period - 1, lambda period, **_: 4 + period, _run_bbands,
                  min_period=2),
        Indicator("atr", "average true range, Wilder smoothing", ("high", "low", "close"),
                  {"period": 14}, ("atr",), lambda period: period, lambda period: 5, _run_atr),
        Indicator("adx", "average directional index (trend strength)", ("high", "low", "close"),
                  {"period": 14}, ("adx",), lambda period: 2 * period - 1, lambda period: 10,
                  _run_adx, min_period=2),
        Indicator("roc", "rate of change, percent", ("x",), {"period": 10}, ("roc",),
                  lambda period: period, _ring("period"), _run_roc),
        Indicator("stddev", "rolling standard deviation (population)", ("x",),
                  {"period": 5, "nbdev": 1.0}, ("stddev",), lambda period, **_: period - 1,
                  lambda period, **_: 4 + period, _run_stddev, min_period=2),
        Indicator("linearreg_slope", "slope of the least-squares line, per bar", ("x",),
                  {"period": 14}, ("slope",), lambda period: period - 1, _ring("period"),
                  _run_slope, min_period=2),
        Indicator("min", "lowest value over the period", ("x",), {"period": 30}, ("min",),
                  lambda period: period - 1, _ring("period"), _run_min),
        Indicator("max", "highest value over the period", ("x",), {"period": 30}, ("max",),
                  lambda period: period - 1, _ring("period"), _run_max),
    )
}  # fmt: skip


class Stream:
    """A resumable indicator: `update` new values, and the state carries over between calls.

    `Stream("rsi", period=14).update(a)` then `.update(b)` equals `rsi(concat(a, b))` exactly.
    `to_json()` / `from_json()` store the state (a list of floats) between Lambda invocations.
    """

    def __init__(self, name: str, state: np.ndarray | None = None, **params: Any) -> None:
        if name not in INDICATORS:
            raise ValueError(f"unknown indicator {name!r}; known: {', '.join(INDICATORS)}")
        self.indicator = INDICATORS[name]
        self.params = self.indicator.resolve(params)
        size = self.indicator.state_size(**self.params)
        if state is None:
            state = np.zeros(size)
        elif len(state) != size:
            raise ValueError(f"{name}: stored state has {len(state)} slots, expected {size}")
        self.state = np.array(state, dtype=np.float64)

    @property
    def lookback(self) -> int:
        return self.indicator.lookback(**self.params)

    def update(self, *inputs: Any) -> tuple[np.ndarray, ...]:
        if len(inputs) != len(self.indicator.inputs):
            raise ValueError(f"{self.indicator.name} takes inputs {self.indicator.inputs}")
        arrays = [_as_float(x) for x in inputs]
        if len({a.shape for a in arrays}) != 1 or arrays[0].ndim != 1:
            raise ValueError(f"{self.indicator.name}: inputs must be 1-D and of equal length")
        return self.indicator.run(self.state, *arrays, **self.params)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.indicator.name, "params": self.params, "state": self.state.tolist()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Stream:
        return cls(data["name"], np.array(data["state"], dtype=np.float64), **data["params"])


def _batch(name: str, *inputs: Any, **params: Any) -> tuple[np.ndarray, ...]:
    return Stream(name, **params).update(*inputs)


def sma(x: Any, period: int = 30) -> np.ndarray:
    return _batch("sma", x, period=period)[0]


def ema(x: Any, period: int = 30) -> np.ndarray:
    return _batch("ema", x, period=period)[0]


def rsi(close: Any, period: int = 14) -> np.ndarray:
    return _batch("rsi", close, period=period)[0]


def macd(
    close: Any, fast: int = 12, slow: int = 26, signal: int = 9
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    line, signal_line, hist = _batch("macd", close, fast=fast, slow=slow, signal=signal)
    return line, signal_line, hist


def bbands(
    close: Any, period: int = 5, nbdev_up: float = 2.0, nbdev_dn: float = 2.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    upper, middle, lower = _batch(
        "bbands", close, period=period, nbdev_up=nbdev_up, nbdev_dn=nbdev_dn
    )
    return upper, middle, lower


def atr(high: Any, low: Any, close: Any, period: int = 14) -> np.ndarray:
    return _batch("atr", high, low, close, period=period)[0]


def adx(high: Any, low: Any, close: Any, period: int = 14) -> np.ndarray:
    return _batch("adx", high, low, close, period=period)[0]


def roc(x: Any, period: int = 10) -> np.ndarray:
    return _batch("roc", x, period=period)[0]


def stddev(x: Any, period: int = 5, nbdev: float = 1.0) -> np.ndarray:
    return _batch("stddev", x, period=period, nbdev=nbdev)[0]


def linearreg_slope(x: Any, period: int = 14) -> np.ndarray:
    return _batch("linearreg_slope", x, period=period)[0]


def rolling_min(x: Any, period: int = 30) -> np.ndarray:
    return _batch("min", x, period=period)[0]


def rolling_max(x: Any, period: int = 30) -> np.ndarray:
    return _batch("max", x, period=period)[0]
