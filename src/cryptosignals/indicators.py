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
# (a number has been seen: leading NaNs are skipped, as TA-Lib starts at the first number), then
# indicator-specific slots. For speed, each kernel copies its counters and accumulators into local
# variables and writes them back once, at the end (numba cannot keep `state[k]` in a register, as
# the output arrays might alias it), and walks its ring buffer with a wrapping position rather
# than `%`. The arithmetic, and its order, is that of the per-value form: the outputs are the same.
_N, _STARTED = 0, 1


# --- rolling mean and variance: SMA, STDDEV, BBANDS ---------------------------------------------
# The mean is TA_INT_SMA's running sum, bit for bit. The variance uses running sums of y - c and
# (y - c)^2, centred on a reference c, and recomputed exactly from the window (centred on its
# newest value) every `period` values by the global count, so chunking cannot change it. Centring
# avoids the cancellation of the textbook E[x^2] - E[x]^2 form (7 digits lost on bitcoin prices);
# TA-Lib >= 0.6 is accurate here too and both agree to ~1e-11.
# The kernel writes the final outputs (no numpy pass afterwards): `mode` 0 the mean into `first`;
# 1 the deviation times `up` into `first`; 2 the bands mean + deviation * up, mean, and
# mean - deviation * dn into `first`, `middle` and `last` (unused arrays may be any array).
# Once the window is full, values go in blocks of `_BLOCK`: a sequential loop updates the sums
# and keeps them per value, then a loop without dependencies between values (which the compiler
# vectorises) turns them into outputs: the same operations on the same numbers, in a new order.
# state: n, started, running sum, s1, s2, c, ring buffer[period]
_BLOCK = 256


@_kernel
def _mean_var_kernel(x, period, mode, up, dn, state, first, middle, last):  # type: ignore[no-untyped-def]
    n, started, running = int(state[_N]), state[_STARTED] != 0.0, state[2]
    s1, s2, centre = state[3], state[4], state[5]
    pos = n % period  # ring slot of the next value, = the oldest value's slot once full
    size = x.shape[0]
    begin = 0
    while begin < size and not started:  # leading NaNs: warm-up starts at the first number
        if math.isnan(x[begin]):
            first[begin] = np.nan
            if mode == 2:
                middle[begin] = np.nan
                last[begin] = np.nan
            begin += 1
        else:
            started = True
    while begin < size and n < period - 1:  # the window fills
        value = x[begin]
        first[begin] = np.nan
        if mode == 2:
            middle[begin] = np.nan
            last[begin] = np.nan
        state[6 + pos] = value
        running += value
        n += 1
        pos = pos + 1 if pos + 1 < period else 0
        begin += 1
    sums, sums1, sums2 = np.empty(_BLOCK), np.empty(_BLOCK), np.empty(_BLOCK)
    for start in range(begin, size, _BLOCK):
        count = min(_BLOCK, size - start)
        # slices indexed from 0 by loop counters (no negative-index handling per value)
        values, ring = x[start : start + count], state[6 : 6 + period]
        outs = first[start : start + count]
        for k in range(count):  # the window is full from here on (n >= period after each)
            value = values[k]
            oldest = ring[pos]
            ring[pos] = value
            running += value
            pos = pos + 1 if pos + 1 < period else 0
            if mode == 0:
                outs[k] = running / period
                running -= ring[pos]
                continue
            if mode == 2:
                sums[k] = running
            running -= ring[pos]
            if pos == 0:  # every `period` values by the global count (n % period == 0)
                centre, s1, s2 = value, 0.0, 0.0
                for j in range(period):
                    deviation = ring[j] - centre
                    s1 += deviation
                    s2 += deviation * deviation
            else:
                old, new = oldest - centre, value - centre
                s1 += new - old
                s2 += new * new - old * old
            sums1[k] = s1
            sums2[k] = s2
        if mode == 0:
            continue
        for k in range(count):
            centred_mean = sums1[k] / period
            variance = sums2[k] / period - centred_mean * centred_mean
            # TA-Lib: the deviation is 0 where the variance is zero or negative (rounding)
            deviation = math.sqrt(variance) if variance >= EPSILON else 0.0
            if mode == 1:
                outs[k] = deviation * up
            else:
                sums1[k] = deviation
        if mode == 2:
            for k in range(count):
                mean, deviation = sums[k] / period, sums1[k]
                outs[k] = mean + deviation * up
                middle[start + k] = mean
                last[start + k] = mean - deviation * dn
    n += max(0, size - begin)
    state[_N], state[_STARTED], state[2] = n, 1.0 if started else 0.0, running
    state[3], state[4], state[5] = s1, s2, centre


