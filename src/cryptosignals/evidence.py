"""Evidence: what each signal claims, how the claim is scored, and every rule's track record.

A rule firing is an observation; whether it deserves a person's attention is a matter of
evidence (docs/signals.md). This module holds the one definition of a claim and its outcome,
used by the batch scorecard (`backtest.scorecard`) and by the stream (`TrackRecords`, kept in
the engine's state):

- **Entry and exit.** The entry is the first price seen after the signal (the next tick); the
  exit is the first tick at or after entry time + the evaluation horizon. Nothing at or before
  the signal's own tick is a fill.
- **Claims.** A BUY holds when the exit is above the entry by more than the round-trip cost
  (default 2 x 10 bps), a SELL when it is below by more. An ALERT claims a bigger move than
  usual: |return| above the coin's typical |return| over the same horizon (the mean |return| of
  all bars known at the time). The outcome `x` is positive exactly when the claim held: the net
  return of following a BUY or SELL, or the excess move after an ALERT.

Statistics that carry their null:

- `shift_null`: the same signals moved in time by circular shifts. Signals cluster and their
  forward windows overlap; a circular shift keeps both, so the p-value holds its nominal rate
  where i.i.d. resampling does not (measured: `cryptosignals scorecard --placebo N`).
- `benjamini_hochberg`: q-values over a table of tests.
- `mixture_sprt`: an always-valid p-value for "the mean outcome beats zero". A track record is
  re-tested at every new signal; a fixed-n test checked again and again passes on noise
  eventually, a mixture sequential probability ratio test does not (Johari et al. 2017).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from cryptosignals.errors import BadInputError
from cryptosignals.model import Signal, SignalType

#: Evaluation horizons a rule can be judged at, in seconds.
HORIZONS: dict[str, int] = {"5m": 300, "30m": 1800, "1h": 3600, "4h": 14_400, "24h": 86_400}


# -- the claim ---------------------------------------------------------------------------------
def entry_exit(times: np.ndarray, signal_times: np.ndarray, horizon: int) -> np.ndarray:
    """Per signal, the (entry, exit) tick indices; -1 where the data ends first.

    Entry: the first tick strictly after the signal; exit: the first tick at or after entry time
    + horizon. `times` ascending unix seconds.
    """
    times = np.asarray(times, dtype=np.int64)
    entry = np.searchsorted(times, np.asarray(signal_times, dtype=np.int64), side="right")
    has_entry = entry < len(times)
    start = np.where(has_entry, times[np.minimum(entry, len(times) - 1)], 0)
    exit_ = np.searchsorted(times, start + horizon, side="left")
    ok = has_entry & (exit_ < len(times))
    return np.stack([np.where(ok, entry, -1), np.where(ok, exit_, -1)], axis=1)


def claim_outcome(
    kind: SignalType | str, r: np.ndarray | float, cost: float, typical_move: np.ndarray | float
) -> np.ndarray:
    """x > 0 exactly when the claim held (module docstring): r - cost for BUY, -r - cost for
    SELL, |r| - typical move for ALERT."""
    r = np.asarray(r, dtype=float)
    if kind == SignalType.BUY:
        return r - cost
    if kind == SignalType.SELL:
        return -r - cost
    return np.abs(r) - np.asarray(typical_move, dtype=float)


# -- statistics --------------------------------------------------------------------------------
@dataclass(frozen=True)
class NullTest:
    """A statistic against its circular-shift null: two one-sided p-values and the null band."""

    observed: float
    p_greater: float  # P(null >= observed), with the +1 correction
    p_less: float
    band_low: float  # the null's 2.5 % and 97.5 % quantiles ("what random timing gives")
    band_high: float
    null_mean: float


def shift_null(
    values: np.ndarray, index: np.ndarray, rng: np.random.Generator, shifts: int = 999,
    level: float = 0.95,
) -> NullTest:  # fmt: skip
    """The mean of `values[index]` against the same index set shifted circularly in time.

    `values` holds an outcome for every position where one is defined (pass the valid stretch,
    no NaN). Each shift moves all signals by the same k, drawn uniformly from every offset
    (0 included), wrapping around, so clusters and overlaps are kept. Every offset must be
    allowed: leaving out the ones near the signals' own (tempting, "to avoid overlap") leaves
    out the values most like the observed one and over-rejects (measured: 16 % at 5 % for ALERT
    cells at 24h on three weeks of data).
    """
    values = np.asarray(values, dtype=float)
    index = np.asarray(index, dtype=np.int64)
    size = len(values)
    observed = float(values[index].mean())
    ks = rng.integers(0, size, size=shifts)
    null = np.empty(shifts)
    for start in range(0, shifts, 64):  # blocks keep the gather's memory small
        block = ks[start : start + 64]
        null[start : start + len(block)] = values[(index[None, :] + block[:, None]) % size].mean(1)
    tail = (1.0 - level) / 2.0
    low, high_q = np.quantile(null, [tail, 1.0 - tail])
    return NullTest(
        observed,
        float((1 + np.sum(null >= observed)) / (1 + shifts)),
        float((1 + np.sum(null <= observed)) / (1 + shifts)),
        float(low),
        float(high_q),
        float(null.mean()),
    )


def benjamini_hochberg(p: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg q-values (NaN p-values stay NaN and do not count as tests)."""
    p = np.asarray(p, dtype=float)
    q = np.full(p.shape, np.nan)
    ok = np.flatnonzero(~np.isnan(p))
    if len(ok) == 0:
        return q
    order = ok[np.argsort(p[ok], kind="stable")]
    ranked = p[order] * len(ok) / np.arange(1, len(ok) + 1)
    q[order] = np.minimum(1.0, np.minimum.accumulate(ranked[::-1])[::-1])
    return q


