"""The handlers on the local stack: schedule -> ingest (replay server) -> Kinesis -> process
-> tables + bus, malformed records dead-lettered, and redelivery changing nothing.

This module has its own stack (its own emulator), because it drives the deployed engine state
of real coin ids, which the other modules' tests must not see."""

from __future__ import annotations

import base64
import json
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

from cryptosignals.aws import Store, TickProducer
from cryptosignals.aws.config import AwsSettings
from cryptosignals.aws.dynamo import all_items
from cryptosignals.aws.store import MARKET_STATE_ID
from cryptosignals.candles import SAMPLE_COINS, candles_to_ticks, read_candles, sample_path
from cryptosignals.coingecko.replay import ReplayServer
from cryptosignals.engine import Engine
from cryptosignals.local.runtime import KinesisPoller
from cryptosignals.local.stack import LocalStack
from cryptosignals.model import TickSeries

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    with LocalStack.start() as local:
        yield local


def _scan(stack: LocalStack, table: str) -> list[dict[str, Any]]:
    items = all_items(stack.client("dynamodb"), "scan", TableName=table)
    return sorted(items, key=lambda i: json.dumps(i, sort_keys=True, default=repr))


def _drain_queue(stack: LocalStack, url: str) -> list[dict[str, Any]]:
    sqs, found = stack.client("sqs"), []
    while True:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            return found
        found += [json.loads(m["Body"]) for m in messages]
        for m in messages:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])


def _put(stack: LocalStack, *payloads: bytes) -> None:
    kinesis = stack.client("kinesis")
    for payload in payloads:
        kinesis.put_record(StreamName="lambda-stream", Data=payload, PartitionKey="seed")


def _replay_env(server: ReplayServer) -> dict[str, str]:
    """Point the ingest function at a replay server; it is local, so no 30/minute pacing."""
    return {"COINGECKO_API_URL": server.url, "COINGECKO_RATE_LIMIT_PER_MIN": "6000"}


def test_malformed_records_are_dead_lettered_with_their_reason(stack: LocalStack) -> None:
    _put(
        stack,
        b"not json",
        b'{"crypto": "BTC", "price_usd": NaN}',
        b'{"crypto": "BTC", "price": -5}',
        b'{"crypto": "NOPE", "price": 5}',
        b'{"crypto": "ETH"}',
        b'{"crypto": "ETH", "price": "abc"}',
    )
    (poller,) = stack.pollers()
    report = poller.drain()
    assert report.invocations == 1 and report.batches_ok == 1
    reasons = [m["reason"] for m in _drain_queue(stack, stack.names["dead_letter_queue_url"])]
    assert len(reasons) == 6
    for expected in ("not JSON", "NaN", "positive", "unknown coin", "missing", "not a number"):
        assert any(expected in r for r in reasons), (expected, reasons)
    bad_base64 = {"Records": [{"kinesis": {"data": "%%%", "sequenceNumber": "9"}}]}
    invocation = stack.runtime.invoke(stack.names["process_function"], bad_base64)
    assert invocation.result == {"batchItemFailures": []}
    (message,) = _drain_queue(stack, stack.names["dead_letter_queue_url"])
    assert "base64" in message["reason"]
    assert not _drain_queue(stack, stack.names["process_failure_queue_url"])


def test_a_malformed_record_the_dead_letter_queue_cannot_take_is_retried_not_dropped(
    stack: LocalStack,
) -> None:
    function = stack.names["process_function"]
    real_queue = stack.runtime.config(function).environment["DEAD_LETTER_QUEUE_URL"]
    stack.set_function_environment(function, {"DEAD_LETTER_QUEUE_URL": real_queue + "-gone"})
    try:
        event = _records({"crypto": "BTC", "price": "abc"}, {"crypto": "DOT", "price": 4.2})
        run = stack.runtime.invoke(function, event)
    finally:
        stack.set_function_environment(function, {"DEAD_LETTER_QUEUE_URL": real_queue})
    assert run.result == {"batchItemFailures": [{"itemIdentifier": "100"}]}
    assert any("not dead-lettered: retried" in line for line in run.log_lines)


