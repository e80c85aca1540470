"""Our runtime for what the emulator does not do: run Lambda code, fire schedules, poll Kinesis.

moto stores functions, schedule rules and event-source mappings but never runs our code. This
module reads those deployed definitions back through the AWS APIs and acts on them:

- `LambdaRuntime.invoke(name, event)`: calls the function's configured handler (a dotted path
  on this interpreter's sys.path) in-process with the function's configured environment plus
  `AWS_ENDPOINT_URL`, so boto3 and Powertools reach the emulator unchanged. Each function has
  its own "container": a private copy of the handler's module, executed on the first invocation
  (the cold start) inside that environment, as Lambda does, so module-level objects (Powertools'
  Logger and Metrics read their service and namespace at import; cached clients) see the
  function's settings, never another function's or the test process's.
  Its stdout becomes a CloudWatch Logs stream; embedded-metric-format lines become metrics;
  AWS/Lambda Invocations, Errors and Duration are published as Lambda would.
  A PackageType Image function runs the same way unless asked otherwise: with
  `LambdaRuntime(..., image_interpreter=Interpreter(python, path))`, or
  CRYPTOSIGNALS_LOCAL_IMAGE_RUNTIME=subprocess, it runs as its image would, in a process of
  its own through AWS's runtime interface client and a local Runtime API
  (cryptosignals.local.runtime_api): one cold start per invocation.
- `Scheduler`: a virtual clock over the deployed `rate(...)` rules; `advance(seconds)` fires
  every due target in time order. Nothing sleeps.
- `KinesisPoller`: one deployed event-source mapping, honoured option by option (see its doc).
"""

from __future__ import annotations

import base64
import contextlib
import importlib.util
import io
import json
import os
import re
import sys
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from cryptosignals.errors import PermanentError
from cryptosignals.local.emulator import ACCOUNT_ID, FAKE_CREDENTIALS, REGION, client

if TYPE_CHECKING:  # runtime_api builds on this module: imported where used
    from cryptosignals.local.runtime_api import Interpreter

Clock = Callable[[], float]


def _iso(epoch: float) -> str:
    return (
        datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    )


def function_name(arn_or_name: str) -> str:
    """A Lambda function's name from its name or ARN (a version or alias suffix dropped)."""
    return arn_or_name.split(":function:")[-1].split(":")[0]


@contextlib.contextmanager
def temporary_environment(values: Mapping[str, str]) -> Iterator[None]:
    """Set variables for the duration of an invocation, then restore the previous environment."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


class _CaptureStream(io.TextIOBase):
    """One stdout for every invocation, switched to a fresh buffer per invocation.

    Powertools' Logger keeps the stream that was sys.stdout when it was created (during the
    first invocation, at import); a new StringIO per invocation would leave later invocations'
    log lines in the first one's buffer. Outside an invocation, writes go to the real stdout.
    """

    def __init__(self) -> None:
        self._buffer: io.StringIO | None = None

    def begin(self) -> None:
        self._buffer = io.StringIO()

    def end(self) -> str:
        text = self._buffer.getvalue() if self._buffer is not None else ""
        self._buffer = None
        return text

    def write(self, text: str) -> int:
        if self._buffer is None:
            return sys.__stdout__.write(text) if sys.__stdout__ else len(text)
        return self._buffer.write(text)

    def writable(self) -> bool:
        return True


_CAPTURE = _CaptureStream()


@dataclass(frozen=True)
class FunctionConfig:
    """The parts of a deployed function's configuration an invocation needs."""

    name: str
    arn: str
    handler: str
    environment: dict[str, str]
    timeout: int
    memory: int
    log_group: str
    package_type: str = "Zip"
    command: tuple[str, ...] = ()  # an image function's ImageConfig.Command


class LambdaContext:
    """The attributes of Lambda's context object that handlers and Powertools read."""

    def __init__(self, config: FunctionConfig, request_id: str) -> None:
        self.function_name = config.name
        self.function_version = "$LATEST"
        self.invoked_function_arn = config.arn
        self.memory_limit_in_mb = config.memory
        self.aws_request_id = request_id
        self.log_group_name = config.log_group
        self.log_stream_name = f"{datetime.now(UTC):%Y/%m/%d}/[$LATEST]{request_id[:8]}"
        self._deadline = time.monotonic() + config.timeout

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


