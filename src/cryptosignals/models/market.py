"""Clusters of coins by how their returns move together, for reports (the analysis side: scipy;
the stream never imports this module).

`correlation_clusters` takes a (time x coin) matrix of returns, the correlation of every pair
over the rows where both have a return, the correlation distance sqrt(2 (1 - rho)) (a metric:
0 for coins that move as one, sqrt(2) for unrelated ones; Mantegna 1999), and average-linkage
hierarchical clustering (`scipy.cluster.hierarchy`: the distance between two groups is the mean
distance between their members), cut at the distance of a correlation of `min_corr`.
Descriptive: it says which coins moved together over the sample, not that they will.

`market_history` runs the stream's trackers over whole series (and `MarketSignals`: the market
alerts as signals of the pseudo-coin "market", judged on the equal-weighted index);
`market_scorecard` scores those signals with the evidence layer's batch scorecard
(`backtest.Scorecard`: hit rate against the base rate, mean move with its interval, circular-shift
p-value, Benjamini-Hochberg q), on the index.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from cryptosignals.backtest.scorecard import Scorecard, ScoreRow
from cryptosignals.candles import Candles
from cryptosignals.evidence import EvidenceConfig
from cryptosignals.market import (
    BAR_SECONDS,
    MARKET_ID,
    BetaTracker,
    MarketSignals,
    MarketTracker,
    align_closes,
)
from cryptosignals.model import Signal

#: The rule of every market alert together in `market_scorecard`.
POOLED_RULE = "market_alert"


@dataclass(frozen=True)
class Clusters:
    """Coins grouped by correlation: `labels[i]` (1, 2, ...) is coin i's cluster, `order` the
    dendrogram's leaf order (coins of a cluster side by side, for a heatmap), `corr` the
    pairwise correlation matrix it was built from, `linkage` scipy's linkage matrix."""

    coins: tuple[str, ...]
    corr: np.ndarray
    labels: np.ndarray
    order: np.ndarray
    linkage: np.ndarray

    def groups(self) -> list[list[str]]:
        """The clusters as lists of coins, in dendrogram order."""
        seen: dict[int, list[str]] = {}
        for i in self.order:
            seen.setdefault(int(self.labels[i]), []).append(self.coins[i])
        return list(seen.values())


def pairwise_corr(returns: np.ndarray) -> np.ndarray:
    """Correlation of every pair of columns over the rows where both are finite."""
    k = returns.shape[1]
    corr = np.eye(k)
    for i in range(k):
        for j in range(i + 1, k):
            both = np.isfinite(returns[:, i]) & np.isfinite(returns[:, j])
            if both.sum() < 3:
                corr[i, j] = corr[j, i] = np.nan
                continue
            corr[i, j] = corr[j, i] = np.corrcoef(returns[both, i], returns[both, j])[0, 1]
    return corr


def correlation_clusters(
    returns: np.ndarray, coins: Sequence[str], min_corr: float = 0.75
) -> Clusters:
    """Average-linkage clusters of the coins (columns of `returns`) by correlation distance."""
    from scipy.cluster.hierarchy import fcluster, leaves_list, linkage
    from scipy.spatial.distance import squareform

    if returns.ndim != 2 or returns.shape[1] != len(coins):
        raise ValueError("returns must be a (time x coin) matrix with one column per coin")
    corr = pairwise_corr(returns)
    if len(coins) < 2:
        return Clusters(tuple(coins), corr, np.ones(len(coins), int), np.arange(len(coins)),
                        np.zeros((0, 4)))  # fmt: skip
    if np.isnan(corr).any():
        raise ValueError("some pairs of coins share fewer than 3 returns")
    distance = np.sqrt(np.clip(2.0 * (1.0 - corr), 0.0, None))
    np.fill_diagonal(distance, 0.0)
    tree = linkage(squareform(distance, checks=False), method="average")
    cut = float(np.sqrt(2.0 * (1.0 - min_corr)))
    labels = fcluster(tree, t=cut, criterion="distance")
    return Clusters(tuple(coins), corr, labels, leaves_list(tree), tree)


@dataclass(frozen=True)
class MarketHistory:
    """The stream's market context over history: the bars on one time grid (`end`, `closes`:
    time x coin, NaN where a coin has no bar), each coin's `BetaTracker` columns on that grid
    (`beta[coin]`, bitcoin's own omitted), the `MarketTracker` columns (`market`, with the
    equal-weighted index as `market["index"]`) and the market alerts as `MarketSignals` made
    them (`signals`, with their track records)."""

    coins: tuple[str, ...]
    end: np.ndarray
    closes: np.ndarray
    beta: dict[str, dict[str, np.ndarray]]
    market: dict[str, np.ndarray]
    signals: list[Signal] = field(default_factory=list)


