"""Signal rules: small, named, parameterised, vectorised over a batch of closed bars.

A rule looks at the features of the current bar and of the bars just before it (`Frame.prev`)
and says where it fires, in which direction, and which values fired it. Rules never look
ahead: a frame only holds bars that are closed. Most rules are edge-triggered (they fire when a
condition *becomes* true), so a long oversold stretch is one signal, not fifty.

The setup score, a hand-made description of the context a signal fired in (computed in
`setup_score`, kept in every signal's details as `setup_score`):

    score = 0.4 + 0.2 * agreement + 0.2 * trend_strength + 0.2 * volume_confirmation

- agreement: 1 if the higher timeframe's trend (MA fast vs MA slow on 1h bars) points the way
  of the signal, else 0;
- trend_strength: ADX mapped linearly from 20 (no trend, 0) to 40 (strong trend, 1);
- volume_confirmation: 1 if the 24h volume is above its trailing average, else 0.

Context that is not known yet (during warm-up) counts as 0: the score only rises with it.
So a signal that fires alone scores 0.4, and one that agrees with the 1h trend in a strong,
volume-backed trend scores 1.0.

It is not the signal's confidence: measured on real data it did not rank outcomes (Spearman
-0.017 with the 4h return; scores >= 0.8 hit less often than < 0.5 on 14 of 15 coin-periods).
A signal's `confidence_score` is the calibrated probability that its claim holds, learned from
its rule's track record (cryptosignals.evidence, docs/signals.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from cryptosignals.model import SignalType

BUY, SELL, ALERT = SignalType.BUY, SignalType.SELL, SignalType.ALERT

#: A feature a rule reads: (indicator, input, params, output index). The input is a bar column
#: (close, volume), "hlc" for high/low/close, or the name of another feature (chained).
FeatureSpec = tuple[str, str, dict[str, Any], int]


class Frame:
    """Features of a batch of consecutive closed bars, plus the rows that came before it."""

    def __init__(self, current: dict[str, np.ndarray], history: list[dict[str, float]]) -> None:
        self.current = current
        self.history = history  # most recent last; as many rows as Frame.DEPTH, NaN-filled
        self.size = len(next(iter(current.values()))) if current else 0
        self.looked_back: dict[str, int] = {}  # the features read earlier rows, how far back

    DEPTH: ClassVar[int] = 2

    def __getitem__(self, name: str) -> np.ndarray:
        return self.current[name]

    def prev(self, name: str, lag: int = 1) -> np.ndarray:
        """The feature `lag` bars earlier, for each bar of the batch."""
        self.looked_back[name] = max(lag, self.looked_back.get(name, 0))
        earlier = np.array([row.get(name, np.nan) for row in self.history[-lag:]], dtype=float)
        return np.concatenate([earlier, self.current[name]])[: self.size]


@dataclass(frozen=True)
class Firing:
    """Where a rule fired in a frame: a mask, each firing's direction and its details."""

    mask: np.ndarray
    direction: np.ndarray  # +1 up / -1 down, per bar
    signal_type: np.ndarray  # SignalType values, per bar
    details: dict[str, np.ndarray] = field(default_factory=dict)


def _cross_up(a_prev: np.ndarray, a: np.ndarray, b_prev: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a_prev <= b_prev) & (a > b)


def _cross_down(a_prev: np.ndarray, a: np.ndarray, b_prev: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a_prev >= b_prev) & (a < b)


_SELL_OR_BUY = np.array([SELL, BUY])  # indexed by `up`: np.where would convert both each call


def _buy_sell(up: np.ndarray, down: np.ndarray, details: dict[str, np.ndarray]) -> Firing:
    return Firing(
        up | down,
        np.where(up, 1.0, -1.0),
        _SELL_OR_BUY[np.asarray(up, dtype=np.intp)],
        details,
    )


def _alert(mask: np.ndarray, direction: np.ndarray, details: dict[str, np.ndarray]) -> Firing:
    return Firing(mask, np.sign(direction), np.full(mask.shape, ALERT), details)


@dataclass(frozen=True)
class Rule:
    """Base of all rules. `name` is the rule's id in signals; parameters are the fields."""

    name: ClassVar[str]
    question: ClassVar[str]  # the trader's question the rule answers

    def features(self) -> dict[str, FeatureSpec]:
        """Features this rule reads: name -> (indicator, input, params, output index)."""
        return {}

    def fire(self, f: Frame) -> Firing:  # pragma: no cover - abstract
        raise NotImplementedError


