"""Process: Kinesis ticks -> raw items, aggregates, signals (DynamoDB) + signal events.

Per batch: decode every record (malformed ones go to the dead-letter queue with their reason
and are not retried); group the ticks by coin; read all engine states in one BatchGetItem; feed
each coin's engine (cryptosignals.engine: pure, no writes yet); write every coin's raw ticks and
aggregates together (one BatchWriteItem per 25 items: the write requests of a batch grow with
its items, not its coins); then per coin its new signals (every firing stored; only the
actionable ones published to the bus; all marked) and its state, last, with an optimistic
version check. A coin's first engine starts its track records from the deployed evidence
history (EVIDENCE_HISTORY) when there is one; its volatility and regime models come from
FITTED_MODELS (or the bundled models), then what the training function serves under MODELS
(a volatility refit, a P(up) model, a meta-label filter), all read again every
MODEL_REFRESH_SECONDS; the 60-minute aggregate carries the latest forecast and regime. A
coin whose volatility forecast drifted in the batch gets a VolatilityDrift event on the bus
(the template's drift rule starts its refit), put before its state write. A transient failure
of the shared write reports the whole batch in batchItemFailures, one of a coin's own writes
only that coin's records, so Kinesis redelivers them; every write is idempotent and the engine
drops ticks its stored state has already seen, so redelivery changes nothing. A warm
container goes on with the engine of each coin it wrote last while the table still holds that
write (`_WARM`), instead of decoding the state and rebuilding the engine.

Market context (cryptosignals.market, docs/market.md "In the pipeline"): after the engines, one
MarketTracker over the tracked coins (TRACKED_COINS) takes every coin's new 5-minute bars; its
state is one item (MARKET_STATE_ID), read in the same BatchGetItem and written with the same
version check right after the shared write (a failure of either: the whole batch is retried).
Each tracked coin but bitcoin keeps its BetaTracker inside its own state item (key "beta",
which the engine ignores: no extra write). The 60-minute aggregate carries both as its `market`
map. The market item also keeps the closes of the last `MARKET_RECENT` settled bar times, and a
beta tracker takes every one after its own last bar: a coin whose state write failed after the
market item was written catches up when its records come back (the next batch of its shard;
the item keeps every bar time of the last batch and `MARKET_RECENT` before; the tracker drops
its bars again as late: each bar counts once), so a beta does not depend on how the writes of a
batch went. A redelivered batch makes no new bars: the market item is not rewritten. With fewer
than two tracked coins there is no market (no item, no map); without bitcoin, no beta.
The market-wide alerts (breadth or co-movement jumps) are signals of the pseudo-coin "market"
with their own track record (`MarketSignals`, kept in the market item), stored and alerted like
a coin's, before the market item is written.
Every signal of another coin carries bitcoin's part in its move (question 17, `with_beta`): the
beta, explained share and btc_driven of the coin's 5-minute bar that holds the signal's time, when
that bar is settled by the batch that makes the signal (every coin's ticks of a run arrive
together; a bitcoin bar that comes a batch later leaves the signal without them: nothing is
added to a stored signal afterwards).

Core interface used: `Engine(crypto_id)`, `Engine.from_state(dict)`, `.feed(TickSeries) ->
EngineResult(signals, aggregates, accepted, duplicates, rejected)`, `.state() -> dict`.
"""

from __future__ import annotations

import json
import math
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from botocore.exceptions import BotoCoreError, ClientError

from cryptosignals.aws import AwsSettings, SignalPublisher, Store, clients
from cryptosignals.aws.records import KNOWN_COINS, decode_record
from cryptosignals.aws.store import MARKET_STATE_ID, StoredState
from cryptosignals.engine import Engine, EngineConfig, EngineResult, StateVersionError
from cryptosignals.errors import BadInputError, RetryableError
from cryptosignals.evidence import read_history
from cryptosignals.fitted import deployed_file
from cryptosignals.market import BAR_SECONDS, BetaTracker, MarketSignals, MarketTracker
from cryptosignals.metafilter import KIND, MetaFilter, load_meta_filter
from cryptosignals.model import Signal, Tick, TickSeries
from cryptosignals.predict import Predictor, load_predictor
from cryptosignals.risk import VolatilityModel
from cryptosignals.windows import Window

logger = Logger()
metrics = Metrics()
_STARTED = time.monotonic()  # the container's start: its deployed models are read again hourly


