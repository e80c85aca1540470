"""Process: Kinesis ticks -> raw items, aggregates, signals (DynamoDB) + signal events.

Per batch: decode every record (malformed ones go to the dead-letter queue with their reason
and are not retried); group the ticks by coin; read all engine states in one BatchGetItem; feed
each coin's engine (cryptosignals.engine: pure, no writes yet); write every coin's raw ticks and
aggregates together (one BatchWriteItem per 25 items: the write requests of a batch grow with
its items, not its coins); then per coin its new signals (every firing stored; only the
actionable ones published to the bus; all marked) and its state, last, with an optimistic
version check. A coin's first engine starts its track records from the deployed evidence
history (EVIDENCE_HISTORY) when there is one; its volatility and regime models come from
FITTED_MODELS (or the bundled models), and the 60-minute aggregate carries the latest forecast
and regime. A transient failure of the shared write reports the whole batch in
batchItemFailures, one of a coin's own writes only that coin's records, so
Kinesis redelivers them; every write is idempotent and the engine drops ticks its stored state
has already seen, so redelivery changes nothing.

Core interface used: `Engine(crypto_id)`, `Engine.from_state(dict)`, `.feed(TickSeries) ->
EngineResult(signals, aggregates, accepted, duplicates, rejected)`, `.state() -> dict`.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from botocore.exceptions import BotoCoreError, ClientError

from cryptosignals.aws import AwsSettings, SignalPublisher, Store, clients
from cryptosignals.aws.records import KNOWN_COINS, decode_record
from cryptosignals.aws.store import StoredState
from cryptosignals.engine import Engine, EngineConfig, EngineResult, StateVersionError
from cryptosignals.errors import BadInputError, RetryableError
from cryptosignals.evidence import read_history
from cryptosignals.model import Signal, Tick, TickSeries
from cryptosignals.windows import Window

logger = Logger()
metrics = Metrics()


@lru_cache(maxsize=4)
def _history(path: str | None) -> dict[str, dict[str, Any]]:
    """The warm-start track records deployed with the function (read once per container). An
    unusable file is a deploy mistake: logged once, and the coins start from no record (their
    signals say warm_start 0) rather than every batch failing."""
    if not path:
        return {}
    try:
        return read_history(_data_file(path), EngineConfig().evidence)
    except BadInputError as exc:
        logger.error("evidence history not used", extra={"reason": str(exc)})
        return {}


def _data_file(path: str) -> Path:
    """A deployed file: absolute, or a name inside the package's data/ folder."""
    return Path(path) if Path(path).is_absolute() else Path(__file__).parents[1] / "data" / path


@lru_cache(maxsize=64)
def _config(coin: str, fitted_models: str | None) -> EngineConfig | None:
    """The coin's engine configuration: its models from the deployed models file
    (FITTED_MODELS), or None for the engine's default (the bundled models). An unusable file is
    logged and the bundled models serve instead."""
    if not fitted_models:
        return None
    try:
        return EngineConfig.for_coin(coin, _data_file(fitted_models))
    except ValueError as exc:
        logger.error("fitted models not used", extra={"reason": str(exc)})
        return None


def _fresh(coin: str, settings: AwsSettings) -> Engine:
    """A new engine; its track records start from history when one was deployed, else from
    nothing (every signal's evidence then says warm_start 0)."""
    engine = Engine(coin, _config(coin, settings.fitted_models))
    history = _history(settings.evidence_history).get(coin)
    if history is not None:
        engine.start_from(history)
    return engine


def _engine(coin: str, state: dict[str, Any] | None, settings: AwsSettings) -> Engine:
    """The coin's engine from its stored state; a state of an older engine version (after a
    deploy that changed its layout) is replaced by a fresh engine, which warms up again."""
    if not state:
        return _fresh(coin, settings)
    try:
        return Engine.from_state(state, _config(coin, settings.fitted_models))
    except StateVersionError as exc:
        logger.warning("engine state reset", extra={"crypto_id": coin, "reason": str(exc)})
        return _fresh(coin, settings)


def _dead_letter(settings: AwsSettings, dead: list[tuple[dict[str, Any], str]]) -> set[int]:
    """Send malformed records with their reasons; return the positions of those not sent."""
    if not dead:
        return set()
    if not settings.dead_letter_queue_url:
        logger.error("no DEAD_LETTER_QUEUE_URL: malformed records are reported as failures")
        return set(range(len(dead)))
    sqs = clients("sqs", settings)
    unsent: set[int] = set()
    for start in range(0, len(dead), 10):
        chunk = dead[start : start + 10]
        entries = [
            {
                "Id": str(i),
                "MessageBody": json.dumps(
                    {
                        "reason": reason,
                        "eventID": record.get("eventID"),
                        "eventSourceARN": record.get("eventSourceARN"),
                        "kinesis": record.get("kinesis", {}),
                    }
                ),
            }
            for i, (record, reason) in enumerate(chunk)
        ]
        try:
            response = sqs.send_message_batch(
                QueueUrl=settings.dead_letter_queue_url, Entries=entries
            )
            failed = {int(f["Id"]) for f in response.get("Failed", [])}
        except (ClientError, BotoCoreError):
            logger.exception("dead-letter queue unavailable")
            failed = set(range(len(chunk)))
        unsent |= {start + i for i in failed}
    return unsent