@dataclass(frozen=True)
class MACrossover(Rule):
    """Trend turn: the fast SMA crosses the slow SMA (up: BUY, down: SELL)."""

    fast: int = 5
    slow: int = 30
    name: ClassVar[str] = "ma_crossover"
    question: ClassVar[str] = "Is the price trending up or down?"

    def features(self) -> dict[str, FeatureSpec]:
        return {
            f"sma_{self.fast}": ("sma", "close", {"period": self.fast}, 0),
            f"sma_{self.slow}": ("sma", "close", {"period": self.slow}, 0),
        }

    def fire(self, f: Frame) -> Firing:
        a, b = f"sma_{self.fast}", f"sma_{self.slow}"
        up = _cross_up(f.prev(a), f[a], f.prev(b), f[b])
        down = _cross_down(f.prev(a), f[a], f.prev(b), f[b])
        return _buy_sell(up, down, {"ma_fast": f[a], "ma_slow": f[b]})


@dataclass(frozen=True)
class TrendSlope(Rule):
    """Trend direction: the regression slope turns clearly positive (BUY) or negative (SELL).

    The slope of a least-squares line over `period` closes, in percent of price per bar, must
    pass +/- `threshold_pct` to count as a trend; the rule fires when a trend starts.
    """

    period: int = 14
    threshold_pct: float = 0.05
    name: ClassVar[str] = "trend_slope"
    question: ClassVar[str] = "Is the price trending up or down?"

    def features(self) -> dict[str, FeatureSpec]:
        return {f"slope_{self.period}": ("linearreg_slope", "close", {"period": self.period}, 0)}

    def fire(self, f: Frame) -> Firing:
        name = f"slope_{self.period}"
        slope_pct = f[name] / f["close"] * 100.0
        prev_pct = f.prev(name) / f.prev("close") * 100.0
        up = (slope_pct > self.threshold_pct) & ~(prev_pct > self.threshold_pct)
        down = (slope_pct < -self.threshold_pct) & ~(prev_pct < -self.threshold_pct)
        up &= ~np.isnan(prev_pct)
        down &= ~np.isnan(prev_pct)
        return _buy_sell(up, down, {"slope_pct_per_bar": slope_pct})


@dataclass(frozen=True)
class PriceCrossMA(Rule):
    """Buy/sell point: the close crosses its SMA (above: BUY, below: SELL)."""

    period: int = 20
    name: ClassVar[str] = "price_ma_cross"
    question: ClassVar[str] = "Where is a good buy (or sell) point?"

    def features(self) -> dict[str, FeatureSpec]:
        return {f"sma_{self.period}": ("sma", "close", {"period": self.period}, 0)}

    def fire(self, f: Frame) -> Firing:
        ma = f"sma_{self.period}"
        up = _cross_up(f.prev("close"), f["close"], f.prev(ma), f[ma])
        down = _cross_down(f.prev("close"), f["close"], f.prev(ma), f[ma])
        return _buy_sell(up, down, {"ma": f[ma]})


@dataclass(frozen=True)
class RSIReversal(Rule):
    """Oversold rebound / overbought turn: RSI makes a trough below `oversold` and turns up (BUY),
    or a peak above `overbought` and turns down (SELL)."""

    period: int = 14
    oversold: float = 30.0
    overbought: float = 70.0
    name: ClassVar[str] = "rsi_reversal"
    question: ClassVar[str] = "Is this a buy point (oversold) or a sell point (overbought)?"

    def features(self) -> dict[str, FeatureSpec]:
        return {f"rsi_{self.period}": ("rsi", "close", {"period": self.period}, 0)}

    def fire(self, f: Frame) -> Firing:
        name = f"rsi_{self.period}"
        now, last, before = f[name], f.prev(name), f.prev(name, 2)
        up = (last < self.oversold) & (now > last) & (before >= last)
        down = (last > self.overbought) & (now < last) & (before <= last)
        return _buy_sell(up, down, {"rsi": now, "rsi_extreme": last})