@lru_cache(maxsize=4)
def _history(path: str | None) -> dict[str, dict[str, Any]]:
    """The warm-start track records deployed with the function (read once per container). An
    unusable file is a deploy mistake: logged once, and the coins start from no record (their
    signals say warm_start 0) rather than every batch failing."""
    if not path:
        return {}
    try:
        return read_history(deployed_file(path), EngineConfig().evidence)
    except BadInputError as exc:
        logger.error("evidence history not used", extra={"reason": str(exc)})
        return {}


def _models(coin: str, settings: AwsSettings) -> EngineConfig | None:
    """The coin's engine configuration with the models deployed now (`_config`), read again
    every MODEL_REFRESH_SECONDS (an hour by default) of the container's life: a model the
    training function writes (a weekly run, or a retrain after a drift alarm) reaches every warm
    container within one period, and between reads a batch costs no S3 call."""
    period = settings.model_refresh_seconds
    age = time.monotonic() - _STARTED
    epoch = int(age // period) if period > 0 else time.monotonic_ns()
    return _config(coin, settings.fitted_models, settings.models, epoch)


#: The trained models served, by kind (the name's stem after the coin): their subfolder of
#: MODELS, the EngineConfig field they fill, and what the logs call them.
_SERVED = {
    "volatility": ("volatility", "volatility", "volatility model"),
    "up": ("p_up", "predictor", "P(up) model"),
    KIND: (KIND, "meta_filter", "meta-label filter"),
}


@lru_cache(maxsize=1024)  # a coin's models are read once per period, however many coins
def _config(
    coin: str, fitted_models: str | None, models: str | None, epoch: int
) -> EngineConfig | None:
    """The coin's engine configuration: its models from the deployed models file
    (FITTED_MODELS), then what the training function serves under MODELS: its volatility
    refit, its P(up) model and its meta-label filter, where there are; None for the engine's
    default (the bundled models, no P(up), no filter). An unusable file is logged and the
    defaults serve instead."""
    config = None
    if fitted_models:
        try:
            config = EngineConfig.for_coin(coin, deployed_file(fitted_models))
        except ValueError as exc:
            logger.error("fitted models not used", extra={"reason": str(exc)})
    for kind, (_, slot, _) in _SERVED.items():
        model = _artifact(coin, kind, models, epoch)
        if model is not None:
            config = replace(config or EngineConfig.for_coin(coin), **{slot: model})
    return config


@lru_cache(maxsize=8)
def _artifact_keys(source: str, epoch: int) -> tuple[str, ...]:
    """Every artifact under MODELS' s3:// prefix (all kinds, all coins): one listing a period."""
    from cryptosignals.artifacts import artifact_keys

    return artifact_keys(source)


def _volatility_model(data: dict[str, Any]) -> VolatilityModel:
    try:
        return VolatilityModel.from_json(data["params"])
    except (KeyError, TypeError, ValueError) as exc:
        raise BadInputError(f"not a volatility artifact ({exc})") from None


def _artifact(coin: str, kind: str, models: str | None, epoch: int) -> Any:
    """The coin's newest artifact of a kind ("up": a P(up) Predictor, "volatility": a
    VolatilityModel, "metalabel": a MetaFilter; names end in the training window's last day) in
    its subfolder of MODELS: a folder inside the package's data/ (or absolute), or
    `s3://bucket/prefix`, where the training function writes. An artifact the stream cannot
    serve, or a permanent S3 error (no access, no bucket), is logged and the coin runs without
    it; a transient S3 error fails the batch (Kinesis redelivers it, nothing is cached)."""
    from cryptosignals.artifacts import newest_artifact
    from cryptosignals.aws.errors import classify

    if not models:
        return None
    remote = models.startswith("s3://")
    root = models.rstrip("/") if remote else str(deployed_file(models))
    folder, _, what = _SERVED[kind]
    source = f"{root}/{folder}/"
    listing = _artifact_keys(f"{root}/", epoch) if remote else None
    try:
        found = newest_artifact(f"{coin}_{kind}_", source, listing)
        if found is None:
            return None
        data, where = found
        model: Predictor | VolatilityModel | MetaFilter
        if kind == "up":
            model = load_predictor(data)
            version = model.version
        elif kind == KIND:
            model = load_meta_filter(data)
            version = model.version
        else:
            model, version = _volatility_model(data), Path(where).stem
    except BadInputError as exc:
        logger.error(f"{what} not used", extra={"crypto_id": coin, "reason": str(exc)})
        return None
    except (ClientError, BotoCoreError) as exc:
        error = classify(exc, f"{what} of {coin} from {source}")
        if isinstance(error, RetryableError):
            raise error from exc
        logger.error(f"{what} not used", extra={"crypto_id": coin, "reason": str(error)})
        return None
    logger.info(what, extra={"crypto_id": coin, "model_version": version, "artifact": where})
    return model


def _fresh(coin: str, settings: AwsSettings) -> Engine:
    """A new engine; its track records start from history when one was deployed, else from
    nothing (every signal's evidence then says warm_start 0)."""
    engine = Engine(coin, _models(coin, settings))
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
        return Engine.from_state(state, _models(coin, settings))
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
    beta: dict[str, Any] | None = None  # the stored beta tracker (beside the engine's state)


@dataclass
class _Warm:
    """A coin's engine after this container's last write of its state, the version and bytes
    written, and the beta tracker written beside it."""

    version: int
    stored: bytes | None
    engine: Engine
    beta: dict[str, Any] | None


#: The engine of each coin this container stored last, by (table, coin). While the table still
#: holds those very bytes and version (no container wrote since, no write failed) and the coin's
#: configuration is the one it runs with, the next batch goes on with this engine instead of
#: decoding the state and rebuilding the engine from it: the same engine (a state round-trips
#: exactly: tests/test_engine.py), about a tenth of a tick's CPU less (docs/cost.md). Taken out
#: when used, so an engine fed by a batch whose writes failed is never used again; put back only
#: after its state was written. Memory: one engine a coin the container serves.
_WARM: dict[tuple[str, str], _Warm] = {}


def _resume(
    coin: str, stored: StoredState, settings: AwsSettings
) -> tuple[Engine, dict[str, Any] | None]:
    """The coin's engine for this batch and its stored beta tracker: the warm ones when the
    table holds their last write, else from the stored state."""
    warm = _WARM.pop((settings.engine_state_table, coin), None)
    if warm is not None and warm.stored is not None and warm.stored == stored.stored:
        config = _models(coin, settings) or EngineConfig.for_coin(coin)
        if warm.version == stored.version and warm.engine.config is config:
            return warm.engine, warm.beta
    state = stored.state
    return _engine(coin, state, settings), (state or {}).get("beta")


def _feed(
    coin: str, ticks: list[Tick], stored: StoredState, settings: AwsSettings,
    bitcoin: tuple[np.ndarray, np.ndarray] | None = None,
) -> _Fed:  # fmt: skip
    ticks = sorted(ticks, key=lambda t: t.timestamp)
    engine, beta = _resume(coin, stored, settings)
    result = engine.feed(TickSeries.from_ticks(coin, ticks), bitcoin)
    return _Fed(ticks, engine, result, stored.version, beta)


BTC = "bitcoin"
#: Settled bar times whose closes the market item keeps (two hours) before the last batch's (all
#: kept): a coin whose state write failed, or that had no ticks for a while, still feeds its beta
#: tracker every bar.
MARKET_RECENT = 24
BETA_HALFLIFE = 288.0  # bars: a day (cryptosignals.market, docs/market.md)
_BETA_KEYS = ("beta", "corr", "explained_share", "btc_driven")
_MARKET_KEYS = ("end", "breadth_up", "breadth_ma", "pc1_share", "mean_corr", "alert")


def _json_value(value: Any) -> Any:
    """A numpy or float value as JSON (NaN -> None: DynamoDB stores no NaN)."""
    value = value.item() if hasattr(value, "item") else value
    return None if isinstance(value, float) and math.isnan(value) else value


@dataclass
class _Market:
    """The market context after this batch: the tracker's item, each coin's beta state and the
    `market` map of its 60-minute aggregate."""

    state: dict[str, Any]
    version: int
    changed: bool
    betas: dict[str, dict[str, Any]] = field(default_factory=dict)
    context: dict[str, dict[str, Any]] = field(default_factory=dict)
    signals: list[Signal] = field(default_factory=list)  # the market alerts of this batch
    beta_rows: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)  # this batch's


