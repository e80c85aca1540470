"""Signal scorecard: what the price did after each signal, against all bars.

For each rule and signal type, the forward return from the close of the signal's bar to the
close `h` later (5m, 30m, 1h, 4h, 24h), and:

- BUY: hit = the forward return is > 0; SELL: hit = it is < 0. The baseline is the same
  figure over every bar (how often an arbitrary bar goes up / down);
- ALERT (no direction): the size of the move, |forward return|; hit = it is larger than the
  median |forward return| of all bars, so the baseline hit rate is 0.5 by construction;
- mean forward return and hit rate with percentile bootstrap confidence intervals (seeded),
  resampling signals. Forward windows overlap, so neighbouring bars are not independent: the
  baseline's interval is narrower than its true uncertainty. Treat "the CI excludes the baseline"
  as a screen, not a proof.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from cryptosignals.backtest.core import check_candles, close_times
from cryptosignals.candles import Candles, candles_to_ticks
from cryptosignals.engine import Engine, EngineConfig
from cryptosignals.errors import BadInputError
from cryptosignals.model import Signal, SignalType

#: Forward horizons of the scorecard, in seconds.
HORIZONS: dict[str, int] = {"5m": 300, "30m": 1800, "1h": 3600, "4h": 14_400, "24h": 86_400}


@dataclass(frozen=True)
class ScoreRow:
    """One rule and signal type at one horizon."""

    rule: str
    signal_type: str
    horizon: str
    n: int
    hit_rate: float
    hit_low: float
    hit_high: float
    mean_return: float  # mean forward return (|return| for ALERT), fraction
    mean_low: float
    mean_high: float
    baseline_hit_rate: float
    baseline_mean: float
    edge: bool  # the mean's interval lies wholly on the right side of the baseline

    def to_json(self) -> dict[str, object]:
        return asdict(self)


def forward_returns(close: np.ndarray, bars: int) -> np.ndarray:
    """close[i + bars] / close[i] - 1, NaN where the future is past the data."""
    out = np.full(len(close), np.nan)
    if bars < len(close):
        out[:-bars] = close[bars:] / close[:-bars] - 1.0
    return out


def bootstrap(
    values: np.ndarray, rng: np.random.Generator, n_boot: int = 1000, level: float = 0.95
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean (of 0/1 values: of a share)."""
    if len(values) < 2:
        return (np.nan, np.nan)
    idx = rng.integers(0, len(values), size=(n_boot, len(values)))
    stats = values[idx].mean(axis=1)
    tail = (1.0 - level) / 2.0 * 100.0
    low, high = np.percentile(stats, [tail, 100.0 - tail])
    return float(low), float(high)


class Scorecard:
    """Forward returns after the engine's signals on candles, per rule, signal type, horizon."""

    def __init__(
        self,
        candles: Candles,
        coin: str = "bitcoin",
        config: EngineConfig | None = None,
        n_boot: int = 1000,
        level: float = 0.95,
        seed: int = 7,
    ) -> None:
        check_candles(candles)
        self.candles = candles
        self.coin = coin
        self.config = config or EngineConfig()
        self.n_boot, self.level, self.seed = n_boot, level, seed

    def signals(self) -> list[Signal]:
        return (
            Engine(self.coin, self.config).feed(candles_to_ticks(self.coin, self.candles)).signals
        )

    def run(self, signals: Sequence[Signal] | None = None) -> list[ScoreRow]:
        signals = self.signals() if signals is None else list(signals)
        if not signals:
            raise BadInputError(f"no signal fired in {len(self.candles)} candles: nothing to score")
        interval = self.candles.interval_ms // 1000
        ends = close_times(self.candles)
        close = self.candles.close.astype(float)
        groups: dict[tuple[str, str], list[int]] = {}
        for s in signals:
            i = int(np.searchsorted(ends, s.timestamp))
            if i < len(ends) and ends[i] == s.timestamp:
                groups.setdefault((s.rule, str(s.signal_type)), []).append(i)
        rng = np.random.default_rng(self.seed)
        rows = []
        for horizon, seconds in HORIZONS.items():
            bars = max(1, seconds // interval)
            fwd = forward_returns(close, bars)
            base = fwd[~np.isnan(fwd)]
            if len(base) == 0:
                continue
            median_move = float(np.median(np.abs(base)))
            for (rule, kind), index in sorted(groups.items()):
                values = fwd[np.array(index)]
                values = values[~np.isnan(values)]
                if kind == SignalType.ALERT:
                    values, base_values = np.abs(values), np.abs(base)
                    hits, base_hits = values > median_move, base_values > median_move
                else:
                    up = kind == SignalType.BUY
                    base_values = base
                    hits = values > 0 if up else values < 0
                    base_hits = base > 0 if up else base < 0
                if len(values) == 0:
                    continue
                mean_low, mean_high = bootstrap(values, rng, self.n_boot, self.level)
                hit_low, hit_high = bootstrap(hits.astype(float), rng, self.n_boot, self.level)
                base_mean = float(base_values.mean())
                better_up = kind != SignalType.SELL  # SELL is right when the price falls
                edge = (mean_low > base_mean) if better_up else (mean_high < base_mean)
                rows.append(
                    ScoreRow(
                        rule, kind, horizon, len(values),
                        float(hits.mean()), hit_low, hit_high,
                        float(values.mean()), mean_low, mean_high,
                        float(base_hits.mean()), base_mean, bool(edge),
                    )
                )  # fmt: skip
        if not rows:
            raise BadInputError("the data is too short for any forward horizon")
        order = list(HORIZONS)
        return sorted(rows, key=lambda r: (r.rule, r.signal_type, order.index(r.horizon)))