def mixture_sprt_log_ratio(n: int, mean: float, variance: float, ratio: float) -> float:
    """log of the normal-mixture likelihood ratio for "mean != 0" after n observations.

    Observations with variance sigma^2 (plug-in), mixing prior N(0, tau^2), tau^2 = ratio *
    sigma^2. The ratio is a martingale under the null, so 1 / its running maximum is a p-value
    valid at every look (Johari, Pekelis, Walsh: "Always valid inference", 2017).
    """
    if n < 2 or not variance > 0:
        return 0.0
    nr = n * ratio
    return -0.5 * math.log1p(nr) + (n * mean) ** 2 * ratio / (2.0 * variance * (1.0 + nr))


# -- calibration -------------------------------------------------------------------------------
def realised_outcomes(signals: list[Signal], times: np.ndarray, prices: np.ndarray,
                      cost: float) -> np.ndarray:  # fmt: skip
    """Each signal's outcome `x` at its evaluation horizon (> 0 exactly when its claim held), NaN
    where the data ends first: the stream's own definition, judged afterwards on the same ticks
    (an ALERT against the typical move its evidence carried)."""
    out = np.full(len(signals), np.nan)
    for horizon in {s.evaluation_horizon for s in signals if s.evaluation_horizon}:
        chosen = [i for i, s in enumerate(signals) if s.evaluation_horizon == horizon]
        legs = entry_exit(times, np.array([signals[i].timestamp for i in chosen]),
                          HORIZONS[horizon])  # fmt: skip
        for i, (entry, exit_) in zip(chosen, legs.tolist(), strict=True):
            if exit_ < 0:
                continue
            s = signals[i]
            r = prices[exit_] / prices[entry] - 1.0
            typical = s.evidence.get("typical_move_bp", 0.0) / 1e4
            out[i] = float(claim_outcome(s.signal_type, r, cost, typical))
    return out


def realised_claims(signals: list[Signal], times: np.ndarray, prices: np.ndarray,
                    cost: float) -> np.ndarray:  # fmt: skip
    """1.0 where a signal's claim held at its evaluation horizon, 0.0 where it did not, NaN where
    the data ends first (`realised_outcomes` > 0)."""
    x = realised_outcomes(signals, times, prices, cost)
    with np.errstate(invalid="ignore"):
        return np.where(np.isnan(x), np.nan, (x > 0).astype(float))


def _ranks(x: np.ndarray) -> np.ndarray:
    """Average ranks (ties share their mean rank), for Spearman's correlation."""
    order = np.argsort(x, kind="stable")
    sorted_x = x[order]
    ranks = np.empty(len(x))
    start = 0
    for end in range(1, len(x) + 1):
        if end == len(x) or sorted_x[end] != sorted_x[start]:
            ranks[order[start:end]] = (start + end - 1) / 2.0
            start = end
    return ranks


@dataclass(frozen=True)
class Calibration:
    """How well probabilities matched what happened: a reliability table and its summaries."""

    n: int
    ece: float  # expected calibration error over equal-count bins
    brier: float
    brier_reference: float  # the Brier score of the reference forecast (NaN without one)
    brier_hindsight: float  # of always forecasting the overall hit rate, known only afterwards
    spearman: float  # rank correlation of probability and outcome (NaN if either is constant)
    bins: list[tuple[float, float, int]]  # (mean probability, observed rate, count)

    @property
    def skill(self) -> float:
        """1 - Brier / the reference's Brier: > 0 when the forecast beats the reference."""
        return 1.0 - self.brier / self.brier_reference if self.brier_reference > 0 else math.nan


