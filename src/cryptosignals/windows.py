"""Rolling 5m / 30m / 60m / 24h aggregates per coin, by event time, in bounded state.

The 5-minute window ending at a tick at time t holds the ticks in (t - 5 min, t], exactly. The
longer windows are made of whole buckets, so their state does not grow with the tick rate: the
30m and 60m windows of 5-minute buckets, the 24h window of hourly buckets, each bucket aligned
like the bars ((end - width, end], end a multiple of the width). The window of length W ending
at a tick in the bucket ending at E holds the ticks in (E - W, t]: the current bucket so far and
the whole buckets before it. When ticks land on bucket ends (five-minute candles, on the hour)
that is exactly (t - W, t]; otherwise the window is up to one bucket shorter (the 60m window of
a tick at 10:03 starts after 09:05, the 24h window of a tick at 10:30 after 11:00 the day
before). docs/assumptions.md says the same.

Per window: average, minimum and maximum price; `volume_aggregated`, the mean of the 24-hour
volume readings in the window (CoinGecko gives 24h volumes, which cannot be summed over
intervals: see docs/assumptions.md); `chg_pct`, the percent change from the window's first to
its last price; and `sample_count`.

A bucket keeps count, sum, minimum, maximum and first price and the sum and count of its volume
readings, and ticks are added to it in event order: a streamed run gives exactly the values of
a batch run, in any chunking.
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
#: The bucket width (seconds) of each bucketed window; the 5-minute window is exact.
BUCKETS: dict[Window, int] = {Window.M30: 300, Window.M60: 300, Window.H24: 3600}
_EXACT = 300  # seconds of ticks kept for the exact 5-minute window
_BUCKET_FIELDS = ("end", "count", "sum", "min", "max", "first", "volume_sum", "volume_count")


@kernel
def _exact_kernel(timestamp, price, volume, start, seconds, out):  # type: ignore[no-untyped-def]
    """Aggregates of the windows (t - seconds, t] ending at ticks start.. (one row each)."""
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


@kernel
def _bucket_kernel(timestamp, price, volume, width, rows, used, spans, out):  # type: ignore[no-untyped-def]
    """Adds each tick to its bucket (rows: oldest first, `used` of them filled) and writes, per
    span, the aggregate of the buckets ending after (the tick's bucket end - span) to
    out[span, tick]. Returns how many rows are filled afterwards."""
    capacity = rows.shape[0]
    for i in range(timestamp.shape[0]):
        t, p, v = timestamp[i], price[i], volume[i]
        end = -(-t // width) * width
        if used == 0 or rows[used - 1, 0] != end:
            drop = 0  # buckets no window reaches any more
            while drop < used and rows[drop, 0] <= end - capacity * width:
                drop += 1
            for j in range(used - drop):
                rows[j, :] = rows[j + drop, :]
            used -= drop
            rows[used, 0], rows[used, 1], rows[used, 2] = end, 0.0, 0.0
            rows[used, 3], rows[used, 4], rows[used, 5] = p, p, p
            rows[used, 6], rows[used, 7] = 0.0, 0.0
            used += 1
        last = used - 1
        rows[last, 1] += 1.0
        rows[last, 2] += p
        if p < rows[last, 3]:
            rows[last, 3] = p
        if p > rows[last, 4]:
            rows[last, 4] = p
        if not np.isnan(v):
            rows[last, 6] += v
            rows[last, 7] += 1.0
        for k in range(spans.shape[0]):
            count, total, low, high = 0.0, 0.0, p, p
            first, volume_total, volume_count = p, 0.0, 0.0
            j = last
            while j >= 0 and rows[j, 0] > end - spans[k]:
                count += rows[j, 1]
                total += rows[j, 2]
                low = min(low, rows[j, 3])
                high = max(high, rows[j, 4])
                first = rows[j, 5]
                volume_total += rows[j, 6]
                volume_count += rows[j, 7]
                j -= 1
            out[k, i, 0] = total / count
            out[k, i, 1] = low
            out[k, i, 2] = high
            out[k, i, 3] = volume_total / volume_count if volume_count > 0 else np.nan
            out[k, i, 4] = (p / first - 1.0) * 100.0
            out[k, i, 5] = count
    return used


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


def _floats(values: list[Any]) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=float)


def _json_floats(values: np.ndarray) -> list[float | int | None]:
    """Whole numbers as ints (timestamps, counts: shorter JSON), NaN as null. A column of whole
    numbers (or of none) in one conversion: every tick stores a few hundred of them."""
    if np.isfinite(values).all():
        whole = values == np.floor(values)
        if whole.all() and (np.abs(values) < 2.0**53).all():  # exact as int64
            return values.astype(np.int64).tolist()  # type: ignore[no-any-return]
        if not whole.any():
            return values.tolist()  # type: ignore[no-any-return]
    return [None if v != v else int(v) if v.is_integer() else v for v in values.tolist()]


class WindowState:
    """What the windows of one coin need from earlier batches: the last five minutes of ticks
    and the buckets of the last hour and day (a bounded state at any tick rate)."""

    def __init__(self) -> None:
        self.ticks = np.zeros((0, 3))  # timestamp, price, volume of the last five minutes
        self.buckets = {
            width: np.zeros((max(int(w) * 60 // width for w, b in BUCKETS.items() if b == width),
                             len(_BUCKET_FIELDS)))
            for width in sorted(set(BUCKETS.values()))
        }  # fmt: skip
        self.used = dict.fromkeys(self.buckets, 0)

    def update(
        self, timestamp: np.ndarray, price: np.ndarray, volume: np.ndarray
    ) -> dict[Window, np.ndarray]:
        """Aggregates for each new tick (new ticks must be later than every earlier one)."""
        timestamp = np.ascontiguousarray(timestamp, dtype=np.int64)
        if len(timestamp) > 1 and np.any(np.diff(timestamp) <= 0):
            raise ValueError("tick timestamps must be strictly increasing (drop duplicates first)")
        price = np.ascontiguousarray(price, dtype=np.float64)
        volume = np.ascontiguousarray(volume, dtype=np.float64)
        kept = len(self.ticks)
        all_ts = np.concatenate([self.ticks[:, 0].astype(np.int64), timestamp])
        all_price = np.concatenate([self.ticks[:, 1], price])
        all_volume = np.concatenate([self.ticks[:, 2], volume])
        result = {Window.M5: np.empty((len(timestamp), len(FIELDS)))}
        _exact_kernel(all_ts, all_price, all_volume, kept, _EXACT, result[Window.M5])
        if len(all_ts):
            recent = all_ts > all_ts[-1] - _EXACT
            self.ticks = np.column_stack([all_ts[recent], all_price[recent], all_volume[recent]])
        for width, rows in self.buckets.items():
            windows = [w for w, b in BUCKETS.items() if b == width]
            spans = np.array([int(w) * 60 for w in windows], dtype=np.int64)
            out = np.empty((len(windows), len(timestamp), len(FIELDS)))
            self.used[width] = _bucket_kernel(
                timestamp, price, volume, width, rows, self.used[width], spans, out
            )
            result.update(zip(windows, out, strict=True))
        return {w: result[w] for w in WINDOWS}

    @property
    def last_timestamp(self) -> int | None:
        return int(self.ticks[-1, 0]) if len(self.ticks) else None

    def to_json(self) -> dict[str, Any]:
        """Columns, not rows: similar numbers side by side compress better."""
        return {
            "ticks": [_json_floats(column) for column in self.ticks.T],
            "buckets": {
                str(width): [_json_floats(column) for column in rows[: self.used[width]].T]
                for width, rows in self.buckets.items()
            },
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> WindowState:
        state = cls()
        state.ticks = np.column_stack([_floats(c) for c in data["ticks"]]).reshape(-1, 3)
        for width, rows in state.buckets.items():
            columns = data["buckets"][str(width)]
            stored = np.column_stack([_floats(c) for c in columns]).reshape(-1, rows.shape[1])
            rows[: len(stored)] = stored
            state.used[width] = len(stored)
        return state


def rolling_windows(
    timestamp: np.ndarray, price: np.ndarray, volume: np.ndarray
) -> dict[Window, np.ndarray]:
    """For every tick of a series: one (n, 6) array per window, columns as in FIELDS."""
    return WindowState().update(timestamp, price, volume)


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
