"""The per-coin signal engine: ticks in (event-time order), signals and aggregates out.

One engine per coin. `feed` takes any batch of ticks; everything it needs from earlier batches
lives in `state()` (JSON, stored by the Lambda in one DynamoDB item per coin). Feeding a series
in any chunking gives the same signals as feeding it whole, and a signal, once emitted, never
changes when later ticks arrive: bars are built by event time and only closed bars are read.

Pipeline of one `feed`:
  1. drop duplicates (same timestamp as the last tick) and reject out-of-order ticks;
  2. rolling windows (5m/30m/60m/24h) per tick;
  3. bars per timeframe (1m, 5m, 15m, 1h, 4h), by event time: a bar covers (end - length, end] and
     closes when a tick lands exactly on its end or a later tick arrives; a bucket with no tick
     makes no bar;
  4. features (resumable indicators) on the closed bars of the base (5m) frame, each frame's
     trend (EMA 5 vs 30) and their alignment; chart structure (cryptosignals.structure) on the
     1h bars, merged into the base bars as of each bar's close;
  5. rules on the base bars (+ the price-change rule on ticks); the hand-made setup score from
     the higher timeframe trend, ADX and volume (`rules.setup_score`), the alignment and the
     distances to support and resistance go into the details;
  6. evidence (cryptosignals.evidence): the ticks mature earlier signals' outcomes, and each new
     signal gets its rule's track record, a calibrated confidence and the actionable flag.

With fitted models (`EngineConfig.for_coin`: cryptosignals.fitted) the base bars also feed
the variance forecast (cryptosignals.risk) and the regime filter (cryptosignals.regimes): the
1h sigma goes to the rules' frame (the `cut_size` rule reads its jumps) and to every signal's
details (`sigma_1h`; a tick rule's move also in sigmas of the forecast made before it,
`move_sigma`), so does the regime's volatility rank (`regime_rank`, 0 = calmest), and
`EngineResult.risk` is the latest forecast and regime.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from cryptosignals import regimes, risk
from cryptosignals.drift import MOVE_DELTA, MOVE_THRESHOLD, PageHinkley, standardised_moves
from cryptosignals.evidence import EvidenceConfig, TrackRecords
from cryptosignals.features import FeatureBuilder, returns_as_of
from cryptosignals.forecast import FAN_COLUMNS, ConformalFan, fan_sigma
from cryptosignals.indicators import INDICATORS, Stream
from cryptosignals.metafilter import MetaFilter
from cryptosignals.model import Signal, SignalType, TickSeries
from cryptosignals.predict import Predictor
from cryptosignals.regimes import RegimeFilter, RegimeModel
from cryptosignals.risk import RiskForecaster, VolatilityModel
from cryptosignals.rules import DEFAULT_RULES, TICK_RULES, FeatureSpec, Frame, Rule, setup_score
from cryptosignals.structure import EVENTS, VALUES, StructureParams, StructureTracker
from cryptosignals.windows import FIELDS, Aggregate, Window, WindowState, aggregates_at

TIMEFRAMES: dict[str, int] = {"1m": 60, "5m": 300, "15m": 900, "1h": 3600, "4h": 14400}
_HORIZON_OF_MINUTES = {5: "5m", 30: "30m", 60: "1h"}  # a tick rule's window as a risk horizon
STATE_VERSION = 7  # bump when a stored state can no longer be read (6: bucketed windows,
# structure, trends on four timeframes; 7: the 1-minute trend)


@dataclass(frozen=True)
class EngineConfig:
    """Which rules run, on which bars, and how the context of a signal is measured."""

    rules: tuple[Rule, ...] = DEFAULT_RULES
    tick_rules: tuple[Rule, ...] = TICK_RULES
    timeframe: str = "5m"
    higher_timeframe: str = "1h"  # its trend goes into the setup score
    trend_fast: int = 5  # a timeframe's trend: the sign of EMA(fast) - EMA(slow) of its closes
    trend_slow: int = 30
    # the timeframes whose trends make the alignment score (the base and higher ones included).
    # A timeframe shorter than the base one has a trend only while its bars follow each other
    # (the 1-minute trend exists when ticks arrive every minute; with five-minute ticks its bars
    # would be the five-minute ones again)
    trend_timeframes: tuple[str, ...] = ("1m", "5m", "15m", "1h", "4h")
    # pivots, zones, breakouts and patterns on the higher timeframe's bars (None: off)
    structure: StructureParams | None = field(default_factory=StructureParams)
    # support and resistance zones also of these timeframes' pivots (question 14: near a
    # higher-timeframe resistance?); their breakouts and patterns are not signals (unmeasured)
    level_timeframes: tuple[str, ...] = ("15m", "4h")
    # the pivots each keeps: half a day of 15m bars, three days or so of 4h bars (~0.3 KB state)
    level_pivots: tuple[int, ...] = (8, 12)
    adx_period: int = 14
    evidence: EvidenceConfig = field(default_factory=EvidenceConfig)
    volatility: VolatilityModel | None = None  # the coin's fitted forecast (for_coin)
    regimes: RegimeModel | None = None  # the coin's fitted regime model (for_coin)
    risk_budget: float = 0.01  # the share of equity the 1h VaR99 may lose: the position size
    # a P(up) model (cryptosignals.predict; `cryptosignals train`) whose probability every signal
    # carries as `p_up`, with the model's version. None by default: no model has beaten the base
    # rate out of sample at 1h (docs/models.md), so none is deployed
    predictor: Predictor | None = None
    # a meta-label filter of the rules' BUY/SELL signals (cryptosignals.metafilter), served only
    # where the training function found it raised the net return a trade out of sample: its
    # P(profit barrier first) goes into each signal, and only signals it keeps are alerted
    meta_filter: MetaFilter | None = None

    @classmethod
    def for_coin(cls, coin: str, models: str | Path | None = None) -> EngineConfig:
        """The default configuration with the coin's fitted models from a models file (the
        package's bundled one by default; cryptosignals.fitted). One object per coin and file
        for the life of the process: the models' precomputed sums (their week of horizon
        sums, ~4 ms) are made once, not at every batch of the stream."""
        return _config_for_coin(coin, None if models is None else str(models))

    def __post_init__(self) -> None:
        for tf in (self.timeframe, self.higher_timeframe, *self.trend_timeframes,
                   *self.level_timeframes):  # fmt: skip
            if tf not in TIMEFRAMES:
                raise ValueError(f"unknown timeframe {tf!r}; known: {', '.join(TIMEFRAMES)}")
        if self.structure is not None and self.higher_timeframe != "1h":
            raise ValueError(
                "chart structure runs on 1h bars (its tolerances were measured there): use "
                f"higher_timeframe='1h' or structure=None, not {self.higher_timeframe!r}"
            )
        for rule in self.tick_rules:
            minutes = getattr(rule, "minutes", 60)
            if minutes not in {int(w) for w in Window}:
                raise ValueError(f"{rule.name}: minutes must be one of {[int(w) for w in Window]}")

    @functools.cached_property
    def base_features(self) -> dict[str, FeatureSpec]:
        specs: dict[str, FeatureSpec] = {
            f"adx_{self.adx_period}": ("adx", "hlc", {"period": self.adx_period}, 0),
        }
        if self.timeframe in self.trend_timeframes:
            specs.update(self.trend_features)
        for rule in self.rules:
            for name, spec in rule.features().items():
                if specs.setdefault(name, spec) != spec:
                    raise ValueError(f"feature {name!r} is defined twice with different params")
        return specs

    @functools.cached_property
    def trend_features(self) -> dict[str, FeatureSpec]:
        """A timeframe's trend: EMAs (four numbers of state each, whatever the period)."""
        return {
            "trend_fast": ("ema", "close", {"period": self.trend_fast}, 0),
            "trend_slow": ("ema", "close", {"period": self.trend_slow}, 0),
        }

    @functools.cached_property
    def level_params(self) -> dict[str, StructureParams]:
        """The zones' tracker of each level timeframe (none without structure)."""
        if self.structure is None:
            return {}
        return {
            tf: replace(self.structure, max_pivots=pivots)
            for tf, pivots in zip(self.level_timeframes, self.level_pivots, strict=True)
        }

    @property
    def frames(self) -> tuple[str, ...]:
        """Every timeframe the engine builds bars of, the base one first."""
        return tuple(
            dict.fromkeys(
                (self.timeframe, self.higher_timeframe, *self.trend_timeframes,
                 *self.level_timeframes)
            )
        )  # fmt: skip


