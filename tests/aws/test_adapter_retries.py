"""How the adapters resend what AWS did not take (unprocessed items, failed entries): only
that part, after growing pauses, and a RetryableError once the attempts are spent (the batch is
then redelivered by Kinesis). The service is a stub here: what is tested is our loop."""

from __future__ import annotations

from typing import Any

import pytest

from cryptosignals.aws import SignalPublisher, Store
from cryptosignals.aws.config import AwsSettings
from cryptosignals.errors import RetryableError
from cryptosignals.model import Signal, SignalType, Tick


class _DynamoLeavingSome:
    """BatchWriteItem that leaves the last `left` requests unprocessed, `times` times."""

    def __init__(self, left: int, times: int) -> None:
        self.left, self.times, self.requests = left, times, []

    def batch_write_item(self, RequestItems: dict[str, list[Any]]) -> dict[str, Any]:
        self.requests.append({t: len(r) for t, r in RequestItems.items()})
        if len(self.requests) > self.times:
            return {"UnprocessedItems": {}}
        return {"UnprocessedItems": {t: r[-self.left :] for t, r in RequestItems.items()}}


def _ticks(n: int) -> list[Tick]:
    return [Tick("bitcoin", 1_700_000_000 + 60 * i, 100.0 + i) for i in range(n)]


def test_only_the_unprocessed_items_are_written_again_after_a_pause() -> None:
    dynamo, pauses = _DynamoLeavingSome(left=2, times=2), []
    store = Store(AwsSettings(), client=dynamo, sleep=pauses.append)
    assert store.put_ticks(_ticks(5)) == 5
    raw = "crypto_raw_data"
    assert dynamo.requests == [{raw: 5}, {raw: 2}, {raw: 2}]  # twice left 2, then all taken
    assert pauses == [0.05, 0.1]


def test_items_never_processed_end_in_a_retryable_error() -> None:
    dynamo, pauses = _DynamoLeavingSome(left=1, times=99), []
    store = Store(AwsSettings(), client=dynamo, sleep=pauses.append, max_attempts=4)
    with pytest.raises(RetryableError, match="still not accepted after 4 attempts"):
        store.put_ticks(_ticks(3))
    assert len(dynamo.requests) == 4 and pauses == [0.05, 0.1, 0.2]  # no pause after the last


class _BusFailingFirst:
    def __init__(self) -> None:
        self.calls: list[int] = []

    def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        self.calls.append(len(Entries))
        failed = {"ErrorCode": "InternalFailure"} if len(self.calls) == 1 else {}
        return {"Entries": [failed] + [{}] * (len(Entries) - 1)}


def test_only_the_failed_events_are_published_again() -> None:
    bus, pauses = _BusFailingFirst(), []
    signals = [
        Signal("bitcoin", 1_700_000_000 + 300 * i, SignalType.BUY, "r", "5m", 1.0, 0.5, {})
        for i in range(3)
    ]
    publisher = SignalPublisher(AwsSettings(), client=bus, sleep=pauses.append)
    assert publisher.publish(signals) == 3
    assert bus.calls == [3, 1] and pauses == [0.05]
