"""`cryptosignals demo`: the whole AWS pipeline on this machine, on the embedded default data.

Starts the local stack (moto emulator + template.yaml deployed + our Lambda runtime) and the
CoinGecko replay server on the bundled sample, points the ingest function at the replay server
and replays `--days` of the four seed coins through the deployed pipeline: the schedule fires the
ingest handler (one CoinGecko call), which puts ticks on Kinesis; the deployed event-source
mapping (batch size, batching window) invokes the process handler, which writes DynamoDB and
puts signals on the EventBridge bus. Nothing sleeps: the replay clock and the scheduler are
advanced by one schedule period per step. Signals are read back from the bus (a queue
subscribed to it) as they land. Then the dashboard is served while the pipeline keeps running.

End-to-end latency of a tick: wall time from the start of the ingest invocation that put it on
the stream (found from the record's Kinesis arrival time) to the end of the process invocation
that stored it, measured around the runtime's invocations. It includes the mapping's batching
window (a batch leaves when full or when the window has passed), as on AWS.
"""

from __future__ import annotations

import bisect
import json
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Group
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from cryptosignals.candles import SAMPLE_COINS
from cryptosignals.commands.analyze import console as make_console
from cryptosignals.commands.analyze import signals_table, summary_table
from cryptosignals.errors import BadInputError, PermanentError
from cryptosignals.model import Signal

if TYPE_CHECKING:
    from cryptosignals.coingecko.replay import ReplayServer
    from cryptosignals.local.runtime import Invocation, KinesisPoller, Scheduler
    from cryptosignals.local.stack import LocalStack

DAY = 86_400
#: The queue the demo subscribes to the signals bus, to show signals as they land.
FEED_QUEUE = "cryptosignals-demo-feed"
FEED_RULE = "cryptosignals-demo-feed"


class Source(StrEnum):
    replay = "replay"
    live = "live"


def ingest_environment(source: Source, replay_url: str | None = None) -> dict[str, str]:
    """What the ingest function's environment gets for a source.

    replay: the local replay server, no 30/minute pacing (it is local). live: the real
    CoinGecko API of the plan in the environment (COINGECKO_PLAN, COINGECKO_API_URL if set),
    with the plan's rate limit; the key goes to the stack's secret (see `live_api_key`)."""
    if source is Source.replay:
        if not replay_url:
            raise BadInputError("the replay source needs the replay server's URL")
        return {
            "COINGECKO_API_URL": replay_url,
            "COINGECKO_PLAN": "demo",
            "COINGECKO_RATE_LIMIT_PER_MIN": "6000",
        }
    from cryptosignals import settings
    from cryptosignals.coingecko.client import PLAN_BASE_URL, Plan

    config = settings.coingecko()
    return {
        "COINGECKO_API_URL": config.api_url or PLAN_BASE_URL[Plan(config.plan)],
        "COINGECKO_PLAN": config.plan,
        "COINGECKO_RATE_LIMIT_PER_MIN": f"{config.rate_limit_per_min:g}",
    }


