"""What the dashboard draws over a coin's held ticks from the stream's own code: the 1h VaR band
and the regimes at each 5-minute bar (`risk_path`), the hour-of-week volatility profile
(`volatility_profile`), the chart structure, the timeframes' trends and the price fan
(`structure_path`: the engine itself, without rules), and the market's co-movement and alerts over
every held coin (`market_path`: cryptosignals.market's trackers and `MarketSignals`).

Thin adapters: the stream's own bars (`engine.closed_bars`), the volatility forecast
(`risk.RiskForecaster`), the regime filter (`regimes.RegimeFilter`) and the profile
(`profile.hour_of_week_volatility`) do the work. The forecast and the filter run over the coin's
whole held series (the page asks the reader for WARMUP_SECONDS more than the span, so both are
warm at its left edge); both are forward recursions, so a bar's values use no later bar. A
coin's forecast and filter continue from the last bar fed (they are resumable: chunked ==
whole), and results are kept per (coin, held ticks): a refresh that brought nothing new costs a
dictionary look-up, a new tick the new bars only.
"""

from __future__ import annotations

import dataclasses
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from cryptosignals import regimes, risk
from cryptosignals.engine import TIMEFRAMES, Engine, EngineConfig, closed_bars
from cryptosignals.errors import BadInputError
from cryptosignals.forecast import FAN_COLUMNS
from cryptosignals.market import BetaTracker, MarketSignals, MarketTracker
from cryptosignals.model import Signal, TickSeries
from cryptosignals.profile import Profile, hour_of_week_volatility
from cryptosignals.structure import EVENTS, Zone

#: The horizon of the band and of the risk table.
HORIZON = "1h"
#: The bars the forecast and the filter run on: the stream's own base bars.
TIMEFRAME = "5m"
BAR_SECONDS = TIMEFRAMES[TIMEFRAME]
#: History held before a span's left edge so that both are warm there: the regime filter labels
#: nothing for its first bars (37 with the bundled models, about 3 hours) and the variance
#: forecast forgets its starting value at a rate of beta per bar (0.95-0.96 in the bundled
#: models: 3-5 % of it left after 6 hours). tests/dashboard checks this against those models.
WARMUP_SECONDS = 6 * 3600
#: Results kept (one per coin drawn recently).
CACHE_SIZE = 32

_T = TypeVar("_T")


@dataclass(frozen=True)
class RiskPath:
    """Per closed 5-minute bar of a coin: close time, close, the 1h sigma and VaR99 forecast
    after that close (positive loss fractions of the log return), and the regime label (-1 in
    warm-up or without a regime model; `names[label]` otherwise, 0 = calmest)."""

    end: np.ndarray
    close: np.ndarray
    sigma: np.ndarray
    var_99: np.ndarray
    label: np.ndarray
    names: tuple[str, ...]

    @property
    def lower(self) -> np.ndarray:
        """The price an hour's 1-in-100 loss from this close would reach."""
        return self.close * np.exp(-self.var_99)

    @property
    def upper(self) -> np.ndarray:
        """The same move upwards."""
        return self.close * np.exp(self.var_99)


class _Cache:
    """A small least-recently-used map, safe across Dash's request threads."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._items: OrderedDict[tuple[object, ...], object] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0

    def get(self, key: tuple[object, ...], make: Callable[[], _T]) -> _T:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                self.hits += 1
                return self._items[key]  # type: ignore[return-value]
        value = make()
        with self._lock:
            self._items[key] = value
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return value

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self.hits = 0


_paths = _Cache(CACHE_SIZE)
_profiles = _Cache(CACHE_SIZE)
_structures = _Cache(CACHE_SIZE)
_markets = _Cache(4)


def _key(series: TickSeries) -> tuple[object, ...]:
    """The held ticks, as far as a cache needs: coin, first and last time, count."""
    if not len(series):
        return (series.crypto_id, 0, 0, 0)
    return (
        series.crypto_id,
        int(series.timestamp[0]),
        int(series.timestamp[-1]),
        len(series),
        float(series.price[-1]),
    )


@dataclass
class _Stream:
    """One coin's forecast and filter after its last closed bar, and the path so far."""

    first: int  # the first tick held when the stream started
    last_end: int  # the last closed bar fed (0: none yet)
    last_close: float  # and its close
    forecaster: risk.RiskForecaster
    filter: regimes.RegimeFilter | None
    path: RiskPath

    def continues(self, series: TickSeries) -> bool:
        """Whether `series` holds what was fed and no older tick: else (older ticks were read,
        or the coin's ticks were replaced) the stream starts again."""
        if int(series.timestamp[0]) < self.first:
            return False
        if not self.last_end:
            return True
        at = int(np.searchsorted(series.timestamp, self.last_end, side="right")) - 1
        return (
            at >= 0
            and int(series.timestamp[at]) > self.last_end - BAR_SECONDS
            and float(series.price[at]) == self.last_close
        )


