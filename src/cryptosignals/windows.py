"""Rolling 5m / 30m / 60m / 24h aggregates per coin, by event time.

The window of length W ending at a tick at time t holds the ticks with time in (t - W, t]. Ticks
are irregular (a missed poll is simply absent) and strictly increasing: the engine drops a
repeated timestamp as a duplicate before it gets here.

Per window: average, minimum and maximum price; `volume_aggregated`, the mean of the 24-hour
volume readings in the window (CoinGecko gives 24h volumes, which cannot be summed over
intervals: see docs/assumptions.md); `chg_pct`, the percent change from the window's first to
its last price; and `sample_count`.

Each aggregate is computed from the ticks inside its window only, so a streamed run (which keeps
the last 24 hours of ticks as its state) gives exactly the values of a batch run.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any

import numpy as np

from cryptosignals._jit import kernel


class Window(IntEnum):
    """Window lengths in minutes: the sort key of crypto_aggregated_data."""

    M5 = 5
    M30 = 30
    M60 = 60
    H24 = 1440


WINDOWS: tuple[Window, ...] = tuple(Window)
FIELDS = ("avg_price", "min_price", "max_price", "volume_aggregated", "chg_pct", "sample_count")


@kernel
def _window_kernel(timestamp, price, volume, start, seconds, out):  # type: ignore[no-untyped-def]
    """Aggregates of the windows ending at ticks start.. (out has one row per such tick)."""
    first = 0
    for i in range(start, timestamp.shape[0]):
        while timestamp[first] <= timestamp[i] - seconds:
            first += 1
        total = 0.0
        low = price[first]
        high = price[first]
        volume_total = 0.0
        volume_count = 0
        for j in range(first, i + 1):
            total += price[j]
            if price[j] < low:
                low = price[j]
            if price[j] > high:
                high = price[j]
            if not np.isnan(volume[j]):
                volume_total += volume[j]
                volume_count += 1
        count = i - first + 1
        row = i - start
        out[row, 0] = total / count
        out[row, 1] = low
        out[row, 2] = high
        out[row, 3] = volume_total / volume_count if volume_count > 0 else np.nan
        out[row, 4] = (price[i] / price[first] - 1.0) * 100.0
        out[row, 5] = count


@dataclass(frozen=True)
class Aggregate:
    """One row of crypto_aggregated_data: a coin's window ending at `window_end`."""

    crypto_id: str
    time_window: Window
    window_end: int
    avg_price: float
    min_price: float
    max_price: float
    volume_aggregated: float | None
    chg_pct: float
    sample_count: int

    def to_json(self) -> dict[str, Any]:
        return {
            "crypto_id": self.crypto_id,
            "time_window": int(self.time_window),
            "window_end": self.window_end,
            "avg_price": self.avg_price,
            "min_price": self.min_price,
            "max_price": self.max_price,
            "volume_aggregated": self.volume_aggregated,
            "chg_pct": self.chg_pct,
            "sample_count": self.sample_count,
        }


def rolling_windows(
    timestamp: np.ndarray, price: np.ndarray, volume: np.ndarray, start: int = 0
) -> dict[Window, np.ndarray]:
    """For every tick from `start` on: one (n, 6) array per window, columns as in FIELDS."""
    timestamp = np.ascontiguousarray(timestamp, dtype=np.int64)
    if len(timestamp) > 1 and np.any(np.diff(timestamp) <= 0):
        raise ValueError("tick timestamps must be strictly increasing (drop duplicates first)")
    price = np.ascontiguousarray(price, dtype=np.float64)
    volume = np.ascontiguousarray(volume, dtype=np.float64)
    result = {}
    for window in WINDOWS:
        out = np.empty((len(timestamp) - start, len(FIELDS)))
        _window_kernel(timestamp, price, volume, start, int(window) * 60, out)
        result[window] = out
    return result


class WindowState:
    """The last 24 hours of ticks of one coin: all a streamed window computation needs."""

    def __init__(
        self,
        timestamp: np.ndarray | None = None,
        price: np.ndarray | None = None,
        volume: np.ndarray | None = None,
    ) -> None:
        self.timestamp = np.zeros(0, np.int64) if timestamp is None else timestamp
        self.price = np.zeros(0) if price is None else price
        self.volume = np.zeros(0) if volume is None else volume

    def update(
        self, timestamp: np.ndarray, price: np.ndarray, volume: np.ndarray
    ) -> dict[Window, np.ndarray]:
        """Aggregates for each new tick (new ticks must be later than every kept one)."""
        kept = len(self.timestamp)
        all_ts = np.concatenate([self.timestamp, timestamp]).astype(np.int64)
        all_price = np.concatenate([self.price, price])
        all_volume = np.concatenate([self.volume, volume])
        result = rolling_windows(all_ts, all_price, all_volume, start=kept)
        if len(all_ts):
            keep = all_ts > all_ts[-1] - int(max(WINDOWS)) * 60
            self.timestamp, self.price, self.volume = (
                all_ts[keep],
                all_price[keep],
                all_volume[keep],
            )
        return result

    def to_json(self) -> dict[str, list]:
        return {
            "timestamp": self.timestamp.tolist(),
            "price": self.price.tolist(),
            "volume": [None if np.isnan(v) else v for v in self.volume.tolist()],
        }

    @classmethod
    def from_json(cls, data: dict[str, list]) -> WindowState:
        return cls(
            np.array(data["timestamp"], dtype=np.int64),
            np.array(data["price"], dtype=float),
            np.array([np.nan if v is None else v for v in data["volume"]], dtype=float),
        )


def aggregates_at(
    crypto_id: str, window_end: int, rows: dict[Window, np.ndarray], index: int = -1
) -> list[Aggregate]:
    """The four aggregates of one tick (by default the last one of a batch)."""
    result = []
    for window, table in rows.items():
        avg, low, high, volume, change, count = table[index]
        result.append(
            Aggregate(
                crypto_id,
                window,
                int(window_end),
                float(avg),
                float(low),
                float(high),
                None if np.isnan(volume) else float(volume),
                float(change),
                int(count),
            )
        )
    return result