# One thin kernel per mode: the compiler inlines the shared one with `mode` a constant, so each
# loop is compiled without the other modes' tests.
@_kernel
def _sma_kernel(x, period, state, out):  # type: ignore[no-untyped-def]
    _mean_var_kernel(x, period, 0, 1.0, 1.0, state, out, out, out)


@_kernel
def _stddev_kernel(x, period, nbdev, state, out):  # type: ignore[no-untyped-def]
    _mean_var_kernel(x, period, 1, nbdev, 1.0, state, out, out, out)


@_kernel
def _bbands_kernel(x, period, up, dn, state, upper, middle, lower):  # type: ignore[no-untyped-def]
    _mean_var_kernel(x, period, 2, up, dn, state, upper, middle, lower)


# --- EMA, seeded with the SMA of `period` values after `skip` values (TA_INT_EMA) --------------
# One value's step, shared by the EMA and MACD kernels while they warm up: returns the output
# (NaN until seeded) and the new n, started, seed sum and EMA. Once seeded, the kernels run the
# recursion alone, `ema = ((value - ema) * k) + ema`, in a loop without the warm-up's tests.
# state: n, started, seed sum, previous EMA
@_kernel
def _ema_step(value, period, k, skip, n, started, seed, ema):  # type: ignore[no-untyped-def]
    if not started:
        if math.isnan(value):
            return np.nan, n, started, seed, ema
        started = True
    n += 1
    if n <= skip:
        return np.nan, n, started, seed, ema
    if n < skip + period:
        return np.nan, n, started, seed + value, ema
    if n == skip + period:
        seed += value
        ema = seed / period
        return ema, n, started, seed, ema
    ema = ((value - ema) * k) + ema
    return ema, n, started, seed, ema


@_kernel
def _ema_kernel(x, period, k, skip, state, out):  # type: ignore[no-untyped-def]
    n, started, seed, ema = int(state[_N]), state[_STARTED] != 0.0, state[2], state[3]
    size, seeded = x.shape[0], skip + period
    begin = 0
    while begin < size and n < seeded:
        out[begin], n, started, seed, ema = _ema_step(
            x[begin], period, k, skip, n, started, seed, ema
        )
        begin += 1
    values, outs = x[begin:], out[begin:]  # indexed from 0: no negative-index handling
    for i in range(size - begin):
        ema = ((values[i] - ema) * k) + ema
        outs[i] = ema
    n += size - begin
    state[_N], state[_STARTED], state[2], state[3] = n, 1.0 if started else 0.0, seed, ema