def live_api_key() -> str | None:
    """The CoinGecko key of the environment (COINGECKO_API_KEY, or the secret/parameter it
    names), for the live source; None on the public plan. The value is never printed."""
    from cryptosignals import settings
    from cryptosignals.coingecko.client import resolve_api_key

    config = settings.coingecko()
    if config.plan == "public":
        return None
    key = resolve_api_key(config)
    if key is None:
        raise BadInputError(
            f"--source live on the {config.plan} plan needs a key: set COINGECKO_API_KEY "
            "(or COINGECKO_API_KEY_SECRET / COINGECKO_API_KEY_PARAM), or COINGECKO_PLAN=public"
        )
    return key.reveal()


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), -(-len(ordered) * q // 100)))
    return ordered[int(rank) - 1]


class LatencyProbe:
    """Wraps the runtime's `invoke` to time ticks from ingest to storage (see the module doc)."""

    def __init__(self, stack: LocalStack) -> None:
        self.runtime = stack.runtime
        self.ingest = stack.names["ingest_function"]
        self.process = stack.names["process_function"]
        self._invoke = stack.runtime.invoke
        self.ingest_starts: list[float] = []
        self.latencies: list[float] = []
        self.ticks_in = 0
        self.ingest_failures = 0
        self.process_invocations = 0
        self._lock = threading.Lock()
        stack.runtime.invoke = self.invoke  # type: ignore[method-assign]

    def invoke(self, function: str, event: Any) -> Invocation:
        start = time.time()
        invocation = self._invoke(function, event)
        end = time.time()
        from cryptosignals.local.runtime import function_name

        name = function_name(function)
        with self._lock:
            if name == self.ingest:
                self.ingest_starts.append(start)
                if invocation.failed:
                    self.ingest_failures += 1
                else:
                    self.ticks_in += int(invocation.result.get("sent", 0))
            elif name == self.process:
                self.process_invocations += 1
                self._record(event, invocation, end)
        return invocation

    def _record(self, event: Any, invocation: Invocation, end: float) -> None:
        if invocation.failed or not isinstance(event, dict):
            return
        result = invocation.result if isinstance(invocation.result, dict) else {}
        failed = {f.get("itemIdentifier") for f in result.get("batchItemFailures", [])}
        for record in event.get("Records", []):
            kinesis = record.get("kinesis", {})
            if kinesis.get("sequenceNumber") in failed:
                continue
            arrival = float(kinesis.get("approximateArrivalTimestamp", 0))
            i = bisect.bisect_right(self.ingest_starts, arrival + 0.005) - 1
            if i >= 0:
                self.latencies.append(end - self.ingest_starts[i])


@dataclass
class Pipeline:
    """The running demo: stack, source, scheduler, pollers, the signal feed."""

    stack: LocalStack
    scheduler: Scheduler
    pollers: list[KinesisPoller]
    probe: LatencyProbe
    feed_url: str
    server: ReplayServer | None = None
    signals: list[Signal] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def period(self) -> int:
        return min(t.period for t in self.scheduler.targets)

    def step(self, seconds: float, *, flush: bool = False) -> list[Signal]:
        """Advance the replay clock and the schedule by `seconds`, deliver what is due, and
        return the signals that landed on the bus."""
        with self._lock:
            if self.server is not None:
                self.server.clock.advance(seconds)
            self.scheduler.advance(seconds)
            delivered = 0
            for poller in self.pollers:
                report = poller.drain() if flush else poller.poll()
                delivered += report.invocations
            return self.read_feed() if delivered else []

    def read_feed(self) -> list[Signal]:
        sqs = self.stack.client("sqs")
        landed: list[Signal] = []
        while True:
            messages = sqs.receive_message(QueueUrl=self.feed_url, MaxNumberOfMessages=10).get(
                "Messages", []
            )
            if not messages:
                break
            for message in messages:
                body = json.loads(message["Body"])
                landed.append(Signal.from_json(body.get("detail", body)))
            sqs.delete_message_batch(
                QueueUrl=self.feed_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                    for i, m in enumerate(messages)
                ],
            )
        landed.sort(key=lambda s: (s.timestamp, s.crypto_id, s.rule))
        self.signals += landed
        return landed


def subscribe_feed(stack: LocalStack) -> str:
    """A queue receiving every signal event of the bus (the demo's live feed)."""
    sqs, events = stack.client("sqs"), stack.client("events")
    url: str = sqs.create_queue(QueueName=FEED_QUEUE)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    bus = stack.names["signals_bus"]
    events.put_rule(
        Name=FEED_RULE,
        EventBusName=bus,
        EventPattern=json.dumps({"source": ["cryptosignals.engine"]}),
        State="ENABLED",
    )
    events.put_targets(Rule=FEED_RULE, EventBusName=bus, Targets=[{"Id": "feed", "Arn": arn}])
    return url


def _count(stack: LocalStack, table: str) -> int:
    pages = stack.client("dynamodb").get_paginator("scan").paginate(TableName=table, Select="COUNT")
    return sum(int(page["Count"]) for page in pages)


def _queue_depth(stack: LocalStack, url: str) -> int:
    attributes = stack.client("sqs").get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"])


def stored_signals(stack: LocalStack) -> list[Signal]:
    from cryptosignals.aws.dynamo import all_items
    from cryptosignals.aws.store import _deserialize

    items = all_items(stack.client("dynamodb"), "scan", TableName=stack.names["signals_table"])
    found = [Signal.from_json(_deserialize(i)) for i in items]
    return sorted(found, key=lambda s: (s.timestamp, s.crypto_id, s.rule, s.timeframe))


