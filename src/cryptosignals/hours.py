"""The UTC hour of the week: the calendar unit of the hour-of-week profiles
(cryptosignals.profile) and of the volatility forecast's seasonal factor (cryptosignals.risk,
cryptosignals.forecast). Apart from the profiles so that the stream does not import their
statistics (a Lambda cold start compiles every module it imports)."""

from __future__ import annotations

import numpy as np

HOURS_PER_WEEK = 168
MONDAY_EPOCH_OFFSET = 3 * 24 * 3600  # 1970-01-01 was a Thursday: Monday 1969-12-29 + 3 days


def hour_of_week(timestamps: np.ndarray) -> np.ndarray:
    """The UTC hour of the week (0..167, Monday 00h = 0) of unix-second timestamps."""
    seconds = np.asarray(timestamps, dtype=np.int64) + MONDAY_EPOCH_OFFSET
    return (seconds // 3600) % HOURS_PER_WEEK
