"""Signals -> target positions -> a bar-by-bar simulation on candles.

The signals come from the signal engine (`Engine`, the same rules and indicators as the live
pipeline). `Backtest.run()` drives the real engine over ticks made from the candles; the
`frame` path runs the same rules' `fire` on the same indicator streams the engine builds, over
the whole series at once, which is what parameter searches and the benchmark use. A test proves
the two give identical trades.

Timing (docs/backtesting.md): a signal on the bar that closes at T is known at T, so it is
filled at the open of the candle that opens at T, the next bar. Nothing later than a bar's close
is ever read to decide that bar's order.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, Literal

import numpy as np

from cryptosignals import indicators
from cryptosignals.backtest import _kernel
from cryptosignals.backtest.metrics import Metrics, compute_metrics, drawdown_curve
from cryptosignals.candles import Candles, candles_to_ticks
from cryptosignals.engine import TIMEFRAMES, Engine, EngineConfig, FeatureSet, feature_stream
from cryptosignals.errors import BadInputError
from cryptosignals.indicators import INDICATORS
from cryptosignals.model import Signal, SignalType
from cryptosignals.rules import RULES, Frame, Rule

#: Strategy names of the command line -> rule classes. Every rule that says BUY or SELL can be
#: traded; `ma_cross` is the short name of the MA crossover.
STRATEGIES: dict[str, type[Rule]] = {
    "ma_cross": RULES["ma_crossover"],
    **{
        name: cls
        for name, cls in RULES.items()
        if name
        in (
            "ma_crossover",
            "trend_slope",
            "price_ma_cross",
            "rsi_reversal",
            "macd_momentum",
            "bollinger_breakout",
        )
    },
}

Side = Literal["long", "short"]
_REASONS = {
    _kernel.R_OPEN: "open",
    _kernel.R_SIGNAL: "signal",
    _kernel.R_STOP: "stop_loss",
    _kernel.R_TAKE: "take_profit",
}


def rule_parameters(strategy: str) -> dict[str, int | float]:
    """The tunable parameters of a strategy and their defaults."""
    cls = _strategy_class(strategy)
    return {f.name: f.default for f in fields(cls)}  # type: ignore[misc]


def _strategy_class(strategy: str) -> type[Rule]:
    if strategy not in STRATEGIES:
        raise BadInputError(
            f"unknown strategy {strategy!r}; known: {', '.join(sorted(STRATEGIES))}"
        )
    return STRATEGIES[strategy]


def make_rule(strategy: str, params: dict[str, Any] | None = None) -> Rule:
    """The rule of a strategy with its parameters checked and typed, or a BadInputError."""
    cls = _strategy_class(strategy)
    defaults = rule_parameters(strategy)
    params = dict(params or {})
    unknown = sorted(set(params) - set(defaults))
    if unknown:
        raise BadInputError(
            f"{strategy}: unknown parameter(s) {', '.join(unknown)}; "
            f"known: {', '.join(f'{k} (default {v})' for k, v in defaults.items())}"
        )
    typed: dict[str, Any] = {}
    for name, value in params.items():
        kind = type(defaults[name])
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise BadInputError(f"{strategy}: {name} must be a number, got {value!r}") from None
        if kind is int:
            if not number.is_integer() or number < 1:
                raise BadInputError(f"{strategy}: {name} must be a whole number >= 1, got {value}")
            typed[name] = int(number)
        else:
            typed[name] = number
    rule = cls(**typed)
    fast, slow = getattr(rule, "fast", None), getattr(rule, "slow", None)
    if fast is not None and slow is not None and fast >= slow:
        raise BadInputError(f"{strategy}: fast ({fast}) must be shorter than slow ({slow})")
    try:
        warmup_bars([rule])  # resolves every indicator the rule uses: a bad period fails here
    except ValueError as exc:
        raise BadInputError(f"{strategy}: {exc}") from None
    return rule


def warmup_bars(rules: Iterable[Rule]) -> int:
    """Bars before every feature of the rules has a value (chained features add up)."""
    longest = 0
    for rule in rules:
        specs = rule.features()
        memo: dict[str, int] = {}

        def lookback(name: str, specs: dict[str, Any] = specs, memo: dict[str, int] = memo) -> int:
            if name not in specs:
                return 0
            if name not in memo:
                indicator, source, params, _ = specs[name]
                kind, params = feature_stream(indicator, params)
                ind = INDICATORS[kind]
                memo[name] = ind.lookback(**ind.resolve(params)) + lookback(source)
            return memo[name]

        longest = max([longest, *(lookback(n) for n in specs)])
    return longest + Frame.DEPTH  # a rule compares a bar with the ones before it


# -- signals ------------------------------------------------------------------------------------
def engine_signals(candles: Candles, coin: str, rules: Sequence[Rule]) -> list[Signal]:
    """What the signal engine emits for these rules over ticks made from the candles."""
    config = EngineConfig(rules=tuple(rules), tick_rules=())
    return Engine(coin, config).feed(candles_to_ticks(coin, candles)).signals


def check_candles(candles: Candles) -> None:
    """Candles the engine turns into one bar each: a whole number of 5-minute steps apart and
    closing on 5-minute boundaries (UTC), as exchange candles do."""
    if len(candles) < 2:
        raise BadInputError(f"{len(candles)} candle(s): at least two are needed")
    interval = candles.interval_ms // 1000
    if interval % _BAR_SECONDS or np.any((candles.timestamp // 1000) % _BAR_SECONDS):
        raise BadInputError(
            f"candles must open on {_BAR_SECONDS // 60}-minute boundaries and be a multiple of"
            f" {_BAR_SECONDS // 60} minutes long (found {interval} s candles)"
        )


_BAR_SECONDS = TIMEFRAMES[EngineConfig.timeframe]  # the engine's base bars


def close_times(candles: Candles) -> np.ndarray:
    """Unix seconds at which each candle closes: the time of its bar's signals."""
    return candles.timestamp // 1000 + candles.interval_ms // 1000


