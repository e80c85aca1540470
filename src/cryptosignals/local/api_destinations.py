"""`ApiDestinationRelay`: the local stack's delivery to EventBridge API destinations.

The emulator stores connections, API destinations and rule targets, but never calls an API
destination. The relay does, from what is deployed (read back through the AWS APIs):

- **Which events.** For each API-destination target of a rule on the bus, the relay adds to
  that rule one SQS target of its own (a "tap": Id `local-tap-<target id>`, a queue of the same
  name, the whole event, no transform). So the emulator's own pattern matching picks the events,
  exactly as it does for the rule's other targets; an event the rule does not match never
  reaches a tap. Events put before the relay was created are not relayed, as for a target added
  later.
- **What is sent.** `poll()` reads each tap and POSTs (the destination's HttpMethod) to the
  destination's InvocationEndpoint, over real HTTP: the body is the target's input
  (`input_transformer.target_input`: the InputTransformer as EventBridge applies it), with
  `Content-Type: application/json; charset=utf-8` and the connection's API-key header, whose
  value is read from the connection's secret as EventBridge does (DescribeConnection never
  returns it). Only API_KEY connections without extra invocation parameters are emulated, and
  targets without HttpParameters; anything else raises `TransformError` at start.
- **Failures.** 2xx is delivered. As on AWS, 401, 407, 409, 429, 5xx and connection errors are
  retried (the tap message becomes visible again: at once, then after 1, 2, 4 ... 60 s) until
  the target's RetryPolicy gives up (MaximumRetryAttempts, default 185;
  MaximumEventAgeInSeconds, default 86400); other statuses are not retried. Given up = the
  event goes to the target's DeadLetterConfig queue with EventBridge's message attribute names
  (RULE_ARN, TARGET_ARN, ERROR_CODE, ERROR_MESSAGE, RETRY_ATTEMPTS, EXHAUSTED_RETRY_CONDITION),
  or is dropped if there is none.

Neither the endpoint URL (a Slack or Discord URL is a credential) nor the secret appears in a
report, an error message or a repr.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import requests

from cryptosignals.local.emulator import REGION, client
from cryptosignals.local.input_transformer import TransformError, target_input

TAP_PREFIX = "local-tap-"
#: Statuses EventBridge retries for an API destination; every other failure is final.
RETRIED_STATUSES = frozenset({401, 407, 409, 429})
_DEFAULT_RETRIES, _DEFAULT_MAX_AGE = 185, 86_400
_TIMEOUT_S = 5.0  # EventBridge waits 5 s for an API destination


@dataclass(frozen=True)
class Route:
    """One API-destination target of a rule, with the tap that receives its rule's events."""

    rule_name: str
    rule_arn: str
    target: dict[str, Any] = field(repr=False)
    destination: str
    method: str
    url: str = field(repr=False)
    header: tuple[str, str] = field(repr=False)
    tap_url: str = field(repr=False)


@dataclass
class RelayReport:
    """What one poll or drain did."""

    delivered: int = 0
    retrying: int = 0
    dead_lettered: int = 0
    dropped: int = 0

    def add(self, other: RelayReport) -> None:
        for name in vars(self):
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass(frozen=True)
class _Failure:
    code: str
    message: str
    retryable: bool


def tap(events: Any, sqs: Any, bus: str, rule: str, target_id: str) -> str:
    """A queue of ours as one more target of the rule (the "tap" of the module doc): it gets
    the whole of every event the rule matches. Returns the queue's URL."""
    name = f"{TAP_PREFIX}{target_id}"[:64]
    url: str = sqs.create_queue(QueueName=f"{name}-{rule}"[:80])["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    events.put_targets(
        Rule=rule, EventBusName=bus, Targets=[{"Id": name, "Arn": arn["Attributes"]["QueueArn"]}]
    )
    return url


def _name_in_arn(arn: str) -> str:
    """`arn:...:api-destination/NAME/uuid` or `arn:...:connection/NAME/uuid` -> NAME."""
    return arn.split(":", 5)[-1].split("/")[1]


def _backoff(attempts: int) -> int:
    """Seconds before the next try: at once after the first failure, then 1, 2, 4 ... 60."""
    return 0 if attempts <= 1 else min(60, 2 ** (attempts - 2))


def _age_seconds(event: dict[str, Any]) -> float:
    stamp = datetime.fromisoformat(str(event.get("time", "")).replace("Z", "+00:00"))
    return time.time() - stamp.timestamp()