# --- MACD: fast and slow EMAs, their difference, its signal EMA, in one pass (TA_MACD) ---------
# TA-Lib seeds the fast EMA on the slow EMA's first bar: its SMA seed ends where slow's does. The
# line is NaN wherever the signal is (TA-Lib outputs all three from the signal's first bar).
# state: the fast, slow and signal EMAs' states, 4 slots each
@_kernel
def _macd_kernel(x, fast, slow, signal, state, line_out, signal_out, hist_out):  # type: ignore[no-untyped-def]
    kf, ks, kg = 2.0 / (fast + 1), 2.0 / (slow + 1), 2.0 / (signal + 1)
    skip = slow - fast
    fn, f_started, f_seed, f_ema = int(state[0]), state[1] != 0.0, state[2], state[3]
    sn, s_started, s_seed, s_ema = int(state[4]), state[5] != 0.0, state[6], state[7]
    gn, g_started, g_seed, g_ema = int(state[8]), state[9] != 0.0, state[10], state[11]
    size = x.shape[0]
    begin = 0
    while begin < size and not (fn >= slow and sn >= slow and gn >= signal):
        value = x[begin]
        f, fn, f_started, f_seed, f_ema = _ema_step(
            value, fast, kf, skip, fn, f_started, f_seed, f_ema
        )
        s, sn, s_started, s_seed, s_ema = _ema_step(
            value, slow, ks, 0, sn, s_started, s_seed, s_ema
        )
        line = f - s
        g, gn, g_started, g_seed, g_ema = _ema_step(
            line, signal, kg, 0, gn, g_started, g_seed, g_ema
        )
        if math.isnan(g):
            line = np.nan
        line_out[begin], signal_out[begin], hist_out[begin] = line, g, line - g
        begin += 1
    for i in range(begin, size):
        value = x[i]
        f_ema = ((value - f_ema) * kf) + f_ema
        s_ema = ((value - s_ema) * ks) + s_ema
        line = f_ema - s_ema
        g_ema = ((line - g_ema) * kg) + g_ema
        if math.isnan(g_ema):
            line = np.nan
        line_out[i], signal_out[i], hist_out[i] = line, g_ema, line - g_ema
    steady = size - begin
    state[0], state[1], state[2], state[3] = fn + steady, 1.0 if f_started else 0.0, f_seed, f_ema
    state[4], state[5], state[6], state[7] = sn + steady, 1.0 if s_started else 0.0, s_seed, s_ema
    state[8], state[9], state[10], state[11] = gn + steady, 1.0 if g_started else 0.0, g_seed, g_ema


# --- RSI with Wilder smoothing (TA_RSI) ---------------------------------------------------------
# state: n, started, previous value, average gain, average loss
@_kernel
def _rsi_kernel(x, period, state, out):  # type: ignore[no-untyped-def]
    inverse = 1.0 / period  # TA-Lib 0.6+ multiplies by the inverse: same bits, and faster
    n, started = int(state[_N]), state[_STARTED] != 0.0
    prev, gain, loss = state[2], state[3], state[4]
    size = x.shape[0]
    begin = 0
    while begin < size and n < period + 1:  # the warm-up, value by value
        value = x[begin]
        out[begin] = np.nan
        begin += 1
        if not started:
            if math.isnan(value):
                continue
            started = True
        n += 1
        if n == 1:
            prev = value
            continue
        diff = value - prev
        prev = value
        if diff < 0:
            loss -= diff
        else:
            gain += diff
        if n == period + 1:
            gain *= inverse
            loss *= inverse
            total = gain + loss
            out[begin - 1] = 100.0 * (gain / total) if not (-EPSILON < total < EPSILON) else 0.0
    # then without tests that depend on the count, and without a branch on the sign of the change:
    # adding -0.0 and subtracting 0.0 leave any number's bits as they are
    values, outs = x[begin:], out[begin:]  # indexed from 0: no negative-index handling
    for i in range(size - begin):
        value = values[i]
        diff = value - prev
        prev = value
        gain *= period - 1
        loss *= period - 1
        gain += -0.0 if diff < 0 else diff
        loss -= diff if diff < 0 else 0.0
        gain *= inverse
        loss *= inverse
        total = gain + loss
        outs[i] = 100.0 * (gain / total) if not (-EPSILON < total < EPSILON) else 0.0
    n += size - begin
    state[_N], state[_STARTED] = n, 1.0 if started else 0.0
    state[2], state[3], state[4] = prev, gain, loss


@_kernel
def _true_range(high, low, prev_close):  # type: ignore[no-untyped-def]
    greatest = high - low
    up = abs(prev_close - high)
    greatest = up if up > greatest else greatest
    down = abs(prev_close - low)
    return down if down > greatest else greatest


