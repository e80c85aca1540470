"""`DashboardReader`: the dashboard's only access to data, reading the pipeline's DynamoDB tables.

Table names, endpoint and region come from `AwsSettings.from_env()` (AWS_ENDPOINT_URL points at
the local emulator; unset, it is AWS). Each `refresh()` is incremental, so a page that refreshes
every few seconds stays cheap with 24 hours x 50 coins of 1-minute ticks:

- the aggregates table (4 items per coin) is scanned whole: it names the coins and, through
  `window_end`, each coin's newest tick time; the 60-minute item's `risk` map (the latest risk
  forecast and regime, stored by the process function) becomes `Market.risk`, its `market` map
  (the coin's beta to bitcoin and the market's breadth, stored since the market context is
  streamed) `Market.context`;
- a coin whose newest aggregate is no newer than its newest held tick is not queried at all;
  otherwise its raw ticks are queried from shortly before the newest one held, and its signals
  from the `crypto_id-timestamp-index` GSI the same way;
- older history (a first load, or a longer span chosen) is read in chunks within a time budget
  per refresh, so a first page appears quickly even on a slow backend;
- the market-wide alerts, signals of the pseudo-coin "market" (`cryptosignals.market.MARKET_ID`,
  which has no ticks or aggregates of its own), are queried from the same index: the held span
  once, then from an hour before the previous refresh's newest tick whenever some coin changed.

Coins are read in parallel threads (boto3 clients are thread-safe). Anything that goes wrong
becomes a `DataUnavailableError` whose message says what to do, never a traceback on the page.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from cryptosignals.aws.config import AwsSettings
from cryptosignals.aws.dynamo import all_items
from cryptosignals.dashboard.market import Market, Span
from cryptosignals.errors import CryptoSignalsError
from cryptosignals.market import MARKET_ID
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


#: The maps stored on the 60-minute aggregates, per coin: risk, market context.
_Stored = tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]


def _risk(item: dict[str, Any], key: str = "risk") -> tuple[str, dict[str, Any]] | None:
    """(coin, the stored map `key`) of a 60-minute aggregate item that carries one (the process
    function stores the latest forecast and regime there as `risk`, the market context as
    `market`), else None."""
    try:
        if int(_plain(item["time_window"])) != Window.M60 or "M" not in item.get(key, {}):
            return None
        return str(_plain(item["crypto_id"])), _plain(item[key])
    except (KeyError, ValueError, TypeError):
        return None


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
            evaluation_horizon=data.get("evaluation_horizon"),
            evidence={k: float(v) for k, v in (data.get("evidence") or {}).items()},
            actionable=bool(data.get("actionable", False)),
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


@dataclass(frozen=True)
class _CoinCache:
    """What is held of one coin: every tick and signal with time > covered_from."""

    timestamp: np.ndarray
    price: np.ndarray
    volume: np.ndarray
    signals: dict[str, Signal]
    covered_from: int

    @property
    def newest(self) -> int | None:
        return int(self.timestamp[-1]) if len(self.timestamp) else None

    def trimmed(self, start: int) -> _CoinCache:
        keep = self.timestamp > start
        return _CoinCache(
            self.timestamp[keep], self.price[keep], self.volume[keep],
            {k: v for k, v in self.signals.items() if v.timestamp > start},
            max(start, self.covered_from),
        )  # fmt: skip


class DashboardReader:
    """Reads the pipeline's tables into a `Market` snapshot, incrementally and thread-safely.

    `history`: seconds kept before the newest tick (the longest span asked for). A coin seen
    for the first time is read from FIRST_READ_SECONDS back; older ticks are then read in
    BACKFILL_SECONDS chunks, as many as fit in `budget` seconds per refresh (None: all at once),
    so the first page appears quickly even when the backend is slow; `loading` says whether
    some history is still missing."""

    FIRST_READ_SECONDS = 3600
    BACKFILL_SECONDS = 6 * 3600

    def __init__(
        self,
        settings: AwsSettings | None = None,
        client: Any = None,
        history: int = Span.H24,
        max_workers: int = 8,
        budget: float | None = 2.0,
    ) -> None:
        self.settings = settings or AwsSettings.from_env()
        self._client = client
        self.history = int(history)
        self.budget = budget
        self._max_workers = max_workers
        self._cache: dict[str, _CoinCache] = {}
        self._lock = threading.Lock()
        self._refresh_lock = threading.Lock()
        self.market = Market()
        self.loading = False
        self._changed: set[str] = set()
        # the market's alerts held, and the time after which they are all held
        self._alerts: dict[str, Signal] = {}
        self._alerts_from: int | None = None
        self._alerts_anchor = 0

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
        """Keep at least this much history (a longer span was chosen); the next refreshes read
        the missing older part."""
        with self._lock:
            self.history = max(self.history, int(seconds))

    def _aggregates(self) -> tuple[list[Aggregate], _Stored]:
        """Every aggregate, and the risk and market maps stored on each coin's 60-minute one."""
        items = list(all_items(self.client, "scan", TableName=self.settings.aggregated_table))
        stored = tuple(
            dict(r for r in (_risk(item, key) for item in items) if r is not None)
            for key in ("risk", "market")
        )
        return [a for a in map(_aggregate, items) if a is not None], (stored[0], stored[1])

    def _ticks(self, coin: str, after: int, until: int | None) -> tuple[np.ndarray, ...]:
        """Raw ticks with after < time (<= until)."""
        values: dict[str, Any] = {":c": {"S": coin}, ":a": {"N": str(after)}}
        condition = "crypto_id = :c AND loading_time > :a"
        if until is not None:
            condition = "crypto_id = :c AND loading_time BETWEEN :a AND :u"
            values = {":c": {"S": coin}, ":a": {"N": str(after + 1)}, ":u": {"N": str(until)}}
        items = list(
            all_items(
                self.client,
                "query",
                TableName=self.settings.raw_table,
                KeyConditionExpression=condition,
                ExpressionAttributeValues=values,
            )
        )
        ts = np.array([int(i["loading_time"]["N"]) for i in items], dtype=np.int64)
        price = np.array([_number(i.get("price")) for i in items])
        volume = np.array([_number(i.get("volume_24h")) for i in items])
        return ts, price, volume

    def _signals(self, coin: str, after: int, until: int | None) -> dict[str, Signal]:
        """Signals with after < time (<= until), by id."""
        values: dict[str, Any] = {":c": {"S": coin}, ":a": {"N": str(after + 1)}}
        condition = "crypto_id = :c AND #t >= :a"
        if until is not None:
            condition = "crypto_id = :c AND #t BETWEEN :a AND :u"
            values[":u"] = {"N": str(until)}
        items = all_items(
            self.client,
            "query",
            TableName=self.settings.signals_table,
            IndexName=SIGNALS_INDEX,
            KeyConditionExpression=condition,
            ExpressionAttributeNames={"#t": "timestamp"},
            ExpressionAttributeValues=values,
        )
        return {s.signal_id: s for s in map(_signal, items) if s is not None}

    # -- one coin ----------------------------------------------------------------------------
    def _latest_ticks(self, keys: dict[str, int]) -> dict[str, tuple[np.ndarray, ...]]:
        """The ticks at known (coin, time) keys, by BatchGetItem: one call per 100 coins, cheap
        whatever the table's size. Keys not returned are left out (the caller queries them)."""
        found: dict[str, tuple[np.ndarray, ...]] = {}
        table = self.settings.raw_table
        pending = [
            {"crypto_id": {"S": coin}, "loading_time": {"N": str(t)}} for coin, t in keys.items()
        ]
        for begin in range(0, len(pending), 100):
            request: dict[str, Any] = {table: {"Keys": pending[begin : begin + 100]}}
            for _ in range(3):
                response = self.client.batch_get_item(RequestItems=request)
                for item in response.get("Responses", {}).get(table, []):
                    found[item["crypto_id"]["S"]] = (
                        np.array([int(item["loading_time"]["N"])], dtype=np.int64),
                        np.array([_number(item.get("price"))]),
                        np.array([_number(item.get("volume_24h"))]),
                    )
                request = response.get("UnprocessedKeys") or {}
                if not request:
                    break
        return found

    def _forward(
        self,
        coin: str,
        cache: _CoinCache | None,
        start: int,
        anchor: int,
        tick: tuple[np.ndarray, ...] | None = None,
    ) -> _CoinCache:
        """The coin's new ticks (`tick` when it is known to be the only one) and signals.

        Otherwise re-reads OVERLAP_SECONDS of ticks (a batch write is not atomic: a tick may
        become visible after a later one) and an hour of signals (a bar's signal is stored with
        a later tick); the fresh read replaces what it covers."""
        if cache is None:
            first = max(start, anchor - self.FIRST_READ_SECONDS)
            ts, price, volume = self._ticks(coin, first, None)
            return _CoinCache(ts, price, volume, self._signals(coin, first, None), first)
        newest = cache.newest if cache.newest is not None else cache.covered_from
        after = max(cache.covered_from, newest - OVERLAP_SECONDS)
        if tick is not None:
            ts, price, volume = tick
            after = newest
        else:
            ts, price, volume = self._ticks(coin, after, None)
        held = cache.timestamp <= after
        signals = dict(cache.signals)
        signals.update(self._signals(coin, max(cache.covered_from, newest - 3600), None))
        return _CoinCache(
            np.concatenate([cache.timestamp[held], ts]),
            np.concatenate([cache.price[held], price]),
            np.concatenate([cache.volume[held], volume]),
            signals,
            cache.covered_from,
        )

    def _backfill(self, coin: str, cache: _CoinCache, start: int) -> _CoinCache:
        """One older chunk of the coin's history (down to `start`)."""
        until = cache.covered_from
        after = max(start, until - self.BACKFILL_SECONDS)
        ts, price, volume = self._ticks(coin, after, until)
        signals = self._signals(coin, after, until)
        signals.update(cache.signals)
        return _CoinCache(
            np.concatenate([ts, cache.timestamp]),
            np.concatenate([price, cache.price]),
            np.concatenate([volume, cache.volume]),
            signals,
            after,
        )

    # -- the snapshot ------------------------------------------------------------------------
    def refresh(self) -> Market:
        """Read what is new (and some missing history) and return the updated snapshot, also
        kept in `self.market`. Coins whose newest aggregate is not newer than their newest held
        tick are not queried at all."""
        with self._refresh_lock:
            started = time.monotonic()
            try:
                cache, aggregates, stored, alerts = self._read(started)
            except CryptoSignalsError:
                raise
            except Exception as exc:
                raise DataUnavailableError(explain(exc, self.settings)) from exc
            return self._publish(cache, aggregates, stored, alerts)

    def _market_alerts(self, start: int, anchor: int, changed: bool) -> dict[str, Signal]:
        """The market's alerts with time > start: the whole span the first time (and the older
        part when a longer one is wanted), then, when some coin changed, from an hour before the
        previous refresh's newest tick (the process function stores a batch's market alerts
        with its coins' ticks and aggregates; an alert's bar settles minutes after its time)."""
        alerts = {k: s for k, s in self._alerts.items() if s.timestamp > start}
        if self._alerts_from is None or start < self._alerts_from:
            alerts.update(self._signals(MARKET_ID, start, self._alerts_from))
        elif changed:
            alerts.update(self._signals(MARKET_ID, max(start, self._alerts_anchor - 3600), None))
        self._alerts_from = start  # every alert after it is held now
        self._alerts_anchor = anchor
        self._alerts = alerts
        return alerts

    def _read(
        self, started: float
    ) -> tuple[dict[str, _CoinCache], list[Aggregate], _Stored, dict[str, Signal]]:
        aggregates, stored = self._aggregates()
        newest: dict[str, int] = {}
        for a in aggregates:
            newest[a.crypto_id] = max(newest.get(a.crypto_id, 0), a.window_end)
        coins = sorted(newest) or list(self.settings.tracked_coins)
        with self._lock:
            cache = {c: self._cache[c] for c in coins if c in self._cache}
            history = self.history
        held = [c.newest for c in cache.values() if c.newest is not None]
        anchor = max([*newest.values(), *held], default=0)
        start = anchor - history
        # A coin that changed last time is read once more: the process function stores a
        # batch's signals after its aggregates, so a refresh in between would miss them.
        advanced = {
            c for c in coins if c not in cache or newest.get(c, anchor) > (cache[c].newest or 0)
        }
        changed = sorted(advanced | (self._changed & set(coins)))
        self._changed = advanced
        single = self._latest_ticks(self._one_new_tick(advanced, cache, aggregates))
        nothing = (np.zeros(0, np.int64), np.zeros(0), np.zeros(0))
        for coin in self._complete(set(changed) - advanced, cache, aggregates):
            single[coin] = nothing  # its ticks are all held: only its signals are read again
        with ThreadPoolExecutor(max_workers=self._max_workers) as pool:
            for coin, updated in zip(
                changed,
                pool.map(
                    lambda c: self._forward(c, cache.get(c), start, anchor, single.get(c)),
                    changed,
                ),
                strict=True,
            ):
                cache[coin] = updated
            cache = {c: v.trimmed(start) for c, v in cache.items()}
            first_read = bool(advanced - set(self._cache))
            while True:  # older chunks, at least one per refresh unless coins were new
                missing = [c for c, v in cache.items() if v.covered_from > start]
                over = self.budget is not None and time.monotonic() - started > self.budget
                if not missing or (over and first_read):
                    break
                for coin, updated in zip(
                    missing,
                    pool.map(lambda c: self._backfill(c, cache[c], start), missing),
                    strict=True,
                ):
                    cache[coin] = updated
                first_read = True
        self.loading = any(v.covered_from > start for v in cache.values())
        return cache, aggregates, stored, self._market_alerts(start, anchor, bool(changed))

    @staticmethod
    def _one_new_tick(
        coins: set[str], cache: dict[str, _CoinCache], aggregates: list[Aggregate]
    ) -> dict[str, int]:
        """Coins whose only new tick is the one at their newest aggregate's end, with its time.

        The 60-minute aggregate counts the ticks in (end - 1h, end]: if that is the held ones in
        that hour plus one, the tick at `end` is the only one missing, and one BatchGetItem for
        all such coins replaces a query per coin (in the steady state of a live pipeline, every
        coin). Anything else (a gap, a late tick) falls back to the query."""
        keys = {}
        for a in aggregates:
            held = cache.get(a.crypto_id)
            if a.time_window != Window.M60 or a.crypto_id not in coins or held is None:
                continue
            end = a.window_end
            if held.newest is None or held.newest >= end or held.covered_from > end - 3600:
                continue
            if int(np.sum(held.timestamp > end - 3600)) + 1 == a.sample_count:
                keys[a.crypto_id] = end
        return keys

    @staticmethod
    def _complete(
        coins: set[str], cache: dict[str, _CoinCache], aggregates: list[Aggregate]
    ) -> set[str]:
        """Coins whose held ticks of the last hour are exactly the 60-minute aggregate's."""
        complete = set()
        for a in aggregates:
            held = cache.get(a.crypto_id)
            if a.time_window != Window.M60 or a.crypto_id not in coins or held is None:
                continue
            end = a.window_end
            hour = int(np.sum(held.timestamp > end - 3600))
            if held.newest == end and held.covered_from <= end - 3600 and hour == a.sample_count:
                complete.add(a.crypto_id)
        return complete

    def _publish(
        self,
        cache: dict[str, _CoinCache],
        aggregates: list[Aggregate],
        stored: _Stored,
        alerts: dict[str, Signal],
    ) -> Market:
        nan = np.full(0, np.nan)
        series = {}
        for coin, c in cache.items():
            nan = np.full(len(c.timestamp), np.nan)
            series[coin] = TickSeries(coin, c.timestamp, c.price, c.volume, nan, nan)
        signals = sorted(
            [*(s for c in cache.values() for s in c.signals.values()), *alerts.values()],
            key=lambda s: (s.timestamp, s.crypto_id, s.rule),
        )
        with self._lock:
            self._cache = cache
            self.market = Market(series, signals, aggregates, *stored)
            return self.market