@functools.lru_cache(maxsize=1024)
def _config_for_coin(coin: str, models: str | None) -> EngineConfig:
    return EngineConfig(
        volatility=risk.model_for(coin, models), regimes=regimes.model_for(coin, models)
    )


class StateVersionError(ValueError):
    """A stored state written by another version of the engine: start afresh (and warm up)."""


@dataclass(frozen=True)
class Rejected:
    """A tick the engine could not use, and why."""

    timestamp: int
    reason: str


@dataclass
class EngineResult:
    """What one `feed` produced."""

    signals: list[Signal] = field(default_factory=list)
    aggregates: list[Aggregate] = field(default_factory=list)  # the windows at the last tick
    accepted: int = 0
    duplicates: int = 0
    rejected: list[Rejected] = field(default_factory=list)
    risk: dict[str, Any] | None = None  # the latest forecast (RiskForecaster.latest)
    # the base timeframe's closed bars of this feed: their features and context, as the rules
    # saw them (one array per column; what models read so they never compute a second copy)
    bars: dict[str, np.ndarray] = field(default_factory=dict)


def _none(value: float) -> float | None:
    """JSON has no NaN: unknown numbers are stored as null."""
    return None if value != value else float(value)  # NaN is the one value unequal to itself


def _nan(value: float | None) -> float:
    return np.nan if value is None else float(value)