@dataclass
class _Fed:
    """A coin's engine after this batch's ticks, not yet stored."""

    ticks: list[Tick]
    engine: Engine
    result: EngineResult
    version: int


def _feed(coin: str, ticks: list[Tick], stored: StoredState, settings: AwsSettings) -> _Fed:
    ticks = sorted(ticks, key=lambda t: t.timestamp)
    engine = _engine(coin, stored.state, settings)
    return _Fed(ticks, engine, engine.feed(TickSeries.from_ticks(coin, ticks)), stored.version)


def _aggregate_items(result: EngineResult) -> list[dict[str, Any]]:
    """The coin's aggregates; the 60-minute one also carries the latest risk forecast."""
    items = [a.to_json() for a in result.aggregates]
    for item in items:
        if item["time_window"] == int(Window.M60) and result.risk is not None:
            item["risk"] = result.risk
    return items


def _publish(store: Store, publisher: SignalPublisher, signals: list[Signal]) -> tuple[int, int]:
    """Store every new signal, put the actionable ones on the bus (the alert feed stays quiet
    on noise: docs/signals.md), mark them all handled; return (stored, alerted)."""
    to_publish = store.put_signals(signals)
    alerts = [s for s in to_publish if s.actionable]
    publisher.publish(alerts)
    store.mark_published(to_publish)
    return len(to_publish), len(alerts)


@metrics.log_metrics
@logger.inject_lambda_context
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    settings = AwsSettings.from_env()
    known = KNOWN_COINS | set(settings.tracked_coins)
    records = event.get("Records", [])
    by_coin: dict[str, list[Tick]] = defaultdict(list)
    seqs_of: dict[str, set[str]] = defaultdict(set)
    dead: list[tuple[dict[str, Any], str]] = []
    for record in records:
        seq = record.get("kinesis", {}).get("sequenceNumber", "")
        try:
            ticks = decode_record(record, known)
        except BadInputError as exc:
            dead.append((record, str(exc)))
            continue
        for tick in ticks:
            by_coin[tick.crypto_id].append(tick)
            seqs_of[tick.crypto_id].add(seq)
    unsent = _dead_letter(settings, dead)  # these are reported instead, so Kinesis retries them
    failed = {dead[i][0].get("kinesis", {}).get("sequenceNumber", "") for i in unsent}
    metrics.add_metric(
        name="RecordsDeadLettered", unit=MetricUnit.Count, value=len(dead) - len(unsent)
    )
    for i, (record, reason) in enumerate(dead):
        message = "record not dead-lettered: retried" if i in unsent else "record dead-lettered"
        logger.warning(message, extra={"eventID": record.get("eventID"), "reason": reason})

    store, publisher = Store(settings), SignalPublisher(settings)
    totals: dict[str, int] = defaultdict(int)
    try:
        states = store.get_states(by_coin)
    except RetryableError:
        logger.exception("engine states unavailable: the whole batch is retried")
        states = None
    fed = (
        {}
        if states is None
        else {c: _feed(c, t, states[c], settings) for c, t in sorted(by_coin.items())}
    )
    try:
        store.put_ticks_and_aggregates(
            (t for f in fed.values() for t in f.ticks),
            (a for f in fed.values() if f.result.accepted for a in _aggregate_items(f.result)),
        )
    except RetryableError:
        logger.exception("ticks and aggregates not stored: the whole batch is retried")
        fed = {}
    failed |= {s for coin in by_coin if coin not in fed for s in seqs_of[coin]}
    for coin, one in fed.items():
        try:
            stored, alerted = _publish(store, publisher, one.result.signals)
            totals["SignalsEmitted"] += stored
            totals["SignalsActionable"] += alerted
            store.put_state(coin, one.engine.state(), one.version)  # last: the batch is done
        except RetryableError:
            logger.exception("transient failure: the coin's records will be redelivered")
            failed |= seqs_of[coin]
            continue
        totals["TicksProcessed"] += one.result.accepted
        totals["DuplicateTicks"] += one.result.duplicates
        totals["OutOfOrderTicks"] += len(one.result.rejected)
    for name, value in totals.items():
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
    metrics.add_metric(name="BatchItemFailures", unit=MetricUnit.Count, value=len(failed))
    return {
        "batchItemFailures": [
            {"itemIdentifier": s} for s in sorted(failed, key=lambda s: int(s or 0))
        ]
    }