def risk_now(stack: LocalStack) -> Table:
    """Each coin's latest forecast and regime, as the process function stored them on its
    60-minute aggregate (docs/risk.md)."""
    from cryptosignals.aws.dynamo import all_items
    from cryptosignals.aws.store import _deserialize

    items = all_items(stack.client("dynamodb"), "scan", TableName=stack.names["aggregated_table"])
    table = Table(title="Risk now (the 60-minute aggregates)", title_justify="left")
    columns = ("coin", "regime", "1h sigma", "1h VaR99", "1h ES97.5", "size @1% budget",
               "price in 30 min (10-90 %)")  # fmt: skip
    for column in columns:
        table.add_column(column, justify="left" if column in ("coin", "regime") else "right")
    for item in sorted(map(_deserialize, items), key=lambda i: i["crypto_id"]):
        risk = item.get("risk") if int(item["time_window"]) == 60 else None
        if not risk:
            continue
        hour = risk["horizons"]["1h"]
        regime = (risk.get("regime") or {}).get("name", "warming up")
        fan = (risk.get("fan") or {}).get("30m") or {}
        low, high = fan.get("q10"), fan.get("q90")
        band = "warming up" if low is None or high is None else f"{low:,.6g} - {high:,.6g}"
        table.add_row(
            item["crypto_id"], regime, f"{float(hour['sigma']):.2%}",
            f"{float(hour['var_99']):.2%}", f"{float(hour['es_975']):.2%}",
            f"{float(risk['position_size']):.0%}", band,
        )  # fmt: skip
    return table


def summary(pipeline: Pipeline, wall: float) -> tuple[Table, Table]:
    """The run's figures and the stored signals by rule."""
    stack, probe = pipeline.stack, pipeline.probe
    names = stack.names
    signals = stored_signals(stack)
    dead = _queue_depth(stack, names["dead_letter_queue_url"])
    given_up = _queue_depth(stack, names["process_failure_queue_url"])
    table = Table(title="Pipeline summary", title_justify="left")
    table.add_column("measure")
    table.add_column("value", justify="right")
    p50, p99 = percentile(probe.latencies, 50), percentile(probe.latencies, 99)
    rows = [
        ("ticks in (sent by ingest)", f"{probe.ticks_in:,}"),
        ("ingest invocations (failed)", f"{len(probe.ingest_starts):,} ({probe.ingest_failures})"),
        ("process invocations", f"{probe.process_invocations:,}"),
        ("raw items (crypto_raw_data)", f"{_count(stack, names['raw_table']):,}"),
        ("aggregates (crypto_aggregated_data)", f"{_count(stack, names['aggregated_table']):,}"),
        ("signals stored (trading_signals: every firing)", f"{len(signals):,}"),
        ("actionable signals (their record earned it)", f"{sum(s.actionable for s in signals):,}"),
        ("signals seen on the bus (actionable only)", f"{len(pipeline.signals):,}"),
        ("dead-lettered records", f"{dead:,}"),
        ("batches given up (on-failure queue)", f"{given_up:,}"),
        ("end-to-end latency p50 / p99", f"{p50 * 1000:,.0f} ms / {p99 * 1000:,.0f} ms"),
        ("wall time", f"{wall:,.1f} s"),
    ]
    for name, value in rows:
        table.add_row(name, value)
    return table, summary_table(signals, f"{len(signals)} signals on {len(SAMPLE_COINS)} coins")


@contextmanager
def start_pipeline(source: Source) -> Iterator[Pipeline]:
    """The local stack, the source and the wiring, stopped on exit."""
    try:
        from cryptosignals.coingecko.replay import ReplayServer
        from cryptosignals.local.stack import LocalStack
    except ImportError as exc:
        raise PermanentError(
            f"the demo needs the 'local' extra ({exc.name} is missing): "
            "pip install -e '.[local,dashboard]' (make demo does it)"
        ) from None
    with ExitStack() as stack_of:
        stack = stack_of.enter_context(LocalStack.start())
        server = None
        ingest = stack.names["ingest_function"]
        if source is Source.replay:
            server = stack_of.enter_context(ReplayServer())
            stack.set_function_environment(ingest, ingest_environment(source, server.url))
        else:
            key = live_api_key()
            if key:
                stack.client("secretsmanager").put_secret_value(
                    SecretId=stack.names["coingecko_secret_arn"], SecretString=key
                )
            stack.set_function_environment(ingest, ingest_environment(source))
        probe = LatencyProbe(stack)
        scheduler = stack.scheduler(start=0 if server is not None else time.time())
        if not scheduler.targets:
            raise PermanentError("no schedule rule targets the ingest function")
        if server is None:  # live: the first run is due now, then every period in real time
            for target in scheduler.targets:
                target.next_fire = scheduler.now
        yield Pipeline(stack, scheduler, stack.pollers(), probe, subscribe_feed(stack), server)


def _view(progress: Progress, latest: list[Signal], shown: int) -> Group:
    title = f"Latest {shown} actionable signals on the bus (none until a rule's record earns it)"
    return Group(progress, signals_table(latest[-shown:], title))


