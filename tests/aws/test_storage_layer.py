"""The storage layer against the emulator: idempotent writes, optimistic engine state, the
Kinesis producer and the EventBridge publisher (with the template's alert rule)."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from cryptosignals.aws import SignalPublisher, StateConflictError, Store, TickProducer
from cryptosignals.aws.config import AwsSettings
from cryptosignals.aws.dynamo import all_items, from_dynamo, to_dynamo
from cryptosignals.aws.kinesis import encode_tick
from cryptosignals.errors import BadInputError
from cryptosignals.local.stack import LocalStack
from cryptosignals.model import Signal, SignalType, Tick

pytestmark = pytest.mark.integration


def _scan(stack: LocalStack, table: str, coin: str) -> list[dict[str, Any]]:
    items = all_items(stack.client("dynamodb"), "scan", TableName=table)  # shared: it grows
    return sorted(
        (i for i in items if i.get("crypto_id", {}).get("S") == coin),
        key=lambda i: json.dumps(i, sort_keys=True, default=repr),
    )


def _ticks(coin: str, n: int = 3, start: int = 1_700_000_000) -> list[Tick]:
    return [Tick(coin, start + 300 * i, 100.0 + i + 0.1, 1e9 + i, 2e10, -1.5 + i) for i in range(n)]


def _signal(
    coin: str, kind: SignalType = SignalType.BUY, confidence: float = 0.8, actionable: bool = False
) -> Signal:
    return Signal(coin, 1_700_000_600, kind, "rsi_oversold", "5m", 101.1, confidence, {"rsi": 27.5},
                  "1h", {"n": 40.0, "p_adjusted": 0.05}, actionable)  # fmt: skip


def test_writing_the_same_ticks_twice_changes_nothing(aws_env: LocalStack, coin: str) -> None:
    store = Store()
    assert store.put_ticks(_ticks(coin)) == 3
    first = _scan(aws_env, "crypto_raw_data", coin)
    assert store.put_ticks(_ticks(coin) + _ticks(coin)[:1]) == 3
    assert _scan(aws_env, "crypto_raw_data", coin) == first
    assert len(first) == 3


def test_raw_items_are_keyed_by_event_time_with_an_event_time_ttl(
    aws_env: LocalStack, coin: str
) -> None:
    store = Store()
    tick = _ticks(coin, 1)[0]
    store.put_ticks([tick])
    (item,) = store.raw_ticks(coin)
    assert item["loading_time"] == tick.timestamp
    assert item["price"] == tick.price and item["change_24h"] == tick.change_24h
    assert item["expires_at"] == tick.timestamp + 30 * 86_400
    assert store.raw_ticks(coin, now=tick.timestamp + 31 * 86_400) == []  # TTL is lazy


def test_a_signal_is_stored_once_and_published_once(aws_env: LocalStack, coin: str) -> None:
    store = Store()
    signal = _signal(coin)
    assert store.put_signals([signal]) == [signal]
    # a crash before publishing: the redelivered batch still gets it to publish
    assert store.put_signals([signal]) == [signal]
    store.mark_published([signal], at=1_700_000_700)
    stored = _scan(aws_env, "trading_signals", coin)
    assert len(stored) == 1 and stored[0]["published_at"]["N"] == "1700000700"
    assert store.put_signals([signal]) == []
    assert _scan(aws_env, "trading_signals", coin) == stored
    (back,) = store.signals_for(coin)
    assert back == signal
    assert stored[0]["signal_id"]["S"] == signal.signal_id


def test_aggregates_overwrite_their_window(aws_env: LocalStack, coin: str) -> None:
    store = Store()
    row = {
        "crypto_id": coin,
        "time_window": 5,
        "window_end": 1_700_000_300,
        "avg_price": 100.5,
        "min_price": 100.0,
        "max_price": 101.0,
        "volume_aggregated": None,
        "chg_pct": 0.25,
        "sample_count": 2,
    }
    store.put_aggregates([row, {**row, "time_window": 60}])
    store.put_aggregates([row, {**row, "time_window": 60}])
    first = _scan(aws_env, "crypto_aggregated_data", coin)
    assert len(first) == 2 and "volume_aggregated" not in first[0]
    store.put_aggregates([{**row, "window_end": 1_700_000_600, "avg_price": 102.0}])
    items = _scan(aws_env, "crypto_aggregated_data", coin)
    five = next(i for i in items if i["time_window"]["N"] == "5")
    assert five["avg_price"]["N"] == "102.0" and len(items) == 2


def test_a_batch_of_ticks_and_aggregates_of_many_coins_shares_its_write_requests(
    aws_env: LocalStack, coin: str
) -> None:
    """30 coins' ticks and windows (120 items) go in ceil(120 / 25) = 5 BatchWriteItem calls,
    each mixing both tables; the unprocessed-items loop and the 25-item limit hold."""
    store, calls = Store(), []
    store.client.meta.events.register(
        "before-parameter-build.dynamodb.BatchWriteItem",
        lambda params, **_: calls.append({t: len(r) for t, r in params["RequestItems"].items()}),
    )
    coins = [f"{coin}-{i}" for i in range(30)]
    ticks = [tick for c in coins for tick in _ticks(c, 1)]
    windows = [
        {"crypto_id": c, "time_window": w, "window_end": 1_700_000_000, "avg_price": 1.0}
        for c in coins
        for w in (5, 30, 60)
    ]
    assert store.put_ticks_and_aggregates(ticks, windows) == 120
    assert len(calls) == 5 and all(sum(call.values()) <= 25 for call in calls)
    assert any(len(call) == 2 for call in calls)  # one request carries both tables
    assert len(_scan(aws_env, "crypto_raw_data", coins[-1])) == 1
    assert len(_scan(aws_env, "crypto_aggregated_data", coins[0])) == 3


def test_engine_state_is_optimistic(aws_env: LocalStack, coin: str) -> None:
    store = Store()
    assert store.get_state(coin).version == 0 and store.get_state(coin).state is None
    state = {"version": 1, "crypto_id": coin, "last_timestamp": 5, "x": [1.5, None]}
    written = store.put_state(coin, state, 0)
    assert written.version == 1 and written.state == state
    with pytest.raises(StateConflictError):
        store.put_state(coin, state, 0)  # someone else created it first
    read = store.get_states([coin, f"{coin}-none"])
    assert read[coin].state == state and read[coin].version == 1
    assert read[coin].stored == written.stored  # the bytes tell a writer its own state
    assert read[f"{coin}-none"].version == 0
    assert store.put_state(coin, {**state, "last_timestamp": 6}, 1).version == 2
    assert store.get_state(coin).stored != written.stored
    with pytest.raises(StateConflictError):
        store.put_state(coin, state, 1)  # a stale writer loses
    assert store.get_state(coin).state["last_timestamp"] == 6  # type: ignore[index]
    (item,) = _scan(aws_env, "engine_state", coin)
    assert "B" in item["state"]  # compressed: a day of engine state is ~7.5 KB, not ~23 KB
    assert item["version"] == {"N": "2"}


def test_decimal_conversions_round_trip_floats_exactly() -> None:
    values = {"a": 0.1, "b": 1.2345e-8, "c": 123456789.123, "d": 7, "e": [0.5, {"f": 2.5}]}
    stored = to_dynamo(values)
    assert stored["a"] == Decimal("0.1") and isinstance(stored["d"], int)
    assert from_dynamo(stored) == values
    assert to_dynamo({"skip": None, "nan": float("nan")}) == {}
    with pytest.raises(BadInputError):
        to_dynamo(float("inf"))
    # below DynamoDB's smallest magnitude a number is stored as 0, not a failed batch
    assert to_dynamo({"p": 3e-200, "q": -1e-131, "r": 1e-130}) == {
        "p": Decimal(0), "q": Decimal(0), "r": Decimal("1e-130"),
    }  # fmt: skip


def test_producer_puts_ticks_with_the_coin_as_partition_key_in_order(
    aws_env: LocalStack, coin: str
) -> None:
    stream = f"producer-{coin}"
    kinesis = aws_env.client("kinesis")
    kinesis.create_stream(StreamName=stream, ShardCount=2)
    producer = TickProducer(AwsSettings(stream_name=stream), client=kinesis)
    other = f"{coin}-b"
    ticks = _ticks(coin, 3) + _ticks(other, 2)
    report = producer.send(list(reversed(ticks)))
    assert report.sent == 5 and report.calls == 3  # at most one tick per coin per call
    seen: list[tuple[str, int]] = []
    for shard in kinesis.list_shards(StreamName=stream)["Shards"]:
        iterator = kinesis.get_shard_iterator(
            StreamName=stream, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        for record in kinesis.get_records(ShardIterator=iterator)["Records"]:
            tick = Tick.from_json(json.loads(record["Data"]))
            assert record["PartitionKey"] == tick.crypto_id
            seen.append((tick.crypto_id, tick.timestamp))
    for c in (coin, other):
        times = [t for k, t in seen if k == c]
        assert times == sorted(times) and len(times) == (3 if c == coin else 2)


class _FlakyKinesis:
    """A Kinesis client whose first PutRecords fails one record, like a throttled shard."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.calls: list[int] = []

    def put_records(self, StreamName: str, Records: list[dict[str, Any]]) -> dict[str, Any]:
        self.calls.append(len(Records))
        response = self.real.put_records(StreamName=StreamName, Records=Records)
        if len(self.calls) == 1:
            response["Records"][0] = {"ErrorCode": "ProvisionedThroughputExceededException"}
            response["FailedRecordCount"] = 1
        return response  # type: ignore[no-any-return]


