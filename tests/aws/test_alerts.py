"""Alerts that reach a person, on the local stack: the signals rule's webhook (an API
destination, delivered by our relay over real HTTP to a receiver on 127.0.0.1) and its SNS topic
(fanned out by the emulator to the topic's subscriptions).

This module has its own stack, deployed with the alert parameters set (the session stack has
them empty, as the template's defaults do): the webhook URL is the receiver's, known only once
it listens."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from webhook_receiver import Receiver

from cryptosignals.aws.events import DETAIL_TYPE, SOURCE
from cryptosignals.local import shims
from cryptosignals.local.api_destinations import ApiDestinationRelay
from cryptosignals.local.input_transformer import TransformError
from cryptosignals.local.stack import LocalStack

pytestmark = pytest.mark.integration

SECRET = f"test-secret-{uuid.uuid4().hex}"
HEADER = "X-Cryptosignals-Secret"


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    webhook = Receiver().start()
    try:
        yield webhook
    finally:
        webhook.stop()


@pytest.fixture(scope="module")
def stack(receiver: Receiver) -> Iterator[LocalStack]:
    parameters = {
        "AlertEmail": "trader@example.com",
        "AlertWebhookUrl": receiver.url,
        "AlertWebhookSecret": SECRET,
    }
    with LocalStack.start(parameters=parameters) as local:
        yield local


@pytest.fixture
def webhook(receiver: Receiver, stack: LocalStack) -> Receiver:
    """The receiver with nothing received and nothing queued, the relay's taps empty."""
    stack.relay.drain()
    receiver.received.clear()
    receiver.answers.clear()
    return receiver


def _detail(
    coin: str, signal_type: str = "BUY", confidence: float = 0.72, *, actionable: bool = True
) -> dict[str, Any]:
    """A signal's JSON as the process function publishes it (with its evidence)."""
    return {
        "signal_id": str(uuid.uuid4()),
        "crypto_id": coin,
        "timestamp": 1_700_000_000,
        "signal_type": signal_type,
        "rule": "rsi_oversold",
        "timeframe": "1h",
        "price": 67000.5,
        "confidence_score": confidence,
        "details": {"rsi": 24.1},
        "evaluation_horizon": "1h",
        "evidence": {"n": 41.0, "hit_rate": 0.61, "p_value": 0.01},
        "actionable": actionable,
    }


def _put(stack: LocalStack, *details: dict[str, Any], source: str = SOURCE) -> None:
    """PutEvents as SignalPublisher does: its source and detail-type, detail = the signal."""
    response = stack.client("events").put_events(
        Entries=[
            {
                "Source": source,
                "DetailType": DETAIL_TYPE,
                "Detail": json.dumps(detail, separators=(",", ":")),
                "EventBusName": stack.names["signals_bus"],
                "Resources": [],
            }
            for detail in details
        ]
    )
    assert response["FailedEntryCount"] == 0


def _receive_all(stack: LocalStack, url: str) -> list[dict[str, Any]]:
    sqs, found = stack.client("sqs"), []
    while messages := sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
    ).get("Messages", []):
        found += messages
        for message in messages:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return found


def test_a_strong_signal_reaches_the_webhook_as_chat_json_with_the_secret_header(
    stack: LocalStack, webhook: Receiver, coin: str
) -> None:
    detail = _detail(coin)
    _put(stack, detail)
    report = stack.relay.drain()
    assert (report.delivered, report.retrying, report.dead_lettered) == (1, 0, 0)
    (request,) = webhook.received
    assert request.path == "/hooks/alerts"
    assert request.headers[HEADER.lower()] == SECRET
    assert request.headers["content-type"] == "application/json; charset=utf-8"
    line = f"{coin} BUY rsi_oversold (1h) at 67000.5 (confidence 0.72)"
    assert json.loads(request.body) == {"text": line, "content": line, "signal": detail}