def test_scheduled_ingest_from_the_replay_server_reaches_the_tables(stack: LocalStack) -> None:
    with ReplayServer() as server:
        stack.set_function_environment(stack.names["ingest_function"], _replay_env(server))
        scheduler = stack.scheduler(start=0)
        results = []
        for _ in range(3):
            server.clock.advance(300)
            results += scheduler.advance(300)
        assert [r.failed for r in results] == [False] * 3, [r.error_message for r in results]
        assert [r.result["sent"] for r in results] == [4, 4, 4]
        again = scheduler.advance(300)  # the replay clock did not move: nothing new to send
        assert again[0].result["sent"] == 0 and again[0].result["skipped"] == 4
    (poller,) = stack.pollers()
    poller.drain()
    raw = _scan(stack, "crypto_raw_data")
    for coin in ("ethereum", "solana", "cardano"):
        assert len([i for i in raw if i["crypto_id"]["S"] == coin]) == 3
    states = {i["crypto_id"]["S"] for i in _scan(stack, "engine_state")}
    assert {"ethereum", "solana", "cardano", "_ingest"} <= states
    metrics = stack.client("cloudwatch").list_metrics(Namespace="CryptoSignals")["Metrics"]
    assert {"TicksSent", "TicksProcessed"} <= {m["MetricName"] for m in metrics}


@pytest.mark.slow
def test_a_replayed_day_makes_signals_and_full_redelivery_changes_nothing(
    stack: LocalStack,
) -> None:
    candles = read_candles(sample_path("solana"))
    ticks = candles_to_ticks("solana", candles)[2000:2600].ticks()
    producer = TickProducer(
        AwsSettings(stream_name="lambda-stream"), client=stack.client("kinesis")
    )
    producer.send(ticks)
    (poller,) = stack.pollers()
    poller.drain()
    tables = ("crypto_raw_data", "crypto_aggregated_data", "trading_signals")
    before = {t: _scan(stack, t) for t in tables}
    alerts = _drain_queue(stack, stack.names["alert_queue_url"])
    signals = [i for i in before["trading_signals"] if i["crypto_id"]["S"] == "solana"]
    assert signals, "a day of 5-minute ticks should produce at least one signal"
    assert all("published_at" in s for s in signals)
    assert len([i for i in before["crypto_raw_data"] if i["crypto_id"]["S"] == "solana"]) >= 600
    (hour,) = [i for i in before["crypto_aggregated_data"]
               if i["crypto_id"]["S"] == "solana" and i["time_window"]["N"] == "60"]  # fmt: skip
    risk = hour["risk"]["M"]  # the latest forecast rides on the 60-minute aggregate
    assert risk["timestamp"]["N"] == str(ticks[-1].timestamp) and risk["method"]["S"] == "fhs"
    one_hour = risk["horizons"]["M"]["1h"]["M"]
    assert 0 < float(one_hour["var_95"]["N"]) < float(one_hour["var_99"]["N"]) < 0.2
    assert 0 < float(risk["position_size"]["N"]) <= 1
    regime = risk["regime"]["M"]  # and the regime the coin is in
    assert regime["name"]["S"] in ("calm", "normal", "volatile", "turbulent")

    # Lambda redelivers: a second consumer of the same mapping reads the stream from the start.
    again = KinesisPoller(stack.runtime, poller.mapping["UUID"])
    report = again.drain()
    assert report.records_read >= 600 and report.batches_ok == report.invocations
    after = {t: _scan(stack, t) for t in tables}
    assert after == before
    assert _drain_queue(stack, stack.names["alert_queue_url"]) == []
    assert len(alerts) <= len(signals)


def _records(*payloads: dict[str, Any], first_seq: int = 100) -> dict[str, Any]:
    """A Kinesis event of these JSON payloads, sequence numbers from `first_seq`."""
    return {
        "Records": [
            {
                "kinesis": {
                    "data": base64.b64encode(json.dumps(p).encode()).decode(),
                    "sequenceNumber": str(first_seq + i),
                    "approximateArrivalTimestamp": 1_700_000_000.0 + i,
                },
                "eventID": f"shardId-000000000000:{first_seq + i}",
            }
            for i, p in enumerate(payloads)
        ]
    }