class ApiDestinationRelay:
    """Delivers what the rules of one bus send to their API-destination targets (module doc)."""

    def __init__(self, endpoint: str, bus: str, region: str = REGION) -> None:
        self.bus = bus
        self._events = client("events", endpoint, region)
        self._sqs = client("sqs", endpoint, region)
        self._secrets = client("secretsmanager", endpoint, region)
        self._http = requests.Session()
        self.routes = [
            self._route(rule, target)
            for rule in self._events.list_rules(EventBusName=bus)["Rules"]
            for target in self._targets(rule["Name"])
            if ":api-destination/" in target["Arn"]
        ]

    def _targets(self, rule: str) -> list[dict[str, Any]]:
        response = self._events.list_targets_by_rule(Rule=rule, EventBusName=self.bus)
        return list(response["Targets"])

    def _route(self, rule: dict[str, Any], target: dict[str, Any]) -> Route:
        """Resolve a target's destination and connection, then tap its rule."""
        if target.get("HttpParameters"):
            raise TransformError(f"target {target['Id']}: HttpParameters are not emulated")
        destination = self._events.describe_api_destination(Name=_name_in_arn(target["Arn"]))
        return Route(
            rule_name=rule["Name"],
            rule_arn=rule["Arn"],
            target=target,
            destination=destination["Name"],
            method=destination["HttpMethod"],
            url=destination["InvocationEndpoint"],
            header=self._api_key_header(destination["ConnectionArn"]),
            tap_url=self._tap(rule["Name"], target["Id"]),
        )

    def _api_key_header(self, connection_arn: str) -> tuple[str, str]:
        """The connection's header, its value from the connection's secret (never described)."""
        connection = self._events.describe_connection(Name=_name_in_arn(connection_arn))
        parameters = connection.get("AuthParameters", {})
        if connection["AuthorizationType"] != "API_KEY" or "InvocationHttpParameters" in parameters:
            raise TransformError(
                f"connection {connection['Name']}: only API_KEY without invocation parameters "
                "is emulated"
            )
        secret = self._secrets.get_secret_value(SecretId=connection["SecretArn"])
        stored = json.loads(secret["SecretString"])
        return stored["api_key_name"], stored["api_key_value"]

    def _tap(self, rule: str, target_id: str) -> str:
        return tap(self._events, self._sqs, self.bus, rule, target_id)

    # -- delivering ----------------------------------------------------------------------------
    def poll(self) -> RelayReport:
        """Deliver what the taps hold now (up to 10 events per route)."""
        report = RelayReport()
        for route in self.routes:
            messages = self._sqs.receive_message(
                QueueUrl=route.tap_url,
                MaxNumberOfMessages=10,
                VisibilityTimeout=30,
                AttributeNames=["ApproximateReceiveCount"],
            ).get("Messages", [])
            for message in messages:
                self._deliver(route, message, report)
        return report

    def drain(self, max_rounds: int = 1000) -> RelayReport:
        """Poll until a poll finds nothing (retries waiting for their time stay in the taps)."""
        total = RelayReport()
        for _ in range(max_rounds):
            report = self.poll()
            total.add(report)
            if not any(vars(report).values()):
                break
        return total

    def _deliver(self, route: Route, message: dict[str, Any], report: RelayReport) -> None:
        """POST one event; then delete it, or leave it for a retry (module doc)."""
        event = json.loads(message["Body"])
        attempts = int(message.get("Attributes", {}).get("ApproximateReceiveCount", "1"))
        failure = self._post(
            route, target_input(route.target, event, route.rule_name, route.rule_arn)
        )
        retryable = failure is not None and failure.retryable
        exhausted = self._exhausted(route, event, attempts) if retryable else None
        handle = message["ReceiptHandle"]
        if retryable and exhausted is None:
            self._sqs.change_message_visibility(
                QueueUrl=route.tap_url, ReceiptHandle=handle, VisibilityTimeout=_backoff(attempts)
            )
            report.retrying += 1
            return
        if failure is None:
            report.delivered += 1
        elif self._dead_letter(route, event, failure, attempts, exhausted):
            report.dead_lettered += 1
        else:
            report.dropped += 1
        self._sqs.delete_message(QueueUrl=route.tap_url, ReceiptHandle=handle)

    def _post(self, route: Route, body: str) -> _Failure | None:
        """One HTTP call; None if it was taken (2xx). Errors name no URL and no header."""
        name, value = route.header
        headers = {"Content-Type": "application/json; charset=utf-8", name: value}
        try:
            response = self._http.request(
                route.method,
                route.url,
                data=body.encode(),
                headers=headers,
                timeout=_TIMEOUT_S,
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            return _Failure("CONNECTION_ERROR", type(exc).__name__, retryable=True)
        status = response.status_code
        if 200 <= status < 300:
            return None
        retryable = status in RETRIED_STATUSES or status >= 500
        return _Failure(f"HTTP_{status}", f"{route.destination} answered {status}", retryable)

    def _exhausted(self, route: Route, event: dict[str, Any], attempts: int) -> str | None:
        """Which RetryPolicy limit this failure reached, or None to try again."""
        policy = route.target.get("RetryPolicy", {})
        if attempts > int(policy.get("MaximumRetryAttempts", _DEFAULT_RETRIES)):
            return "MaximumRetryAttempts"
        if _age_seconds(event) > int(policy.get("MaximumEventAgeInSeconds", _DEFAULT_MAX_AGE)):
            return "MaximumEventAgeInSeconds"
        return None

    def _dead_letter(
        self,
        route: Route,
        event: dict[str, Any],
        failure: _Failure,
        attempts: int,
        condition: str | None,
    ) -> bool:
        """The event to the target's dead-letter queue; False if it has none (dropped)."""
        arn = route.target.get("DeadLetterConfig", {}).get("Arn")
        if not arn:
            return False
        attributes = {
            "RULE_ARN": route.rule_arn,
            "TARGET_ARN": route.target["Arn"],
            "ERROR_CODE": failure.code,
            "ERROR_MESSAGE": failure.message,
            "RETRY_ATTEMPTS": str(attempts - 1),
            **({"EXHAUSTED_RETRY_CONDITION": condition} if condition else {}),
        }
        url = self._sqs.get_queue_url(QueueName=arn.split(":")[-1])["QueueUrl"]
        self._sqs.send_message(
            QueueUrl=url,
            MessageBody=json.dumps(event),
            MessageAttributes={
                k: {"DataType": "String", "StringValue": v} for k, v in attributes.items()
            },
        )
        return True
