"""Meta-labelling (training side): can a model of "does this rule's signal reach its profit
barrier first" filter a rule's false signals, out of sample? (docs/metalabel.md)

- Signals: the engine's own BUY/SELL signals of a candle series (`Engine(coin).feed(...)`), each
  entered at its 5-minute bar's close.
- Labels: the triple barrier (cryptosignals.models.labels): `profit` and `stop` in units of the
  1 h volatility forecast `sigma_1h` of the signal's bar, a `timeout`; `hit` = the profit barrier
  came first, `net` = the log return in the trade's direction at the exit minus a round trip
  (2 x 10 bp, as the evidence layer). Signals without a sigma or whose outcome lies beyond the
  data are left out.
- Features: the model features of the signal's bar (cryptosignals.features), the same signed by
  the trade's direction (so a linear model can tell "with the last hour's move" from "against
  it"), the rule (one-hot) and the direction.
- Walk-forward: folds of `test_days` after `train_days` (an expanding window); training signals
  whose label window reaches into the fold are purged (evaluation.walk_forward_folds), with an
  embargo of one timeout. Inside each training window only: a model is fitted on its first 75 %
  (purged against the rest) and the share of signals to keep (all, or the top 50/30/20 % by P)
  is the one with the best mean net return on the last 25 %; the model is then refitted on the
  whole window and the threshold is its P at that share of the window's signals. The test fold
  takes the signals whose P clears it.
- Figures out of sample, per rule and pooled: signals, hit rate and mean net return per trade
  without and with the filter, their differences (the lift), AUC and Brier against the base rate
  (the training window's hit rate), each with a 95 % block bootstrap over UTC days.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cryptosignals.candles import Candles, candles_to_ticks
from cryptosignals.engine import Engine, closed_bars
from cryptosignals.features import model_features, returns_as_of
from cryptosignals.metafilter import meta_feature_names, meta_rows
from cryptosignals.model import Signal, SignalType
from cryptosignals.models.evaluation import (
    DAY,
    MODELS,
    Fold,
    Interval,
    auc_interval,
    brier,
    fit_model,
    walk_forward_folds,
)
from cryptosignals.models.labels import triple_barrier

#: The shares of a training window's signals the filter may keep (1.0: no filter).
KEEP_SHARES = (1.0, 0.5, 0.3, 0.2)
_EPS = 1e-15


@dataclass(frozen=True)
class MetaConfig:
    """The barriers, the cost, the model and the walk-forward windows."""

    profit: float = 1.0  # sigmas of the 1 h forecast
    stop: float = 1.0
    timeout_s: int = 3600
    cost_bps: float = 10.0  # per side; a round trip pays twice
    model: str = "logistic"
    train_days: float = 28.0
    test_days: float = 7.0
    keep_shares: tuple[float, ...] = KEEP_SHARES
    min_trades: int = 20  # a share needs this many signals in the inner hold-out to be chosen
    resamples: int = 1000
    seed: int = 0

    @property
    def cost(self) -> float:
        return 2.0 * self.cost_bps / 1e4

    def __post_init__(self) -> None:
        if self.model not in MODELS:
            raise ValueError(f"unknown model {self.model!r}; one of {', '.join(MODELS)}")
        if not (self.profit > 0 and self.stop > 0 and self.timeout_s > 0):
            raise ValueError("the profit and stop barriers and the timeout must be positive")


@dataclass(frozen=True)
class SignalSet:
    """One row per labelled BUY/SELL signal, in time order."""

    coin: str
    rules: tuple[str, ...]  # the rule names the one-hot columns stand for
    t: np.ndarray  # the signal's bar close, unix seconds
    rule: np.ndarray  # index into `rules`
    side: np.ndarray  # +1 BUY, -1 SELL
    x: np.ndarray
    hit: np.ndarray  # 1.0: the profit barrier came first
    label: np.ndarray  # +1 profit, -1 stop, 0 timeout
    label_end: np.ndarray  # when the outcome was known
    net: np.ndarray  # log return in the trade's direction at the exit, minus the round trip
    names: tuple[str, ...]
    dropped: int = 0  # signals without a sigma or an outcome within the data

    def __len__(self) -> int:
        return len(self.t)

    def only(self, mask: np.ndarray) -> SignalSet:
        return SignalSet(
            self.coin, self.rules, self.t[mask], self.rule[mask], self.side[mask], self.x[mask],
            self.hit[mask], self.label[mask], self.label_end[mask], self.net[mask], self.names,
            self.dropped,
        )  # fmt: skip


def signal_rows(
    coin: str, signals: Sequence[Signal], bars: dict[str, np.ndarray],
    config: MetaConfig = MetaConfig(), rules: Sequence[str] | None = None,
    btc_return: np.ndarray | None = None,
) -> SignalSet:  # fmt: skip
    """Label and describe the BUY/SELL signals of one engine run (`signals` and the `bars` of
    the same feed); `rules` keeps only those rules' signals."""
    end = np.asarray(bars.get("end", ()), dtype=np.int64)
    if len(end) == 0:
        raise ValueError(f"{coin}: no closed 5-minute bars")
    trades = [
        s for s in signals
        if s.signal_type in (SignalType.BUY, SignalType.SELL) and (rules is None or s.rule in rules)
    ]  # fmt: skip
    names = tuple(sorted({s.rule for s in trades})) if rules is None else tuple(rules)
    at = np.searchsorted(end, [s.timestamp for s in trades]).astype(np.int64)
    on_bar = np.array(
        [i < len(end) and end[i] == s.timestamp for i, s in zip(at, trades, strict=True)], bool
    )
    at = at[on_bar] if len(trades) else np.zeros(0, np.int64)
    trades = [s for s, ok in zip(trades, on_bar, strict=True) if ok]
    side = np.array([1.0 if s.signal_type == SignalType.BUY else -1.0 for s in trades])
    sigma = np.asarray(bars.get("sigma_1h", np.full(len(end), np.nan)), dtype=float)
    barriers = triple_barrier(end, bars["close"], at, sigma, config.profit, config.stop,
                              config.timeout_s, side)  # fmt: skip
    known = np.isfinite(barriers.label)
    features = model_features(bars, btc_return)[at]
    rule = np.array([names.index(s.rule) for s in trades], dtype=np.int64)
    x = meta_rows(features, rule, side, len(names))  # the stream's rows (cryptosignals.metafilter)
    return SignalSet(
        coin, names, end[at][known].astype(float), rule[known], side[known], x[known],
        (barriers.label[known] == 1).astype(float), barriers.label[known],
        barriers.label_end[known], barriers.ret[known] - config.cost, meta_feature_names(names),
        int((~known).sum()),
    )  # fmt: skip