@dataclass
class Invocation:
    """One in-process invocation: what the handler returned or raised, and what it printed."""

    function: str
    request_id: str
    result: Any = None
    error_type: str | None = None
    error_message: str | None = None
    duration_ms: float = 0.0
    log_lines: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return self.error_type is not None


def emf_to_metric_data(line: str) -> tuple[str, list[dict[str, Any]]] | None:
    """One EMF log line -> (namespace, PutMetricData entries), or None if it is not EMF."""
    if not line.startswith("{") or '"_aws"' not in line:
        return None
    try:
        document = json.loads(line)
        meta = document["_aws"]
        directives = meta["CloudWatchMetrics"]
    except (ValueError, KeyError, TypeError):
        return None
    timestamp = datetime.fromtimestamp(meta.get("Timestamp", time.time() * 1000) / 1000, UTC)
    result: list[tuple[str, list[dict[str, Any]]]] = []
    for directive in directives:
        entries = []
        dimension_sets = directive.get("Dimensions") or [[]]
        for metric in directive.get("Metrics", []):
            value = document.get(metric["Name"])
            values = value if isinstance(value, list) else [value]
            values = [float(v) for v in values if isinstance(v, int | float)]
            if not values:
                continue
            for dimension_set in dimension_sets:
                entries.append(
                    {
                        "MetricName": metric["Name"],
                        "Dimensions": [
                            {"Name": d, "Value": str(document[d])}
                            for d in dimension_set
                            if d in document
                        ],
                        "Values": values,
                        "Unit": metric.get("Unit", "None"),
                        "Timestamp": timestamp,
                    }
                )
        result.append((directive["Namespace"], entries))
    if not result:
        return None
    namespace = result[0][0]
    return namespace, [e for ns, entries in result if ns == namespace for e in entries]


def load_handler(dotted: str, container: str) -> Callable[[Any, Any], Any]:
    """`package.module.function` -> the function, from a fresh copy of its module private to
    `container` (the module's own imports stay shared, as the interpreter's are)."""
    module_name, _, attribute = dotted.rpartition(".")
    spec = importlib.util.find_spec(module_name) if module_name else None
    if spec is None or spec.origin is None:
        raise PermanentError(f"handler {dotted!r}: no module {module_name!r} on sys.path")
    private_name = f"{module_name}[{container}:{uuid.uuid4().hex[:8]}]"
    private = importlib.util.spec_from_file_location(private_name, spec.origin)
    assert private is not None and private.loader is not None
    module = importlib.util.module_from_spec(private)
    sys.modules[private_name] = module  # dataclasses and pickling look a module up by name
    try:
        private.loader.exec_module(module)
    except BaseException:
        del sys.modules[private_name]
        raise
    if not hasattr(module, attribute):
        raise PermanentError(f"handler {dotted!r}: {module_name} has no {attribute!r}")
    return getattr(module, attribute)  # type: ignore[no-any-return]