def directions_from_signals(signals: Iterable[Signal], candles: Candles) -> np.ndarray:
    """Per bar: +1 where the BUY signals outvote the SELLs at that bar's close, -1 for the
    opposite, NaN where nothing directional fired. ALERTs carry no direction and are ignored.
    Signals at times that are not a candle's close are ignored too."""
    ends = close_times(candles)
    votes = np.zeros(len(candles))
    for s in signals:
        if s.signal_type is SignalType.ALERT:
            continue
        i = int(np.searchsorted(ends, s.timestamp))
        if i < len(ends) and ends[i] == s.timestamp:
            votes[i] += 1.0 if s.signal_type is SignalType.BUY else -1.0
    return np.where(votes != 0, np.sign(votes), np.nan)


def engine_bars(candles: Candles) -> dict[str, np.ndarray]:
    """The 5m bars the engine builds from the candles' ticks, as columns.

    One tick per candle, at its close, makes one bar per candle whose open, high, low and close
    are the candle's close, and whose volume is the 24h volume (the last known one)."""
    close = candles.close.astype(float)
    ticks = candles_to_ticks("backtest", candles)
    volume = ticks.volume_24h.copy()
    known = ~np.isnan(volume)
    if known.any():  # the engine keeps the last known 24h volume
        idx = np.where(known, np.arange(len(volume)), 0)
        np.maximum.accumulate(idx, out=idx)
        volume = np.where(np.arange(len(volume)) >= np.argmax(known), volume[idx], np.nan)
    return {
        "end": ticks.timestamp.astype(float),
        "open": close,
        "high": close,
        "low": close,
        "close": close,
        "volume": volume,
    }