# --- ATR with Wilder smoothing, seeded by the SMA of the first `period` true ranges (TA_ATR) ----
# state: n, started, previous close, seed sum, previous ATR
@_kernel
def _atr_kernel(high, low, close, period, state, out):  # type: ignore[no-untyped-def]
    inverse = 1.0 / period
    n, started = int(state[_N]), state[_STARTED] != 0.0
    prev_close, seed, atr = state[2], state[3], state[4]
    size = close.shape[0]
    ready = period + 1 if period > 1 else 1  # seeded: every later value is one Wilder step
    begin = 0
    while begin < size and n < ready:
        i = begin
        begin += 1
        out[i] = np.nan
        if not started:
            if math.isnan(high[i] + low[i] + close[i]):
                continue
            started = True
        n += 1
        if n > 1:
            tr = _true_range(high[i], low[i], prev_close)
            if period == 1:
                out[i] = tr
            else:
                seed += tr
                if n == period + 1:
                    atr = seed / period
                    out[i] = atr
        prev_close = close[i]
    # slices indexed from 0 by the loop counter: no negative-index handling per value
    highs, lows, closes, outs = high[begin:], low[begin:], close[begin:], out[begin:]
    if period == 1:
        for i in range(size - begin):
            outs[i] = _true_range(highs[i], lows[i], prev_close)
            prev_close = closes[i]
    else:
        for i in range(size - begin):
            atr += (_true_range(highs[i], lows[i], prev_close) - atr) * inverse  # Wilder: within
            outs[i] = atr  # 6e-16 of TA-Lib's division, and 2x faster
            prev_close = closes[i]
    n += size - begin
    state[_N], state[_STARTED] = n, 1.0 if started else 0.0
    state[2], state[3], state[4] = prev_close, seed, atr


# --- ADX (TA_ADX, including its Wilder "x -= x / n" form and zero tests) -------------------------
# state: n, started, prev high, prev low, prev close, +DM, -DM, TR, sum of DX, ADX
@_kernel
def _adx_kernel(high, low, close, period, state, out):  # type: ignore[no-untyped-def]
    n, started = int(state[_N]), state[_STARTED] != 0.0
    prev_high, prev_low, prev_close = state[2], state[3], state[4]
    plus_dm, minus_dm, tr_sum, dx_sum, adx = state[5], state[6], state[7], state[8], state[9]
    size = close.shape[0]
    begin = 0
    while begin < size and n < 2 * period:  # the warm-up, value by value
        i = begin
        begin += 1
        out[i] = np.nan
        if not started:
            if math.isnan(high[i] + low[i] + close[i]):
                continue
            started = True
        n += 1
        if n == 1:
            prev_high, prev_low, prev_close = high[i], low[i], close[i]
            continue
        diff_plus = high[i] - prev_high
        diff_minus = prev_low - low[i]
        prev_high, prev_low = high[i], low[i]
        smoothing = n > period
        if smoothing:
            plus_dm -= plus_dm / period
            minus_dm -= minus_dm / period
        if diff_minus > 0 and diff_plus < diff_minus:
            minus_dm += diff_minus
        elif diff_plus > 0 and diff_plus > diff_minus:
            plus_dm += diff_plus
        tr = _true_range(high[i], low[i], prev_close)
        tr_sum = tr_sum - (tr_sum / period) + tr if smoothing else tr_sum + tr
        prev_close = close[i]
        if not smoothing:
            continue
        dx = np.nan
        if not (-EPSILON < tr_sum < EPSILON):
            minus_di = 100.0 * (minus_dm / tr_sum)
            plus_di = 100.0 * (plus_dm / tr_sum)
            di_sum = minus_di + plus_di
            if not (-EPSILON < di_sum < EPSILON):
                dx = 100.0 * (abs(minus_di - plus_di) / di_sum)
        if n <= 2 * period:
            if not math.isnan(dx):
                dx_sum += dx
            if n == 2 * period:
                adx = dx_sum / period
                out[i] = adx
        else:
            if not math.isnan(dx):
                adx = ((adx * (period - 1)) + dx) / period
            out[i] = adx
    # then without count tests, and the directional movements added by selects: adding -0.0
    # leaves any number's bits as they are
    for i in range(begin, size):
        diff_plus = high[i] - prev_high
        diff_minus = prev_low - low[i]
        prev_high, prev_low = high[i], low[i]
        plus_dm -= plus_dm / period
        minus_dm -= minus_dm / period
        to_minus = (diff_minus > 0) & (diff_plus < diff_minus)
        to_plus = (not to_minus) & (diff_plus > 0) & (diff_plus > diff_minus)
        minus_dm += diff_minus if to_minus else -0.0
        plus_dm += diff_plus if to_plus else -0.0
        tr = _true_range(high[i], low[i], prev_close)
        tr_sum = tr_sum - (tr_sum / period) + tr
        prev_close = close[i]
        if not (-EPSILON < tr_sum < EPSILON):
            minus_di = 100.0 * (minus_dm / tr_sum)
            plus_di = 100.0 * (plus_dm / tr_sum)
            di_sum = minus_di + plus_di
            if not (-EPSILON < di_sum < EPSILON):
                dx = 100.0 * (abs(minus_di - plus_di) / di_sum)
                if not math.isnan(dx):
                    adx = ((adx * (period - 1)) + dx) / period
        out[i] = adx
    n += size - begin
    state[_N], state[_STARTED] = n, 1.0 if started else 0.0
    state[2], state[3], state[4] = prev_high, prev_low, prev_close
    state[5], state[6], state[7], state[8], state[9] = plus_dm, minus_dm, tr_sum, dx_sum, adx


