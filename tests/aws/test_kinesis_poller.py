"""The Kinesis event-source poller honours the mapping deployed on the emulator, option by
option, with a tiny handler (tests/aws/aws_probe_handlers.py). Each test has its own stream,
function, mapping and on-failure queue, so the tests share one emulator safely."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aws_probe_handlers
import pytest
from aws_probe_handlers import create_probe_function

from cryptosignals.local.runtime import KinesisPoller
from cryptosignals.local.stack import LocalStack

pytestmark = pytest.mark.integration


class ManualClock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@dataclass
class Mapping:
    stack: LocalStack
    stream: str
    queue_url: str
    uuid: str
    function: str

    def put(self, *modes: str, start: int = 0) -> list[str]:
        kinesis = self.stack.client("kinesis")
        seqs = []
        for n, mode in enumerate(modes, start=start):
            response = kinesis.put_record(
                StreamName=self.stream,
                Data=json.dumps({"n": n, "mode": mode}).encode(),
                PartitionKey="same-shard",
            )
            seqs.append(response["SequenceNumber"])
        return seqs

    def poller(self, clock: Callable[[], float] = time.time) -> KinesisPoller:
        return KinesisPoller(self.stack.runtime, self.uuid, clock)

    def on_failure_messages(self) -> list[dict[str, Any]]:
        sqs = self.stack.client("sqs")
        found = []
        while True:
            response = sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10)
            messages = response.get("Messages", [])
            if not messages:
                return found
            found += [json.loads(m["Body"]) for m in messages]


@pytest.fixture
def mapping(local_stack: LocalStack) -> Callable[..., Mapping]:
    """Factory: a fresh stream + probe function + mapping with the given options."""

    def make(**options: Any) -> Mapping:
        suffix = uuid.uuid4().hex[:8]
        stream = f"poller-{suffix}"
        local_stack.client("kinesis").create_stream(StreamName=stream, ShardCount=1)
        arn = f"arn:aws:kinesis:us-east-1:123456789012:stream/{stream}"
        sqs = local_stack.client("sqs")
        queue_url = sqs.create_queue(QueueName=f"on-failure-{suffix}")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
        function = create_probe_function(local_stack, "aws_probe_handlers.kinesis")
        settings = {
            "BatchSize": 10,
            "StartingPosition": "TRIM_HORIZON",
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
            "MaximumRetryAttempts": 2,
            "DestinationConfig": {
                "OnFailure": {"Destination": queue_arn["Attributes"]["QueueArn"]}
            },
            **options,
        }
        created = local_stack.client("lambda").create_event_source_mapping(
            EventSourceArn=arn, FunctionName=function, **settings
        )
        aws_probe_handlers.CALLS.clear()
        return Mapping(local_stack, stream, queue_url, created["UUID"], function)

    return make


def _calls() -> list[list[int]]:
    return [call["n"] for call in aws_probe_handlers.CALLS]


def test_a_clean_stream_is_delivered_in_order_in_batches_of_batch_size(
    mapping: Callable[..., Mapping],
) -> None:
    m = mapping(BatchSize=3)
    m.put(*["ok"] * 7)
    report = m.poller().drain()
    assert _calls() == [[0, 1, 2], [3, 4, 5], [6]]
    assert report.records_read == 7 and report.batches_ok == 3
    assert m.on_failure_messages() == []


def test_partial_failure_retries_from_the_failed_record_then_goes_to_on_failure(
    mapping: Callable[..., Mapping],
) -> None:
    m = mapping(MaximumRetryAttempts=2)
    seqs = m.put("ok", "ok", "ok", "poison", "ok", "ok")
    report = m.poller().drain()
    # 1 try + 2 retries, each from the failed record on; records before it are checkpointed.
    assert _calls() == [[0, 1, 2, 3, 4, 5], [3, 4, 5], [3, 4, 5]]
    (message,) = m.on_failure_messages()
    info = message["KinesisBatchInfo"]
    assert info["startSequenceNumber"] == seqs[3] and info["endSequenceNumber"] == seqs[5]
    assert info["batchSize"] == 3 and info["streamArn"].endswith(m.stream)
    assert message["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert message["requestContext"]["approximateInvokeCount"] == 3
    assert message["requestContext"]["functionArn"].endswith(m.function)
    assert "functionError" not in message["responseContext"]
    assert report.records_sent_to_on_failure == 3


def test_later_records_are_delivered_after_a_batch_is_given_up(
    mapping: Callable[..., Mapping],
) -> None:
    m = mapping(MaximumRetryAttempts=0, BatchSize=2)
    m.put("poison", "ok", "ok")
    m.poller().drain()
    assert _calls() == [[0, 1], [2]]
    assert len(m.on_failure_messages()) == 1


def test_a_crash_is_bisected_down_to_the_bad_record(mapping: Callable[..., Mapping]) -> None:
    m = mapping(BisectBatchOnFunctionError=True, MaximumRetryAttempts=1)
    seqs = m.put("ok", "ok", "crash", "ok")
    m.poller().drain()
    # Splitting does not count as a retry; the single crashing record gets 1 try + 1 retry.
    assert _calls() == [[0, 1, 2, 3], [0, 1], [2, 3], [2], [2], [3]]
    (message,) = m.on_failure_messages()
    assert message["KinesisBatchInfo"]["startSequenceNumber"] == seqs[2]
    assert message["KinesisBatchInfo"]["batchSize"] == 1
    assert message["responseContext"]["functionError"] == "Unhandled"


def test_without_bisect_a_crash_retries_the_whole_batch(mapping: Callable[..., Mapping]) -> None:
    m = mapping(MaximumRetryAttempts=2)
    m.put("ok", "crash", "ok")
    m.poller().drain()
    assert _calls() == [[0, 1, 2]] * 3
    (message,) = m.on_failure_messages()
    assert message["KinesisBatchInfo"]["batchSize"] == 3


def test_a_bad_batch_item_failure_report_fails_the_whole_batch(
    mapping: Callable[..., Mapping],
) -> None:
    """A report naming a record that is not in the batch: Lambda retries the whole batch."""
    m = mapping(MaximumRetryAttempts=1)
    m.put("ok", "badreport", "ok")
    m.poller().drain()
    assert _calls() == [[0, 1, 2]] * 2
    (message,) = m.on_failure_messages()
    assert message["KinesisBatchInfo"]["batchSize"] == 3


def test_records_older_than_max_age_are_not_delivered(mapping: Callable[..., Mapping]) -> None:
    m = mapping(MaximumRecordAgeInSeconds=60)
    m.put("ok", "ok")
    clock = ManualClock()
    clock.now += 61
    report = m.poller(clock).drain()
    assert _calls() == []
    (message,) = m.on_failure_messages()
    assert message["requestContext"]["condition"] == "RecordAgeExceeded"
    assert message["KinesisBatchInfo"]["batchSize"] == 2
    assert report.invocations == 0


def test_the_batching_window_holds_a_partial_batch_until_it_passes(
    mapping: Callable[..., Mapping],
) -> None:
    m = mapping(BatchSize=3, MaximumBatchingWindowInSeconds=10)
    clock = ManualClock()
    poller = m.poller(clock)
    m.put("ok", "ok")
    assert poller.poll().invocations == 0
    clock.now += 5
    assert poller.poll().invocations == 0
    clock.now += 6
    assert poller.poll().invocations == 1
    m.put("ok", "ok", "ok", "ok", start=2)
    assert poller.poll().invocations == 1  # a full batch goes at once; one record waits
    assert _calls() == [[0, 1], [2, 3, 4]]
    assert poller.drain().invocations == 1
    assert _calls()[-1] == [5]


def test_latest_skips_what_was_on_the_stream_before_the_mapping(
    mapping: Callable[..., Mapping],
) -> None:
    m = mapping(StartingPosition="LATEST")
    m.put("ok", "ok")
    poller = m.poller()
    m.put("ok", start=2)
    poller.drain()
    assert _calls() == [[2]]


def test_iterator_age_is_published_for_the_function(
    local_stack: LocalStack, mapping: Callable[..., Mapping]
) -> None:
    m = mapping()
    m.put("ok")
    m.poller().drain()
    metrics = local_stack.client("cloudwatch").list_metrics(
        Namespace="AWS/Lambda",
        MetricName="IteratorAge",
        Dimensions=[{"Name": "FunctionName", "Value": m.function}],
    )
    assert metrics["Metrics"]


def test_the_deployed_process_mapping_is_found_with_its_options(local_stack: LocalStack) -> None:
    (poller,) = local_stack.pollers()
    assert poller.stream_name == "lambda-stream"
    assert poller.batch_size == 100 and poller.window == 5
    assert poller.bisect and poller.report_failures
    assert poller.max_retries == 3 and poller.max_age == 3600
    assert poller.on_failure_arn and poller.on_failure_arn.startswith("arn:aws:sqs:")