class LambdaRuntime:
    """Invokes deployed functions in-process, as Lambda would, against the emulator."""

    def __init__(
        self,
        endpoint: str,
        region: str = REGION,
        *,
        image_interpreter: Interpreter | Literal["env"] | None = "env",
    ) -> None:
        """`image_interpreter`: an Interpreter (cryptosignals.local.runtime_api) runs the
        PackageType Image functions in a process of their own on it; None in-process; by
        default, what CRYPTOSIGNALS_LOCAL_IMAGE_RUNTIME says (unset: in-process)."""
        from cryptosignals.local.runtime_api import Interpreter

        self.endpoint = endpoint
        self.region = region
        self.image_interpreter: Interpreter | None = (
            Interpreter.from_env() if image_interpreter == "env" else image_interpreter
        )
        self._lambda = client("lambda", endpoint, region)
        self._logs = client("logs", endpoint, region)
        self._cloudwatch = client("cloudwatch", endpoint, region)
        self._configs: dict[str, FunctionConfig] = {}
        self.handlers: dict[str, Callable[[Any, Any], Any]] = {}
        self._log_streams: set[tuple[str, str]] = set()
        self.invocations: list[Invocation] = []

    def base_environment(self) -> dict[str, str]:
        """What Lambda's runtime adds to every function, pointed at the emulator."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            **FAKE_CREDENTIALS,
        }

    def config(self, function: str, *, refresh: bool = False) -> FunctionConfig:
        """The deployed configuration (handler, environment), read once from the emulator."""
        name = function_name(function)
        if refresh or name not in self._configs:
            self.handlers.pop(name, None)  # a new configuration starts new containers
            raw = self._lambda.get_function_configuration(FunctionName=name)
            env = raw.get("Environment", {}).get("Variables", {})
            # an image function names its handler in ImageConfig.Command (the image's CMD)
            command = raw.get("ImageConfigResponse", {}).get("ImageConfig", {}).get("Command")
            self._configs[name] = FunctionConfig(
                name=name,
                arn=raw["FunctionArn"],
                handler=raw.get("Handler") or (command or [""])[0],
                environment={k: str(v) for k, v in env.items()},
                timeout=int(raw.get("Timeout", 3)),
                memory=int(raw.get("MemorySize", 128)),
                log_group=raw.get("LoggingConfig", {}).get("LogGroup", f"/aws/lambda/{name}"),
                package_type=raw.get("PackageType") or "Zip",
                command=tuple(command or ()),
            )
        return self._configs[name]

    def handler(self, function: str) -> Callable[[Any, Any], Any]:
        """The function's handler in its container, cold-started on first use. Call it inside
        the function's environment (`invoke` does)."""
        config = self.config(function)
        if config.name not in self.handlers:
            self.handlers[config.name] = load_handler(config.handler, container=config.name)
        return self.handlers[config.name]

    def function_environment(self, config: FunctionConfig) -> dict[str, str]:
        """The function's variables plus those Lambda's runtime sets, pointed at the emulator."""
        return {
            **config.environment,
            **self.base_environment(),
            "AWS_LAMBDA_FUNCTION_NAME": config.name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(config.memory),
            "AWS_LAMBDA_LOG_GROUP_NAME": config.log_group,
        }

    def invoke(self, function: str, event: Any) -> Invocation:
        """Run the function's handler on `event`; an exception becomes a failed Invocation."""
        config = self.config(function)
        if config.package_type == "Image" and self.image_interpreter is not None:
            invocation = self._invoke_image(config, event)
            self.invocations.append(invocation)
            self._publish(config, invocation)
            return invocation
        request_id = str(uuid.uuid4())
        invocation = Invocation(config.name, request_id)
        env = self.function_environment(config)
        started = time.perf_counter()
        _CAPTURE.begin()
        with temporary_environment(env), contextlib.redirect_stdout(_CAPTURE):
            try:
                handler = self.handler(config.name)
                invocation.result = handler(event, LambdaContext(config, request_id))
            except Exception as exc:  # a crash is the function's error, as on Lambda
                invocation.error_type = type(exc).__name__
                invocation.error_message = str(exc)
        invocation.duration_ms = (time.perf_counter() - started) * 1000
        invocation.log_lines = _CAPTURE.end().splitlines()
        self.invocations.append(invocation)
        self._publish(config, invocation)
        return invocation

    def _invoke_image(self, config: FunctionConfig, event: Any) -> Invocation:
        """The image's runtime client in a process of its own, started for this invocation and
        stopped after it (a cold start each time, as a weekly training run finds on AWS)."""
        from cryptosignals.local.runtime_api import ImageFunction

        container = ImageFunction(
            config.command or (config.handler,),
            self.function_environment(config),
            name=config.name,
            arn=config.arn,
            timeout=config.timeout,
            memory=config.memory,
            interpreter=self.image_interpreter,
        )
        with container:
            return container.invoke(event)

    def _publish(self, config: FunctionConfig, invocation: Invocation) -> None:
        """Logs to the function's log group, EMF lines and AWS/Lambda metrics to CloudWatch."""
        now = datetime.now(UTC)
        dims = [{"Name": "FunctionName", "Value": config.name}]
        self._cloudwatch.put_metric_data(
            Namespace="AWS/Lambda",
            MetricData=[
                {"MetricName": "Invocations", "Dimensions": dims, "Value": 1.0, "Timestamp": now},
                {
                    "MetricName": "Errors",
                    "Dimensions": dims,
                    "Value": float(invocation.failed),
                    "Timestamp": now,
                },
                {
                    "MetricName": "Duration",
                    "Dimensions": dims,
                    "Value": invocation.duration_ms,
                    "Unit": "Milliseconds",
                    "Timestamp": now,
                },
            ],
        )
        for line in invocation.log_lines:
            parsed = emf_to_metric_data(line)
            if parsed and parsed[1]:
                namespace, data = parsed
                for start in range(0, len(data), 1000):
                    self._cloudwatch.put_metric_data(
                        Namespace=namespace, MetricData=data[start : start + 1000]
                    )
        logged = any(  # an image's runtime client logs the error itself
            line.startswith(f"[ERROR] {invocation.error_type}:") for line in invocation.log_lines
        )
        lines = invocation.log_lines + (
            [f"[ERROR] {invocation.error_type}: {invocation.error_message}"]
            if invocation.failed and not logged
            else []
        )
        if lines:
            self._write_logs(config.log_group, f"{now:%Y/%m/%d}/[$LATEST]local", lines)

    def _write_logs(self, group: str, stream: str, lines: list[str]) -> None:
        if (group, stream) not in self._log_streams:
            with contextlib.suppress(self._logs.exceptions.ResourceAlreadyExistsException):
                self._logs.create_log_group(logGroupName=group)
            with contextlib.suppress(self._logs.exceptions.ResourceAlreadyExistsException):
                self._logs.create_log_stream(logGroupName=group, logStreamName=stream)
            self._log_streams.add((group, stream))
        stamp = int(time.time() * 1000)
        events = [{"timestamp": stamp, "message": line[:200_000]} for line in lines]
        for start in range(0, len(events), 5000):
            self._logs.put_log_events(
                logGroupName=group, logStreamName=stream, logEvents=events[start : start + 5000]
            )

    def put_metric(self, function: str, name: str, value: float, unit: str = "None") -> None:
        """An AWS/Lambda metric Lambda itself would publish (e.g. IteratorAge)."""
        self._cloudwatch.put_metric_data(
            Namespace="AWS/Lambda",
            MetricData=[
                {
                    "MetricName": name,
                    "Dimensions": [{"Name": "FunctionName", "Value": function_name(function)}],
                    "Value": value,
                    "Unit": unit,
                }
            ],
        )