# --- ROC: (x / x[t - period] - 1) * 100, 0 where x[t - period] is 0 (TA_ROC) --------------------
# state: n, started, ring buffer[period]
@_kernel
def _roc_kernel(x, period, state, out):  # type: ignore[no-untyped-def]
    n, started = int(state[_N]), state[_STARTED] != 0.0
    pos = n % period
    size = x.shape[0]
    begin = 0
    while begin < size and (not started or n < period):  # leading NaNs, the first window
        value = x[begin]
        out[begin] = np.nan
        begin += 1
        if not started:
            if math.isnan(value):
                continue
            started = True
        state[2 + pos] = value
        n += 1
        pos = pos + 1 if pos + 1 < period else 0
    # the next `period` values compare with the ring, the later ones with this call's values:
    # a loop without a carried dependency, which the compiler vectorises
    ring_end = min(size, begin + period)
    for i in range(begin, ring_end):
        value, old = x[i], state[2 + pos]
        out[i] = ((value / old) - 1.0) * 100.0 if old != 0.0 else 0.0
        state[2 + pos] = value
        pos = pos + 1 if pos + 1 < period else 0
    values, olds, outs = x[ring_end:], x[ring_end - period : size - period], out[ring_end:]
    for i in range(size - ring_end):  # slices indexed from 0: no negative-index handling
        old = olds[i]
        safe = old if old != 0.0 else 1.0
        ratio = ((values[i] / safe) - 1.0) * 100.0
        outs[i] = ratio if old != 0.0 else 0.0
    # keep the last `period` values in the ring (their slots follow on from `pos`)
    for i in range(max(ring_end, size - period), size):
        state[2 + (pos + i - ring_end) % period] = x[i]
    n += size - begin
    state[_N], state[_STARTED] = n, 1.0 if started else 0.0