def _raw_of(stack: LocalStack, coin: str) -> list[dict[str, Any]]:
    return [i for i in _scan(stack, "crypto_raw_data") if i["crypto_id"]["S"] == coin]


def _versions(stack: LocalStack, *coins: str) -> dict[str, int]:
    """The stored engine-state version of each coin (0: none stored)."""
    table = stack.names["engine_state_table"]
    store = Store(AwsSettings(engine_state_table=table), client=stack.client("dynamodb"))
    return {coin: state.version for coin, state in store.get_states(coins).items()}


def test_a_transient_failure_of_one_coin_reports_only_that_coins_records(
    stack: LocalStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cryptosignals.aws import store as store_module
    from cryptosignals.errors import RetryableError

    real = store_module.Store.put_state

    def throttled(self: Any, coin: str, *args: Any) -> Any:
        if coin == "ripple":
            raise RetryableError("PutItem: ProvisionedThroughputExceededException")
        return real(self, coin, *args)

    monkeypatch.setattr(store_module.Store, "put_state", throttled)
    event = _records({"crypto": "XRP", "price": 0.5}, {"crypto": "DOGE", "price": 0.1})
    invocation = stack.runtime.invoke(stack.names["process_function"], event)
    assert not invocation.failed, invocation.error_message
    assert invocation.result == {"batchItemFailures": [{"itemIdentifier": "100"}]}
    assert _versions(stack, "ripple", "dogecoin") == {"ripple": 0, "dogecoin": 1}
    monkeypatch.setattr(store_module.Store, "put_state", real)
    redelivered = {"Records": event["Records"][:1]}
    again = stack.runtime.invoke(stack.names["process_function"], redelivered)
    assert again.result == {"batchItemFailures": []}
    assert _versions(stack, "ripple", "dogecoin") == {"ripple": 1, "dogecoin": 1}
    assert len(_raw_of(stack, "ripple")) == 1 and len(_raw_of(stack, "dogecoin")) == 1


def test_a_transient_failure_of_the_shared_write_reports_the_whole_batch(
    stack: LocalStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cryptosignals.aws import store as store_module
    from cryptosignals.errors import RetryableError

    def throttled(*args: Any) -> int:
        raise RetryableError("BatchWriteItem: ProvisionedThroughputExceededException")

    monkeypatch.setattr(store_module.Store, "put_ticks_and_aggregates", throttled)
    before = _versions(stack, "avalanche-2", "chainlink")
    event = _records({"crypto": "AVAX", "price": 30.0}, {"crypto": "LINK", "price": 15.0})
    invocation = stack.runtime.invoke(stack.names["process_function"], event)
    assert invocation.result == {
        "batchItemFailures": [{"itemIdentifier": "100"}, {"itemIdentifier": "101"}]
    }
    assert _versions(stack, "avalanche-2", "chainlink") == before  # nothing advanced


def test_a_429_storm_during_ingest_loses_nothing(stack: LocalStack) -> None:
    ingest = stack.names["ingest_function"]
    with ReplayServer() as server:
        stack.set_function_environment(
            ingest, {**_replay_env(server), "COINGECKO_TIME_BUDGET_S": "2"}
        )
        # 19 days on (of the sample's 21): later than any tick other tests of this module send
        now = server.clock.advance(19 * 86_400)
        kinesis = stack.client("kinesis")
        shard = kinesis.list_shards(StreamName="lambda-stream")["Shards"][0]
        server.inject(*["429"] * 40)
        storm = stack.runtime.invoke(ingest, {})
        assert storm.failed
        assert any('"IngestFailures"' in line for line in storm.log_lines)
        with server._lock:  # the storm is over
            server._queue.clear()
        calm = stack.runtime.invoke(ingest, {})
        assert not calm.failed, calm.error_message
        assert calm.result["sent"] == 4  # the cursor did not move during the storm
        iterator = kinesis.get_shard_iterator(
            StreamName="lambda-stream", ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        records = kinesis.get_records(ShardIterator=iterator, Limit=10000)["Records"]
        payloads = [r["Data"] for r in records if r["Data"].startswith(b'{"crypto_id"')]
        late = [p for p in map(json.loads, payloads) if p["timestamp"] >= now - 600]
        assert sorted(p["crypto_id"] for p in late) == sorted(SAMPLE_COINS)  # once each
    stats = stack.client("cloudwatch").get_metric_statistics(
        Namespace="AWS/Lambda",
        MetricName="Errors",
        Dimensions=[{"Name": "FunctionName", "Value": ingest}],
        StartTime=time.time() - 600,
        EndTime=time.time() + 60,
        Period=60,
        Statistics=["Sum"],
    )
    assert sum(p["Sum"] for p in stats["Datapoints"]) >= 1


def test_each_invocation_keeps_its_own_log_lines(stack: LocalStack) -> None:
    """Powertools' Logger holds on to the stdout of the first invocation; later ones too must
    reach their own log lines (and so CloudWatch Logs)."""
    event = {"Records": [{"kinesis": {"data": "bm90IGpzb24=", "sequenceNumber": "7"}}]}
    runs = [stack.runtime.invoke(stack.names["process_function"], event) for _ in range(2)]
    for run in runs:
        assert any("record dead-lettered" in line for line in run.log_lines), run.log_lines
    _drain_queue(stack, stack.names["dead_letter_queue_url"])


def test_a_function_runs_with_its_own_settings_even_if_its_module_was_imported_before(
    stack: LocalStack,
) -> None:
    """Lambda imports a handler inside the function's environment; Powertools reads its service
    and metric namespace there. Here the test process imports the module first, with neither set:
    the function must still log as its service and publish to its namespace."""
    import cryptosignals.handlers.process as imported_here

    assert imported_here.metrics.namespace is None  # what a shared import would have run with
    config = stack.runtime.config(stack.names["process_function"])
    event = {"Records": [{"kinesis": {"data": "bm90IGpzb24=", "sequenceNumber": "8"}}]}
    run = stack.runtime.invoke(config.name, event)
    assert not run.failed, run.error_message
    logged = [json.loads(line) for line in run.log_lines if line.startswith("{")]
    assert {line["service"] for line in logged} == {config.environment["POWERTOOLS_SERVICE_NAME"]}
    emf = [line["_aws"]["CloudWatchMetrics"][0] for line in logged if "_aws" in line]
    assert [m["Namespace"] for m in emf] == [config.environment["POWERTOOLS_METRICS_NAMESPACE"]]
    _drain_queue(stack, stack.names["dead_letter_queue_url"])


def test_a_handler_crash_mid_batch_is_bisected_to_the_bad_record(
    stack: LocalStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cryptosignals import engine as engine_module

    real_feed = engine_module.Engine.feed

    def crashing_feed(self: Any, ticks: Any, bitcoin: Any = None) -> Any:
        if self.crypto_id == "litecoin":
            raise ZeroDivisionError("a bug in the core, for litecoin only")
        return real_feed(self, ticks, bitcoin)

    monkeypatch.setattr(engine_module.Engine, "feed", crashing_feed)
    _drain_queue(stack, stack.names["process_failure_queue_url"])
    _put(
        stack,
        *(
            json.dumps({"crypto": symbol, "price": price}).encode()
            for symbol, price in (("DOT", 4.5), ("LTC", 80.0), ("LINK", 15.0), ("BNB", 600.0))
        ),
    )
    (poller,) = stack.pollers()
    report = poller.drain()
    assert report.records_sent_to_on_failure == 1
    (message,) = _drain_queue(stack, stack.names["process_failure_queue_url"])
    assert message["KinesisBatchInfo"]["batchSize"] == 1
    assert message["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert message["requestContext"]["approximateInvokeCount"] == 4  # 1 try + 3 retries
    raw = {i["crypto_id"]["S"] for i in _scan(stack, "crypto_raw_data")}
    assert {"polkadot", "chainlink", "binancecoin"} <= raw
    assert "litecoin" not in raw  # the engine runs before any write: nothing half-done


def _items_of(stack: LocalStack, coin: str) -> dict[str, list[dict[str, Any]]]:
    """Every item of the coin in the pipeline's tables, without the wall-clock attributes."""
    clock = {"updated_at", "published_at"}
    return {
        table: [
            {k: v for k, v in item.items() if k not in clock}
            for item in _scan(stack, stack.names[table])
            if item["crypto_id"]["S"] == coin
        ]
        for table in ("raw_table", "aggregated_table", "signals_table", "engine_state_table")
    }


def _restore(stack: LocalStack, saved: dict[str, list[dict[str, Any]]], coin: str) -> None:
    """Put the tables back as `saved` (the coin's items and the market item)."""
    dynamodb = stack.client("dynamodb")
    for table in saved:
        name = stack.names[table]
        keys = [
            k["AttributeName"]
            for k in dynamodb.describe_table(TableName=name)["Table"]["KeySchema"]
        ]
        for item in _scan(stack, name):
            if item["crypto_id"]["S"] in (coin, MARKET_STATE_ID):
                dynamodb.delete_item(TableName=name, Key={k: item[k] for k in keys})
        for item in saved[table]:
            dynamodb.put_item(TableName=name, Item=item)


def test_a_warm_container_goes_on_with_its_engine_and_stores_what_cold_starts_store(
    stack: LocalStack,
) -> None:
    """The process function keeps each coin's engine between batches while the table holds its
    last write, instead of rebuilding it from the stored state: a batch at a time in one warm
    container stores exactly what rebuilding the engine at every batch stores (every table, the
    state to the byte), and a state another container wrote is read from the table."""
    coin, function = "cardano", stack.names["process_function"]
    ticks = candles_to_ticks(coin, read_candles(sample_path(coin))).ticks()
    table = stack.names["engine_state_table"]
    store = Store(AwsSettings(engine_state_table=table), client=stack.client("dynamodb"))
    seeded = Engine(coin)
    seeded.feed(TickSeries.from_ticks(coin, ticks[:1500]))
    store.put_state(coin, seeded.state(), store.get_state(coin).version)
    dynamodb = stack.client("dynamodb")
    market = dynamodb.get_item(TableName=table, Key={"crypto_id": {"S": MARKET_STATE_ID}})
    start = {**_items_of(stack, coin)}
    start["engine_state_table"] += [market["Item"]] if "Item" in market else []
    batches = [ticks[i : i + 1] for i in range(1500, 1506)] + [ticks[1506:1512]]

    def kept() -> dict[tuple[str, str], Any]:
        """The engines the process function's container keeps (its module's `_WARM`)."""
        return sys.modules[stack.runtime.handler(function).__module__]._WARM  # type: ignore[no-any-return]

    def invoke(batch: list[Any], first_seq: int) -> Engine:
        """One batch through the process function; the coin's engine it kept."""
        event = _records(*(tick.to_json() for tick in batch), first_seq=first_seq)
        invocation = stack.runtime.invoke(function, event)
        assert invocation.result == {"batchItemFailures": []}, invocation.error_message
        return kept()[table, coin].engine  # type: ignore[no-any-return]

    def run(cold: bool) -> list[Engine]:
        _restore(stack, start, coin)
        engines = []
        for n, batch in enumerate(batches):
            engines.append(invoke(batch, 1000 * n))
            if cold:  # as a new container would: no engine kept, rebuilt from the table
                kept().clear()
        return engines

    engines = run(cold=False)
    assert all(engine is engines[0] for engine in engines)  # one engine all along
    warm = _items_of(stack, coin)
    assert any(warm["signals_table"]) and len(warm["raw_table"]) >= len(batches)
    engines = run(cold=True)
    assert len({id(engine) for engine in engines}) == len(engines)  # a new engine every batch
    assert _items_of(stack, coin) == warm

    # another container writes the coin's state: this one reads it from the table
    before = invoke(ticks[1512:1513], 90_000)
    stored = store.get_state(coin)
    store.put_state(coin, stored.state or {}, stored.version)
    assert invoke(ticks[1513:1514], 90_001) is not before
