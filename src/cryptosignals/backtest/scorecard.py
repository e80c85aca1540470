"""Signal scorecard: did each rule's claim hold more often than random timing would give?

For every rule and signal type, at each horizon (5m, 30m, 1h, 4h, 24h), the outcome of every
signal as `cryptosignals.evidence` defines it (entry at the first tick after the signal, exit at
the first tick at or after entry + horizon; BUY and SELL net of a round-trip cost, ALERT as the
size of the move against the typical one), and:

- the mean forward return (signed for BUY/SELL, |return| for ALERT) and the mean net of costs;
- the hit rate of the claim and the same for every tick (the baseline);
- a p-value from circular time shifts of the same signals (`evidence.shift_null`): clusters and
  overlapping windows are kept, so the test holds its nominal rate where i.i.d. resampling of
  signals did not (22.9 % false positives on placebo ALERT cells at a nominal 5 %);
- the null band (what random timing gives, 95 %) and an interval for the mean of the same width;
- a Benjamini-Hochberg q-value over the whole table; `edge` when q <= 0.10 on the side the
  signal claims, `against` when q <= 0.10 on the other side.

Cells with fewer than `min_n` signals show their figures but no interval or p-value.
`placebo` runs the same table on signals moved by random circular shifts and reports how many
cells come out "significant": the measured false-positive rate.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace

import numpy as np

from cryptosignals.backtest.core import check_candles
from cryptosignals.candles import Candles, candles_to_ticks
from cryptosignals.engine import Engine, EngineConfig
from cryptosignals.errors import BadInputError
from cryptosignals.evidence import (
    HORIZONS,
    Calibration,
    benjamini_hochberg,
    calibration,
    claim_outcome,
    entry_exit,
    realised_claims,
    shift_null,
)
from cryptosignals.model import Signal, SignalType

Q_EDGE = 0.10


@dataclass(frozen=True)
class ScoreRow:
    """One rule and signal type at one horizon. Returns are fractions."""

    rule: str
    signal_type: str
    horizon: str
    n: int
    hit_rate: float  # share of signals whose claim held (net of costs for BUY/SELL)
    baseline_hit_rate: float  # the same for an entry at every tick
    mean_return: float  # mean forward return (|return| for ALERT)
    mean_net: float  # what a follower kept after a round trip (NaN for ALERT: not a trade)
    mean_low: float  # interval of mean_return, as wide as the null band (NaN below min_n)
    mean_high: float
    baseline_mean: float  # the mean over every tick
    baseline_low: float  # what random timing of these signals gives, 95 %
    baseline_high: float
    p_value: float  # two-sided, from circular time shifts
    q_value: float  # Benjamini-Hochberg over the table
    edge: bool  # q <= 0.10 and the signal's claim side
    against: bool  # q <= 0.10 and the opposite side

    def to_json(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class Placebo:
    """The scorecard on time-shifted signals: how often a cell looks significant on no signal."""

    runs: int
    cells: int  # cells tested over all runs
    rejected: int  # cells with p <= 1 - level
    flagged: int  # cells with edge or against (q <= 0.10)
    level: float

    @property
    def false_positive_rate(self) -> float:
        return self.rejected / self.cells if self.cells else math.nan

    def to_json(self) -> dict[str, object]:
        return {**asdict(self), "false_positive_rate": self.false_positive_rate}


def forward_returns(close: np.ndarray, bars: int) -> np.ndarray:
    """close[i + bars] / close[i] - 1, NaN where the future is past the data."""
    out = np.full(len(close), np.nan)
    if bars < len(close):
        out[:-bars] = close[bars:] / close[:-bars] - 1.0
    return out


class Scorecard:
    """Outcomes of the engine's signals on candles, per rule, signal type and horizon."""

    def __init__(
        self,
        candles: Candles,
        coin: str = "bitcoin",
        config: EngineConfig | None = None,
        shifts: int = 999,
        level: float = 0.95,
        seed: int = 7,
        cost_bps: float = 10.0,
        min_n: int = 20,
    ) -> None:
        check_candles(candles)
        if shifts < 19:
            raise BadInputError("at least 19 shifts are needed for a p-value of 0.05")
        self.candles = candles
        self.coin = coin
        self.config = config or EngineConfig()
        self.shifts, self.level, self.seed = shifts, level, seed
        self.cost = 2.0 * cost_bps / 1e4
        self.min_n = min_n
        self.ticks = candles_to_ticks(coin, candles)

    def signals(self) -> list[Signal]:
        return Engine(self.coin, self.config).feed(self.ticks).signals

    def run(self, signals: Sequence[Signal] | None = None) -> list[ScoreRow]:
        signals = self.signals() if signals is None else list(signals)
        if not signals:
            raise BadInputError(f"no signal fired in {len(self.candles)} candles: nothing to score")
        times, price = self.ticks.timestamp, self.ticks.price
        # Each signal belongs to the last tick at or before it.
        at = np.searchsorted(times, [s.timestamp for s in signals], side="right") - 1
        groups: dict[tuple[str, str], list[int]] = {}
        for s, i in zip(signals, at.tolist(), strict=True):
            if i >= 0:
                groups.setdefault((s.rule, str(s.signal_type)), []).append(i)
        return self._table(groups, times, price, np.random.default_rng(self.seed))

    def calibration(self, signals: Sequence[Signal] | None = None) -> dict[str, Calibration]:
        """The stream's confidence against what then happened, at each signal's own horizon
        and cost (BUY/SELL apart from ALERT, whose claim is another kind): out of sample by
        construction, since a confidence only knows outcomes that ended before it."""
        signals = self.signals() if signals is None else list(signals)
        held = realised_claims(
            signals, self.ticks.timestamp, self.ticks.price, self.config.evidence.cost
        )
        probability = np.array([s.confidence_score for s in signals], dtype=float)
        base = np.array([s.evidence.get("base_rate", np.nan) for s in signals], dtype=float)
        alert = np.array([s.signal_type == SignalType.ALERT for s in signals], dtype=bool)
        return {
            kind: calibration(probability[chosen], held[chosen], reference=base[chosen])
            for kind, chosen in (("BUY/SELL", ~alert), ("ALERT", alert))
        }

    def placebo(
        self, runs: int, signals: Sequence[Signal] | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> Placebo:  # fmt: skip
        """The table on `runs` random circular shifts of all the signals (one shift a run, so
        their clustering is kept): rejections at the nominal level are false positives."""
        signals = self.signals() if signals is None else list(signals)
        times = self.ticks.timestamp
        span, start = int(times[-1] - times[0]), int(times[0])
        step = int(np.median(np.diff(times))) if len(times) > 1 else 1
        # A shift shorter than the longest horizon would keep part of a real effect.
        away = max(HORIZONS.values()) // step + 1
        if span // step <= 2 * away:
            raise BadInputError("the data is too short for a placebo: it needs over two days")
        rng = np.random.default_rng(self.seed + 1)
        cells = rejected = flagged = 0
        for run in range(runs):
            k = int(rng.integers(away, span // step - away)) * step
            moved = [
                replace(s, timestamp=start + (s.timestamp - start + k) % (span + step))
                for s in signals
            ]
            rows = [r for r in self.run(moved) if math.isfinite(r.p_value)]
            cells += len(rows)
            rejected += sum(r.p_value <= 1.0 - self.level for r in rows)
            flagged += sum(r.edge or r.against for r in rows)
            if progress:
                progress(run + 1)
        return Placebo(runs, cells, rejected, flagged, self.level)

    def _table(
        self, groups: dict[tuple[str, str], list[int]], times: np.ndarray, price: np.ndarray,
        rng: np.random.Generator,
    ) -> list[ScoreRow]:  # fmt: skip
        rows: list[ScoreRow] = []
        p_claim: list[float] = []
        for horizon, seconds in HORIZONS.items():
            legs = entry_exit(times, np.asarray(times), seconds)
            valid = legs[:, 0] >= 0
            size = int(valid.sum())  # entries with an exit: a prefix of the ticks
            if size < 2:
                continue
            r = price[legs[:size, 1]] / price[legs[:size, 0]] - 1.0
            typical = float(np.abs(r).mean())
            for (rule, kind), index in sorted(groups.items()):
                idx = np.array([i for i in index if i < size], dtype=np.int64)
                if len(idx) == 0:
                    continue
                signal_type = SignalType(kind)
                alert = signal_type == SignalType.ALERT
                values = np.abs(r) if alert else r
                outcome = claim_outcome(signal_type, r, self.cost, typical)
                hits, base_hits = outcome[idx] > 0, outcome > 0
                mean = float(values[idx].mean())
                net = math.nan if alert else float(outcome[idx].mean())
                low = high = band_low = band_high = p = claim_p = math.nan
                if len(idx) >= self.min_n:
                    test = shift_null(values, idx, rng, self.shifts, self.level)
                    band_low, band_high = test.band_low, test.band_high
                    low = mean - (test.band_high - test.null_mean)
                    high = mean - (test.band_low - test.null_mean)
                    up_claim = signal_type != SignalType.SELL
                    claim_p = test.p_greater if up_claim else test.p_less
                    p = min(1.0, 2.0 * min(test.p_greater, test.p_less))
                rows.append(
                    ScoreRow(
                        rule, kind, horizon, len(idx),
                        float(hits.mean()), float(base_hits.mean()),
                        mean, net, low, high, float(values.mean()), band_low, band_high,
                        p, math.nan, False, False,
                    )
                )  # fmt: skip
                p_claim.append(claim_p)
        if not rows:
            raise BadInputError("the data is too short for any forward horizon")
        q = benjamini_hochberg(np.array([r.p_value for r in rows]))
        rows = [
            replace(
                row,
                q_value=float(qv),
                edge=bool(qv <= Q_EDGE and cp <= 0.5),
                against=bool(qv <= Q_EDGE and cp > 0.5),
            )
            for row, qv, cp in zip(rows, q, p_claim, strict=True)
        ]
        order = list(HORIZONS)
        return sorted(rows, key=lambda r: (r.rule, r.signal_type, order.index(r.horizon)))