# --- linear regression slope over the last `period` values (TA_LINEARREG_SLOPE) ----------------
# O(1) per value: running sums of y and x*y (x = bars back from the newest, TA-Lib's
# orientation) over values centred on a reference c; the slope does not depend on c. Every
# `period` values (by the global count, so chunking cannot change it) the sums are recomputed
# exactly from the window, centred on its newest value: rounding never accumulates for long, and
# centring removes the cancellation that costs TA-Lib >= 0.6's incremental form ~5 digits.
# state: n, started, sum_y, sum_xy, c, ring buffer[period]
@_kernel
def _slope_kernel(x, period, state, out):  # type: ignore[no-untyped-def]
    sum_x = period * (period - 1) * 0.5
    sum_x_sqr = float(period * (period - 1) * (2 * period - 1) // 6)
    divisor = sum_x * sum_x - period * sum_x_sqr
    n, started = int(state[_N]), state[_STARTED] != 0.0
    sum_y, sum_xy, centre = state[2], state[3], state[4]
    pos = n % period  # slot of the next value = the oldest value's slot once full
    size = x.shape[0]
    begin = 0
    while begin < size and (not started or n < period - 1):  # leading NaNs, the window fills
        value = x[begin]
        out[begin] = np.nan
        begin += 1
        if not started:
            if math.isnan(value):
                continue
            started = True
        state[5 + pos] = value
        n += 1
        pos = pos + 1 if pos + 1 < period else 0
    # the window is full from here on (n >= period after each): in blocks, a sequential loop for
    # the sums, then a vectorised one for the slopes (as in the mean and variance kernel)
    sums_y, sums_xy = np.empty(_BLOCK), np.empty(_BLOCK)
    for start in range(begin, size, _BLOCK):
        count = min(_BLOCK, size - start)
        values, ring = x[start : start + count], state[5 : 5 + period]  # indexed from 0
        outs = out[start : start + count]
        for k in range(count):
            value = values[k]
            oldest = ring[pos]
            ring[pos] = value
            pos = pos + 1 if pos + 1 < period else 0
            if pos == 0:  # every `period` values by the global count (n % period == 0)
                centre = value
                sum_y = 0.0
                sum_xy = 0.0
                back = period - 1
                for j in range(period):
                    y = ring[j] - centre
                    sum_y += y
                    sum_xy += back * y
                    back -= 1
            else:
                sum_xy += sum_y - period * (oldest - centre)
                sum_y += value - oldest
            sums_y[k] = sum_y
            sums_xy[k] = sum_xy
        for k in range(count):
            outs[k] = (period * sums_xy[k] - sum_x * sums_y[k]) / divisor
    n += size - begin
    state[_N], state[_STARTED] = n, 1.0 if started else 0.0
    state[2], state[3], state[4] = sum_y, sum_xy, centre


# --- rolling MIN / MAX over `period` values (TA_MIN / TA_MAX) ------------------------------------
# The extreme is tracked, TA-Lib's way: a new value replaces it only when strictly beyond it, and
# when it leaves the window the window's extreme is looked up again: the first one in ring-slot
# order (which picks between 0.0 and -0.0). The look-up is O(1) (van Herk / Gil-Werman): the ring
# slots split the values into blocks of `period` by the global count, so the window is the tail
# of the previous block (slots pos..period-1) then the head of the current one (slots 0..); the
# head's extreme is kept as values arrive and the tail's suffix extremes are computed once per
# block. A NaN (after the first value) makes the output NaN while it is inside the window.
# state: n, started, ring buffer[period]
@_kernel
def _extreme_exact(x, period, is_max, state, out):  # type: ignore[no-untyped-def]
    n, started = int(state[_N]), state[_STARTED] != 0.0
    pos = n % period
    best, best_at, nan_at = 0.0, -1, -1  # positions count values, like n; -1: look up
    # values stored by an earlier call (slots 0..n-1 until the ring is full): find their NaNs
    for j in range(min(n, period)):
        if math.isnan(state[2 + j]):
            nan_at = max(nan_at, n - period + (j - pos) % period)
    # suffix extremes of the previous block by slot (the leftmost of equals), and the current
    # block's extreme so far (the first of equals), as values, and positions
    tail, tail_at = np.empty(period), np.empty(period, np.int64)
    block = n - pos  # position of the current block's first value (slot 0)
    if n >= period:
        _block_suffix(state, period, pos, block - period, is_max, tail, tail_at)
    head, head_at = state[2], block
    for j in range(1, pos):
        y = state[2 + j]
        if (y > head) if is_max else (y < head):
            head, head_at = y, block + j
    for i in range(x.shape[0]):
        value = x[i]
        if not started:
            if math.isnan(value):
                out[i] = np.nan
                continue
            started = True
        if pos == 0:  # a new block: the one in the ring is complete
            if n >= period:
                _block_suffix(state, period, 0, n - period, is_max, tail, tail_at)
            head, head_at = value, n
        elif (value > head) if is_max else (value < head):
            head, head_at = value, n
        state[2 + pos] = value
        if math.isnan(value):
            nan_at = n
        n += 1
        pos = pos + 1 if pos + 1 < period else 0
        oldest = n - period  # its slot is `pos`
        if n < period or nan_at >= oldest:
            out[i] = np.nan
            best_at = -1
            continue
        if best_at >= oldest:
            if (value > best) if is_max else (value < best):
                best, best_at = value, n - 1
        elif pos != 0 and ((tail[pos] > head) if is_max else (tail[pos] < head)):
            best, best_at = tail[pos], tail_at[pos]  # the window starts in the previous block
        else:
            best, best_at = head, head_at
        out[i] = best
    state[_N], state[_STARTED] = n, 1.0 if started else 0.0


# Long calls take a shortcut with the same results: where a window holds neither a NaN nor a zero,
# its extreme is one number whose bits are unique (only 0.0 and -0.0 compare equal with different
# bits), so which of its equal copies the tracking above picks cannot show in the output. Such
# windows' extremes are computed directly, van Herk / Gil-Werman over this call's values (block
# suffix extremes, then the running extreme of the next block), after the exact kernel has
# covered the values whose windows reach into the ring; a NaN or zero anywhere among them sends
# the whole call through the exact kernel instead.
_SHORTCUT_PERIODS = 4  # values beyond the first window, in periods, from which it pays


@_kernel
def _extreme_kernel(x, period, is_max, state, out):  # type: ignore[no-untyped-def]
    size = x.shape[0]
    first = 0  # the first number: leading NaNs before the first call's start are skipped
    if state[_STARTED] == 0.0:
        while first < size and math.isnan(x[first]):
            first += 1
    head = first + period - 1  # from here on each window lies in this call's values
    if size - head < _SHORTCUT_PERIODS * period:
        _extreme_exact(x, period, is_max, state, out)
        return
    saved = state.copy()
    _extreme_exact(x[:head], period, is_max, state, out[:head])
    if not _window_extremes(x, period, is_max, head, out):
        state[:] = saved
        _extreme_exact(x, period, is_max, state, out)
        return
    n = int(state[_N])
    for i in range(max(head, size - period), size):  # the ring keeps the last `period` values
        state[2 + (n + i - head) % period] = x[i]
    state[_N], state[_STARTED] = n + size - head, 1.0


# One thin kernel each: the compiler inlines the shared one with `is_max` a constant.
@_kernel
def _min_kernel(x, period, state, out):  # type: ignore[no-untyped-def]
    _extreme_kernel(x, period, False, state, out)


@_kernel
def _max_kernel(x, period, state, out):  # type: ignore[no-untyped-def]
    _extreme_kernel(x, period, True, state, out)


@_kernel
def _window_extremes(x, period, is_max, head, out):  # type: ignore[no-untyped-def]
    """out[i] = the extreme of x[i - period + 1 .. i] for i >= head; False if these values hold a
    NaN or a zero (then `out` is to be overwritten)."""
    size = x.shape[0]
    base = head - period + 1
    clean = True
    suffix = np.empty(period + 1)
    suffix[period] = -math.inf if is_max else math.inf  # an empty suffix
    extreme = x[base]
    clean &= abs(extreme) > 0.0  # False for 0.0, -0.0 and NaN
    for j in range(1, period):
        y = x[base + j]
        clean &= abs(y) > 0.0
        extreme = y if ((y > extreme) if is_max else (y < extreme)) else extreme
    out[head] = extreme
    for start in range(base + period, size, period):
        # slices, indexed from 0 by loop counters: no negative-index handling in the loops
        previous, current = x[start - period : start], x[start : min(start + period, size)]
        extreme = previous[period - 1]
        suffix[period - 1] = extreme
        for back in range(period - 1):
            j = period - 2 - back
            y = previous[j]
            extreme = y if ((y > extreme) if is_max else (y < extreme)) else extreme
            suffix[j] = extreme
        window = out[start : start + current.shape[0]]
        running = current[0]
        clean &= abs(running) > 0.0
        tail = suffix[1]
        window[0] = tail if ((tail > running) if is_max else (tail < running)) else running
        for j in range(1, current.shape[0]):
            y = current[j]
            clean &= abs(y) > 0.0
            running = y if ((y > running) if is_max else (y < running)) else running
            tail = suffix[j + 1]
            window[j] = tail if ((tail > running) if is_max else (tail < running)) else running
    return clean


@_kernel
def _block_suffix(state, period, first, start, is_max, tail, tail_at):  # type: ignore[no-untyped-def]
    """Extremes of ring slots j..period-1 for j >= first (slot j holds position start + j)."""
    extreme, at = state[1 + period], start + period - 1
    tail[period - 1], tail_at[period - 1] = extreme, at
    for j in range(period - 2, first - 1, -1):
        y = state[2 + j]
        if (y >= extreme) if is_max else (y <= extreme):
            extreme, at = y, start + j
        tail[j], tail_at[j] = extreme, at


# --- the public, declarative layer ---------------------------------------------------------------


def _as_float(x: Any) -> np.ndarray:
    return np.ascontiguousarray(x, dtype=np.float64)


def _run_sma(state: np.ndarray, x: np.ndarray, *, period: int) -> tuple[np.ndarray]:
    mean = np.empty_like(x)
    _sma_kernel(x, period, state, mean)
    return (mean,)


def _run_stddev(
    state: np.ndarray, x: np.ndarray, *, period: int, nbdev: float
) -> tuple[np.ndarray]:
    deviation = np.empty_like(x)
    _stddev_kernel(x, period, nbdev, state, deviation)
    return (deviation,)


def _run_bbands(
    state: np.ndarray, x: np.ndarray, *, period: int, nbdev_up: float, nbdev_dn: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    upper, middle, lower = np.empty_like(x), np.empty_like(x), np.empty_like(x)
    _bbands_kernel(x, period, nbdev_up, nbdev_dn, state, upper, middle, lower)
    return upper, middle, lower


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
    line, signal_line, hist = np.empty_like(x), np.empty_like(x), np.empty_like(x)
    _macd_kernel(x, fast, slow, signal, state, line, signal_line, hist)
    return line, signal_line, hist


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
    _min_kernel(x, period, state, out)
    return (out,)


def _run_max(state: np.ndarray, x: np.ndarray, *, period: int) -> tuple[np.ndarray]:
    out = np.empty_like(x)
    _max_kernel(x, period, state, out)
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
    # MIN/MAX: what a ring slot that can never be the extreme again is read back as (below)
    never: float | None = None

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
                  lambda period: period - 1, lambda period: 6 + period, _run_sma),
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
                  lambda period, **_: period - 1, lambda period, **_: 6 + period, _run_bbands,
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
                  lambda period, **_: 6 + period, _run_stddev, min_period=2),
        Indicator("linearreg_slope", "slope of the least-squares line, per bar", ("x",),
                  {"period": 14}, ("slope",), lambda period: period - 1,
                  lambda period: 5 + period,
                  _run_slope, min_period=2),
        Indicator("min", "lowest value over the period", ("x",), {"period": 30}, ("min",),
                  lambda period: period - 1, _ring("period"), _run_min, never=math.inf),
        Indicator("max", "highest value over the period", ("x",), {"period": 30}, ("max",),
                  lambda period: period - 1, _ring("period"), _run_max, never=-math.inf),
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
        state: list[float | None] = self.state.tolist()
        if self.indicator.never is not None:
            for slot in _outdone_slots(self.state, self.params["period"], self.indicator.never):
                state[slot] = None
        return {"name": self.indicator.name, "params": self.params, "state": state}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Stream:
        never = INDICATORS[data["name"]].never
        state = [never if v is None else v for v in data["state"]]
        return cls(data["name"], np.array(state, dtype=np.float64), **data["params"])


def _outdone_slots(state: np.ndarray, period: int, never: float) -> list[int]:
    """The MIN (never = +inf) or MAX (-inf) ring slots holding a value with a later one strictly
    beyond it: every window that still holds the value holds the later one too, so it can never
    be the output again (nor tie with it). The stored state leaves them out (null, read back as
    `never`, which no window picks): of a ring of `period` values typically a handful of record
    values remain (about ln(period) on noise). NaNs are kept: they decide which outputs are NaN.
    """
    n = int(state[_N])
    best, outdone = never, []
    for position in range(n - 1, max(n - period, 0) - 1, -1):  # newest first
        slot = 2 + position % period
        value = state[slot]
        if (value < best) if never < 0 else (value > best):
            outdone.append(slot)
        elif not math.isnan(value):
            best = value
    return outdone


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
