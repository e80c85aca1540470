"""The four DynamoDB tables, with every write idempotent (Kinesis delivers at least once).

- raw ticks: keyed (crypto_id, loading_time = event time); rewriting the same tick writes the
  same item. `expires_at` = event time + TTL days, so the item is the same whenever written.
- aggregates: one item per (crypto_id, time_window), the latest window; overwritten.
- signals: conditional put on signal_id (deterministic), so a signal is stored once;
  `put_signals` returns the ones not yet published (new, or stored by an attempt that crashed
  before publishing), and `mark_published` records the publication. So a redelivered batch
  neither duplicates a signal nor loses its event (at worst, one duplicate event if a crash
  falls between publishing and marking; events carry signal_id for consumers to drop it).
- engine state: one item per coin with a version; `put_state` succeeds only if the version is
  the one read (optimistic locking), else `StateConflictError` (retryable: redeliver the batch).
"""

from __future__ import annotations

import json
import math
import time
import zlib
from collections.abc import Iterable, Mapping
from decimal import Decimal
from importlib import resources
from typing import Any

import orjson
from boto3.dynamodb.types import DYNAMODB_CONTEXT, Binary, TypeDeserializer, TypeSerializer
from botocore.exceptions import BotoCoreError, ClientError

from cryptosignals.aws.config import AwsAdapter
from cryptosignals.aws.dynamo import _SMALLEST, all_items, from_dynamo, to_dynamo
from cryptosignals.aws.errors import classify
from cryptosignals.errors import BadInputError, RetryableError
from cryptosignals.model import Signal, Tick

DAY_SECONDS = 86_400
#: The engine-state item the ingest function keeps its per-coin last_updated_at in.
INGEST_CURSOR_ID = "_ingest"
#: The engine-state item of the process function's market tracker (one for all coins): read
#: and written like a coin's state (`get_states`, `put_state` with its version check).
MARKET_STATE_ID = "_market"
_BATCH_WRITE_LIMIT = 25
_BATCH_GET_LIMIT = 100

#: One put of a batch write: (table, its key attributes, the item).
_Put = tuple[str, tuple[str, ...], Mapping[str, Any]]

_serializer = TypeSerializer()
_LARGEST_INT = 10**38  # integers of up to 38 digits are stored as they are written
_deserializer = TypeDeserializer()


def _serialize(item: Mapping[str, Any]) -> dict[str, Any]:
    """An item in DynamoDB's typed form: `TypeSerializer` over `to_item`, value for value
    (tests/aws/test_item_serialization.py), in one pass instead of two generic walks: under
    half their CPU on the items of every tick (four aggregates, the raw tick, the state)."""
    return _typed_map(item)


def _typed_map(item: Mapping[str, Any]) -> dict[str, Any]:
    """A map's values typed; None and NaN left out, as `to_dynamo` does."""
    return {
        str(k): _typed(v)
        for k, v in item.items()
        if v is not None and not (isinstance(v, float) and v != v)
    }


def _typed(value: Any) -> dict[str, Any]:
    """One value in the typed form; the plain JSON types here, any other the generic way."""
    kind = type(value)
    if kind is float:
        if not math.isfinite(value):
            raise BadInputError(f"DynamoDB cannot store {value!r}")
        if abs(value) < _SMALLEST:
            return {"N": "0"}
        text = repr(value)
        if "e" in text:  # 1e-05, 1e+16: the decimal's own form (1E-5, 1E+16)
            return {"N": str(DYNAMODB_CONTEXT.create_decimal(Decimal(text)))}
        return {"N": text}  # 17 digits at most, a point and no exponent: as the decimal writes it
    if kind is str:
        return {"S": value}
    if kind is int and -_LARGEST_INT < value < _LARGEST_INT:
        return {"N": str(value)}
    if kind is dict:
        return {"M": _typed_map(value)}
    if kind is list or kind is tuple:
        return {"L": [_typed(v) for v in value]}
    return _serializer.serialize(to_dynamo(value))  # type: ignore[no-any-return]


def _deserialize(item: Mapping[str, Any]) -> dict[str, Any]:
    return from_dynamo({k: _deserializer.deserialize(v) for k, v in item.items()})  # type: ignore[no-any-return]