def market_history(
    bars: dict[str, tuple[np.ndarray, np.ndarray]],
    window_bars: int = 12,
    halflife: float = 288.0,
    market_halflife: float = 24.0,
    btc: str = "bitcoin",
    progress: Callable[[int, int], None] | None = None,
    evidence: EvidenceConfig | None = None,
    **tracker_options: float,
) -> MarketHistory:
    """Both trackers over whole series, fed a day at a time as the process function would feed
    them (the outputs are the same in any batching): the market tracker the coins' bars, each
    coin's beta tracker the market's settled closes of the coin and bitcoin, `MarketSignals`
    (judged with `evidence`, default `EvidenceConfig(coins=1)`) the settled rows;
    `progress(done, total)` after each day. `tracker_options` go to `MarketTracker`."""
    coins = tuple(bars)
    end, closes = align_closes(bars)
    tracker = MarketTracker(coins, market_halflife, window_bars=window_bars,
                            **tracker_options)  # type: ignore[arg-type]  # fmt: skip
    alerts = MarketSignals(coins, evidence)
    signals: list[Signal] = []
    index: list[np.ndarray] = []
    day = 288 * BAR_SECONDS
    starts = np.arange(end[0] - end[0] % day, end[-1] + 1, day)
    parts: list[dict[str, np.ndarray]] = []
    trackers = {c: BetaTracker(halflife, window_bars=window_bars)
                for c in coins if c != btc and btc in coins}  # fmt: skip
    beta_parts: dict[str, list[dict[str, np.ndarray]]] = {c: [] for c in trackers}
    b = coins.index(btc) if btc in coins else -1

    def feed_betas(settled: dict[str, np.ndarray]) -> None:
        # the process function's wiring: the market's signals and each coin's beta from the
        # market's settled rows
        signals.extend(alerts.update(settled))
        index.append(alerts.index[1])
        at = settled["closes"]
        for coin, beta_tracker in trackers.items():
            j = coins.index(coin)
            beta_parts[coin].append(beta_tracker.update(settled["end"], at[:, j], at[:, b]))

    for n, start in enumerate(starts):
        rows = (end >= start) & (end < start + day)
        batch = {}
        for j, coin in enumerate(coins):
            have = rows & np.isfinite(closes[:, j])
            batch[coin] = (end[have], closes[have, j])
        parts.append(tracker.update(batch))
        feed_betas(parts[-1])
        if progress is not None:
            progress(n + 1, len(starts))
    parts.append(tracker.flush())
    feed_betas(parts[-1])
    market = {k: np.concatenate([p[k] for p in parts]) for k in parts[0] if k != "closes"}
    market["index"] = np.concatenate(index)
    beta = {c: {k: np.concatenate([p[k] for p in ps]) for k in ps[0]}
            for c, ps in beta_parts.items()}  # fmt: skip
    return MarketHistory(coins, end, closes, beta, market, signals)


def index_candles(history: MarketHistory, start: int | None = None,
                  stop: int | None = None) -> Candles:  # fmt: skip
    """The equal-weighted index as 5-minute candles (open time = bar end - 5 minutes; every
    price the index's close; no volume), over bar ends in [start, stop)."""
    m = history.market
    keep = np.ones(len(m["end"]), bool)
    if start is not None:
        keep &= m["end"] >= start
    if stop is not None:
        keep &= m["end"] < stop
    end, price = m["end"][keep], m["index"][keep]
    return Candles((end - BAR_SECONDS) * 1000, price, price, price, price, np.zeros(len(end)))


def market_scorecard(
    history: MarketHistory, start: int | None = None, stop: int | None = None,
    shifts: int = 999, seed: int = 7, min_n: int = 20, pooled: bool = True,
) -> list[ScoreRow]:  # fmt: skip
    """The market alerts (bar ends in [start, stop)) scored on the index by the evidence
    layer's batch scorecard, every horizon (docs/signals.md), per rule and, with `pooled`, all
    of them together as rule "market_alert" (their claim is the same); [] when none fired."""
    candles = index_candles(history, start, stop)
    if len(candles) < 2:
        return []
    lo, hi = candles.timestamp[0] // 1000, candles.timestamp[-1] // 1000 + BAR_SECONDS
    signals = [s for s in history.signals if lo < s.timestamp <= hi]
    if not signals:
        return []
    if pooled:
        signals += [replace(s, rule=POOLED_RULE) for s in signals]
    return Scorecard(candles, MARKET_ID, shifts=shifts, seed=seed, min_n=min_n).run(signals)