def calibration(
    probability: np.ndarray, outcome: np.ndarray, n_bins: int = 10,
    reference: np.ndarray | None = None,
) -> Calibration:  # fmt: skip
    """Reliability of `probability` for 0/1 `outcome` (NaN outcomes are left out), and its
    Brier score against a `reference` forecast known at the same time (e.g. the base rate)."""
    ok = ~np.isnan(outcome)
    p, y = np.asarray(probability, float)[ok], np.asarray(outcome, float)[ok]
    if len(p) == 0:
        return Calibration(0, math.nan, math.nan, math.nan, math.nan, math.nan, [])
    brier_reference = math.nan
    if reference is not None:
        brier_reference = float(np.mean((np.asarray(reference, float)[ok] - y) ** 2))
    order = np.argsort(p, kind="stable")
    bins = [(float(p[b].mean()), float(y[b].mean()), len(b))
            for b in np.array_split(order, min(n_bins, len(p))) if len(b)]  # fmt: skip
    ece = sum(count * abs(mean_p - rate) for mean_p, rate, count in bins) / len(p)
    rho = math.nan
    if p.std() > 0 and y.std() > 0:
        rho = float(np.corrcoef(_ranks(p), _ranks(y))[0, 1])
    return Calibration(
        len(p), float(ece), float(np.mean((p - y) ** 2)), brier_reference,
        float(np.mean((y.mean() - y) ** 2)), rho, bins,
    )  # fmt: skip


# -- the stream --------------------------------------------------------------------------------
@dataclass(frozen=True)
class EvidenceConfig:
    """How signals are judged in the stream and when one is worth a person's attention.

    `actionable` needs n >= min_n matured outcomes and an always-valid p <= alpha / family,
    where the family is every (rule, signal type) of the engine times `coins` (Bonferroni over
    the tests run at once: set `coins` to the number of coins tracked), and, where a meta-label
    filter is served for the coin (cryptosignals.metafilter), the filter keeping the signal.
    """

    horizon: str = "1h"
    cost_bps: float = 10.0  # per side; a round trip pays twice
    prior_strength: float = 100.0  # pseudo-signals at the base rate in the calibrated probability
    min_n: int = 30
    alpha: float = 0.10
    coins: int = 10
    mixture_ratio: float = 0.1  # tau^2 / sigma^2: most power for effects of ~0.3 std devs
    first_look: int = 10  # outcomes before the sequential test starts looking
    baseline_halflife_days: float = 30.0

    def __post_init__(self) -> None:
        if self.horizon not in HORIZONS:
            raise ValueError(f"unknown horizon {self.horizon!r}; known: {', '.join(HORIZONS)}")
        if not (0 < self.alpha < 1 and self.min_n >= 2 and self.coins >= 1):
            raise ValueError("alpha must be in (0, 1), min_n >= 2 and coins >= 1")

    @property
    def seconds(self) -> int:
        return HORIZONS[self.horizon]

    @property
    def cost(self) -> float:
        return 2.0 * self.cost_bps / 1e4


@dataclass
class _Record:
    """One (rule, timeframe, signal type)'s matured outcomes as sufficient statistics, plus the
    one signal whose outcome is pending. Only non-overlapping outcomes count: a signal that
    fires while an earlier one of the same key is still open is counted in `overlapping`, not
    scored, so the outcomes are near-independent and the sequential test's assumptions hold."""

    n: int = 0
    hits: int = 0
    total: float = 0.0  # sum of x
    squares: float = 0.0  # sum of x^2
    log_ratio_max: float = 0.0
    overlapping: int = 0
    pending: list[float | None] | None = None  # signal time, entry time, entry price, typical

    def add(self, x: float, config: EvidenceConfig) -> None:
        self.n += 1
        self.hits += int(x > 0)
        self.total += x
        self.squares += x * x
        mean = self.total / self.n
        if self.n >= config.first_look and mean > 0:  # one-sided: only looks that favour it
            var = (self.squares - self.n * mean * mean) / (self.n - 1)
            log_ratio = mixture_sprt_log_ratio(self.n, mean, var, config.mixture_ratio)
            self.log_ratio_max = max(self.log_ratio_max, log_ratio)

    @property
    def p_value(self) -> float:
        return min(1.0, math.exp(-self.log_ratio_max))

    def to_json(self) -> list[Any]:
        return [self.n, self.hits, self.total, self.squares, self.log_ratio_max,
                self.overlapping, self.pending]  # fmt: skip

    @classmethod
    def from_json(cls, data: list[Any]) -> _Record:
        return cls(int(data[0]), int(data[1]), float(data[2]), float(data[3]), float(data[4]),
                   int(data[5]), data[6])  # fmt: skip


