"""What the dashboard draws over a coin's held ticks from the fitted models: the 1h VaR band and
the regimes at each 5-minute bar (`risk_path`), and the hour-of-week volatility profile
(`volatility_profile`).

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

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from cryptosignals import regimes, risk
from cryptosignals.engine import TIMEFRAMES, closed_bars
from cryptosignals.errors import BadInputError
from cryptosignals.model import TickSeries
from cryptosignals.profile import Profile, hour_of_week_volatility

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
    _paths.clear()
    _profiles.clear()
    with _streams_lock:
        _streams.clear()