@dataclass(frozen=True)
class MACDMomentum(Rule):
    """Momentum shift: the MACD histogram changes sign (to positive: BUY, to negative: SELL)."""

    fast: int = 12
    slow: int = 26
    signal: int = 9
    name: ClassVar[str] = "macd_momentum"
    question: ClassVar[str] = "Is momentum accelerating or fading?"

    def features(self) -> dict[str, FeatureSpec]:
        params = {"fast": self.fast, "slow": self.slow, "signal": self.signal}
        return {
            "macd": ("macd", "close", params, 0),
            "macd_hist": ("macd", "close", params, 2),
        }

    def fire(self, f: Frame) -> Firing:
        hist, last = f["macd_hist"], f.prev("macd_hist")
        return _buy_sell((last <= 0) & (hist > 0), (last >= 0) & (hist < 0), {
            "macd": f["macd"],
            "macd_hist": hist,
        })  # fmt: skip


@dataclass(frozen=True)
class VolumeSpike(Rule):
    """Unusual activity: the 24h volume exceeds `multiplier` times its trailing average.

    CoinGecko only gives 24-hour volumes, so the spike is defined on them: the latest 24h volume
    against the mean of the 24h volume readings of the day before the previous bar (the engine's
    24h window, `volume_avg_24h`). Fires when the ratio first passes the multiplier.
    """

    multiplier: float = 2.0
    name: ClassVar[str] = "volume_spike"
    question: ClassVar[str] = "Does volume confirm the move?"

    def fire(self, f: Frame) -> Firing:
        ratio = f["volume"] / f.prev("volume_avg_24h")
        last_ratio = f.prev("volume") / f.prev("volume_avg_24h", 2)
        mask = (ratio > self.multiplier) & ~(last_ratio > self.multiplier)
        move = f["close"] - f.prev("close")
        return _alert(mask, np.where(move >= 0, 1.0, -1.0), {"volume_ratio": ratio})


@dataclass(frozen=True)
class BollingerBreakout(Rule):
    """Is the move real? The close breaks out of the Bollinger bands (above: BUY, below: SELL)."""

    period: int = 20
    nbdev: float = 2.0
    name: ClassVar[str] = "bollinger_breakout"
    question: ClassVar[str] = "Is this move real or noise?"

    def features(self) -> dict[str, FeatureSpec]:
        params = {"period": self.period, "nbdev_up": self.nbdev, "nbdev_dn": self.nbdev}
        return {
            f"bb_upper_{self.period}": ("bbands", "close", params, 0),
            f"bb_lower_{self.period}": ("bbands", "close", params, 2),
        }

    def fire(self, f: Frame) -> Firing:
        upper, lower = f"bb_upper_{self.period}", f"bb_lower_{self.period}"
        up = _cross_up(f.prev("close"), f["close"], f.prev(upper), f[upper])
        down = _cross_down(f.prev("close"), f["close"], f.prev(lower), f[lower])
        return _buy_sell(up, down, {"bb_upper": f[upper], "bb_lower": f[lower]})


@dataclass(frozen=True)
class BollingerSqueeze(Rule):
    """Range-bound, a breakout brewing: the band width ((upper - lower) / middle) falls to its
    lowest in `lookback` bars. Fires when a squeeze starts."""

    period: int = 20
    nbdev: float = 2.0
    lookback: int = 120
    name: ClassVar[str] = "bollinger_squeeze"
    question: ClassVar[str] = "Is the market range-bound?"

    def features(self) -> dict[str, FeatureSpec]:
        return {
            "bb_width": ("bb_width", "close", {"period": self.period, "nbdev": self.nbdev}, 0),
            f"bb_width_min_{self.lookback}": ("min", "bb_width", {"period": self.lookback}, 0),
        }

    def fire(self, f: Frame) -> Firing:
        low = f"bb_width_min_{self.lookback}"
        at_low = f["bb_width"] <= f[low]
        was_low = f.prev("bb_width") <= f.prev(low)
        mask = at_low & ~was_low & ~np.isnan(f.prev(low))
        move = f["close"] - f.prev("close")
        return _alert(mask, np.where(move >= 0, 1.0, -1.0), {"bb_width": f["bb_width"]})