class _Baseline:
    """Every bar's return over the horizon, exponentially weighted: the base rates a signal is
    compared with (how often a bar goes up / down by more than the cost, or moves more than
    usual) and the typical move. Keeps the closes of the last horizon's bars."""

    FIELDS = ("weight", "up", "down", "big", "abs_move")

    def __init__(self, config: EvidenceConfig, state: dict[str, Any] | None = None) -> None:
        self.config = config
        state = state or {}
        self.closes: list[list[float]] = state.get("closes", [])  # [bar end, close]
        self.sums = dict(zip(self.FIELDS, state.get("sums", [0.0] * 5), strict=True))

    def decay(self, bar_seconds: int) -> float:
        """The weight an observation keeps per bar: half of it after the half-life."""
        return 0.5 ** (bar_seconds / (self.config.baseline_halflife_days * 86_400))

    def update(self, end: int, close: float, decay: float) -> None:
        h = self.config.seconds
        self.closes = [c for c in self.closes if c[0] >= end - h] + [[end, close]]
        if self.closes[0][0] != end - h:
            return
        r = close / self.closes[0][1] - 1.0
        typical = self.typical_move()
        s = self.sums
        cost = self.config.cost
        for name, value in (("weight", 1.0), ("up", r > cost), ("down", r < -cost),
                            ("big", abs(r) > typical), ("abs_move", abs(r))):  # fmt: skip
            s[name] = s[name] * decay + float(value)

    def typical_move(self) -> float:
        """Mean |return| over the horizon of the bars seen (0 before any)."""
        w = self.sums["weight"]
        return self.sums["abs_move"] / w if w > 0 else 0.0

    def base_rate(self, kind: SignalType) -> float:
        """How often an arbitrary bar's claim of this kind holds (0.5 before any bar: one
        pseudo-bar at a coin flip keeps it defined)."""
        name = {SignalType.BUY: "up", SignalType.SELL: "down"}.get(kind, "big")
        return (self.sums[name] + 0.5) / (self.sums["weight"] + 1.0)

    def to_json(self) -> dict[str, Any]:
        return {"closes": self.closes, "sums": [self.sums[f] for f in self.FIELDS]}


