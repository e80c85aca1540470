"""Candle files, and the one way candles become ticks.

A candle file is gzip-or-plain CSV `timestamp,open,high,low,close,volume`, timestamp = the
candle's open time in unix milliseconds, volume = traded value in USD during the candle.

`candles_to_ticks` is the single bridge from candles to the engine's input. The replay server
serves the same ticks over HTTP, so `cryptosignals analyze FILE` and the pipeline over the same
file replayed see identical ticks and emit identical signals:

- price: the candle's close, at its close time (open time + interval);
- volume_24h: the sum of the volumes of the candles that closed in the 24 hours up to that time
  (CoinGecko's `usd_24h_vol` semantics); NaN until a full day of candles is known;
- change_24h: percent change against the price 24 hours earlier; NaN until known;
- market_cap: price times a documented circulating supply, NaN for coins without one.
"""

from __future__ import annotations

import csv
import gzip
import io
import math
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from cryptosignals.errors import BadInputError
from cryptosignals.model import TickSeries

COLUMNS = ("timestamp", "open", "high", "low", "close", "volume")
DAY_SECONDS = 86_400

#: Approximate circulating supply (coins) in mid-2025, from CoinGecko's coin pages. Only used
#: to give replayed ticks a plausible market cap; no signal depends on it.
CIRCULATING_SUPPLY: dict[str, float] = {
    "bitcoin": 19_880_000,
    "ethereum": 120_700_000,
    "solana": 525_000_000,
    "cardano": 35_400_000_000,
    "ripple": 58_900_000_000,
    "dogecoin": 149_500_000_000,
    "avalanche-2": 422_000_000,
    "chainlink": 657_000_000,
    "polkadot": 1_570_000_000,
    "litecoin": 75_900_000,
    "binancecoin": 140_900_000,
}

#: The coins of the bundled sample, the default set everywhere.
SAMPLE_COINS = ("bitcoin", "ethereum", "solana", "cardano")


@dataclass(frozen=True)
class Candles:
    """OHLCV candles of one instrument, open time ascending, as numpy columns."""

    timestamp: np.ndarray  # int64, open time, unix milliseconds
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray

    def __len__(self) -> int:
        return len(self.timestamp)

    def __getitem__(self, index: slice) -> Candles:
        return Candles(*(getattr(self, c)[index] for c in COLUMNS))

    @property
    def interval_ms(self) -> int:
        """The candle length: the most common gap between open times."""
        if len(self) < 2:
            raise BadInputError("at least two candles are needed to know their interval")
        gaps, counts = np.unique(np.diff(self.timestamp), return_counts=True)
        return int(gaps[np.argmax(counts)])


def sample_path(coin: str) -> Path:
    """The bundled 5-minute sample file of a coin (see data/README.md)."""
    path = Path(str(resources.files("cryptosignals") / "data" / f"{coin}_5m.csv.gz"))
    if not path.exists():
        raise BadInputError(
            f"no bundled sample for {coin!r}; bundled coins: {', '.join(SAMPLE_COINS)}"
        )
    return path


_FILE_COIN = re.compile(r"^(?P<coin>[a-z0-9][a-z0-9-]*)_\d+[mhdw]$")


def coin_of_file(path: Path | None, coin: str | None) -> str:
    """The coin a candle file holds: `coin` when given; else the `<coin>_<timeframe>` of its
    name (bitcoin_5m.csv.gz, as backfill writes them); bitcoin's sample when there is no file.
    A file whose name says nothing is an error, never silently bitcoin."""
    if coin:
        return coin
    if path is None:
        return "bitcoin"
    stem = Path(path).name.split(".")[0]
    match = _FILE_COIN.match(stem)
    if match is None:
        raise BadInputError(
            f"{Path(path).name}: cannot tell the coin from the file name (expected "
            "<coin>_<timeframe>.csv[.gz], e.g. bitcoin_5m.csv.gz): pass --coin"
        )
    return match["coin"]


def _open_text(path: Path) -> io.TextIOBase:
    if path.suffix == ".gz":
        return gzip.open(path, "rt", newline="")  # type: ignore[return-value]
    return open(path, newline="")


