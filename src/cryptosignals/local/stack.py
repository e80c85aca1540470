"""`LocalStack`: the emulator, the deployed template and our runtime, started as one thing.

    with LocalStack.start() as stack:           # moto on a free 127.0.0.1 port, template deployed
        stack.scheduler().advance(300)           # fires the ingest function once
        for poller in stack.pollers():           # the process function's Kinesis mapping
            poller.drain()
        stack.relay.drain()                      # alerts to the webhook (API destination)
        stack.rule_executions.drain()            # executions rules start (a drift: a refit)
        stack.train()                            # the training state machine, in-process
        stack.client("dynamodb").scan(TableName=stack.names["raw_table"])

`stack.environment()` is what any other process (the AWS CLI, the dashboard, the
`cryptosignals` command) needs to talk to it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from cryptosignals.local.api_destinations import ApiDestinationRelay
from cryptosignals.local.emulator import (
    DEFAULT_STACK,
    FAKE_CREDENTIALS,
    REGION,
    DeployedStack,
    Emulator,
    client,
    deploy,
)
from cryptosignals.local.rule_executions import RuleExecutions
from cryptosignals.local.runtime import Clock, KinesisPoller, LambdaRuntime, Scheduler
from cryptosignals.local.states import Execution, StateMachineRunner

#: The placeholder CoinGecko key stored in the local stack's secret (never a real key).
LOCAL_API_KEY = "local-replay-key"

#: Output key of the template -> the short name used in `LocalStack.names`.
_NAMES = {
    "StreamName": "stream",
    "RawTableName": "raw_table",
    "AggregatedTableName": "aggregated_table",
    "SignalsTableName": "signals_table",
    "EngineStateTableName": "engine_state_table",
    "SignalsBusName": "signals_bus",
    "AlertQueueUrl": "alert_queue_url",
    "AlertTopicArn": "alert_topic_arn",
    "AlertDeliveryFailureQueueUrl": "alert_delivery_failure_queue_url",
    "DeadLetterQueueUrl": "dead_letter_queue_url",
    "ProcessFailureQueueUrl": "process_failure_queue_url",
    "CoinGeckoSecretArn": "coingecko_secret_arn",
    "IngestFunctionName": "ingest_function",
    "ProcessFunctionName": "process_function",
    "TrainFunctionName": "train_function",
    "TrainingStateMachineArn": "training_state_machine",
    "ModelsBucketName": "models_bucket",
}


@dataclass
class LocalStack:
    """A running emulator with template.yaml deployed, plus the runtime that invokes handlers,
    the relay that delivers to API destinations and the starter of the executions the bus's
    rules ask for (all three do what the emulator does not)."""

    emulator: Emulator
    stack: DeployedStack
    runtime: LambdaRuntime
    relay: ApiDestinationRelay
    rule_executions: RuleExecutions
    _pollers: list[KinesisPoller] | None = field(default=None, repr=False)

    @classmethod
    def start(
        cls,
        port: int | None = None,
        *,
        parameters: dict[str, Any] | None = None,
        stack_name: str = DEFAULT_STACK,
    ) -> LocalStack:
        """Start moto (shimmed) on 127.0.0.1 and deploy the template; stop() undoes it. The
        relay and the execution starter tap their rules at once, so they see every event from
        the start."""
        emulator = Emulator.start(port or 0)
        try:
            deployed = deploy(emulator.endpoint, stack_name=stack_name, parameters=parameters)
            relay = ApiDestinationRelay(
                emulator.endpoint, deployed.outputs["SignalsBusName"], deployed.region
            )
        except BaseException:
            emulator.stop()
            raise
        runtime = LambdaRuntime(emulator.endpoint, deployed.region)
        executions = RuleExecutions(runtime, deployed.outputs["SignalsBusName"])
        stack = cls(emulator, deployed, runtime, relay, executions)
        # The secret is created empty, as on AWS. Locally the ingest function talks to the
        # replay server, which takes any key: store a placeholder so reading it works.
        stack.client("secretsmanager").put_secret_value(
            SecretId=stack.names["coingecko_secret_arn"], SecretString=LOCAL_API_KEY
        )
        return stack

    @property
    def endpoint(self) -> str:
        return self.emulator.endpoint

    @property
    def names(self) -> dict[str, str]:
        """Stream, tables, bus, queues and functions as deployed (see _NAMES for the keys)."""
        return {short: self.stack.outputs[key] for key, short in _NAMES.items()}

    def environment(self) -> dict[str, str]:
        """Variables that point boto3, Powertools and the AWS CLI at this stack."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_REGION": self.stack.region,
            "AWS_DEFAULT_REGION": self.stack.region,
            **FAKE_CREDENTIALS,
            **self.runtime.config(self.names["process_function"]).environment,
        }

    def set_function_environment(self, function: str, values: dict[str, str]) -> None:
        """Add or change variables of a deployed function (UpdateFunctionConfiguration), e.g.
        COINGECKO_API_URL to point the ingest function at a replay server."""
        config = self.runtime.config(function, refresh=True)
        self.client("lambda").update_function_configuration(
            FunctionName=config.name,
            Environment={"Variables": {**config.environment, **values}},
        )
        self.runtime.config(function, refresh=True)

    def client(self, service: str) -> Any:
        return client(service, self.endpoint, self.stack.region)

    def scheduler(self, start: float | None = None) -> Scheduler:
        """A virtual clock over the stack's schedule rules (nothing fires until advanced)."""
        return Scheduler(self.runtime, start, functions=[self.names["ingest_function"]])

    def training_scheduler(self, start: float | None = None) -> Scheduler:
        """A virtual clock over the training schedule only (TrainSchedule, rate(7 days) by
        default): advancing past it runs the training state machine in-process."""
        return Scheduler(
            self.runtime, start, functions=[], state_machines=[self.names["training_state_machine"]]
        )

    def train(self, input: Any = None, *, start: float | None = None) -> Execution:
        """One execution of the training state machine now (a manual StartExecution)."""
        runner = StateMachineRunner(self.runtime, self.names["training_state_machine"])
        return runner.execute(input, start=start)

    def pollers(self, clock: Clock | None = None) -> list[KinesisPoller]:
        """The process function's deployed Kinesis mappings, ready to poll.

        Without `clock` these are the stack's own pollers, created once, so their position in
        the stream persists like a mapping's checkpoint. With a clock (a test's manual clock),
        new pollers that start from the mapping's StartingPosition.
        """
        function = self.names["process_function"]
        if clock is not None:
            return KinesisPoller.for_function(self.runtime, function, clock)
        if self._pollers is None:
            self._pollers = KinesisPoller.for_function(self.runtime, function, time.time)
        return self._pollers

    def stop(self) -> None:
        self.emulator.stop()

    def __enter__(self) -> LocalStack:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


__all__ = ["REGION", "LocalStack"]
