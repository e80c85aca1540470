"""`RuleExecutions`: the local stack's start of state machines that rules of a bus target.

The emulator stores a rule's Step Functions target but never starts an execution. This does,
from what is deployed (read back through the AWS APIs), the way `ApiDestinationRelay` delivers
to API destinations: each rule of the bus with a state machine target gets a tap (one SQS target
of ours, so the emulator's own pattern matching picks the events), and `poll()` starts the state
machine (`StateMachineRunner`, in-process) for each event there, with the input EventBridge
would give it (`input_transformer.target_input`: the event, Input, InputPath or
InputTransformer). Only rules on the bus are served; schedule rules fire through the stack's
`Scheduler`. An execution that fails is a failed execution, as on AWS (returned, not raised):
EventBridge's part, starting it, succeeded.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from cryptosignals.local.api_destinations import tap
from cryptosignals.local.emulator import client
from cryptosignals.local.input_transformer import target_input
from cryptosignals.local.runtime import LambdaRuntime
from cryptosignals.local.states import Execution, StateMachineRunner


@dataclass(frozen=True)
class _Start:
    """One state machine target of a rule, with the tap that receives its rule's events."""

    rule_name: str
    rule_arn: str
    target: dict[str, Any]
    tap_url: str


class RuleExecutions:
    """Starts the executions that the rules of one bus ask for (module doc)."""

    def __init__(self, runtime: LambdaRuntime, bus: str) -> None:
        self.runtime = runtime
        events = client("events", runtime.endpoint, runtime.region)
        self._sqs = client("sqs", runtime.endpoint, runtime.region)
        self._starts = [
            _Start(rule["Name"], rule["Arn"], target,
                   tap(events, self._sqs, bus, rule["Name"], target["Id"]))
            for rule in events.list_rules(EventBusName=bus)["Rules"]
            for target in events.list_targets_by_rule(Rule=rule["Name"], EventBusName=bus)[
                "Targets"
            ]
            if ":states:" in target["Arn"] and ":stateMachine:" in target["Arn"]
        ]  # fmt: skip

    def poll(self) -> list[Execution]:
        """Start an execution for each event the taps hold now (up to 10 per target)."""
        executions = []
        for start in self._starts:
            messages = self._sqs.receive_message(
                QueueUrl=start.tap_url, MaxNumberOfMessages=10, VisibilityTimeout=30
            ).get("Messages", [])
            for message in messages:
                event = json.loads(message["Body"])
                given = target_input(start.target, event, start.rule_name, start.rule_arn)
                runner = StateMachineRunner(self.runtime, start.target["Arn"])
                executions.append(runner.execute(json.loads(given)))
                self._sqs.delete_message(
                    QueueUrl=start.tap_url, ReceiptHandle=message["ReceiptHandle"]
                )
        return executions

    def drain(self, max_rounds: int = 100) -> list[Execution]:
        """Poll until a poll starts nothing."""
        executions: list[Execution] = []
        for _ in range(max_rounds):
            started = self.poll()
            if not started:
                break
            executions += started
        return executions