def test_events_the_rule_does_not_match_are_not_delivered(
    stack: LocalStack, webhook: Receiver, coin: str
) -> None:
    weak = [
        _detail(coin, "SELL", 0.3, actionable=False),
        _detail(coin, "ALERT", 0.9, actionable=False),
    ]
    _put(stack, *weak)
    _put(stack, _detail(coin), source="someone.else")
    assert stack.relay.drain().delivered == 0
    assert webhook.received == []


def test_a_failing_webhook_is_retried_and_a_refused_alert_is_dead_lettered_with_the_reason(
    stack: LocalStack, webhook: Receiver, coin: str
) -> None:
    webhook.answers += [503]  # retried: delivered on the second try
    _put(stack, _detail(coin))
    report = stack.relay.drain()
    assert (report.retrying, report.delivered) == (1, 1) and len(webhook.received) == 2

    webhook.answers += [400]  # not retried: dead-lettered at once
    refused = _detail(coin, "SELL")
    _put(stack, refused)
    assert stack.relay.drain().dead_lettered == 1
    (message,) = _receive_all(stack, stack.names["alert_delivery_failure_queue_url"])
    assert json.loads(message["Body"])["detail"] == refused
    attributes = {k: v["StringValue"] for k, v in message["MessageAttributes"].items()}
    assert attributes["ERROR_CODE"] == "HTTP_400"
    assert attributes["RULE_ARN"].endswith(stack.relay.routes[0].rule_name)
    assert ":api-destination/" in attributes["TARGET_ARN"]
    assert SECRET not in json.dumps(attributes) and webhook.url not in json.dumps(attributes)


def test_the_alert_topic_fans_the_event_out_to_its_subscriptions(
    stack: LocalStack, coin: str
) -> None:
    sqs, sns = stack.client("sqs"), stack.client("sns")
    topic = stack.names["alert_topic_arn"]
    url = sqs.create_queue(QueueName=f"alert-subscriber-{coin}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn["QueueArn"])
    subscriptions = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    assert {"email": "trader@example.com"}.items() <= {
        s["Protocol"]: s["Endpoint"] for s in subscriptions
    }.items()

    detail = _detail(coin)
    _put(stack, detail, _detail(coin, "SELL", 0.3, actionable=False))
    (message,) = _receive_all(stack, url)
    event = json.loads(json.loads(message["Body"])["Message"])  # SNS's envelope around it
    assert event["source"] == SOURCE and event["detail-type"] == DETAIL_TYPE
    assert event["detail"] == detail


def test_every_alert_resource_is_deployed_and_no_output_holds_a_secret(
    stack: LocalStack, receiver: Receiver
) -> None:
    missing = set(stack.stack.translated["Resources"]) - set(stack.stack.resources)
    assert not missing, f"created silently without: {sorted(missing)}"
    assert set(shims.SHIMMED_TYPES) <= set(stack.stack.resource_types.values())
    outputs = json.dumps(stack.stack.outputs)
    assert SECRET not in outputs and receiver.url not in outputs
    (route,) = stack.relay.routes
    assert route.destination == stack.stack.outputs["AlertWebhookName"]
    assert SECRET not in repr(route) and receiver.url not in repr(route)


def test_a_target_setting_the_relay_does_not_emulate_fails_at_start(stack: LocalStack) -> None:
    events, bus = stack.client("events"), stack.names["signals_bus"]
    (route,) = stack.relay.routes
    rule = f"unsupported-{uuid.uuid4().hex[:8]}"
    events.put_rule(Name=rule, EventBusName=bus, EventPattern='{"source": ["nobody"]}')
    target = {
        "Id": "with-path-parameters",
        "Arn": route.target["Arn"],
        "HttpParameters": {"PathParameterValues": ["x"]},
    }
    events.put_targets(Rule=rule, EventBusName=bus, Targets=[target])
    try:
        with pytest.raises(TransformError, match="HttpParameters are not emulated"):
            ApiDestinationRelay(stack.endpoint, bus, stack.stack.region)
    finally:
        events.remove_targets(Rule=rule, EventBusName=bus, Ids=[target["Id"]])
        events.delete_rule(Name=rule, EventBusName=bus)