_streams: dict[str, _Stream] = {}
_streams_lock = threading.Lock()


def _start(series: TickSeries) -> _Stream | None:
    volatility = risk.model_for(series.crypto_id)
    if volatility is None:
        return None
    model = regimes.model_for(series.crypto_id)
    names = () if model is None else tuple(model.names)
    nothing = np.zeros(0)
    empty = RiskPath(np.zeros(0, np.int64), nothing, nothing, nothing, np.zeros(0, np.int64), names)
    return _Stream(
        int(series.timestamp[0]),
        0,
        np.nan,
        risk.RiskForecaster(volatility),
        None if model is None else regimes.RegimeFilter(model),
        empty,
    )


def _advance(stream: _Stream, series: TickSeries) -> RiskPath:
    """Feed the bars closed since the stream's last one (the forecaster and the filter are
    resumable: chunked == whole), keep the bars from the first held tick on."""
    new = int(np.searchsorted(series.timestamp, stream.last_end, side="right"))
    bars = closed_bars(series[slice(new, None)], TIMEFRAME)
    end = np.asarray(bars["end"], dtype=np.int64)
    close = np.asarray(bars["close"], dtype=float)
    ok = np.isfinite(close) & (close > 0)
    end, close = end[ok], close[ok]
    old = stream.path
    if len(end):
        model = stream.forecaster.model
        forecast = stream.forecaster.update(end, close)
        label = (
            np.full(len(end), -1, dtype=np.int64)
            if stream.filter is None
            else stream.filter.update(end, close).label
        )
        stream.last_end, stream.last_close = int(end[-1]), float(close[-1])
        old = RiskPath(
            np.concatenate([old.end, end]),
            np.concatenate([old.close, close]),
            np.concatenate([old.sigma, forecast.sigma[HORIZON]]),
            np.concatenate([old.var_99, forecast.tail(model, HORIZON)["var_99"]]),
            np.concatenate([old.label, label]),
            old.names,
        )
    keep = int(np.searchsorted(old.end, int(series.timestamp[0]), side="left"))
    stream.path = RiskPath(old.end[keep:], old.close[keep:], old.sigma[keep:],
                           old.var_99[keep:], old.label[keep:], old.names)  # fmt: skip
    return stream.path


def _risk_path(series: TickSeries) -> RiskPath | None:
    if not len(series):
        return None
    coin = series.crypto_id
    with _streams_lock:
        stream = _streams.get(coin)
        if stream is None or not stream.continues(series):
            stream = _start(series)  # from the first held tick
            if stream is None:
                return None
            _streams[coin] = stream
        path = _advance(stream, series)
    return path if len(path.end) else None


def risk_path(series: TickSeries) -> RiskPath | None:
    """The band and regimes over every closed 5-minute bar of the held ticks (None: no bar, or
    no fitted volatility model). A coin's forecast and filter continue from the last bar seen,
    so a refresh costs the new bars only; when older ticks are read they start again from the
    first one."""
    return _paths.get(_key(series), lambda: _risk_path(series))


def volatility_profile(series: TickSeries) -> Profile | str:
    """The hour-of-week volatility profile of the held ticks, or why there is none (the
    profile module's own words: it says how much data it needs)."""

    def make() -> Profile | str:
        try:
            return hour_of_week_volatility(series.timestamp, series.price)
        except BadInputError as exc:
            return str(exc)

    return _profiles.get(_key(series), make)


def clear_cache() -> None:
    """Forget every cached result and stream (tests)."""
    for cache in (_paths, _profiles, _structures, _markets):
        cache.clear()
    with _streams_lock:
        _streams.clear()
        _engines.clear()
        _market_streams.clear()


# -- chart structure and the timeframes' trends --------------------------------------------------

#: The engine as the dashboard runs it: the stream's bars, trends, alignment and structure
#: tracker, no rules (nothing to fire, no evidence to keep); `engine_config` adds the coin's
#: fitted volatility model, which turns the price fan on.
STRUCTURE_CONFIG = EngineConfig(rules=(), tick_rules=())
#: The timeframes of the alignment strip, shortest first (`EngineConfig.trend_timeframes`).
TREND_TIMEFRAMES = STRUCTURE_CONFIG.trend_timeframes
#: The structure columns kept per base bar: the tracker's events and the levels of a firing.
STRUCTURE_COLUMNS = (*EVENTS, "breakout_level", "neckline", "pattern_height")