def test_producer_resends_only_the_failed_records(aws_env: LocalStack, coin: str) -> None:
    stream = f"flaky-{coin}"
    kinesis = aws_env.client("kinesis")
    kinesis.create_stream(StreamName=stream, ShardCount=1)
    flaky = _FlakyKinesis(kinesis)
    producer = TickProducer(AwsSettings(stream_name=stream), client=flaky, sleep=lambda s: None)
    ticks = [_ticks(f"{coin}-{i}", 1)[0] for i in range(4)]
    report = producer.send(ticks)
    assert flaky.calls == [4, 1] and report.sent == 4 and report.resent == 1
    assert encode_tick(ticks[0]) == json.dumps(ticks[0].to_json(), separators=(",", ":")).encode()


def test_signals_reach_the_bus_and_the_rule_routes_only_actionable_ones(
    aws_env: LocalStack, coin: str
) -> None:
    published = SignalPublisher().publish(
        [
            _signal(coin, SignalType.BUY, 0.8, actionable=True),
            _signal(coin, SignalType.ALERT, 0.9),
            _signal(coin, SignalType.SELL, 0.3),
        ]
    )
    assert published == 3
    sqs = aws_env.client("sqs")
    url = aws_env.names["alert_queue_url"]
    bodies = []
    for _ in range(3):
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        bodies += [json.loads(m["Body"]) for m in messages]
    mine = [b for b in bodies if b["detail"]["crypto_id"] == coin]
    assert len(mine) == 1
    event = mine[0]
    assert event["source"] == "cryptosignals.engine" and event["detail-type"] == "TradingSignal"
    assert event["detail"]["signal_type"] == "BUY"
    assert Signal.from_json(event["detail"]) == _signal(coin, SignalType.BUY, 0.8, True)