def frame_directions(
    candles: Candles, rules: Sequence[Rule], bars: dict[str, np.ndarray] | None = None
) -> np.ndarray:
    """The same per-bar directions as `directions_from_signals(engine_signals(...))`, computed
    in one pass: the engine's own feature streams (`engine.FeatureSet`) over the bars it would
    build (`engine_bars`, pass them in to reuse them), then each rule's own `fire`."""
    bars = engine_bars(candles) if bars is None else bars
    votes = np.zeros(len(candles))
    for rule in rules:
        frame = FeatureSet(rule.features(), None).update(bars)
        firing = rule.fire(frame)
        directional = firing.mask & (firing.signal_type != SignalType.ALERT)
        votes += np.where(directional, firing.direction, 0.0)
    return np.where(votes != 0, np.sign(votes), np.nan)


def orders_from_directions(directions: np.ndarray, long_only: bool) -> np.ndarray:
    """Target side to take at each bar's open: the direction decided at the previous close.

    Long/short: BUY -> long, SELL -> short. Long-only: SELL -> flat.
    """
    decided = np.where(directions < 0, 0.0, directions) if long_only else directions
    return np.concatenate([[np.nan], decided[:-1]])


# -- configuration and results ------------------------------------------------------------------
@dataclass(frozen=True)
class BacktestConfig:
    """How signals are traded. Fees and slippage are in basis points of value / of price."""

    fee_bps: float = 10.0
    slippage_bps: float = 0.0
    long_only: bool = False
    stop_loss: float | None = None  # fraction of the entry fill, e.g. 0.02
    take_profit: float | None = None
    sizing: Literal["fixed", "atr"] = "fixed"
    fraction: float = 1.0  # fixed: share of equity per position; atr: the cap
    risk: float = 0.01  # atr: equity lost when the price moves atr_multiple x ATR against it
    atr_period: int = 14
    atr_multiple: float = 2.0
    cash: float = 10_000.0

    def __post_init__(self) -> None:
        checks = [
            (self.fee_bps >= 0, "fee_bps must be >= 0"),
            (self.slippage_bps >= 0, "slippage_bps must be >= 0"),
            (0 < self.fraction <= 1, "fraction must be in (0, 1]"),
            (self.sizing in ("fixed", "atr"), "sizing must be 'fixed' or 'atr'"),
            (self.risk > 0 and self.atr_multiple > 0, "risk and atr_multiple must be > 0"),
            (self.atr_period >= 1, "atr_period must be >= 1"),
            (self.cash > 0, "cash must be > 0"),
            (self.stop_loss is None or 0 < self.stop_loss < 1, "stop_loss must be in (0, 1)"),
            (self.take_profit is None or self.take_profit > 0, "take_profit must be > 0"),
        ]
        for ok, message in checks:
            if not ok:
                raise BadInputError(message)

    def fractions(self, candles: Candles) -> np.ndarray:
        """Share of equity committed by a position opened at each bar's open.

        atr: risk / (atr_multiple x ATR% of the previous close), capped at `fraction`; no
        position is opened before the ATR is known.
        """
        n = len(candles)
        if self.sizing == "fixed":
            return np.full(n, self.fraction)
        atr = indicators.atr(candles.high, candles.low, candles.close, self.atr_period)
        with np.errstate(divide="ignore", invalid="ignore"):
            share = self.risk / (self.atr_multiple * atr / candles.close)
        share = np.nan_to_num(np.minimum(share, self.fraction), nan=0.0)
        return np.concatenate([[0.0], share[:-1]])


