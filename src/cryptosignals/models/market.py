"""Clusters of coins by how their returns move together, for reports (the analysis side: scipy;
the stream never imports this module).

`correlation_clusters` takes a (time x coin) matrix of returns, the correlation of every pair
over the rows where both have a return, the correlation distance sqrt(2 (1 - rho)) (a metric:
0 for coins that move as one, sqrt(2) for unrelated ones; Mantegna 1999), and average-linkage
hierarchical clustering (`scipy.cluster.hierarchy`: the distance between two groups is the mean
distance between their members), cut at the distance of a correlation of `min_corr`.
Descriptive: it says which coins moved together over the sample, not that they will.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from cryptosignals.market import BAR_SECONDS, BetaTracker, MarketTracker, align_closes


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
    (`beta[coin]`, bitcoin's own omitted) and the `MarketTracker` columns (`market`)."""

    coins: tuple[str, ...]
    end: np.ndarray
    closes: np.ndarray
    beta: dict[str, dict[str, np.ndarray]]
    market: dict[str, np.ndarray]


def market_history(
    bars: dict[str, tuple[np.ndarray, np.ndarray]],
    window_bars: int = 12,
    halflife: float = 288.0,
    market_halflife: float = 24.0,
    btc: str = "bitcoin",
    progress: Callable[[int, int], None] | None = None,
) -> MarketHistory:
    """Both trackers over whole series, fed a day at a time as the process function would feed
    them (the outputs are the same in any batching): the market tracker the coins' bars, each
    coin's beta tracker the market's settled closes of the coin and bitcoin;
    `progress(done, total)` after each day."""
    coins = tuple(bars)
    end, closes = align_closes(bars)
    tracker = MarketTracker(coins, market_halflife, window_bars=window_bars)
    day = 288 * BAR_SECONDS
    starts = np.arange(end[0] - end[0] % day, end[-1] + 1, day)
    parts: list[dict[str, np.ndarray]] = []
    trackers = {c: BetaTracker(halflife, window_bars=window_bars)
                for c in coins if c != btc and btc in coins}  # fmt: skip
    beta_parts: dict[str, list[dict[str, np.ndarray]]] = {c: [] for c in trackers}
    b = coins.index(btc) if btc in coins else -1

    def feed_betas(settled: dict[str, np.ndarray]) -> None:
        # the process function's wiring: each coin's beta from the market's settled closes
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
    beta = {c: {k: np.concatenate([p[k] for p in ps]) for k in ps[0]}
            for c, ps in beta_parts.items()}  # fmt: skip
    return MarketHistory(coins, end, closes, beta, market)