def _bitcoin_bars(
    market: StoredState | None, bitcoin: _Fed | None
) -> tuple[np.ndarray, np.ndarray] | None:
    """Bitcoin's closed 5-minute bars known to this batch (end, close): the market item's kept
    settled closes (two hours and more) and bitcoin's new bars of this batch, fed first. The
    other coins' P(up) models read its last hour from them (`btc_ret_12`, as in training)."""
    closes: dict[int, float] = {}
    kept = ((market.state if market else None) or {}).get("recent", {})
    if BTC in kept.get("coins", []):
        b = kept["coins"].index(BTC)
        closes |= {int(end): float(row[b]) for end, row in kept["rows"] if row[b] is not None}
    if bitcoin is not None and len(bitcoin.result.bars.get("end", ())):
        bars = bitcoin.result.bars
        new = zip(bars["end"].tolist(), bars["close"].tolist(), strict=True)
        closes |= {int(end): float(close) for end, close in new}
    if not closes:
        return None
    ends = sorted(closes)
    return np.array(ends, dtype=float), np.array([closes[e] for e in ends])


def _market_coins(settings: AwsSettings) -> tuple[str, ...]:
    """The coins of the market tracker: the tracked ones, in order (none if fewer than two)."""
    coins = tuple(dict.fromkeys(settings.tracked_coins))
    return coins if len(coins) >= 2 else ()


