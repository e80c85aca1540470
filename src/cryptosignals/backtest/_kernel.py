"""The bar-by-bar simulation kernel: numpy arrays in, numpy arrays out (numba when present).

One loop over bars. At bar j's open the order decided at the close of bar j-1 is filled (close
the position, then open the new one); then the bar's range is checked against the open
position's stop-loss and take-profit; then the account is marked at the close.
"""

from __future__ import annotations

import math

import numpy as np

from cryptosignals._jit import kernel as _kernel

# Columns of the trades table the kernel writes (one row per trade).
T_SIDE, T_ENTRY_BAR, T_EXIT_BAR, T_UNITS, T_ENTRY, T_EXIT, T_FEES, T_PNL, T_REASON = range(9)
TRADE_COLUMNS = 9
# Exit reasons.
R_OPEN, R_SIGNAL, R_STOP, R_TAKE = 0, 1, 2, 3


@_kernel
def _simulate(  # type: ignore[no-untyped-def]
    open_, high, low, close, orders, fraction, fee, slip, stop_loss, take_profit, cash0
):
    """Simulate target-position orders on OHLC bars.

    orders[j]: the target side (+1 long, -1 short, 0 flat) to take at bar j's open, NaN to hold.
    fraction[j]: the share of equity a position opened at bar j's open commits (notional + fee).
    fee, slip: fractions of the traded value / of the price; stop_loss, take_profit: fractions of
    the entry fill price, NaN for none.
    Returns (equity at each close, position units at each close, trades table, trade count).
    """
    n = open_.shape[0]
    equity = np.empty(n)
    units_out = np.empty(n)
    trades = np.full((n + 1, TRADE_COLUMNS), np.nan)
    cash = cash0
    units = 0.0
    side = 0.0
    k = 0  # trades written
    stop_price = np.nan
    take_price = np.nan
    for j in range(n):
        target = orders[j]
        price = open_[j]
        if not math.isnan(target) and target != side:
            if side != 0.0:  # close at the open
                fill = price * (1.0 - side * slip)
                cost = abs(units) * fill * fee
                cash += units * fill - cost
                t = k - 1
                trades[t, T_EXIT_BAR] = j
                trades[t, T_EXIT] = fill
                trades[t, T_FEES] += cost
                trades[t, T_PNL] = units * (fill - trades[t, T_ENTRY]) - trades[t, T_FEES]
                trades[t, T_REASON] = R_SIGNAL
                units = 0.0
                side = 0.0
            if target != 0.0 and fraction[j] > 0.0:  # open at the open
                fill = price * (1.0 + target * slip)
                size = cash * fraction[j] / (fill * (1.0 + fee))
                cost = size * fill * fee
                units = target * size
                cash -= units * fill + cost
                side = target
                trades[k, T_SIDE] = side
                trades[k, T_ENTRY_BAR] = j
                trades[k, T_UNITS] = size
                trades[k, T_ENTRY] = fill
                trades[k, T_FEES] = cost
                trades[k, T_REASON] = R_OPEN
                k += 1
                stop_price = fill * (1.0 - side * stop_loss)
                take_price = fill * (1.0 + side * take_profit)
        if side != 0.0:
            # Stop first when both are inside the bar: we cannot know which came first.
            exit_at = np.nan
            reason = R_OPEN
            if side > 0.0:
                if low[j] <= stop_price:
                    exit_at, reason = min(price, stop_price), R_STOP
                elif high[j] >= take_price:
                    exit_at, reason = max(price, take_price), R_TAKE
            else:
                if high[j] >= stop_price:
                    exit_at, reason = max(price, stop_price), R_STOP
                elif low[j] <= take_price:
                    exit_at, reason = min(price, take_price), R_TAKE
            if reason != R_OPEN:
                fill = exit_at * (1.0 - side * slip)
                cost = abs(units) * fill * fee
                cash += units * fill - cost
                t = k - 1
                trades[t, T_EXIT_BAR] = j
                trades[t, T_EXIT] = fill
                trades[t, T_FEES] += cost
                trades[t, T_PNL] = units * (fill - trades[t, T_ENTRY]) - trades[t, T_FEES]
                trades[t, T_REASON] = reason
                units = 0.0
                side = 0.0
        equity[j] = cash + units * close[j]
        units_out[j] = units
    if side != 0.0:  # still open: marked at the last close, no exit fee
        t = k - 1
        trades[t, T_EXIT] = close[n - 1]
        trades[t, T_PNL] = units * (close[n - 1] - trades[t, T_ENTRY]) - trades[t, T_FEES]
    return equity, units_out, trades, k