class TrackRecords:
    """Per coin: every (rule, signal type)'s track record, matured as ticks arrive.

    `annotate` walks ticks, closed bars and new signals in event time (ticks first, then bars,
    then signals at the same second), so a signal's evidence holds only outcomes whose horizon
    ended at or before it: chunked == whole and no look-ahead, like the indicators.
    """

    def __init__(self, config: EvidenceConfig, family: int, state: dict[str, Any] | None = None):
        self.config = config
        self.family = family * config.coins
        state = state or {}
        self.baseline = _Baseline(config, state.get("baseline"))
        self.records = {k: _Record.from_json(v) for k, v in state.get("records", {}).items()}
        self.prior: bool = bool(state.get("prior", False))  # warm-started from history

    @classmethod
    def from_history(
        cls, config: EvidenceConfig, family: int, history: dict[str, Any]
    ) -> TrackRecords:
        """Records built from history, as a new stream's start: marked as a warm start, and
        without the signal that was still open when the history ended (its exit would be priced
        by whatever tick comes first in the stream, maybe days later)."""
        track = cls(config, family, {**history, "prior": True})
        for record in track.records.values():
            record.pending = None
        return track

    def to_json(self) -> dict[str, Any]:
        return {
            "baseline": self.baseline.to_json(),
            "records": {k: r.to_json() for k, r in sorted(self.records.items())},
            "prior": self.prior,
        }

    def annotate(
        self,
        ticks: tuple[np.ndarray, np.ndarray],
        bars: tuple[np.ndarray, np.ndarray],
        bar_seconds: int,
        signals: list[Signal],
    ) -> list[Signal]:
        """Mature outcomes with the ticks, feed the baseline with the bars' closes, and return
        the signals with their evidence, calibrated confidence and actionable flag."""
        events: list[tuple[int, int, int]] = [(int(t), 0, i) for i, t in enumerate(ticks[0])]
        events += [(int(t), 1, i) for i, t in enumerate(bars[0])]
        events += [(s.timestamp, 2, i) for i, s in enumerate(signals)]
        events.sort()
        out: list[Signal | None] = [None] * len(signals)
        pending = {k for k, r in self.records.items() if r.pending is not None}
        decay = self.baseline.decay(bar_seconds)
        for t, kind, i in events:
            if kind == 0:
                if pending:
                    self._mature(t, float(ticks[1][i]), pending)
            elif kind == 1:
                self.baseline.update(t, float(bars[1][i]), decay)
            else:
                out[i] = self._judge(signals[i], pending)
        return [s for s in out if s is not None]

    def _mature(self, t: int, price: float, pending: set[str]) -> None:
        h, cost = self.config.seconds, self.config.cost
        for key in list(pending):
            record = self.records[key]
            p = record.pending
            assert p is not None
            if p[1] is None:
                if t > p[0]:  # type: ignore[operator]
                    p[1], p[2] = t, price
            elif t >= p[1] + h:  # type: ignore[operator]
                kind = SignalType(key.rsplit("|", 1)[1])
                r = price / p[2] - 1.0  # type: ignore[operator]
                record.add(float(claim_outcome(kind, r, cost, p[3])), self.config)  # type: ignore[arg-type]
                record.pending = None
                pending.discard(key)

    def _judge(self, signal: Signal, pending: set[str]) -> Signal:
        key = f"{signal.rule}|{signal.timeframe}|{signal.signal_type}"
        record = self.records.setdefault(key, _Record())
        cfg = self.config
        base = self.baseline.base_rate(signal.signal_type)
        probability = (record.hits + cfg.prior_strength * base) / (record.n + cfg.prior_strength)
        p_value = record.p_value
        evidence = {
            "n": float(record.n),
            "hit_rate": record.hits / record.n if record.n else math.nan,
            "mean_net_bp": record.total / record.n * 1e4 if record.n else math.nan,
            "base_rate": base,
            "typical_move_bp": self.baseline.typical_move() * 1e4,  # what an ALERT must beat
            "p_value": p_value,
            "p_adjusted": min(1.0, p_value * self.family),
            "warm_start": float(self.prior),  # 1: the record began from history, 0: from nothing
        }
        actionable = record.n >= cfg.min_n and p_value * self.family <= cfg.alpha
        # a served meta-label filter (question 26) alerts only the signals it keeps
        actionable = actionable and signal.details.get("meta_kept", 1.0) == 1.0
        if record.pending is None:
            record.pending = [signal.timestamp, None, None, self.baseline.typical_move()]
            pending.add(key)
        else:
            record.overlapping += 1
        return replace(
            signal,
            confidence_score=round(probability, 4),
            evaluation_horizon=cfg.horizon,
            evidence={k: round(v, 6) for k, v in evidence.items() if math.isfinite(v)},
            actionable=bool(actionable),
        )


# -- the warm start ----------------------------------------------------------------------------
HISTORY_VERSION = 1


def history_document(
    records: dict[str, dict[str, Any]], spans: dict[str, tuple[int, int]], config: EvidenceConfig
) -> dict[str, Any]:
    """The warm-start file: each coin's track records as built from history, the span of
    history behind them, and the horizon and cost they were judged at."""
    return {
        "version": HISTORY_VERSION,
        "horizon": config.horizon,
        "cost_bps": config.cost_bps,
        "coins": {
            coin: {"from": spans[coin][0], "to": spans[coin][1], "records": records[coin]}
            for coin in sorted(records)
        },
    }


def read_history(path: str | Path, config: EvidenceConfig) -> dict[str, dict[str, Any]]:
    """Each coin's track-record state from a warm-start file, or a clear error if the file was
    built for another horizon or cost (its outcomes would not mean what the stream's do)."""
    path = Path(path)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BadInputError(f"{path}: not a readable evidence history ({exc})") from None
    if not isinstance(document, dict) or document.get("version") != HISTORY_VERSION:
        raise BadInputError(f"{path}: not an evidence history of version {HISTORY_VERSION}")
    if (document.get("horizon"), document.get("cost_bps")) != (config.horizon, config.cost_bps):
        raise BadInputError(
            f"{path}: built at horizon {document.get('horizon')} and cost "
            f"{document.get('cost_bps')} bps, the engine judges at {config.horizon} and "
            f"{config.cost_bps} bps: rebuild it with `cryptosignals evidence`"
        )
    return {coin: entry["records"] for coin, entry in document.get("coins", {}).items()}