def read_candles(path: str | Path) -> Candles:
    """Read and validate a candle file; every problem names the file, the line and the cause."""
    path = Path(path)
    if not path.is_file():
        raise BadInputError(f"{path}: no such file")
    rows: list[list[float]] = []
    try:
        with _open_text(path) as handle:
            reader = csv.reader(handle)
            header = next(reader, None)
            if header is None:
                raise BadInputError(f"{path}: the file is empty")
            if tuple(h.strip().lower() for h in header) != COLUMNS:
                raise BadInputError(
                    f"{path}:1: expected columns {','.join(COLUMNS)}, found {','.join(header)}"
                )
            previous = -math.inf
            for line, row in enumerate(reader, start=2):
                if not row:
                    continue
                rows.append(_parse_row(path, line, row, previous))
                previous = rows[-1][0]
    except (OSError, EOFError, UnicodeDecodeError, gzip.BadGzipFile) as exc:
        raise BadInputError(f"{path}: cannot read the file ({exc})") from exc
    if not rows:
        raise BadInputError(f"{path}: the file has a header but no candles")
    table = np.array(rows, dtype=float)
    return Candles(table[:, 0].astype(np.int64), *(table[:, i] for i in range(1, 6)))


def _parse_row(path: Path, line: int, row: list[str], previous: float) -> list[float]:
    where = f"{path}:{line}"
    if len(row) != len(COLUMNS):
        raise BadInputError(f"{where}: expected {len(COLUMNS)} fields, found {len(row)}")
    values = []
    for name, text in zip(COLUMNS, row, strict=True):
        try:
            value = float(text)
        except ValueError:
            raise BadInputError(f"{where}: {name} is not a number: {text!r}") from None
        if not math.isfinite(value):
            raise BadInputError(f"{where}: {name} is not finite: {text!r}")
        if value < 0 or (value == 0 and name not in ("volume",)):
            raise BadInputError(f"{where}: {name} must be positive, found {text!r}")
        values.append(value)
    timestamp, open_, high, low, close, _ = values
    if not timestamp.is_integer():
        raise BadInputError(f"{where}: timestamp must be integer unix milliseconds: {row[0]!r}")
    if timestamp == previous:
        raise BadInputError(f"{where}: duplicate timestamp {int(timestamp)}")
    if timestamp < previous:
        raise BadInputError(
            f"{where}: timestamps are not sorted ({int(timestamp)} after {int(previous)})"
        )
    if not low <= min(open_, close) <= max(open_, close) <= high:
        raise BadInputError(f"{where}: prices violate low <= open, close <= high")
    return values


def candles_to_ticks(crypto_id: str, candles: Candles) -> TickSeries:
    """The ticks a CoinGecko poller would have seen: one per candle, at its close time."""
    interval_s = candles.interval_ms // 1000
    close_time = candles.timestamp // 1000 + interval_s
    # Trailing 24h volume: candles whose close time lies in (t - 24h, t].
    cumulative = np.concatenate([[0.0], np.cumsum(candles.volume)])
    first = np.searchsorted(close_time, close_time - DAY_SECONDS, side="right")
    volume_24h = cumulative[1:] - cumulative[first]
    full_day = close_time - DAY_SECONDS >= close_time[0] - interval_s
    volume_24h = np.where(full_day, np.round(volume_24h, 2), np.nan)
    # Change against the price exactly 24h earlier (when a candle closed then).
    day_ago = np.searchsorted(close_time, close_time - DAY_SECONDS)
    known = (day_ago < len(close_time)) & (
        close_time[np.minimum(day_ago, len(close_time) - 1)] == close_time - DAY_SECONDS
    )
    change_24h = np.full(len(candles), np.nan)
    previous = candles.close[day_ago[known]]
    change_24h[known] = (candles.close[known] / previous - 1.0) * 100.0
    supply = CIRCULATING_SUPPLY.get(crypto_id, math.nan)
    return TickSeries(
        crypto_id=crypto_id,
        timestamp=close_time.astype(np.int64),
        price=candles.close.astype(float),
        volume_24h=volume_24h,
        market_cap=candles.close * supply,
        change_24h=change_24h,
    )