def _nan_to_none(row: dict[str, float]) -> dict[str, float | None]:
    return {k: _none(v) for k, v in row.items()}


def _none_to_nan(row: dict[str, Any]) -> dict[str, float]:
    return {k: _nan(v) for k, v in row.items()}


class _Bars:
    """Builds closed bars of one timeframe from ticks, keeping the open bar as state."""

    def __init__(self, seconds: int, state: dict[str, Any] | None = None) -> None:
        self.seconds = seconds
        self.open: list[float] | None = None  # end, open, high, low, close, volume
        self.last_volume = np.nan
        if state:
            self.open = None if state["open"] is None else [_nan(v) for v in state["open"]]
            self.last_volume = _nan(state["last_volume"])

    def update(
        self, ts: np.ndarray, price: np.ndarray, volume: np.ndarray
    ) -> dict[str, np.ndarray]:
        closed: list[list[float]] = []
        for t, p, v in zip(ts.tolist(), price.tolist(), volume.tolist(), strict=True):
            if v == v:  # not NaN: a missing 24h volume keeps the last known one
                self.last_volume = v
            end = -(-t // self.seconds) * self.seconds
            bar = self.open
            if bar is not None and bar[0] != end:
                closed.append(bar)
                bar = None
            if bar is None:
                bar = [end, p, p, p, p, self.last_volume]
            else:
                bar[2], bar[3], bar[4], bar[5] = max(bar[2], p), min(bar[3], p), p, self.last_volume
            if t == end:
                closed.append(bar)
                bar = None
            self.open = bar
        table = np.array(closed, dtype=float).reshape(-1, 6)
        names = ("end", "open", "high", "low", "close", "volume")
        return {name: table[:, i] for i, name in enumerate(names)}

    def to_json(self) -> dict[str, Any]:
        bar = None if self.open is None else [_none(v) for v in self.open]
        return {"open": bar, "last_volume": _none(self.last_volume)}


def closed_bars(ticks: TickSeries, timeframe: str = "5m") -> dict[str, np.ndarray]:
    """The closed bars the engine builds from a series of ticks (end, open, high, low, close,
    volume), for analyses of history that must see the stream's own bars."""
    return _Bars(TIMEFRAMES[timeframe]).update(ticks.timestamp, ticks.price, ticks.volume_24h)


def feature_stream(indicator: str, params: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The registry indicator behind a feature; bb_width and atr_pct are derived from one."""
    if indicator == "bb_width":
        nbdev = params["nbdev"]
        return "bbands", {"period": params["period"], "nbdev_up": nbdev, "nbdev_dn": nbdev}
    if indicator == "atr_pct":
        return "atr", params
    return indicator, params


def _stream_key(kind: str, source: str, params: dict[str, Any]) -> str:
    """One stream per indicator output read on one input (its name in the stored state)."""
    return f"{kind}:{source}:{sorted(params.items())}"


def _no_outputs(kind: str) -> tuple[np.ndarray, ...]:
    """What a stream's update with no values returns: an empty array per output."""
    return tuple(np.empty(0) for _ in INDICATORS[kind].outputs)


class FeatureSet:
    """The resumable indicator streams of one timeframe, and the last rows rules look back on.

    Features that read the same indicator output on the same input share one stream.
    """

    def __init__(self, specs: dict[str, FeatureSpec], state: dict[str, Any] | None) -> None:
        self.specs = specs
        # per feature: its stream's key, indicator and params
        self.keys: dict[str, tuple[str, str, dict[str, Any]]] = {}
        for name, (indicator, source, params, _) in specs.items():
            kind, params = feature_stream(indicator, params)
            self.keys[name] = (_stream_key(kind, source, params), kind, params)
        # the streams as stored, made into `Stream`s only when bars come: most batches of a
        # stream of ticks close no bar of most timeframes (a 1-minute tick, one 4h bar in 240)
        self.stored: dict[str, Any] = (state or {}).get("streams", {})
        self._streams: dict[str, Stream] | None = None
        rows = (state or {}).get("history") or []
        self.history = [_none_to_nan(r) for r in rows]
        self.history = [{}] * (Frame.DEPTH - len(self.history)) + self.history

    @property
    def streams(self) -> dict[str, Stream]:
        if self._streams is None:
            self._streams = {}
            for key, kind, params in self.keys.values():
                if key not in self._streams:
                    stored = self.stored.get(key)
                    self._streams[key] = (
                        Stream.from_json(stored) if stored else Stream(kind, **params)
                    )
        return self._streams

    def update(self, bars: dict[str, np.ndarray]) -> Frame:
        values: dict[str, np.ndarray] = dict(bars)
        cache: dict[str, tuple[np.ndarray, ...]] = {}
        empty = not len(bars["end"])  # no bar: every output is empty, no stream moves
        for name, (indicator, source, _, output) in self.specs.items():
            key = self.keys[name][0]
            if key not in cache:
                inputs = (
                    (bars["high"], bars["low"], bars["close"])
                    if source == "hlc"
                    else (values[source],)
                )
                cache[key] = (
                    _no_outputs(self.keys[name][1]) if empty else self.streams[key].update(*inputs)
                )
            outputs = cache[key]
            if indicator == "bb_width":
                upper, middle, lower = outputs
                values[name] = (upper - lower) / middle
            elif indicator == "atr_pct":
                values[name] = outputs[0] / bars["close"] * 100.0
            else:
                values[name] = outputs[output]
        return Frame(values, self.history)

    def remember(self, frame: Frame) -> None:
        """Keep the last bars for the next batch: of each, only the features read that far back
        (every rule reads the same features on every batch that has bars)."""
        if frame.size == 0:
            return
        rows = [
            {k: float(v[i]) for k, v in frame.current.items()}
            for i in range(max(0, frame.size - Frame.DEPTH), frame.size)
        ]
        kept = (self.history + rows)[-Frame.DEPTH :]
        self.history = [
            {k: v for k, v in row.items() if frame.looked_back.get(k, 0) >= len(kept) - i}
            for i, row in enumerate(kept)
        ]

    def to_json(self) -> dict[str, Any]:
        if self._streams is None and all(k in self.stored for k, *_ in self.keys.values()):
            # untouched: as stored (a stream's JSON reads back to itself)
            streams = {k: self.stored[k] for k, *_ in self.keys.values()}
        else:
            streams = {k: s.to_json() for k, s in self.streams.items()}
        return {"streams": streams, "history": [_nan_to_none(r) for r in self.history if r]}


def _as_of(times: np.ndarray, keys: np.ndarray, values: np.ndarray, before: float) -> np.ndarray:
    """For each time, the last value whose key is <= that time (`before` if there is none)."""
    index = np.searchsorted(keys, times, side="right") - 1
    padded = np.concatenate([[before], values])
    return padded[index + 1]


#: The drift monitor's running sums (its thresholds are the defaults, not stored).
_DRIFT_SUMS = ("n", "mean", "sum_up", "min_up", "sum_down", "max_down")
#: What a tick rule's signal takes from the last base bar (kept in the state between batches).
_LEVELS = ("dist_support_atr", "dist_resistance_atr")
_CONTEXT = ("trend", "adx", "volume_ratio", "regime_rank", "alignment", "higher_alignment",
            "p_up", *_LEVELS)  # fmt: skip


def _mean_known(rows: list[np.ndarray], size: int) -> np.ndarray:
    """The mean of each column's finite values (NaN where none is)."""
    if not rows:
        return np.full(size, np.nan)
    stack = np.array(rows)
    known = np.isfinite(stack)
    count = known.sum(axis=0)
    total = np.where(known, stack, 0.0).sum(axis=0)
    return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def _alignment(trends: dict[str, np.ndarray], base: str) -> dict[str, np.ndarray]:
    """Question 13: do the timeframes agree? `alignment` is the mean trend sign over the
    timeframes whose trend is known (-1: all down .. +1: all up), `higher_alignment` the same
    over those longer than the base timeframe (a signal against it is marked counter-trend)."""
    size = len(next(iter(trends.values())))
    above = TIMEFRAMES[base]
    higher = [v for k, v in trends.items() if TIMEFRAMES[k.removeprefix("trend_")] > above]
    return {
        "alignment": _mean_known(list(trends.values()), size),
        "higher_alignment": _mean_known(higher, size),
    }


class Engine:
    """Signals for one coin from its ticks; `state()` carries everything to the next batch."""

    def __init__(
        self,
        crypto_id: str,
        config: EngineConfig | None = None,
        state: dict[str, Any] | None = None,
    ) -> None:
        self.crypto_id = crypto_id
        self.config = config or EngineConfig.for_coin(crypto_id)
        state = state or {}
        if state and state.get("version") != STATE_VERSION:
            raise StateVersionError(
                f"engine state version {state.get('version')} is not {STATE_VERSION}"
            )
        cfg = self.config
        self.last_timestamp: int | None = state.get("last_timestamp")
        self.windows = (
            WindowState.from_json(state["windows"]) if "windows" in state else WindowState()
        )
        self.volume_mean = _nan(state.get("volume_mean"))  # the 24h window's, at the last tick
        frames = state.get("frames", {})
        self.bars = {tf: _Bars(TIMEFRAMES[tf], frames.get(tf, {}).get("bars")) for tf in cfg.frames}
        self.features = {
            tf: FeatureSet(
                cfg.base_features if tf == cfg.timeframe else cfg.trend_features,
                frames.get(tf),
            )
            for tf in cfg.frames
        }
        # Each tick rule looks back on its own rows (what one rule remembers is not another's).
        ticks = state.get("ticks") or {}
        self.tick_features = {
            repr(rule): FeatureSet({}, ticks.get(repr(rule))) for rule in cfg.tick_rules
        }
        context = _none_to_nan(state.get("context", {}))
        names = _CONTEXT + self._trend_names + self._level_names
        self.context = {k: context.get(k, np.nan) for k in names}
        self.track = TrackRecords(cfg.evidence, self.tested_claims, state.get("evidence"))
        self.risk = (
            None if cfg.volatility is None else RiskForecaster(cfg.volatility, state.get("risk"))
        )
        self.regime = (
            None if cfg.regimes is None else RegimeFilter(cfg.regimes, state.get("regime"))
        )
        # the price fan (question 21): conformal quantiles around the forecast's sigma
        self.fan = None if cfg.volatility is None else ConformalFan(state.get("fan"))
        # question 27: is the deployed volatility model still right? (Page-Hinkley on each
        # bar's move over the sigma forecast before it; cryptosignals.drift, docs/drift.md)
        drift = state.get("drift") or {}
        self.drift: PageHinkley | None = None
        if cfg.volatility is not None:  # the thresholds are the defaults; only sums are stored
            self.drift = PageHinkley(MOVE_THRESHOLD, MOVE_DELTA, "both")
            if drift.get("sums"):
                self.drift = PageHinkley.from_json({**self.drift.to_json(), **drift["sums"]})
        self.last_drift: int | None = drift.get("last_alarm")
        self.structure = (
            None
            if cfg.structure is None
            else StructureTracker.from_json(state.get("structure") or {}, cfg.structure)
        )
        levels = state.get("levels") or {}
        self.levels = {
            tf: StructureTracker.from_json(levels.get(tf) or {}, params)
            for tf, params in cfg.level_params.items()
        }
        self.model_features = (
            None
            if cfg.predictor is None and cfg.meta_filter is None
            else FeatureBuilder.from_json(state.get("model_features") or {})
        )

    def _model_version(self, details: dict[str, float]) -> str | None:
        """The versions of the models a signal's details came from (P(up), the meta filter)."""
        used = [m.version for m, key in ((self.config.predictor, "p_up"),
                                         (self.config.meta_filter, "p_profit_first"))
                if m is not None and key in details]  # fmt: skip
        return " + ".join(used) or None

    @property
    def _trend_names(self) -> tuple[str, ...]:
        return tuple(f"trend_{tf}" for tf in self.config.trend_timeframes)

    @property
    def _level_names(self) -> tuple[str, ...]:
        cfg = self.config
        timeframes = () if cfg.structure is None else cfg.level_timeframes
        return tuple(f"{name}_{tf}" for tf in timeframes for name in _LEVELS)

    @property
    def tested_claims(self) -> int:
        """How many (rule, signal type) track records this engine can test: at most two a rule."""
        return 2 * (len(self.config.rules) + len(self.config.tick_rules))

    def start_from(self, history: dict[str, Any]) -> None:
        """Warm start: take track records built from history (`cryptosignals evidence`)."""
        self.track = TrackRecords.from_history(self.config.evidence, self.tested_claims, history)

    # -- state -------------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        """Everything the next batch needs, as plain JSON (no NaN: None instead)."""
        return {
            "version": STATE_VERSION,
            "crypto_id": self.crypto_id,
            "last_timestamp": self.last_timestamp,
            "windows": self.windows.to_json(),
            "volume_mean": _none(self.volume_mean),
            "frames": {
                tf: {"bars": self.bars[tf].to_json(), **self.features[tf].to_json()}
                for tf in self.bars
            },
            "ticks": {key: features.to_json() for key, features in self.tick_features.items()},
            "context": _nan_to_none(self.context),
            "evidence": self.track.to_json(),
            "risk": None if self.risk is None else self.risk.to_json(),
            "regime": None if self.regime is None else self.regime.to_json(),
            "fan": None if self.fan is None else self.fan.to_json(),
            "drift": None
            if self.drift is None
            else {
                "sums": {k: v for k, v in self.drift.to_json().items() if k in _DRIFT_SUMS},
                "last_alarm": self.last_drift,
            },
            "structure": None if self.structure is None else self.structure.to_json(),
            "levels": {tf: tracker.to_json() for tf, tracker in self.levels.items()},
            "model_features": None
            if self.model_features is None
            else self.model_features.to_json(),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any], config: EngineConfig | None = None) -> Engine:
        if state.get("version") != STATE_VERSION:  # before anything else is read from it
            raise StateVersionError(
                f"engine state version {state.get('version')} is not {STATE_VERSION}"
            )
        return cls(state["crypto_id"], config, state)

    # -- processing --------------------------------------------------------------------------
    def _accept(self, ticks: TickSeries, result: EngineResult) -> np.ndarray:
        keep = np.zeros(len(ticks), dtype=bool)
        last = self.last_timestamp
        for i, t in enumerate(ticks.timestamp.tolist()):
            if last is not None and t == last:
                result.duplicates += 1
            elif last is not None and t < last:
                result.rejected.append(
                    Rejected(t, f"out of order: tick at {t} is older than the last one at {last}")
                )
            else:
                keep[i] = True
                last = t
        self.last_timestamp = last
        result.accepted = int(keep.sum())
        return keep

    def feed(
        self, ticks: TickSeries, bitcoin: tuple[np.ndarray, np.ndarray] | None = None
    ) -> EngineResult:
        """Process a batch of ticks of this coin, in event-time order. `bitcoin`: its closed
        5-minute bars (end, close) known now, from an hour before this batch's bars on, for
        the P(up) model's `btc_ret_12` (features.returns_as_of; NaN without them)."""
        if ticks.crypto_id != self.crypto_id:
            raise ValueError(f"engine for {self.crypto_id!r} was fed {ticks.crypto_id!r} ticks")
        result = EngineResult()
        ticks = ticks[self._accept(ticks, result)]
        if len(ticks) == 0:
            return result
        ts, price, volume = ticks.timestamp, ticks.price, ticks.volume_24h
        windows = self.windows.update(ts, price, volume)
        result.aggregates = aggregates_at(self.crypto_id, int(ts[-1]), windows)
        volume_mean = windows[Window.H24][:, FIELDS.index("volume_aggregated")]

        cfg = self.config
        frames = {
            tf: self.features[tf].update(self.bars[tf].update(ts, price, volume))
            for tf in cfg.frames
        }
        base, higher = frames[cfg.timeframe], frames[cfg.higher_timeframe]
        base_bars = {k: base[k] for k in ("end", "close")}
        # the mean 24h volume of the day up to each bar's last tick (the 24h window's)
        base.current["volume_avg_24h"] = _as_of(base["end"], ts, volume_mean, self.volume_mean)
        self.volume_mean = float(volume_mean[-1])
        self._forecast(base)

        trends = {
            f"trend_{tf}": _as_of(
                base["end"],
                frames[tf]["end"],
                self._trend(tf, frames[tf]),
                self.context[f"trend_{tf}"],
            )
            for tf in cfg.trend_timeframes
        }
        higher_trend = np.sign(higher["trend_fast"] - higher["trend_slow"])
        base_context = {
            "trend": _as_of(base["end"], higher["end"], higher_trend, self.context["trend"]),
            "adx": base[f"adx_{cfg.adx_period}"],
            "volume_ratio": base["volume"] / base.prev("volume_avg_24h"),
            "sigma_1h": base["sigma_1h"],
            "regime_rank": base["regime_rank"],
            **trends,
            **_alignment(trends, cfg.timeframe),
        }
        base.current.update(self._structure(base, higher, base_context["volume_ratio"]))
        for tf, tracker in self.levels.items():
            nearest = self._walk(tracker, frames[tf], base, np.full(frames[tf].size, np.nan))
            base.current.update({f"{name}_{tf}": nearest[name] for name in _LEVELS})
        base_context.update({k: base[k] for k in _LEVELS + self._level_names})
        rows = self._model_rows({**base.current, **base_context}, bitcoin)
        base_context["p_up"] = (
            np.full(base.size, np.nan)
            if rows is None or cfg.predictor is None
            else cfg.predictor.predict(rows)
        )
        for rule in cfg.rules:
            result.signals += self._signals(rule, cfg.timeframe, base, base_context, rows=rows)
        result.bars = {**base.current, **base_context}

        tick_context = {k: _as_of(ts, base["end"], base_context[k], v)
                        for k, v in self.context.items()}  # fmt: skip
        tick_context["trend"] = _as_of(ts, higher["end"], higher_trend, self.context["trend"])
        sigma_now = self._sigma_as_of(ts)
        for rule in cfg.tick_rules:
            window = windows[Window(getattr(rule, "minutes", 60))]
            features = self.tick_features[repr(rule)]
            frame = Frame(
                {"end": ts.astype(float), "close": price, "price": price,
                 "window_min": window[:, 1], "window_max": window[:, 2]},
                features.history,
            )  # fmt: skip
            minutes = getattr(rule, "minutes", 60)
            context = {**tick_context, "sigma_1h": sigma_now}
            # a move over the rule's window, against the forecast of that window made before it
            before = self._sigma_as_of(ts - 60 * minutes, _HORIZON_OF_MINUTES.get(minutes))
            result.signals += self._signals(rule, "tick", frame, context, before)
            features.remember(frame)

        for tf, frame in frames.items():
            self.features[tf].remember(frame)
        self.context = {k: float(tick_context[k][-1]) for k in self.context}
        result.signals.sort(key=lambda s: (s.timestamp, s.rule, s.timeframe))
        result.signals = self.track.annotate(
            (ts, price), (base_bars["end"], base_bars["close"]),
            TIMEFRAMES[cfg.timeframe], result.signals,
        )  # fmt: skip
        latest = {} if self.risk is None else self.risk.latest(cfg.risk_budget) or {}
        if latest:  # the last tick's hour in sigmas of the 1h forecast made before it (question 4)
            hour = next(a for a in result.aggregates if a.time_window == Window.M60)
            before = self._sigma_as_of(ts[-1:] - 3600)[0]
            latest["move_sigma_1h"] = _none(float(np.log1p(hour.chg_pct / 100.0)) / before)
        if self.regime is not None:
            latest["regime"] = self.regime.latest()
        if latest and self.drift is not None:  # this batch's alarms and the last one's time
            alarms = int(base["drift_alarm"].sum()) if base.size else 0
            latest["drift"] = {"alarms": alarms, "last_alarm": self.last_drift}
        if latest and base.size:  # question 21: the price fan after the last closed bar
            latest["fan"] = {
                h: {q: _none(float(base[f"fan_{q}_{h}"][-1])) for q in ("q10", "q50", "q90")}
                for h in ("5m", "15m", "30m")
            }
        result.risk = latest or None
        return result

    def _trend(self, timeframe: str, frame: Frame) -> np.ndarray:
        """The sign of the timeframe's EMA(fast) - EMA(slow) at each of its bars; below the base
        timeframe only where the bar closed one bar after the one before (unknown: NaN)."""
        trend = np.sign(frame["trend_fast"] - frame["trend_slow"])
        seconds = TIMEFRAMES[timeframe]
        if seconds >= TIMEFRAMES[self.config.timeframe]:
            return trend
        return np.where(frame["end"] - frame.prev("end") == seconds, trend, np.nan)

    def _structure(
        self, base: Frame, higher: Frame, volume_ratio: np.ndarray
    ) -> dict[str, np.ndarray]:
        """The structure tracker (cryptosignals.structure) over the higher timeframe's bars of
        this batch, as columns of the base bars: an hour's events and levels on the base bar
        that holds its last tick (both close on the same tick), and each base close's distance
        to the zones known when it closed (those of the hours closed by then)."""
        if self.structure is None:
            return {c: np.zeros(base.size) for c in EVENTS} | {
                c: np.full(base.size, np.nan) for c in VALUES
            }
        ratio = _as_of(higher["end"], base["end"], volume_ratio, self.context["volume_ratio"])
        return self._walk(self.structure, higher, base, ratio)

    @staticmethod
    def _walk(
        tracker: StructureTracker, frame: Frame, base: Frame, volume_ratio: np.ndarray
    ) -> dict[str, np.ndarray]:
        """Feed the tracker the timeframe's new bars: each bar's events and levels land on the
        base bar holding its last tick, and each base close is measured against the zones of
        the bars closed by then."""
        out = {c: np.zeros(base.size) for c in EVENTS} | {
            c: np.full(base.size, np.nan) for c in VALUES
        }
        ends = frame["end"]
        last = np.searchsorted(base["end"], ends, side="right") - 1  # the base bar of each bar
        known = np.searchsorted(last, np.arange(base.size), side="right")  # bars closed by then
        for j in range(len(ends) + 1):
            rows = np.flatnonzero(known == j)
            if len(rows):
                for name, values in tracker.distances(base["close"][rows]).items():
                    out[name][rows] = values
            if j == len(ends):
                break
            bar = {k: frame[k][j : j + 1] for k in ("end", "high", "low", "close")}
            row = tracker.update({**bar, "volume_ratio": volume_ratio[j : j + 1]})
            if last[j] >= 0:
                for name in (*EVENTS, "structure_atr", "breakout_level", "neckline",
                             "pattern_height"):  # fmt: skip
                    out[name][last[j]] = row[name][0]
        return out

    def _model_rows(
        self, bars: dict[str, np.ndarray], bitcoin: tuple[np.ndarray, np.ndarray] | None
    ) -> np.ndarray | None:
        """The model feature rows of the base bars (None when no model is deployed), the same
        rows as training (`models.evaluation.dataset`), bitcoin's last hour included for
        another coin: what the P(up) model and the meta filter read."""
        if self.model_features is None:
            return None
        btc = None
        if bitcoin is not None and self.crypto_id != "bitcoin":
            btc = returns_as_of(bars["end"], *bitcoin)
        return self.model_features.update(bars, btc)

    def _forecast(self, base: Frame) -> None:
        """The variance forecast and the regime filter over the new base bars: the 1h sigma now
        and an hour ago and the regime's rank go to the rules' frame (NaN without a model, so
        every rule sees the same columns)."""
        if base.size == 0:  # no bar closed (most 1-minute ticks): no model moves, no column
            names = ("regime_rank", "sigma_1h", *FAN_COLUMNS, "sigma_1h_hour_ago", "drift_alarm")
            base.current.update({name: np.empty(0) for name in names})
            return
        if self.regime is None:
            base.current["regime_rank"] = np.full(base.size, np.nan)
        else:
            label = self.regime.update(base["end"], base["close"]).label
            base.current["regime_rank"] = np.where(label >= 0, label, np.nan)
        if self.risk is None or self.fan is None or self.config.volatility is None:
            base.current["sigma_1h"] = np.full(base.size, np.nan)
            base.current.update({c: np.full(base.size, np.nan) for c in FAN_COLUMNS})
        else:
            forecast = self.risk.update(base["end"], base["close"])
            base.current["sigma_1h"] = forecast.sigma["1h"]
            sigma = fan_sigma(self.config.volatility, forecast)
            base.current.update(self.fan.update(base["end"], base["close"], sigma).columns())
        base.current["sigma_1h_hour_ago"] = self._sigma_as_of(base["end"] - 3600)
        base.current["drift_alarm"] = self._drift(base)

    def _drift(self, base: Frame) -> np.ndarray:
        """1 at a base bar where the drift monitor alarmed: the bar's move over the 5m sigma
        forecast made at the bar before (NaN after a gap) has drifted from its mean."""
        if self.drift is None:
            return np.zeros(base.size)
        seconds = TIMEFRAMES[self.config.timeframe]
        step = base["end"] - base.prev("end") == seconds
        with np.errstate(divide="ignore", invalid="ignore"):
            move = np.where(step, np.log(base["close"] / base.prev("close")), np.nan)
        before = self._sigma_as_of(base["end"] - seconds, "5m")
        alarm = self.drift.update(standardised_moves(move, before))
        if alarm.any():
            self.last_drift = int(base["end"][alarm][-1])
        return alarm.astype(float)

    def _sigma_as_of(self, times: np.ndarray, horizon: str | None = "1h") -> np.ndarray:
        if self.risk is None or horizon is None:
            return np.full(len(times), np.nan)
        return self.risk.sigma_as_of(times, horizon)

    def _signals(
        self,
        rule: Rule,
        timeframe: str,
        frame: Frame,
        context: dict[str, np.ndarray],
        sigma_before_move: np.ndarray | None = None,
        rows: np.ndarray | None = None,
    ) -> list[Signal]:
        if frame.size == 0:
            return []
        firing = rule.fire(frame)
        fired = np.flatnonzero(firing.mask)
        if not len(fired):  # most bars of most rules: nothing to score
            return []
        score = setup_score(
            firing.direction, context["trend"], context["adx"], context["volume_ratio"]
        )
        label = getattr(rule, "label_timeframe", None) or (
            f"{getattr(rule, 'minutes', 60)}m" if timeframe == "tick" else timeframe
        )
        signals = []
        for i in fired:
            details = {k: float(v[i]) for k, v in firing.details.items()}
            details.update(
                setup_score=float(score[i]),
                higher_trend=float(context["trend"][i]),
                adx=float(context["adx"][i]),
                volume_ratio=float(context["volume_ratio"][i]),
                sigma_1h=float(context["sigma_1h"][i]),
                regime_rank=float(context["regime_rank"][i]),
                alignment=float(context["alignment"][i]),
                p_up=float(context["p_up"][i]),
                **{k: float(context[k][i]) for k in _LEVELS + self._level_names},
            )
            if firing.signal_type[i] != SignalType.ALERT and context["higher_alignment"][i] != 0:
                # against the higher timeframes' trends (NaN while they warm up: not marked)
                against = firing.direction[i] * context["higher_alignment"][i] < 0
                details["counter_trend"] = float(against)
            if sigma_before_move is not None and "change_pct" in details:
                move = float(np.log1p(details["change_pct"] / 100.0))
                details["move_sigma"] = move / float(sigma_before_move[i])
            meta = self.config.meta_filter
            if (rows is not None and meta is not None and rule.name in meta.rules
                    and firing.signal_type[i] in (SignalType.BUY, SignalType.SELL)):  # fmt: skip
                side = 1.0 if firing.signal_type[i] == SignalType.BUY else -1.0
                p = meta.p_profit_first(rows[i], rule.name, side)
                details.update(p_profit_first=p, meta_kept=float(p >= meta.threshold))
            signals.append(
                Signal(
                    model_version=self._model_version(details),
                    crypto_id=self.crypto_id,
                    timestamp=int(frame["end"][i]),
                    signal_type=SignalType(firing.signal_type[i]),
                    rule=rule.name,
                    timeframe=label,
                    price=float(frame["close"][i]),
                    confidence_score=float(score[i]),  # until the evidence calibrates it
                    details={k: v for k, v in details.items() if np.isfinite(v)},
                )
            )
        return signals


def analyze_ticks(ticks: TickSeries, config: EngineConfig | None = None) -> list[Signal]:
    """Every signal of a whole series, in one batch: what `cryptosignals analyze` prints."""
    return Engine(ticks.crypto_id, config).feed(ticks).signals