@dataclass(frozen=True)
class VolatilitySpike(Rule):
    """How volatile is it now? ATR (as % of price) jumps above `multiplier` x its exponential
    average over `lookback` bars (TA-Lib's EMA: a mean age of half the lookback, like a
    `lookback`-bar SMA, in four numbers of state instead of `lookback`): widen stops, cut size."""

    period: int = 14
    lookback: int = 100
    multiplier: float = 2.0
    name: ClassVar[str] = "volatility_spike"
    question: ClassVar[str] = "How volatile is it now; should I cut position size?"

    def features(self) -> dict[str, FeatureSpec]:
        atr = f"atr_pct_{self.period}"
        return {
            atr: ("atr_pct", "hlc", {"period": self.period}, 0),
            f"atr_pct_avg_{self.lookback}": ("ema", atr, {"period": self.lookback}, 0),
        }

    def fire(self, f: Frame) -> Firing:
        atr, avg = f"atr_pct_{self.period}", f"atr_pct_avg_{self.lookback}"
        ratio = f[atr] / f.prev(avg)
        last_ratio = f.prev(atr) / f.prev(avg, 2)
        mask = (ratio > self.multiplier) & ~(last_ratio > self.multiplier)
        move = f["close"] - f.prev("close")
        return _alert(mask, np.where(move >= 0, 1.0, -1.0), {"atr_pct": f[atr], "atr_ratio": ratio})


@dataclass(frozen=True)
class CutSize(Rule):
    """Cut size now: the volatility forecast's 1h sigma rose to `ratio` x what it was an hour
    before (so the position that spends the same risk budget shrinks by 1 - 1/ratio). Reads
    the engine's forecast columns (cryptosignals.risk); never fires without a fitted model."""

    ratio: float = 1.5
    name: ClassVar[str] = "cut_size"
    question: ClassVar[str] = "Has the risk jumped; should I cut position size?"

    def fire(self, f: Frame) -> Firing:
        with np.errstate(invalid="ignore", divide="ignore"):
            rise = f["sigma_1h"] / f["sigma_1h_hour_ago"]
            last = f.prev("sigma_1h") / f.prev("sigma_1h_hour_ago")
        mask = (rise >= self.ratio) & ~(last >= self.ratio)
        move = f["close"] - f.prev("close")
        return _alert(mask, np.where(move >= 0, 1.0, -1.0), {"sigma_ratio": rise})


@dataclass(frozen=True)
class PriceChange(Rule):
    """A big move: the price is more than `threshold_pct` above the lowest (pump) or below the
    highest (dump) price of the last `minutes`, by event time, tick by tick. ALERT, both ways."""

    threshold_pct: float = 5.0
    minutes: int = 60
    name: ClassVar[str] = "price_change_1h"
    question: ClassVar[str] = "Is something big happening right now?"

    def fire(self, f: Frame) -> Firing:
        up = (f["price"] / f["window_min"] - 1.0) * 100.0
        down = (f["price"] / f["window_max"] - 1.0) * 100.0
        pump, dump = up > self.threshold_pct, down < -self.threshold_pct
        # Remembered in the frame so that the next batch knows whether a move was under way.
        f.current["moving"] = (pump | dump).astype(float)
        mask = (pump | dump) & ~(f.prev("moving") > 0)
        change = np.where(pump, up, down)
        return _alert(mask, np.sign(change), {"change_pct": change})


# -- chart structure (cryptosignals.structure) ---------------------------------------------------
# They read the structure tracker's columns, which the engine merges into the 5-minute frame from
# its 1-hour bars; each fires on the bar where its column is non-zero.


def _column(f: Frame, name: str) -> np.ndarray:
    return np.nan_to_num(np.asarray(f[name], dtype=float), nan=0.0)


@dataclass(frozen=True)
class StructureBreakout(Rule):
    """Claim: after a close through a support/resistance zone on above-average volume, the price
    keeps going the way it broke (up: BUY, down: SELL)."""

    name: ClassVar[str] = "breakout"
    label_timeframe: ClassVar[str] = "1h"  # fires on the engine's 1h structure bars
    question: ClassVar[str] = "Breakout or false breakout?"

    def fire(self, f: Frame) -> Firing:
        b = _column(f, "breakout")
        details = {"breakout_level": f["breakout_level"], "structure_atr": f["structure_atr"]}
        return _buy_sell(b > 0, b < 0, details)


@dataclass(frozen=True)
class FalseBreakout(Rule):
    """Claim: once a breakout falls back inside its zone, the price goes the other way (a failed
    breakout up: SELL, a failed breakout down: BUY)."""

    name: ClassVar[str] = "false_breakout"
    label_timeframe: ClassVar[str] = "1h"  # fires on the engine's 1h structure bars
    question: ClassVar[str] = "Breakout or false breakout?"

    def fire(self, f: Frame) -> Firing:
        b = _column(f, "false_breakout")
        return _buy_sell(b < 0, b > 0, {"structure_atr": f["structure_atr"]})


