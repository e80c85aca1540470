"""`DashboardReader`: the dashboard's only access to data, reading the pipeline's DynamoDB tables.

Table names, endpoint and region come from `AwsSettings.from_env()` (AWS_ENDPOINT_URL points at
the local emulator; unset, it is AWS). Each `refresh()` is incremental, so a page that refreshes
every few seconds stays cheap with 24 hours x 50 coins of 1-minute ticks:

- the aggregates table (4 items per coin) is scanned whole: it names the coins and, through
  `window_end`, each coin's newest tick time;
- per coin, raw ticks are queried only from shortly before the newest one already held (and,
  once, back to the start of the history the page asked for), projecting just time, price and
  24h volume;
- per coin, signals come from the `crypto_id-timestamp-index` GSI, the same way.

Coins are read in parallel threads (boto3 clients are thread-safe). Anything that goes wrong
becomes a `DataUnavailableError` whose message says what to do, never a traceback on the page.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from cryptosignals.aws.config import AwsSettings
from cryptosignals.dashboard.market import Market, Span
from cryptosignals.errors import CryptoSignalsError
from cryptosignals.model import Signal, SignalType, TickSeries
from cryptosignals.windows import Aggregate, Window

SIGNALS_INDEX = "crypto_id-timestamp-index"
#: Each refresh reads this much before a coin's newest held tick again (see `_update_coin`).
OVERLAP_SECONDS = 600


class DataUnavailableError(CryptoSignalsError):
    """The tables cannot be read; the message is meant for the page."""


def _number(attribute: dict[str, str] | None) -> float:
    return float(attribute["N"]) if attribute and "N" in attribute else float("nan")


def _plain(value: dict[str, Any]) -> Any:
    """A DynamoDB attribute value -> Python (numbers as float/int), enough for our items."""
    if "N" in value:
        number = float(value["N"])
        return int(number) if number.is_integer() and "." not in value["N"] else number
    if "S" in value:
        return value["S"]
    if "M" in value:
        return {k: _plain(v) for k, v in value["M"].items()}
    if "NULL" in value:
        return None
    if "BOOL" in value:
        return value["BOOL"]
    if "L" in value:
        return [_plain(v) for v in value["L"]]
    return None


def _aggregate(item: dict[str, Any]) -> Aggregate | None:
    try:
        data = {k: _plain(v) for k, v in item.items()}
        volume = data.get("volume_aggregated")
        return Aggregate(
            crypto_id=data["crypto_id"],
            time_window=Window(int(data["time_window"])),
            window_end=int(data["window_end"]),
            avg_price=float(data["avg_price"]),
            min_price=float(data["min_price"]),
            max_price=float(data["max_price"]),
            volume_aggregated=None if volume is None else float(volume),
            chg_pct=float(data["chg_pct"]),
            sample_count=int(data["sample_count"]),
        )
    except (KeyError, ValueError, TypeError):
        return None  # an item of another shape: not ours to show


def _signal(item: dict[str, Any]) -> Signal | None:
    try:
        data = {k: _plain(v) for k, v in item.items()}
        return Signal(
            crypto_id=data["crypto_id"],
            timestamp=int(data["timestamp"]),
            signal_type=SignalType(data["signal_type"]),
            rule=data["rule"],
            timeframe=data.get("timeframe", ""),
            price=float(data["price"]),
            confidence_score=float(data["confidence_score"]),
            details={k: float(v) for k, v in (data.get("details") or {}).items()},
        )
    except (KeyError, ValueError, TypeError):
        return None


def explain(exc: Exception, settings: AwsSettings) -> str:
    """One sentence for the page: what failed and what to do about it."""
    from botocore.exceptions import (
        ClientError,
        ConnectTimeoutError,
        EndpointConnectionError,
        NoCredentialsError,
        ReadTimeoutError,
    )

    where = settings.endpoint_url or f"AWS ({settings.region})"
    if isinstance(exc, EndpointConnectionError | ConnectTimeoutError | ReadTimeoutError):
        hint = (
            " Is the local emulator running (AWS_ENDPOINT_URL)?"
            if settings.endpoint_url
            else " Check the network and AWS_REGION."
        )
        return f"Cannot reach DynamoDB at {where}.{hint}"
    if isinstance(exc, NoCredentialsError):
        return "No AWS credentials in the environment (AWS_ACCESS_KEY_ID / AWS_PROFILE)."
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = error.get("Code", "")
        if code == "ResourceNotFoundException":
            return (
                f"A table of the pipeline does not exist at {where}: deploy the stack first "
                f"(tables: {settings.raw_table}, {settings.aggregated_table}, "
                f"{settings.signals_table})."
            )
        return f"DynamoDB at {where} refused the read: {code}: {error.get('Message', '')}"
    return f"Reading DynamoDB at {where} failed: {type(exc).__name__}: {exc}"


@dataclass
class _CoinCache:
    timestamp: np.ndarray
    price: np.ndarray
    volume: np.ndarray
    covered_from: int  # ticks after this time are all held
    signals: dict[str, Signal]
    signals_from: int
    last_signal: int


def _empty_cache(start: int) -> _CoinCache:
    return _CoinCache(
        np.zeros(0, np.int64), np.zeros(0), np.zeros(0), start, {}, start, start
    )  # fmt: skip


class DashboardReader:
    """Reads the pipeline's tables into a `Market` snapshot, incrementally and thread-safely."""

    def __init__(
        self,
        settings: AwsSettings | None = None,
        client: Any = None,
        history: int = Span.H24,
        max_workers: int = 8,
    ) -> None:
        self.settings = settings or AwsSettings.from_env()
        self._client = client
        self.history = int(history)
        self._max_workers = max_workers
        self._cache: dict[str, _CoinCache] = {}
        self._lock = threading.Lock()
        self._refresh_lock = threading.Lock()
        self.market = Market()

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3
            import botocore.config

            config = botocore.config.Config(
                retries={"max_attempts": 2, "mode": "standard"},
                connect_timeout=3,
                read_timeout=20,
                max_pool_connections=max(10, self._max_workers + 2),
            )
            self._client = boto3.client(
                "dynamodb",
                endpoint_url=self.settings.endpoint_url,
                region_name=self.settings.region,
                config=config,
            )
        return self._client

    def want_history(self, seconds: int) -> None:
        """Keep at least this much history (a longer span was chosen); the next refresh reads
        the missing older part once."""
        with self._lock:
            self.history = max(self.history, int(seconds))

    # -- DynamoDB pages ----------------------------------------------------------------------
    def _pages(self, call: Callable[..., Any], **kwargs: Any) -> Iterator[dict[str, Any]]:
        while True:
            response = call(**kwargs)
            yield from response.get("Items", [])
            if "LastEvaluatedKey" not in response:
                return
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def _aggregates(self) -> list[Aggregate]:
        items = self._pages(self.client.scan, TableName=self.settings.aggregated_table)
        return [a for a in map(_aggregate, items) if a is not None]

    def _ticks(self, coin: str, after: int, until: int | None) -> tuple[np.ndarray, ...]:
        values: dict[str, Any] = {":c": {"S": coin}, ":a": {"N": str(after)}}
        condition = "crypto_id = :c AND loading_time > :a"
        if until is not None:
            condition = "crypto_id = :c AND loading_time BETWEEN :a AND :u"
            values = {":c": {"S": coin}, ":a": {"N": str(after + 1)}, ":u": {"N": str(until)}}
        items = list(
            self._pages(
                self.client.query,
                TableName=self.settings.raw_table,
                KeyConditionExpression=condition,
                ExpressionAttributeValues=values,
                ProjectionExpression="loading_time, price, volume_24h",
            )
        )
        ts = np.array([int(i["loading_time"]["N"]) for i in items], dtype=np.int64)
        price = np.array([_number(i.get("price")) for i in items])
        volume = np.array([_number(i.get("volume_24h")) for i in items])
        return ts, price, volume

    def _signals(self, coin: str, after: int, until: int | None) -> list[Signal]:
        values: dict[str, Any] = {":c": {"S": coin}, ":a": {"N": str(after + 1)}}
        condition = "crypto_id = :c AND #t >= :a"
        if until is not None:
            condition = "crypto_id = :c AND #t BETWEEN :a AND :u"
            values[":u"] = {"N": str(until)}
        items = self._pages(
            self.client.query,
            TableName=self.settings.signals_table,
            IndexName=SIGNALS_INDEX,
            KeyConditionExpression=condition,
            ExpressionAttributeNames={"#t": "timestamp"},
            ExpressionAttributeValues=values,
        )
        return [s for s in map(_signal, items) if s is not None]

    # -- one coin ----------------------------------------------------------------------------
    def _update_coin(self, coin: str, start: int, cache: _CoinCache | None) -> _CoinCache:
        """The coin's cache brought up to date for history from `start` (exclusive)."""
        cache = cache or _empty_cache(start)
        parts_ts, parts_price, parts_volume = [cache.timestamp], [cache.price], [cache.volume]
        if start < cache.covered_from:  # a longer span was asked for: read the older part once
            ts, price, volume = self._ticks(coin, start, cache.covered_from)
            parts_ts.insert(0, ts)
            parts_price.insert(0, price)
            parts_volume.insert(0, volume)
        newest = int(cache.timestamp[-1]) if len(cache.timestamp) else cache.covered_from
        # Re-read the last few minutes: a batch write is not atomic, so a tick may become
        # visible after a later one; the overlap catches it (the fresh read replaces them).
        after = max(cache.covered_from, newest - OVERLAP_SECONDS)
        ts, price, volume = self._ticks(coin, after, None)
        held = np.concatenate(parts_ts) <= after
        parts_ts = [np.concatenate(parts_ts)[held]]
        parts_price = [np.concatenate(parts_price)[held]]
        parts_volume = [np.concatenate(parts_volume)[held]]
        parts_ts.append(ts)
        parts_price.append(price)
        parts_volume.append(volume)
        timestamp = np.concatenate(parts_ts)
        price, volume = np.concatenate(parts_price), np.concatenate(parts_volume)
        keep = timestamp > start
        signals = dict(cache.signals)
        if start < cache.signals_from:
            signals.update({s.signal_id: s for s in self._signals(coin, start, cache.signals_from)})
        for s in self._signals(coin, cache.last_signal, None):
            signals[s.signal_id] = s
        # A signal may be stored after ticks later than it (a bar closes on a later tick): the
        # last hour of signals is read again each time so none is missed; ids deduplicate.
        last_signal = max([cache.last_signal, *[s.timestamp for s in signals.values()]])
        signals = {k: s for k, s in signals.items() if s.timestamp > start}
        return _CoinCache(
            timestamp[keep],
            price[keep],
            volume[keep],
            start,
            signals,
            start,
            max(start, last_signal - 3600),
        )

    # -- the snapshot ------------------------------------------------------------------------
    def refresh(self) -> Market:
        """Read what is new and return the updated snapshot (also kept in `self.market`)."""
        with self._refresh_lock:
            try:
                aggregates = self._aggregates()
                coins = sorted({a.crypto_id for a in aggregates}) or list(
                    self.settings.tracked_coins
                )
                newest = [a.window_end for a in aggregates]
                anchor = max(newest) if newest else None
                with self._lock:
                    cache = dict(self._cache)
                    history = self.history
                if anchor is None:
                    anchor = max(
                        (int(c.timestamp[-1]) for c in cache.values() if len(c.timestamp)),
                        default=0,
                    )
                start = anchor - history if anchor else 0
                with ThreadPoolExecutor(max_workers=self._max_workers) as pool:
                    updated = dict(
                        zip(
                            coins,
                            pool.map(lambda c: self._update_coin(c, start, cache.get(c)), coins),
                            strict=True,
                        )
                    )
            except CryptoSignalsError:
                raise
            except Exception as exc:
                raise DataUnavailableError(explain(exc, self.settings)) from exc
            with self._lock:
                self._cache = updated
                self.market = Market(
                    series={
                        coin: TickSeries(
                            coin, c.timestamp, c.price, c.volume,
                            np.full(len(c.timestamp), np.nan), np.full(len(c.timestamp), np.nan),
                        )
                        for coin, c in updated.items()
                    },
                    signals=sorted(
                        (s for c in updated.values() for s in c.signals.values()),
                        key=lambda s: (s.timestamp, s.crypto_id, s.rule),
                    ),
                    aggregates=aggregates,
                )  # fmt: skip
                return self.market