_Part = TypeVar("_Part")


def _resumed(make: Callable[[Any], _Part], state: Any, what: str, **extra: Any) -> _Part:
    """`make(state)`; an unusable stored state is logged and the part starts afresh."""
    try:
        return make(state)
    except ValueError as exc:
        logger.warning(f"{what} state reset", extra={"reason": str(exc), **extra})
        return make(None)


def _market(coins: tuple[str, ...], stored: StoredState, fed: dict[str, _Fed]) -> _Market:
    """Pure: the market tracker takes the fed coins' new bars, the recent settled closes are
    kept, and each fed coin's beta tracker takes the settled bar times after its last one."""
    item = stored.state or {}
    tracker = _resumed(lambda s: MarketTracker(coins, state=s), item.get("tracker"), "market")
    bars = {
        coin: (one.result.bars["end"], one.result.bars["close"])
        for coin, one in fed.items()
        if coin in coins and len(one.result.bars.get("end", ()))
    }
    settled = tracker.update(bars)
    alerts = _resumed(
        lambda s: MarketSignals(coins, state=s), item.get("signals"), "market signals"
    )
    new_signals = alerts.update(settled)
    kept = item.get("recent", {})
    recent = [list(r) for r in kept.get("rows", [])] if kept.get("coins") == list(coins) else []
    for end, closes in zip(settled["end"].tolist(), settled["closes"].tolist(), strict=True):
        recent.append([end, [_json_value(c) for c in closes]])
    # kept: the last batch that settled any bar time's rows (a coin whose state write fails
    # needs them all when its records come back) and the MARKET_RECENT before them
    new = len(settled["end"])
    kept_rows = recent[-(MARKET_RECENT + new) :] if new else recent
    state = {
        "tracker": tracker.to_json(),
        "recent": {"coins": list(coins), "rows": kept_rows},
        "signals": alerts.to_json(),
    }
    market = _Market(state, stored.version, state != stored.state, signals=new_signals)
    latest = tracker.latest() or {}
    b = coins.index(BTC) if BTC in coins else None
    for coin, one in fed.items():
        if coin not in coins:
            continue
        context = {k: _json_value(latest.get(k)) for k in _MARKET_KEYS}
        if b is not None and coin != BTC:
            kept_beta = one.beta
            beta = _resumed(
                lambda s: BetaTracker(BETA_HALFLIFE, state=s),
                (kept_beta or {}).get("tracker"), "beta", crypto_id=coin,
            )  # fmt: skip
            last = beta.to_json()["last_end"]
            rows = [r for r in recent if last is None or r[0] > last]
            row = dict((kept_beta or {}).get("row") or {})
            if rows:
                j = coins.index(coin)
                out = beta.update(
                    [r[0] for r in rows],
                    [math.nan if r[1][j] is None else r[1][j] for r in rows],
                    [math.nan if r[1][b] is None else r[1][b] for r in rows],
                )
                row = {k: _json_value(out[k][-1]) for k in ("end", *_BETA_KEYS)}
                market.beta_rows[coin] = out
            market.betas[coin] = {"tracker": beta.to_json(), "row": row}
            context.update({k: row.get(k) for k in _BETA_KEYS})
        market.context[coin] = context
    return market


