"""Proofs under faults the other suites do not inject at the wire: DynamoDB throttling answered
by botocore itself (not a patched method), with Kinesis redelivering and a second consumer
replaying the whole stream; and the seed's own test record sent with the AWS CLI.

In each, nothing is lost (every tick stored), and no signal is duplicated: the stored signals are
exactly the batch engine's over the same ticks."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from pipeline_support import SIGNALS_BY_COIN, coin_items

from aws_cli import aws_cli
from cryptosignals.aws import AwsSettings, TickProducer, clients
from cryptosignals.candles import candles_to_ticks, read_candles, sample_path
from cryptosignals.engine import analyze_ticks
from cryptosignals.local.runtime import KinesisPoller
from cryptosignals.local.stack import LocalStack
from cryptosignals.model import Signal

pytestmark = pytest.mark.integration


class Throttle:
    """Answers chosen DynamoDB operations with ProvisionedThroughputExceededException, from
    botocore's own before-call hook (the request never leaves): every `every`-th call, `limit`
    times (a burst shorter than the mapping's retry budget: a longer one sends the batch to the
    on-failure queue, which tests/aws covers)."""

    def __init__(self, client: Any, operations: set[str], every: int, limit: int) -> None:
        self.client, self.operations, self.every, self.limit = client, operations, every, limit
        self.calls: Counter[str] = Counter()
        self.throttled = 0
        client.meta.events.register("before-call.dynamodb", self)

    def __call__(self, model: Any, **kwargs: Any) -> Any:
        if model.name not in self.operations:
            return None
        self.calls[model.name] += 1
        if sum(self.calls.values()) % self.every or self.throttled >= self.limit:
            return None
        self.throttled += 1
        error = {
            "Error": {
                "Code": "ProvisionedThroughputExceededException",
                "Message": "The level of configured provisioned throughput for the table was "
                "exceeded.",
            },
            "ResponseMetadata": {"HTTPStatusCode": 400},
        }
        return _Response(400), error

    def remove(self) -> None:
        self.client.meta.events.unregister("before-call.dynamodb", self)


class _Response:
    def __init__(self, status: int) -> None:
        self.status_code = status
        self.headers: dict[str, str] = {}
        self.content = b""


@pytest.fixture
def throttle(stack_env: LocalStack) -> Iterator[Any]:
    """The process handler's own DynamoDB client (clients() is per process and endpoint)."""
    made: list[Throttle] = []

    def make(operations: set[str], every: int, limit: int) -> Throttle:
        client = clients("dynamodb", AwsSettings.from_env())
        made.append(Throttle(client, operations, every, limit))
        return made[-1]

    yield make
    for t in made:
        t.remove()


@pytest.mark.slow
def test_throttled_writes_are_redelivered_until_stored_and_signals_are_not_duplicated(
    stack_env: LocalStack, throttle: Any
) -> None:
    stack, coin = stack_env, "cardano"
    ticks = candles_to_ticks(coin, read_candles(sample_path(coin)))[1500:1900]
    expected = analyze_ticks(ticks)
    assert expected, "the slice should make signals"
    TickProducer(AwsSettings.from_env()).send(ticks.ticks())
    faults = throttle({"BatchWriteItem", "PutItem", "BatchGetItem"}, every=4, limit=3)
    (poller,) = stack.pollers()
    report = poller.drain()
    assert faults.throttled == 3, (faults.calls, report)
    assert report.invocations > report.batches_ok  # throttled coins went back to Kinesis
    assert report.records_sent_to_on_failure == 0
    faults.remove()

    # a second consumer of the mapping replays the whole stream: duplicates change nothing
    KinesisPoller(stack.runtime, poller.mapping["UUID"]).drain()

    raw = coin_items(stack, stack.names["raw_table"], coin)
    assert sorted(i["loading_time"] for i in raw) == ticks.timestamp.tolist()
    stored = coin_items(stack, stack.names["signals_table"], coin, SIGNALS_BY_COIN)
    assert Counter(i["signal_id"] for i in stored).most_common(1)[0][1] == 1
    by_id = {i["signal_id"]: Signal.from_json(i).to_json() for i in stored}
    assert by_id == {s.signal_id: s.to_json() for s in expected}
    assert all("published_at" in i for i in stored)


def test_the_seeds_test_record_sent_with_the_aws_cli_lands_as_bitcoin(stack: LocalStack) -> None:
    record = (
        '{"crypto": "BTC", "price_usd": 50000, "market_cap_usd": 1e12, "24hr_vol": 3e10, '
        '"24hr_change": 1.5}'
    )
    sent = aws_cli(
        stack.endpoint,
        *("kinesis", "put-record", "--stream-name", stack.names["stream"]),
        *("--partition-key", "BTC", "--data", record),
    )
    assert {"ShardId", "SequenceNumber"} <= set(sent)
    (poller,) = stack.pollers()
    report = poller.drain()
    assert report.batches_ok >= 1 and report.records_sent_to_on_failure == 0
    (item,) = [
        i for i in coin_items(stack, stack.names["raw_table"], "bitcoin") if i["price"] == 50000
    ]
    assert item["market_cap"] == 1e12 and item["volume_24h"] == 3e10
    assert item["change_24h"] == 1.5 and item["source"] == "coingecko"
