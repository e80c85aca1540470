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

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


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
    returns: np.ndarray, coins: Sequence[str], min_corr: float = 0.5
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
