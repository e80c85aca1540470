"""When a coin moves: hour-of-week profiles of volatility, volume and return.

Crypto trades around the clock but not evenly; the hour of the week (0 = Monday 00:00-01:00
UTC, 167 = Sunday 23:00-24:00) is the calendar unit of these profiles and of the volatility
forecast's seasonal factor (cryptosignals.risk).
"""

from __future__ import annotations

import numpy as np

HOURS_PER_WEEK = 168
_MONDAY_EPOCH_OFFSET = 3 * 24 * 3600  # 1970-01-01 was a Thursday: Monday 1969-12-29 + 3 days


def hour_of_week(timestamps: np.ndarray) -> np.ndarray:
    """The UTC hour of the week (0..167, Monday 00h = 0) of unix-second timestamps."""
    seconds = np.asarray(timestamps, dtype=np.int64) + _MONDAY_EPOCH_OFFSET
    return (seconds // 3600) % HOURS_PER_WEEK