def engine_config(coin: str) -> EngineConfig:
    """`STRUCTURE_CONFIG` with the coin's fitted volatility model (`risk.model_for`), as the
    pipeline's engine has it: the price fan (`forecast.ConformalFan` on the engine's own
    volatility forecast) is then in the bars; without a model its columns are NaN."""
    return dataclasses.replace(STRUCTURE_CONFIG, volatility=risk.model_for(coin))


@dataclass(frozen=True)
class StructurePath:
    """Per closed 5-minute bar of a coin, as the engine's `EngineResult.bars` gave them: close
    time and close, each timeframe's trend sign (`trends["trend_1h"]`: +1 up, -1 down, NaN not
    yet known), the alignment (their mean), the structure tracker's events and levels on the
    bar that closes their hour (`events`: `STRUCTURE_COLUMNS`); the price fan issued after
    each bar (`fan`: `forecast.FAN_COLUMNS`, e.g. fan_q10_30m: the 10 % quantile of the price
    30 minutes after the bar's close; NaN while it warms up or without a volatility model);
    and the zones known after the last bar (`zones`: those with at least `min_touches` pivots,
    support below the last close, resistance above)."""

    end: np.ndarray
    close: np.ndarray
    trends: dict[str, np.ndarray]
    alignment: np.ndarray
    events: dict[str, np.ndarray]
    zones: tuple[Zone, ...]
    fan: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)


@dataclass
class _EngineStream:
    """One coin's rule-less engine after its last tick, and the path so far."""

    first: int  # the first tick held when the engine started
    engine: Engine
    columns: dict[str, np.ndarray]

    def continues(self, series: TickSeries) -> bool:
        """Whether `series` holds the last tick fed and no older tick than the first."""
        last = self.engine.last_timestamp
        if int(series.timestamp[0]) < self.first or last is None:
            return False
        at = int(np.searchsorted(series.timestamp, last, side="left"))
        return at < len(series) and int(series.timestamp[at]) == last


_engines: dict[str, _EngineStream] = {}
_KEPT = ("end", "close", "alignment", *(f"trend_{tf}" for tf in TREND_TIMEFRAMES),
         *STRUCTURE_COLUMNS, *FAN_COLUMNS)  # fmt: skip


def _structure_path(series: TickSeries) -> StructurePath | None:
    if not len(series):
        return None
    coin = series.crypto_id
    with _streams_lock:
        stream = _engines.get(coin)
        if stream is None or not stream.continues(series):
            engine = Engine(coin, engine_config(coin))
            stream = _EngineStream(int(series.timestamp[0]), engine,
                                   {c: np.zeros(0) for c in _KEPT})  # fmt: skip
            _engines[coin] = stream
        last = stream.engine.last_timestamp
        new = 0 if last is None else int(np.searchsorted(series.timestamp, last, side="right"))
        if new < len(series):
            bars = stream.engine.feed(series[slice(new, None)]).bars
            if bars and len(bars["end"]):
                stream.columns = {
                    c: np.concatenate([stream.columns[c], np.asarray(bars[c], dtype=float)])
                    for c in _KEPT
                }
        keep = int(np.searchsorted(stream.columns["end"], int(series.timestamp[0]), "left"))
        stream.columns = {c: v[keep:] for c, v in stream.columns.items()}
        columns = stream.columns
        tracker = stream.engine.structure
        zones: tuple[Zone, ...] = ()
        if tracker is not None:
            zones = tuple(z for z in tracker.zones if z.touches >= tracker.params.min_touches)
    if not len(columns["end"]):
        return None
    return StructurePath(
        columns["end"].astype(np.int64),
        columns["close"],
        {f"trend_{tf}": columns[f"trend_{tf}"] for tf in TREND_TIMEFRAMES},
        columns["alignment"],
        {c: columns[c] for c in STRUCTURE_COLUMNS},
        zones,
        {c: columns[c] for c in FAN_COLUMNS},
    )


def structure_path(series: TickSeries) -> StructurePath | None:
    """The engine's trends, alignment, chart structure and price fan over every closed 5-minute
    bar of the held ticks (None: no bar yet). The engine runs without rules and continues from the
    last tick seen (chunked == whole), so a refresh costs the new ticks only; it starts again
    when older ticks are read. It sees only the held ticks: a trend or a zone needs some
    history first (the 4h trend about a day, zones a few days of hours, the fan 6 hours and its
    calibration a day or so), which the pipeline's engine, running since the coin was first
    polled, had long before."""
    return _structures.get(_key(series), lambda: _structure_path(series))


# -- market co-movement -------------------------------------------------------------------------