def replay(pipeline: Pipeline, days: float, shown: int, console: Any) -> None:
    """Replay `days` of market through the pipeline, one schedule period per step."""
    period = pipeline.period
    steps = max(1, round(days * DAY / period))
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
        console=console,
    )
    task = progress.add_task("replaying", total=steps, status="")
    latest: list[Signal] = []
    with Live(_view(progress, latest, shown), console=console, refresh_per_second=8) as live:
        for i in range(steps):
            landed = pipeline.step(period, flush=i == steps - 1)
            clock = pipeline.server.clock.now() if pipeline.server is not None else time.time()
            progress.update(
                task,
                advance=1,
                status=f"{_utc(clock)} · {pipeline.probe.ticks_in:,} ticks · "
                f"{len(pipeline.signals):,} actionable signals",
            )
            if landed:
                latest = (latest + landed)[-shown:]
                live.update(_view(progress, latest, shown))
    console.print()


def run_live_once(pipeline: Pipeline) -> None:
    """The live source: one ingest run now, its ticks delivered."""
    pipeline.step(0, flush=True)


def _utc(timestamp: float) -> str:
    from cryptosignals.commands.analyze import utc

    return utc(int(timestamp))


def keep_running(pipeline: Pipeline, stop: threading.Event, pace: float) -> Callable[[], None]:
    """The pipeline's background loop while the dashboard is served: replay one period every
    `pace` wall seconds (live: real time), delivering as the mapping would."""

    def loop() -> None:
        last = time.monotonic()
        while not stop.wait(0.5):
            now = time.monotonic()
            if pipeline.server is not None:
                if now - last < pace:
                    continue
                pipeline.step(pipeline.period, flush=True)
            else:
                pipeline.step(now - last)
            last = now

    return loop


def demo(
    serve: Annotated[
        bool, typer.Option(help="Serve the dashboard after the summary (until Ctrl-C).")
    ] = True,
    days: Annotated[
        float, typer.Option(help="Days of market replayed (the sample has 20 after the first).")
    ] = 3.0,
    source: Annotated[
        Source,
        typer.Option(
            help="replay: the bundled sample through the replay server; live: the real "
            "CoinGecko API (COINGECKO_PLAN and the key from the environment)."
        ),
    ] = Source.replay,
    port: Annotated[int, typer.Option(help="Dashboard port on 127.0.0.1.")] = 8050,
    latest: Annotated[int, typer.Option(help="Latest signals shown.", min=1)] = 8,
    pace: Annotated[
        float,
        typer.Option(help="While serving: wall seconds per replayed schedule period.", min=0.1),
    ] = 2.0,
) -> None:
    """The AWS pipeline end to end on this machine: schedule -> ingest -> Kinesis -> process ->
    DynamoDB + EventBridge, on a local emulator of the deployed template."""
    if not 0 < days <= 20:
        raise BadInputError(f"--days must be in (0, 20] (the bundled sample), got {days:g}")
    console = make_console()
    started = time.monotonic()
    with console.status("starting the local stack (emulator + template.yaml)"):
        context = start_pipeline(source)
        pipeline = context.__enter__()
    try:
        console.print(
            f"local stack at {pipeline.stack.endpoint}; source: "
            + (pipeline.server.url if pipeline.server is not None else "CoinGecko (live)")
        )
        if pipeline.server is not None:
            replay(pipeline, days, latest, console)
        else:
            with console.status("one live ingest run"):
                run_live_once(pipeline)
            console.print(signals_table(pipeline.signals[-latest:], "Signals on the bus"))
        stored = stored_signals(pipeline.stack)
        console.print(
            signals_table(stored[-latest:], "Latest signals stored, with their rule's record")
        )
        figures, by_rule = summary(pipeline, time.monotonic() - started)
        console.print(figures)
        console.print(by_rule)
        console.print(risk_now(pipeline.stack))
        if serve:
            _serve(pipeline, port, pace, console)
    finally:
        context.__exit__(None, None, None)


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _serve(pipeline: Pipeline, port: int, pace: float, console: Any) -> None:
    try:
        from cryptosignals.dashboard.app import serve
        from cryptosignals.dashboard.reader import DashboardReader
    except ImportError as exc:
        raise PermanentError(
            f"serving needs the 'dashboard' extra ({exc.name} is missing); or use --no-serve"
        ) from None
    os.environ.update(pipeline.stack.environment())
    signal.signal(signal.SIGTERM, _interrupt)  # a service manager's stop = Ctrl-C
    stop = threading.Event()
    worker = threading.Thread(target=keep_running(pipeline, stop, pace), daemon=True)
    worker.start()
    console.print(
        f"dashboard on http://127.0.0.1:{port} (the pipeline keeps running; Ctrl-C stops)"
    )
    try:
        serve(DashboardReader(), host="127.0.0.1", port=port)
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        worker.join(timeout=30)


def register(app: typer.Typer) -> None:
    app.command()(demo)