def with_beta(signals: list[Signal], rows: dict[str, np.ndarray] | None) -> list[Signal]:
    """Each signal with bitcoin's part in its coin's move (question 17): `beta`,
    `explained_share` and `btc_driven` (1/0) of the beta tracker's row at the 5-minute bar
    holding the signal's time (the last bar end <= t, within five minutes), where known. The
    same function annotates a batch analysis with `models.market.market_history`'s rows."""
    if not rows or not len(rows["end"]):
        return signals
    ends = np.asarray(rows["end"], dtype=np.int64)
    out = []
    for signal in signals:
        i = int(np.searchsorted(ends, signal.timestamp, side="right")) - 1
        share = float(rows["explained_share"][i]) if i >= 0 else math.nan
        if i < 0 or ends[i] <= signal.timestamp - BAR_SECONDS or math.isnan(share):
            out.append(signal)
            continue
        beta = {"beta": float(rows["beta"][i]), "explained_share": share,
                "btc_driven": float(bool(rows["btc_driven"][i]))}  # fmt: skip
        out.append(replace(signal, details={**signal.details, **beta}))
    return out


def _aggregate_items(
    result: EngineResult, market: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    """The coin's aggregates; the 60-minute one also carries the latest risk forecast and the
    market context (its beta to bitcoin, the market's breadth and co-movement)."""
    items = [a.to_json() for a in result.aggregates]
    for item in items:
        if item["time_window"] == int(Window.M60):
            if result.risk is not None:
                item["risk"] = result.risk
            if market is not None:
                item["market"] = market
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
    coins = _market_coins(settings)
    try:
        states = store.get_states([*by_coin, MARKET_STATE_ID] if coins and by_coin else by_coin)
    except RetryableError:
        logger.exception("engine states unavailable: the whole batch is retried")
        states = None
    fed: dict[str, _Fed] = {}
    if states is not None:  # bitcoin first: the others' P(up) reads its last hour
        if BTC in by_coin:
            fed[BTC] = _feed(BTC, by_coin[BTC], states[BTC], settings)
        bitcoin = _bitcoin_bars(states.get(MARKET_STATE_ID), fed.get(BTC))
        for c, t in sorted(by_coin.items()):
            if c != BTC:
                fed[c] = _feed(c, t, states[c], settings, bitcoin)
        fed = dict(sorted(fed.items()))
    market = _market(coins, states[MARKET_STATE_ID], fed) if coins and fed and states else None
    context = {} if market is None else market.context
    try:
        store.put_ticks_and_aggregates(
            (t for f in fed.values() for t in f.ticks),
            (
                a
                for c, f in fed.items()
                if f.result.accepted
                for a in _aggregate_items(f.result, context.get(c))
            ),
        )
        if market is not None and market.changed:  # before the coins: see the docstring
            # the market alerts first: a failed item write retries the batch, which makes
            # them again (stored once: same ids)
            stored, alerted = _publish(store, publisher, market.signals)
            totals["SignalsEmitted"] += stored
            totals["SignalsActionable"] += alerted
            store.put_state(MARKET_STATE_ID, market.state, market.version)
    except RetryableError:
        logger.exception("ticks, aggregates or market not stored: the whole batch is retried")
        fed = {}
    failed |= {s for coin in by_coin if coin not in fed for s in seqs_of[coin]}
    for coin, one in fed.items():
        try:
            signals = one.result.signals
            if market is not None:
                signals = with_beta(signals, market.beta_rows.get(coin))
            stored, alerted = _publish(store, publisher, signals)
            totals["SignalsEmitted"] += stored
            totals["SignalsActionable"] += alerted
            drift = (one.result.risk or {}).get("drift") or {}
            if drift.get("alarms"):  # question 27: the coin's volatility model has gone stale
                logger.warning("volatility forecast drifted", extra={"crypto_id": coin, **drift})
                publisher.publish_drift(coin, drift["alarms"], drift.get("last_alarm"))
                totals["VolatilityDriftAlarms"] += drift["alarms"]
            state = one.engine.state()  # the engine ignores "beta": it is kept beside
            if market is not None and coin in market.betas:
                state["beta"] = market.betas[coin]
            written = store.put_state(coin, state, one.version)  # last: the batch is done
            _WARM[settings.engine_state_table, coin] = _Warm(
                written.version, written.stored, one.engine, state.get("beta")
            )
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