@dataclass(frozen=True)
class MarketPath:
    """The market tracker's rows over the held coins (`cryptosignals.market.MARKET_COLUMNS`:
    end, n_coins, breadth_ma, breadth_up, market_move, pc1_share, mean_corr, alert), one per
    settled 5-minute bar time, and each altcoin's `BetaTracker` row (beta, corr, coin_move,
    btc_move, own_move, explained_share, btc_driven) at the last one: fed the settled closes,
    as the process function feeds it; and the market alerts as `MarketSignals` makes them
    (`signals`: ALERTs of the pseudo-coin "market" with their track record, which starts at
    the first held tick)."""

    coins: tuple[str, ...]
    rows: dict[str, np.ndarray]
    beta: dict[str, dict[str, float]]
    signals: tuple[Signal, ...] = ()


@dataclass
class _MarketStream:
    first: dict[str, int]  # each coin's first held tick when the trackers started
    last: dict[str, tuple[int, float]]  # each coin's last closed bar fed (end, close)
    tracker: MarketTracker
    betas: dict[str, BetaTracker]
    alerts: MarketSignals
    rows: dict[str, np.ndarray]
    beta: dict[str, dict[str, float]]
    signals: list[Signal]


_market_streams: dict[tuple[str, ...], _MarketStream] = {}


def _market_continues(stream: _MarketStream, held: dict[str, TickSeries]) -> bool:
    for coin, series in held.items():
        if int(series.timestamp[0]) < stream.first[coin]:
            return False
        end, close = stream.last.get(coin, (0, np.nan))
        if end:
            at = int(np.searchsorted(series.timestamp, end, side="right")) - 1
            if not (at >= 0 and int(series.timestamp[at]) > end - BAR_SECONDS
                    and float(series.price[at]) == close):  # fmt: skip
                return False
    return True


def _market_path(held: dict[str, TickSeries], base: str) -> MarketPath | None:
    coins = tuple(sorted(held))
    with _streams_lock:
        stream = _market_streams.get(coins)
        if stream is None or not _market_continues(stream, held):
            _market_streams.clear()  # one market: the held coins
            rows = {c: np.zeros(0) for c in ("end", "breadth_ma", "breadth_up", "pc1_share",
                                              "mean_corr", "market_move")}  # fmt: skip
            rows["alert"] = np.zeros(0, dtype=object)
            stream = _MarketStream(
                {c: int(s.timestamp[0]) for c, s in held.items()}, {}, MarketTracker(coins),
                {c: BetaTracker() for c in coins if c != base and base in coins},
                MarketSignals(coins), rows, {}, [],
            )  # fmt: skip
            _market_streams[coins] = stream
        batch = {}
        for coin, series in held.items():
            end = stream.last.get(coin, (0, np.nan))[0]
            new = int(np.searchsorted(series.timestamp, end, side="right"))
            bars = closed_bars(series[slice(new, None)], TIMEFRAME)
            ok = np.isfinite(bars["close"]) & (bars["close"] > 0)
            batch[coin] = (bars["end"][ok], bars["close"][ok])
            if ok.any():
                stream.last[coin] = (int(bars["end"][ok][-1]), float(bars["close"][ok][-1]))
        settled = stream.tracker.update(batch)
        stream.signals += stream.alerts.update(settled)  # as the process function does
        if len(settled["end"]):
            b = coins.index(base) if base in coins else -1
            for coin, tracker in stream.betas.items():
                j = coins.index(coin)
                out = tracker.update(settled["end"], settled["closes"][:, j],
                                     settled["closes"][:, b])  # fmt: skip
                stream.beta[coin] = {k: float(v[-1]) for k, v in out.items() if k != "end"}
            stream.rows = {c: np.concatenate([v, settled[c]]) for c, v in stream.rows.items()}
        rows = stream.rows
        beta = dict(stream.beta)
        signals = tuple(stream.signals)
    if not len(rows["end"]):
        return None
    return MarketPath(coins, {**rows, "end": rows["end"].astype(np.int64)}, beta, signals)


def market_path(held: dict[str, TickSeries], base: str = "bitcoin") -> MarketPath | None:
    """Breadth, PC1 share, the market alerts and the coins' betas to `base` over every held
    coin's closed 5-minute bars (None: fewer than two coins, or no bar time settled yet). The
    trackers continue from the last bars fed (they are resumable), so a refresh costs the new
    bars; they start again when the set of coins changes or older ticks are read."""
    held = {c: s for c, s in held.items() if len(s)}
    if len(held) < 2:
        return None
    key = tuple(_key(held[c]) for c in sorted(held))
    return _markets.get(key, lambda: _market_path(held, base))