#: A typical engine state (another coin's, frozen): zlib's preset dictionary for every stored
#: state. A state is a few KB of JSON whose key names and layout repeat from coin to coin, which
#: a stream that small cannot learn from itself: the dictionary cuts ~20 % (5.06 -> 4.12 KB
#: for the bundled bitcoin sample, 4.9 -> 3.78 KB for ethereum). Never edit it without a new
#: STATE_VERSION: states stored with another could not be read (they start afresh). Made from
#: the bundled ethereum's state after 4,000 ticks (STATE_VERSION 7).
STATE_DICTIONARY = (resources.files("cryptosignals") / "data/state_dictionary.json").read_bytes()


def _dump_state(state: Mapping[str, Any]) -> bytes:
    """Engine state as compressed JSON (zlib with the preset dictionary). orjson writes it: a
    tenth of the CPU of `json` for the same values (every tick writes a state; docs/cost.md).
    The engine stores an unknown number as null itself (no NaN, which orjson would write as
    null too: tests/aws/test_process_state_reset.py)."""
    packer = zlib.compressobj(6, zdict=STATE_DICTIONARY)
    return packer.compress(orjson.dumps(state)) + packer.flush()


def _load_state(stored: Any) -> dict[str, Any]:
    """The reverse; a plain JSON string or plain zlib (older items) are read as they are, and
    JSON that is not strict (a NaN in a state `json` wrote) by `json`. A state compressed with
    another dictionary comes back as an unknown version, which the engine refuses, so the coin
    starts afresh (cryptosignals.engine.StateVersionError)."""
    if isinstance(stored, Binary):
        stored = stored.value
    if isinstance(stored, bytes | bytearray):
        try:
            unpacker = zlib.decompressobj(zdict=STATE_DICTIONARY)
            stored = unpacker.decompress(bytes(stored)) + unpacker.flush()
        except zlib.error as exc:
            return {"version": f"unreadable ({exc})"}
    try:
        return orjson.loads(stored)  # type: ignore[no-any-return]
    except orjson.JSONDecodeError:
        return json.loads(stored)  # type: ignore[no-any-return]


class StateConflictError(RetryableError):
    """Another invocation wrote this coin's engine state first; retry the batch."""


class StoredState:
    """A coin's engine state as read (or just written): the version a write must match (0 = none
    yet), the stored bytes (equal bytes are the same state to the bit, by which a warm process
    container knows that the item is still its own last write), and the state, decoded from the
    bytes when first asked for (that container never needs it: ~0.3 ms a coin and batch)."""

    def __init__(
        self,
        crypto_id: str,
        state: dict[str, Any] | None,
        version: int,
        stored: bytes | None = None,
    ) -> None:
        self.crypto_id, self.version, self.stored = crypto_id, version, stored
        self._state = state

    @property
    def state(self) -> dict[str, Any] | None:
        if self._state is None and self.stored is not None:
            self._state = _load_state(self.stored)
        return self._state

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, StoredState):
            return NotImplemented
        mine, theirs = (self.crypto_id, self.version), (other.crypto_id, other.version)
        return mine == theirs and self.state == other.state

    __hash__ = None  # type: ignore[assignment]  # mutable: its state is decoded when asked for

    def __repr__(self) -> str:
        return f"StoredState({self.crypto_id!r}, version={self.version})"


def raw_item(tick: Tick, ttl_days: int, source: str = "coingecko") -> dict[str, Any]:
    """The crypto_raw_data item of a tick (a pure function of the tick: idempotent)."""
    return {
        "crypto_id": tick.crypto_id,
        "loading_time": int(tick.timestamp),
        "price": tick.price,
        "market_cap": tick.market_cap,
        "volume_24h": tick.volume_24h,
        "change_24h": tick.change_24h,
        "source": source,
        "expires_at": int(tick.timestamp) + ttl_days * DAY_SECONDS,
    }


def signal_item(signal: Signal) -> dict[str, Any]:
    """The trading_signals item: the signal's JSON form (details as a map)."""
    return signal.to_json()