def signal_set(
    coin: str, candles: Candles, config: MetaConfig = MetaConfig(),
    rules: Sequence[str] | None = None, bitcoin: Candles | None = None,
) -> SignalSet:  # fmt: skip
    """Run the engine over a coin's candles and label its BUY/SELL signals (`signal_rows`);
    `bitcoin`'s candles add its last hour to another coin's features."""
    result = Engine(coin).feed(candles_to_ticks(coin, candles))
    btc = None
    if bitcoin is not None and coin != "bitcoin" and result.bars:
        other = closed_bars(candles_to_ticks("bitcoin", bitcoin))
        btc = returns_as_of(result.bars["end"], other["end"], other["close"])
    return signal_rows(coin, result.signals, result.bars, config, rules, btc)


# -- the filter ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class FoldFilter:
    """What one training window chose: the share of signals to keep and the P threshold."""

    start: int
    n_train: int
    n_purged: int
    n_test: int
    base_rate: float
    keep_share: float
    threshold: float
    taken: int


def _choose_share(
    data: SignalSet, train: np.ndarray, config: MetaConfig
) -> float:  # the share with the best mean net return on the window's last quarter
    t, e = data.t[train], data.label_end[train]
    cut = t[int(len(t) * 0.75)] if len(t) else 0.0
    inner, valid = train[(t < cut) & (e < cut)], train[t >= cut]
    y = data.hit[inner]
    if len(valid) < config.min_trades or len(np.unique(y)) < 2:
        return 1.0
    model = fit_model(config.model, data.x[inner], y, data.t[inner], data.label_end[inner],
                      config.seed)  # fmt: skip
    p = model.predict(data.x[valid])
    best, best_net = 1.0, float(data.net[valid].mean())
    for share in config.keep_shares:
        taken = p >= np.quantile(p, 1.0 - share)
        if share < 1.0 and taken.sum() >= config.min_trades:
            net = float(data.net[valid][taken].mean())
            if net > best_net:
                best, best_net = share, net
    return best