def _pattern_firing(f: Frame, column: str, up: bool) -> Firing:
    mask = _column(f, column) > 0
    none = np.zeros(mask.shape, dtype=bool)
    details = {"neckline": f["neckline"], "pattern_height": f["pattern_height"]}
    return _buy_sell(mask, none, details) if up else _buy_sell(none, mask, details)


@dataclass(frozen=True)
class DoubleTop(Rule):
    """Claim: after two equal peaks, the close below the trough between them leads lower (SELL)."""

    name: ClassVar[str] = "double_top"
    label_timeframe: ClassVar[str] = "1h"  # fires on the engine's 1h structure bars
    question: ClassVar[str] = "Is a known chart pattern forming?"

    def fire(self, f: Frame) -> Firing:
        return _pattern_firing(f, "double_top", up=False)


@dataclass(frozen=True)
class DoubleBottom(Rule):
    """Claim: after two equal troughs, the close above the peak between them leads higher (BUY)."""

    name: ClassVar[str] = "double_bottom"
    label_timeframe: ClassVar[str] = "1h"  # fires on the engine's 1h structure bars
    question: ClassVar[str] = "Is a known chart pattern forming?"

    def fire(self, f: Frame) -> Firing:
        return _pattern_firing(f, "double_bottom", up=True)


@dataclass(frozen=True)
class HeadShoulders(Rule):
    """Claim: after a head and shoulders top, the close below the neckline leads lower (SELL)."""

    name: ClassVar[str] = "head_shoulders"
    label_timeframe: ClassVar[str] = "1h"  # fires on the engine's 1h structure bars
    question: ClassVar[str] = "Is a known chart pattern forming?"

    def fire(self, f: Frame) -> Firing:
        return _pattern_firing(f, "head_shoulders", up=False)


@dataclass(frozen=True)
class InverseHeadShoulders(Rule):
    """Claim: after an inverse head and shoulders, the close above the neckline leads higher
    (BUY)."""

    name: ClassVar[str] = "inverse_head_shoulders"
    label_timeframe: ClassVar[str] = "1h"  # fires on the engine's 1h structure bars
    question: ClassVar[str] = "Is a known chart pattern forming?"

    def fire(self, f: Frame) -> Firing:
        return _pattern_firing(f, "inverse_head_shoulders", up=True)


STRUCTURE_RULES: dict[str, type[Rule]] = {
    cls.name: cls
    for cls in (
        StructureBreakout,
        FalseBreakout,
        DoubleTop,
        DoubleBottom,
        HeadShoulders,
        InverseHeadShoulders,
    )
}


def setup_score(
    direction: np.ndarray, higher_trend: np.ndarray, adx: np.ndarray, volume_ratio: np.ndarray
) -> np.ndarray:
    """The score in [0.4, 1.0] described in this module's docstring, rounded to 4 places."""
    with np.errstate(invalid="ignore"):
        agreement = (direction * higher_trend > 0) * 1.0
        strength = np.nan_to_num(np.clip((adx - 20.0) / 20.0, 0.0, 1.0), nan=0.0)
        volume = (volume_ratio > 1.0) * 1.0
    return np.round(0.4 + 0.2 * agreement + 0.2 * strength + 0.2 * volume, 4)


#: The default rule set of the engine, on 5-minute bars; PriceChange runs on ticks.
DEFAULT_RULES: tuple[Rule, ...] = (
    MACrossover(),
    TrendSlope(),
    PriceCrossMA(),
    RSIReversal(),
    MACDMomentum(),
    VolumeSpike(),
    BollingerBreakout(),
    BollingerSqueeze(),
    VolatilitySpike(),
    CutSize(),
    *(rule() for rule in STRUCTURE_RULES.values()),
)
TICK_RULES: tuple[Rule, ...] = (PriceChange(),)

RULES: dict[str, type[Rule]] = {
    cls.name: cls
    for cls in (
        MACrossover,
        TrendSlope,
        PriceCrossMA,
        RSIReversal,
        MACDMomentum,
        VolumeSpike,
        BollingerBreakout,
        BollingerSqueeze,
        VolatilitySpike,
        CutSize,
        PriceChange,
    )
} | STRUCTURE_RULES