class Store(AwsAdapter):
    """Reads and writes of the pipeline's tables; clients come from `clients()` unless given."""

    service = "dynamodb"

    # -- writes ------------------------------------------------------------------------------
    def _batch_write(self, puts: Iterable[_Put]) -> int:
        """Put (table, key attributes, item) triples of any tables, 25 to a BatchWriteItem call,
        retrying unprocessed items with backoff; the same key twice keeps the last item."""
        unique = {
            (table, tuple(item[k] for k in keys)): (table, item) for table, keys, item in puts
        }
        requests = [(t, {"PutRequest": {"Item": _serialize(i)}}) for t, i in unique.values()]
        for start in range(0, len(requests), _BATCH_WRITE_LIMIT):
            by_table: dict[str, list[Any]] = {}
            for table, request in requests[start : start + _BATCH_WRITE_LIMIT]:
                by_table.setdefault(table, []).append(request)
            self._until_accepted(self._write, by_table, f"BatchWriteItem {', '.join(by_table)}")
        return len(unique)

    def _write(self, request: dict[str, list[Any]]) -> dict[str, list[Any]]:
        """One BatchWriteItem; what it left unprocessed."""
        try:
            response = self.client.batch_write_item(RequestItems=request)
        except (ClientError, BotoCoreError) as exc:
            raise classify(exc, f"BatchWriteItem {', '.join(request)}") from exc
        return response.get("UnprocessedItems") or {}

    def _tick_puts(self, ticks: Iterable[Tick], source: str) -> list[_Put]:
        keys = ("crypto_id", "loading_time")
        table, ttl = self.settings.raw_table, self.settings.raw_ttl_days
        return [(table, keys, raw_item(t, ttl, source)) for t in ticks]

    def _aggregate_puts(self, aggregates: Iterable[Any]) -> list[_Put]:
        table, keys = self.settings.aggregated_table, ("crypto_id", "time_window")
        items = [a.to_json() if hasattr(a, "to_json") else dict(a) for a in aggregates]
        return [(table, keys, item) for item in items]

    def put_ticks(self, ticks: Iterable[Tick], source: str = "coingecko") -> int:
        """Store raw ticks; the same tick twice stores the same item. Returns items written."""
        return self._batch_write(self._tick_puts(ticks, source))

    def put_aggregates(self, aggregates: Iterable[Any]) -> int:
        """Store the latest window per (coin, window); accepts Aggregate or its JSON form."""
        return self._batch_write(self._aggregate_puts(aggregates))

    def put_ticks_and_aggregates(
        self, ticks: Iterable[Tick], aggregates: Iterable[Any], source: str = "coingecko"
    ) -> int:
        """Both of a whole batch (any coins) together: one BatchWriteItem per 25 items."""
        return self._batch_write(self._tick_puts(ticks, source) + self._aggregate_puts(aggregates))

    def put_signals(self, signals: Iterable[Signal]) -> list[Signal]:
        """Store each signal once (conditional on its id); return those still to publish."""
        new = []
        for signal in signals:
            try:
                self.client.put_item(
                    TableName=self.settings.signals_table,
                    Item=_serialize(signal_item(signal)),
                    ConditionExpression=(
                        "attribute_not_exists(signal_id) OR attribute_not_exists(published_at)"
                    ),
                )
            except ClientError as exc:
                if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                    continue
                raise classify(exc, f"PutItem {self.settings.signals_table}") from exc
            except BotoCoreError as exc:
                raise classify(exc, f"PutItem {self.settings.signals_table}") from exc
            new.append(signal)
        return new

    def mark_published(self, signals: Iterable[Signal], at: int | None = None) -> None:
        """Record that these signals' events are on the bus (same items + published_at)."""
        stamp = int(time.time() if at is None else at)
        table, keys = self.settings.signals_table, ("signal_id", "timestamp")
        self._batch_write((table, keys, {**signal_item(s), "published_at": stamp}) for s in signals)

    # -- ingest cursor -----------------------------------------------------------------------
    def get_ingest_cursor(self) -> dict[str, int]:
        """coin -> last `last_updated_at` sent, so an unchanged quote is not sent twice."""
        try:
            response = self.client.get_item(
                TableName=self.settings.engine_state_table,
                Key={"crypto_id": {"S": INGEST_CURSOR_ID}},
                ConsistentRead=True,
            )
        except (ClientError, BotoCoreError) as exc:
            raise classify(exc, f"GetItem {self.settings.engine_state_table}") from exc
        if "Item" not in response:
            return {}
        state = json.loads(_deserialize(response["Item"])["state"])
        return {k: int(v) for k, v in state.items()}

    def put_ingest_cursor(self, cursor: Mapping[str, int]) -> None:
        item = {
            "crypto_id": INGEST_CURSOR_ID,
            "version": 0,
            "state": json.dumps(dict(sorted(cursor.items())), separators=(",", ":")),
            "updated_at": int(time.time()),
        }
        try:
            self.client.put_item(TableName=self.settings.engine_state_table, Item=_serialize(item))
        except (ClientError, BotoCoreError) as exc:
            raise classify(exc, f"PutItem {self.settings.engine_state_table}") from exc

    # -- engine state ------------------------------------------------------------------------
    def get_states(self, crypto_ids: Iterable[str]) -> dict[str, StoredState]:
        """Every requested coin's state in one BatchGetItem per 100 coins (consistent reads)."""
        ids = sorted(set(crypto_ids))
        found: dict[str, StoredState] = {i: StoredState(i, None, 0) for i in ids}
        table = self.settings.engine_state_table

        def read(request: dict[str, Any]) -> dict[str, Any]:
            try:
                response = self.client.batch_get_item(RequestItems=request)
            except (ClientError, BotoCoreError) as exc:
                raise classify(exc, f"BatchGetItem {table}") from exc
            for raw in response.get("Responses", {}).get(table, []):
                item = _deserialize(raw)
                stored = item["state"]
                stored = stored.value if isinstance(stored, Binary) else stored
                coin, version = item["crypto_id"], int(item["version"])
                found[coin] = (
                    StoredState(coin, None, version, stored)  # decoded when asked for
                    if isinstance(stored, bytes)
                    else StoredState(coin, _load_state(stored), version)  # an older plain item
                )
            return response.get("UnprocessedKeys") or {}

        for start in range(0, len(ids), _BATCH_GET_LIMIT):
            keys = [{"crypto_id": {"S": i}} for i in ids[start : start + _BATCH_GET_LIMIT]]
            request = {table: {"Keys": keys, "ConsistentRead": True}}
            self._until_accepted(read, request, f"BatchGetItem {table}")
        return found

    def get_state(self, crypto_id: str) -> StoredState:
        return self.get_states([crypto_id])[crypto_id]

    def put_state(
        self, crypto_id: str, state: Mapping[str, Any], expected_version: int
    ) -> StoredState:
        """Write the state if nobody else did since it was read; return it as now stored (its
        new version and bytes)."""
        version = expected_version + 1
        stored = _dump_state(state)
        item = {
            "crypto_id": crypto_id,
            "version": version,
            "state": stored,
            "updated_at": int(time.time()),
        }
        if expected_version == 0:
            condition, values = "attribute_not_exists(crypto_id)", {}
        else:
            condition, values = "version = :expected", {":expected": {"N": str(expected_version)}}
        try:
            self.client.put_item(
                TableName=self.settings.engine_state_table,
                Item=_serialize(item),
                ConditionExpression=condition,
                **({"ExpressionAttributeValues": values} if values else {}),
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise StateConflictError(
                    f"engine state of {crypto_id} changed since version {expected_version}"
                ) from exc
            raise classify(exc, f"PutItem {self.settings.engine_state_table}") from exc
        except BotoCoreError as exc:
            raise classify(exc, f"PutItem {self.settings.engine_state_table}") from exc
        return StoredState(crypto_id, None, version, stored)  # decoded if asked for

    # -- reads for the CLI / dashboard -------------------------------------------------------
    def signals_for(self, crypto_id: str, since: int = 0, limit: int = 100) -> list[Signal]:
        """Newest first, through the GSI crypto_id-timestamp-index."""
        response = self.client.query(
            TableName=self.settings.signals_table,
            IndexName="crypto_id-timestamp-index",
            KeyConditionExpression="crypto_id = :c AND #t >= :s",
            ExpressionAttributeNames={"#t": "timestamp"},
            ExpressionAttributeValues={":c": {"S": crypto_id}, ":s": {"N": str(int(since))}},
            ScanIndexForward=False,
            Limit=limit,
        )
        return [Signal.from_json(_deserialize(i)) for i in response.get("Items", [])]

    def raw_ticks(
        self, crypto_id: str, since: int = 0, now: float | None = None
    ) -> list[dict[str, Any]]:
        """Raw items of a coin from `since`, oldest first. Given `now`, items past their TTL are
        left out, as TTL deletion is lazy on AWS (and never happens on the emulator); replays of
        old history keep their event-time TTL, so they are only hidden when asked."""
        found = all_items(
            self.client,
            "query",
            TableName=self.settings.raw_table,
            KeyConditionExpression="crypto_id = :c AND loading_time >= :s",
            ExpressionAttributeValues={":c": {"S": crypto_id}, ":s": {"N": str(int(since))}},
        )
        items = [_deserialize(i) for i in found]
        if now is None:
            return items
        return [i for i in items if i.get("expires_at", now + 1) > now]