@dataclass(frozen=True)
class Trade:
    """One round trip. Times are unix seconds of the open of the bar where it happened."""

    side: Side
    entry_time: int
    exit_time: int | None  # None while still open at the end
    entry_price: float  # fill prices, slippage included
    exit_price: float  # the last close for a trade still open
    units: float
    fees: float
    pnl: float  # after fees
    return_pct: float  # pnl / entry value, percent
    bars_held: int
    exit_reason: str  # signal, stop_loss, take_profit, open

    def to_json(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass
class BacktestResult:
    """Trades, equity curves and figures of one backtest, and buy-and-hold alongside."""

    timestamp: np.ndarray  # candle open times, unix seconds
    close: np.ndarray
    equity: np.ndarray
    units: np.ndarray
    trades: list[Trade]
    metrics: Metrics
    buy_and_hold_equity: np.ndarray
    buy_and_hold: Metrics
    interval_seconds: int
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def drawdown(self) -> np.ndarray:
        return drawdown_curve(self.equity, self.metrics.start_equity)

    def to_json(self, with_trades: bool = True) -> dict[str, Any]:
        """One JSON object: the figures, buy-and-hold's, and the trades."""
        out: dict[str, Any] = dict(self.info)
        out.update(self.metrics.to_json())
        out["buy_and_hold_return"] = self.buy_and_hold.total_return
        out["buy_and_hold"] = self.buy_and_hold.to_json()
        out["bars"] = len(self.equity)
        out["start"] = int(self.timestamp[0]) if len(self.timestamp) else None
        out["end"] = (
            int(self.timestamp[-1]) + self.interval_seconds if len(self.timestamp) else None
        )
        if with_trades:
            out["trades"] = [t.to_json() for t in self.trades]
        return out


def simulate(
    candles: Candles,
    orders: np.ndarray,
    config: BacktestConfig,
    fractions: np.ndarray | None = None,
    info: dict[str, Any] | None = None,
) -> BacktestResult:
    """Run the orders (target side per bar open, NaN to hold) on the candles."""
    if len(candles) < 2:
        raise BadInputError(f"{len(candles)} candle(s): at least two are needed to backtest")
    interval = candles.interval_ms // 1000
    fee, slip = config.fee_bps / 1e4, config.slippage_bps / 1e4
    sl = math.nan if config.stop_loss is None else config.stop_loss
    tp = math.nan if config.take_profit is None else config.take_profit
    ohlc = [np.ascontiguousarray(a, dtype=float) for a in (candles.open, candles.high,
                                                           candles.low, candles.close)]  # fmt: skip
    frac = config.fractions(candles) if fractions is None else fractions
    equity, units, table, k = _kernel._simulate(
        *ohlc, np.asarray(orders, dtype=float), np.asarray(frac, dtype=float),
        fee, slip, sl, tp, float(config.cash),
    )  # fmt: skip
    bh_orders = np.full(len(candles), np.nan)
    bh_orders[0] = 1.0
    bh_equity, bh_units, bh_table, bh_k = _kernel._simulate(
        *ohlc, bh_orders, np.ones(len(candles)), fee, slip, math.nan, math.nan, float(config.cash)
    )
    times = candles.timestamp // 1000
    trades = _trades(table[:k], times)
    return BacktestResult(
        timestamp=times,
        close=ohlc[3],
        equity=equity,
        units=units,
        trades=trades,
        metrics=_metrics(equity, units, table[:k], config.cash, interval),
        buy_and_hold_equity=bh_equity,
        buy_and_hold=_metrics(bh_equity, bh_units, bh_table[:bh_k], config.cash, interval),
        interval_seconds=interval,
        info=dict(info or {}),
    )


def _metrics(
    equity: np.ndarray, units: np.ndarray, table: np.ndarray, cash: float, interval: int
) -> Metrics:
    pnl = table[:, _kernel.T_PNL]
    value = table[:, _kernel.T_UNITS] * table[:, _kernel.T_ENTRY]
    closed = ~np.isnan(table[:, _kernel.T_EXIT_BAR])
    return compute_metrics(
        equity, units, pnl, pnl / value, closed, float(np.sum(table[:, _kernel.T_FEES])),
        cash, interval,
    )  # fmt: skip


def _trades(table: np.ndarray, times: np.ndarray) -> list[Trade]:
    out = []
    last = len(times) - 1
    for row in table:
        entry = int(row[_kernel.T_ENTRY_BAR])
        closed = not math.isnan(row[_kernel.T_EXIT_BAR])
        exit_bar = int(row[_kernel.T_EXIT_BAR]) if closed else last
        value = row[_kernel.T_UNITS] * row[_kernel.T_ENTRY]
        out.append(
            Trade(
                side="long" if row[_kernel.T_SIDE] > 0 else "short",
                entry_time=int(times[entry]),
                exit_time=int(times[exit_bar]) if closed else None,
                entry_price=float(row[_kernel.T_ENTRY]),
                exit_price=float(row[_kernel.T_EXIT]),
                units=float(row[_kernel.T_UNITS]),
                fees=float(row[_kernel.T_FEES]),
                pnl=float(row[_kernel.T_PNL]),
                return_pct=float(row[_kernel.T_PNL] / value * 100.0),
                bars_held=exit_bar - entry + (0 if closed else 1),
                exit_reason=_REASONS[int(row[_kernel.T_REASON])],
            )
        )
    return out


class Backtest:
    """A strategy (one or more rules) traded on candles of one coin.

    >>> from cryptosignals.candles import read_candles, sample_path
    >>> from cryptosignals.rules import MACrossover
    >>> bt = Backtest(read_candles(sample_path("bitcoin")), [MACrossover(5, 30)], coin="bitcoin")
    >>> result = bt.run()
    >>> result.metrics.n_trades > 0
    True
    """

    def __init__(
        self,
        candles: Candles,
        rules: Sequence[Rule],
        config: BacktestConfig | None = None,
        coin: str = "bitcoin",
    ) -> None:
        if not rules:
            raise BadInputError("a backtest needs at least one rule")
        check_candles(candles)
        self.candles = candles
        self.rules = tuple(rules)
        self.config = config or BacktestConfig()
        self.coin = coin
        need = warmup_bars(self.rules) + 2
        if len(candles) < need:
            raise BadInputError(
                f"{len(candles)} candles are too few for {', '.join(r.name for r in self.rules)}:"
                f" its indicators need {need - 2} bars of warm-up, so at least {need} candles"
            )

    def signals(self) -> list[Signal]:
        """The engine's signals of these rules over the candles."""
        return engine_signals(self.candles, self.coin, self.rules)

    def directions(self, source: Literal["engine", "frame"] = "engine") -> np.ndarray:
        if source == "engine":
            return directions_from_signals(self.signals(), self.candles)
        return frame_directions(self.candles, self.rules)

    def run(self, source: Literal["engine", "frame"] = "engine") -> BacktestResult:
        """Simulate. `engine` drives the signal engine; `frame` is the one-pass equivalent."""
        directions = self.directions(source)
        orders = orders_from_directions(directions, self.config.long_only)
        info = {
            "coin": self.coin,
            "strategy": "+".join(r.name for r in self.rules),
            "params": {r.name: {f.name: getattr(r, f.name) for f in fields(r)} for r in self.rules},
            "fee_bps": self.config.fee_bps,
            "slippage_bps": self.config.slippage_bps,
            "long_only": self.config.long_only,
            "signals": int(np.sum(~np.isnan(directions))),
        }
        return simulate(self.candles, orders, self.config, info=info)


def quick_metrics(
    ohlc: Sequence[np.ndarray],
    orders: np.ndarray,
    fractions: np.ndarray,
    config: BacktestConfig,
    interval_seconds: int,
) -> Metrics:
    """The figures of a simulation without building trade objects or buy-and-hold: the inner
    loop of parameter searches. `ohlc` are contiguous float arrays (open, high, low, close)."""
    sl = math.nan if config.stop_loss is None else config.stop_loss
    tp = math.nan if config.take_profit is None else config.take_profit
    equity, units, table, k = _kernel._simulate(
        *ohlc, orders, fractions, config.fee_bps / 1e4, config.slippage_bps / 1e4, sl, tp,
        float(config.cash),
    )  # fmt: skip
    return _metrics(equity, units, table[:k], config.cash, interval_seconds)