@dataclass
class MetaEvaluation:
    """The out-of-sample test signals with their P, the base rate and whether the filter took
    them; `folds` the walk-forward splits (indices into the SignalSet), `filters` their choices."""

    data: SignalSet
    config: MetaConfig
    folds: list[Fold]
    filters: list[FoldFilter]
    index: np.ndarray  # the test signals' rows in `data`
    p: np.ndarray
    base: np.ndarray
    taken: np.ndarray
    figures: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def t(self) -> np.ndarray:
        return self.data.t[self.index]

    @property
    def hit(self) -> np.ndarray:
        return self.data.hit[self.index]

    @property
    def net(self) -> np.ndarray:
        return self.data.net[self.index]

    @property
    def stopped(self) -> np.ndarray:
        return (self.data.label[self.index] == -1).astype(float)

    @property
    def rule(self) -> list[str]:
        return [self.data.rules[k] for k in self.data.rule[self.index]]

    def group(self, mask: np.ndarray) -> dict[str, Any]:
        """The figures of some of the test signals (`figures`)."""
        return figures(self.t[mask], self.hit[mask], self.stopped[mask], self.net[mask],
                       self.p[mask], self.base[mask], self.taken[mask], self.config.resamples,
                       self.config.seed)  # fmt: skip


def evaluate_filter(
    data: SignalSet, config: MetaConfig = MetaConfig(),
    progress: Callable[[int, int], None] | None = None,
) -> MetaEvaluation:  # fmt: skip
    """Walk-forward: before each fold, fit P(profit first) and choose the threshold on the
    training signals only; then predict and filter the fold (module docstring)."""
    known = np.isfinite(data.hit)
    folds = walk_forward_folds(data.t, data.label_end, known, config.train_days,
                               config.test_days, embargo_s=config.timeout_s)  # fmt: skip
    if not folds:
        raise ValueError(
            f"{data.coin}: no fold: the {len(data)} labelled signals span less than the "
            f"{config.train_days:g} training days plus a test day"
        )
    filters, ps, bases, taken, index = [], [], [], [], []
    for k, fold in enumerate(folds):
        y = data.hit[fold.train]
        rate = float(np.clip(y.mean(), _EPS, 1 - _EPS))
        if len(np.unique(y)) < 2:
            share, threshold, p = 1.0, 0.0, np.full(len(fold.test), rate)
        else:
            share = _choose_share(data, fold.train, config)
            model = fit_model(config.model, data.x[fold.train], y, data.t[fold.train],
                              data.label_end[fold.train], config.seed)  # fmt: skip
            inside = model.predict(data.x[fold.train])
            threshold = 0.0 if share >= 1.0 else float(np.quantile(inside, 1.0 - share))
            p = np.clip(model.predict(data.x[fold.test]), _EPS, 1 - _EPS)
        take = p >= threshold
        filters.append(FoldFilter(int(data.t[fold.test[0]]), len(fold.train), fold.purged,
                                  len(fold.test), rate, share, threshold,
                                  int(take.sum())))  # fmt: skip
        ps.append(p)
        bases.append(np.full(len(fold.test), rate))
        taken.append(take)
        index.append(fold.test)
        if progress:
            progress(k + 1, len(folds))
    result = MetaEvaluation(data, config, folds, filters, np.concatenate(index),
                            np.concatenate(ps), np.concatenate(bases),
                            np.concatenate(taken))  # fmt: skip
    rules = np.array(result.rule)
    result.figures = {"all": result.group(np.ones(len(rules), bool))}
    for name in data.rules:
        mask = rules == name
        if mask.any():
            result.figures[name] = result.group(mask)
    return result