# ------------------------------------------------------------------------------------ schedules
_RATE = re.compile(r"^rate\((\d+)\s+(minute|minutes|hour|hours|day|days)\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}


def rate_seconds(expression: str) -> int:
    """`rate(5 minutes)` -> 300. cron() is not emulated (the template uses rate)."""
    match = _RATE.match(expression.strip())
    if not match:
        raise PermanentError(f"schedule {expression!r}: only rate(N unit) is emulated locally")
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2).rstrip("s")]


@dataclass
class _ScheduledTarget:
    rule_name: str
    rule_arn: str
    function: str  # a function's name, or a state machine's (then `state_machine` is its ARN)
    period: int
    next_fire: float
    input: Any = None
    state_machine: str | None = None


class Scheduler:
    """Fires the Lambda targets of the deployed schedule rules on a virtual clock, and the
    state-machine targets named in `state_machines` (run by cryptosignals.local.states; an
    execution is returned as an `Execution`, an Invocation with the tasks' invocations).

    The clock starts at `start` (default: now); a rule first fires one period later, as on
    AWS. Nothing runs until `advance()` or `fire_now()` is called, so tests never sleep.
    """

    def __init__(
        self,
        runtime: LambdaRuntime,
        start: float | None = None,
        functions: Iterable[str] | None = None,
        state_machines: Iterable[str] = (),
    ) -> None:
        self.runtime = runtime
        self.now = time.time() if start is None else start
        only = None if functions is None else {function_name(f) for f in functions}
        machines = {m.rsplit(":", 1)[-1] for m in state_machines}
        self.targets = [
            t
            for t in self._load()
            if (t.function in machines if t.state_machine else only is None or t.function in only)
        ]

    def _load(self) -> list[_ScheduledTarget]:
        events = client("events", self.runtime.endpoint, self.runtime.region)
        targets = []
        for rule in events.list_rules().get("Rules", []):
            if rule.get("State") != "ENABLED" or not rule.get("ScheduleExpression"):
                continue
            period = rate_seconds(rule["ScheduleExpression"])
            for target in events.list_targets_by_rule(Rule=rule["Name"]).get("Targets", []):
                machine = ":states:" in target["Arn"] and ":stateMachine:" in target["Arn"]
                if ":function:" not in target["Arn"] and not machine:
                    continue
                targets.append(
                    _ScheduledTarget(
                        rule["Name"],
                        rule["Arn"],
                        target["Arn"].rsplit(":", 1)[-1]
                        if machine
                        else function_name(target["Arn"]),
                        period,
                        self.now + period,
                        json.loads(target["Input"]) if target.get("Input") else None,
                        target["Arn"] if machine else None,
                    )
                )
        return targets

    def event(self, target: _ScheduledTarget, at: float) -> dict[str, Any]:
        """The event EventBridge sends for a schedule (unless the target sets its own Input)."""
        if target.input is not None:
            return target.input  # type: ignore[no-any-return]
        return {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": ACCOUNT_ID,
            "time": _iso(at).replace(".000Z", "Z"),
            "region": self.runtime.region,
            "resources": [target.rule_arn],
            "detail": {},
        }

    def advance(self, seconds: float) -> list[Invocation]:
        """Move the clock forward, firing every due target in time order."""
        end = self.now + seconds
        fired = []
        while True:
            due = [t for t in self.targets if t.next_fire <= end]
            if not due:
                break
            target = min(due, key=lambda t: t.next_fire)
            self.now = target.next_fire
            fired.append(self._fire(target))
            target.next_fire += target.period
        self.now = end
        return fired

    def fire_now(self) -> list[Invocation]:
        """Fire every schedule target once at the current virtual time (a manual run)."""
        return [self._fire(t) for t in self.targets]

    def _fire(self, target: _ScheduledTarget) -> Invocation:
        event = self.event(target, self.now)
        if target.state_machine is None:
            return self.runtime.invoke(target.function, event)
        from cryptosignals.local.states import StateMachineRunner

        return StateMachineRunner(self.runtime, target.state_machine).execute(event, start=self.now)


# -------------------------------------------------------------------------------------- Kinesis
@dataclass(frozen=True)
class _Record:
    shard_id: str
    sequence_number: str
    partition_key: str
    data: bytes
    arrival: float

    @property
    def seq(self) -> int:
        return int(self.sequence_number)


@dataclass
class PollReport:
    """What one poll or drain did, for tests and the demo's summary."""

    records_read: int = 0
    invocations: int = 0
    batches_ok: int = 0
    records_sent_to_on_failure: int = 0
    on_failure_messages: int = 0


class KinesisPoller:
    """One deployed Kinesis event-source mapping, run in-process.

    Honoured: BatchSize; MaximumBatchingWindowInSeconds (a batch waits, on `clock`, until full or
    the window has passed since its first record; `drain()` flushes); StartingPosition
    TRIM_HORIZON/LATEST; ReportBatchItemFailures (checkpoint before the lowest reported sequence
    number and retry from there; an unusable report fails the whole batch); a handler exception
    fails the whole batch; BisectBatchOnFunctionError
    (a failed batch is split in two, which does not count as a retry); MaximumRetryAttempts
    (-1 = until the records expire); MaximumRecordAgeInSeconds (older records are not delivered);
    DestinationConfig.OnFailure (an SQS message with AWS's KinesisBatchInfo metadata, not the
    records). Shards are processed in order, one batch at a time, like Lambda's per-shard
    concurrency of 1. IteratorAge is published per batch.
    """

    #: Safety net for MaximumRetryAttempts -1 with MaximumRecordAgeInSeconds -1.
    MAX_INVOCATIONS_PER_BATCH = 1000

    def __init__(self, runtime: LambdaRuntime, uuid_: str, clock: Clock = time.time) -> None:
        self.runtime = runtime
        self.clock = clock
        self._lambda = client("lambda", runtime.endpoint, runtime.region)
        self._kinesis = client("kinesis", runtime.endpoint, runtime.region)
        self._sqs = client("sqs", runtime.endpoint, runtime.region)
        self.mapping = self._lambda.get_event_source_mapping(UUID=uuid_)
        self.stream_arn: str = self.mapping["EventSourceArn"]
        self.stream_name = self.stream_arn.split(":stream/")[-1]
        self.function = function_name(self.mapping["FunctionArn"])
        self.batch_size = int(self.mapping.get("BatchSize", 100))
        self.window = float(self.mapping.get("MaximumBatchingWindowInSeconds", 0))
        self.report_failures = "ReportBatchItemFailures" in self.mapping.get(
            "FunctionResponseTypes", []
        )
        self.bisect = bool(self.mapping.get("BisectBatchOnFunctionError", False))
        self.max_retries = int(self.mapping.get("MaximumRetryAttempts", -1))
        self.max_age = int(self.mapping.get("MaximumRecordAgeInSeconds", -1))
        destination = self.mapping.get("DestinationConfig", {}).get("OnFailure", {})
        self.on_failure_arn: str | None = destination.get("Destination")
        self.starting_position = self.mapping.get("StartingPosition", "TRIM_HORIZON")
        self._iterators: dict[str, str | None] = {}
        self._last_seq: dict[str, int] = {}
        self._buffers: dict[str, list[_Record]] = {}
        self._first_buffered: dict[str, float] = {}
        if self.starting_position == "LATEST":  # take the position now, as a new mapping does
            for shard in self._shards():
                self._read(shard)

    @classmethod
    def for_function(
        cls, runtime: LambdaRuntime, function: str, clock: Clock = time.time
    ) -> list[KinesisPoller]:
        """Pollers for every enabled Kinesis mapping of a deployed function."""
        mappings = client("lambda", runtime.endpoint, runtime.region).list_event_source_mappings(
            FunctionName=function_name(function)
        )["EventSourceMappings"]
        return [
            cls(runtime, m["UUID"], clock)
            for m in mappings
            if ":kinesis:" in m.get("EventSourceArn", "") and m.get("State") == "Enabled"
        ]

    # -- reading -----------------------------------------------------------------------------
    def _shards(self) -> list[str]:
        shards = self._kinesis.list_shards(StreamName=self.stream_name)["Shards"]
        return [s["ShardId"] for s in shards]

    def _read(self, shard: str) -> int:
        """Append the shard's new records to its buffer (StreamName= iterators; int seqs)."""
        iterator = self._iterators.get(shard)
        if iterator is None:
            position = "LATEST" if self.starting_position == "LATEST" else "TRIM_HORIZON"
            iterator = self._kinesis.get_shard_iterator(
                StreamName=self.stream_name, ShardId=shard, ShardIteratorType=position
            )["ShardIterator"]
        count = 0
        while iterator:
            response = self._kinesis.get_records(ShardIterator=iterator, Limit=10000)
            records = response.get("Records", [])
            iterator = response.get("NextShardIterator")
            self._iterators[shard] = iterator
            for raw in records:
                seq = int(raw["SequenceNumber"])
                if seq <= self._last_seq.get(shard, -1):
                    continue
                self._last_seq[shard] = seq
                self._buffers.setdefault(shard, []).append(
                    _Record(
                        shard,
                        raw["SequenceNumber"],
                        raw["PartitionKey"],
                        raw["Data"],
                        raw["ApproximateArrivalTimestamp"].timestamp(),
                    )
                )
                self._first_buffered.setdefault(shard, self.clock())
                count += 1
            if not records or response.get("MillisBehindLatest", 0) == 0:
                break
        return count

    # -- delivering --------------------------------------------------------------------------
    def poll(self, *, flush: bool = False) -> PollReport:
        """Read every shard once, then deliver the batches that are due (all if `flush`)."""
        report = PollReport()
        for shard in self._shards():
            report.records_read += self._read(shard)
            buffer = self._buffers.get(shard, [])
            while buffer:
                window_over = self.clock() - self._first_buffered[shard] >= self.window
                if len(buffer) < self.batch_size and not (flush or window_over):
                    break
                batch, buffer[:] = buffer[: self.batch_size], buffer[self.batch_size :]
                self._first_buffered[shard] = self.clock()
                self._deliver(shard, batch, report)
            if not buffer:
                self._first_buffered.pop(shard, None)
        return report

    def drain(self, max_rounds: int = 10_000) -> PollReport:
        """Deliver everything on the stream now, ignoring the batching window."""
        total = PollReport()
        for _ in range(max_rounds):
            report = self.poll(flush=True)
            for name in vars(total):
                setattr(total, name, getattr(total, name) + getattr(report, name))
            if report.records_read == 0 and not any(self._buffers.values()):
                return total
        raise PermanentError(f"{self.stream_name}: still not drained after {max_rounds} rounds")

    def event(self, records: list[_Record]) -> dict[str, Any]:
        """The event Lambda builds for a Kinesis batch."""
        role = f"arn:aws:iam::{ACCOUNT_ID}:role/{self.function}"
        return {
            "Records": [
                {
                    "kinesis": {
                        "kinesisSchemaVersion": "1.0",
                        "partitionKey": r.partition_key,
                        "sequenceNumber": r.sequence_number,
                        "data": base64.b64encode(r.data).decode("ascii"),
                        "approximateArrivalTimestamp": round(r.arrival, 3),
                    },
                    "eventSource": "aws:kinesis",
                    "eventVersion": "1.0",
                    "eventID": f"{r.shard_id}:{r.sequence_number}",
                    "eventName": "aws:kinesis:record",
                    "invokeIdentityArn": role,
                    "awsRegion": self.runtime.region,
                    "eventSourceARN": self.stream_arn,
                }
                for r in records
            ]
        }

    def _failed_from(self, records: list[_Record], result: Any) -> int | None:
        """The lowest reported failed sequence number; -1 if the report is unusable."""
        if not self.report_failures or not isinstance(result, Mapping):
            return None
        failures = result.get("batchItemFailures")
        if not failures:
            return None
        known = {r.sequence_number for r in records}
        seqs = []
        for failure in failures:
            identifier = failure.get("itemIdentifier") if isinstance(failure, Mapping) else None
            if not identifier or str(identifier) not in known:
                return -1  # Lambda treats a bad report as a failure of the whole batch
            seqs.append(int(identifier))
        return min(seqs)

    def _deliver(self, shard: str, batch: list[_Record], report: PollReport) -> None:
        work: deque[tuple[list[_Record], int]] = deque([(batch, 0)])
        invocations = 0
        while work:
            records, retries = work.popleft()
            if self.max_age >= 0:
                now = self.clock()
                expired = [r for r in records if now - r.arrival > self.max_age]
                if expired:
                    self._on_failure(shard, expired, "RecordAgeExceeded", retries, None, report)
                    records = [r for r in records if now - r.arrival <= self.max_age]
            if not records:
                continue
            invocations += 1
            if invocations > self.MAX_INVOCATIONS_PER_BATCH:
                raise PermanentError(f"{self.function}: a batch failed {invocations - 1} times")
            self.runtime.put_metric(
                self.function,
                "IteratorAge",
                max(0.0, (self.clock() - records[-1].arrival) * 1000),
                "Milliseconds",
            )
            invocation = self.runtime.invoke(self.function, self.event(records))
            report.invocations += 1
            if not invocation.failed:
                lowest = self._failed_from(records, invocation.result)
                if lowest is None:
                    report.batches_ok += 1
                    continue
                remaining = records if lowest == -1 else [r for r in records if r.seq >= lowest]
                error = None
            else:
                error = invocation.error_type
                if self.bisect and len(records) > 1:
                    half = len(records) // 2
                    work.appendleft((records[half:], retries))
                    work.appendleft((records[:half], retries))
                    continue
                remaining = records
            if self.max_retries >= 0 and retries >= self.max_retries:
                self._on_failure(shard, remaining, "RetryAttemptsExhausted", retries, error, report)
            else:
                work.appendleft((remaining, retries + 1))

    def _on_failure(
        self,
        shard: str,
        records: list[_Record],
        condition: str,
        retries: int,
        function_error: str | None,
        report: PollReport,
    ) -> None:
        """Send AWS-shaped batch metadata to the OnFailure queue (records stay on the stream)."""
        report.records_sent_to_on_failure += len(records)
        if not self.on_failure_arn:
            return  # as on AWS: without a destination the records are skipped
        response: dict[str, Any] = {"statusCode": 200, "executedVersion": "$LATEST"}
        if function_error:
            response["functionError"] = "Unhandled"
        message = {
            "requestContext": {
                "requestId": str(uuid.uuid4()),
                "functionArn": self.mapping["FunctionArn"],
                "condition": condition,
                "approximateInvokeCount": retries + 1,
            },
            "responseContext": response,
            "version": "1.0",
            "timestamp": _iso(self.clock()),
            "KinesisBatchInfo": {
                "shardId": shard,
                "startSequenceNumber": records[0].sequence_number,
                "endSequenceNumber": records[-1].sequence_number,
                "approximateArrivalOfFirstRecord": _iso(records[0].arrival),
                "approximateArrivalOfLastRecord": _iso(records[-1].arrival),
                "batchSize": len(records),
                "streamArn": self.stream_arn,
            },
        }
        queue_name = self.on_failure_arn.split(":")[-1]
        url = self._sqs.get_queue_url(QueueName=queue_name)["QueueUrl"]
        self._sqs.send_message(QueueUrl=url, MessageBody=json.dumps(message))
        report.on_failure_messages += 1