# -- figures ------------------------------------------------------------------------------------
def _day_sums(t: np.ndarray, columns: list[np.ndarray]) -> np.ndarray:
    day = (np.asarray(t) // DAY).astype(np.int64)
    _, which = np.unique(day, return_inverse=True)
    return np.column_stack([np.bincount(which, weights=c) for c in columns])


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def lift_intervals(
    t: np.ndarray, value: np.ndarray, taken: np.ndarray, resamples: int = 1000, seed: int = 0
) -> tuple[Interval, Interval, Interval]:
    """The mean of `value` over all signals, over the taken ones, and the difference (taken -
    all: the filter's lift), each with a 95 % block bootstrap over UTC days (the same resamples
    for the three)."""
    w = taken.astype(float)
    sums = _day_sums(t, [value, np.ones(len(value)), value * w, w])
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, len(sums), (resamples, len(sums)))
    s = sums[pick].sum(axis=1)
    every, kept = _ratio(s[:, 0], s[:, 1]), _ratio(s[:, 2], s[:, 3])
    point = sums.sum(axis=0)
    out = []
    for boot, value_point in ((every, _ratio(point[0:1], point[1:2])[0]),
                              (kept, _ratio(point[2:3], point[3:4])[0]),
                              (kept - every, _ratio(point[2:3], point[3:4])[0]
                               - _ratio(point[0:1], point[1:2])[0])):  # fmt: skip
        if np.isfinite(boot).any():
            low, high = np.nanpercentile(boot, [2.5, 97.5])
        else:
            low = high = math.nan
        out.append(Interval(float(value_point), float(low), float(high)))
    return out[0], out[1], out[2]


def figures(
    t: np.ndarray, hit: np.ndarray, stopped: np.ndarray, net: np.ndarray, p: np.ndarray,
    base: np.ndarray, taken: np.ndarray, resamples: int = 1000, seed: int = 0,
) -> dict[str, Any]:  # fmt: skip
    """The out-of-sample figures of one group of test signals (plain JSON; NaN where unknown).
    `stopped` (1: the stop came first) is beside the hit rate because a filter can raise both at
    once by picking the signals whose sigma underestimates the coming move: fewer timeouts, no
    edge. The filter's lift that counts is the net return's."""
    hit_all, hit_kept, hit_lift = lift_intervals(t, hit, taken, resamples, seed)
    stop_all, stop_kept, stop_lift = lift_intervals(t, stopped, taken, resamples, seed)
    bp = net * 1e4
    net_all, net_kept, net_lift = lift_intervals(t, bp, taken, resamples, seed)
    d = _day_sums(t, [(p - hit) ** 2 - (base - hit) ** 2, np.ones(len(t))])
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, len(d), (resamples, len(d)))
    s = d[pick].sum(axis=1)
    low, high = np.percentile(s[:, 0] / s[:, 1], [2.5, 97.5]) if len(t) else (math.nan,) * 2
    if len(np.unique(hit)) == 2:
        area = auc_interval(t, p, hit, max(resamples // 4, 50), seed)
    else:  # one class only: no AUC
        area = Interval(math.nan, math.nan, math.nan)

    def pair(i: Interval) -> dict[str, float]:
        return {"value": i.value, "low": i.low, "high": i.high}

    return {
        "n": len(t), "n_taken": int(taken.sum()), "days": len(d),
        "hit_rate": pair(hit_all), "hit_rate_filtered": pair(hit_kept),
        "hit_rate_lift": pair(hit_lift),
        "stop_rate": pair(stop_all), "stop_rate_filtered": pair(stop_kept),
        "stop_rate_lift": pair(stop_lift),
        "net_bp": pair(net_all), "net_bp_filtered": pair(net_kept), "net_bp_lift": pair(net_lift),
        "auc": pair(area), "brier": brier(p, hit) if len(t) else math.nan,
        "brier_base_rate": brier(base, hit) if len(t) else math.nan,
        "brier_difference": {"value": float(d[:, 0].sum() / max(d[:, 1].sum(), 1)),
                             "low": float(low), "high": float(high)},
    }  # fmt: skip


def pooled(
    results: Sequence[MetaEvaluation], rule: str | None = None, resamples: int = 1000, seed: int = 0
) -> dict[str, Any]:
    """The figures of several coins' test signals together (of one `rule`, or all): the day
    blocks span the coins, so a day's signals of every coin are resampled together."""
    parts = []
    for r in results:
        mask = np.ones(len(r.index), bool) if rule is None else np.array(r.rule) == rule
        parts.append((r.t[mask], r.hit[mask], r.stopped[mask], r.net[mask], r.p[mask],
                      r.base[mask], r.taken[mask]))  # fmt: skip
    t, hit, stopped, net, p, base, taken = (np.concatenate(c) for c in zip(*parts, strict=True))
    return figures(t, hit, stopped, net, p, base, taken.astype(bool), resamples, seed)


def verdict(lift: dict[str, float]) -> str:
    """`helps`, `hurts` or `no effect` from a lift's interval."""
    if lift["low"] > 0:
        return "helps"
    if lift["high"] < 0:
        return "hurts"
    return "no effect"
