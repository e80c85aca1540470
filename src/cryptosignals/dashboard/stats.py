"""Numeric kernels of the dashboard: numpy arrays in, numpy arrays out (no pandas, no plotly).

- `downsample`: at most N points per line, keeping each bucket's low and high so spikes stay;
- `on_grid`: irregular ticks of many coins -> one price matrix on a common time grid
  (last price at or before each grid time, never a later one);
- `log_returns`, `correlation`: returns statistics between coins (betas to bitcoin are the
  stream's own `cryptosignals.market.BetaTracker`: overlays.market_path);
- `cluster_order`: coins ordered so that correlated ones sit together (average-linkage
  hierarchical clustering on 1 - correlation, leaves in merge order; scipy is not needed, and
  the dashboard extra does not bring it: `cryptosignals.models.market` clusters with scipy);
- `hour_of_day_mean`: a value averaged per UTC hour of day (0..23).
"""

from __future__ import annotations

import numpy as np

HOUR_SECONDS = 3600


def downsample(
    timestamp: np.ndarray, values: np.ndarray, max_points: int
) -> tuple[np.ndarray, np.ndarray]:
    """At most `max_points` points: per time bucket, its minimum and maximum in time order."""
    n = len(timestamp)
    if n <= max_points or max_points < 4:
        return timestamp, values
    buckets = max_points // 2
    edges = np.linspace(0, n, buckets + 1).astype(np.int64)[:-1]
    filled = np.where(np.isnan(values), np.inf, values)
    low_value = np.minimum.reduceat(filled, edges)
    filled = np.where(np.isnan(values), -np.inf, values)
    high_value = np.maximum.reduceat(filled, edges)
    index = np.arange(n)
    # Position of each bucket's extreme: the first index in the bucket holding that value.
    bucket = np.repeat(np.arange(buckets), np.diff(np.append(edges, n)))
    at_low = np.where(values == low_value[bucket], index, n)
    at_high = np.where(values == high_value[bucket], index, n)
    low_index = np.minimum.reduceat(at_low, edges)
    high_index = np.minimum.reduceat(at_high, edges)
    # A bucket of NaNs has no extreme: keep its first point (a NaN, i.e. a gap in the line).
    low_index = np.where(low_index == n, edges, low_index)
    high_index = np.where(high_index == n, edges, high_index)
    keep = np.unique(np.concatenate([low_index, high_index]))
    return timestamp[keep], values[keep]


def on_grid(
    timestamps: list[np.ndarray], prices: list[np.ndarray], start: int, end: int, step: int
) -> tuple[np.ndarray, np.ndarray]:
    """(grid times, matrix coins x times): each coin's last price at or before each grid time.

    NaN before a coin's first tick, and where its last tick is more than two steps old (one
    missed poll is bridged; a coin that stopped reporting is not carried forward)."""
    grid = np.arange(start - start % step + step, end + 1, step, dtype=np.int64)
    matrix = np.full((len(timestamps), len(grid)), np.nan)
    for row, (ts, price) in enumerate(zip(timestamps, prices, strict=True)):
        if len(ts) == 0:
            continue
        at = np.searchsorted(ts, grid, side="right") - 1
        valid = (at >= 0) & (grid - ts[np.maximum(at, 0)] <= 2 * step)
        matrix[row, valid] = price[at[valid]]
    return grid, matrix


def log_returns(matrix: np.ndarray) -> np.ndarray:
    """Log returns along time (one column fewer); NaN where either price is unknown."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.diff(np.log(matrix), axis=1)


def correlation(returns: np.ndarray, min_overlap: int = 3) -> np.ndarray:
    """Pairwise Pearson correlation of rows over the times both rows are known.

    NaN for pairs with fewer than `min_overlap` common returns or a constant row; the diagonal
    is 1 for rows with any variation."""
    known = ~np.isnan(returns)
    x = np.where(known, returns, 0.0)
    k = known.astype(float)
    n = k @ k.T
    sx = x @ k.T  # sum of row i over times where j is known too
    sxx = (x * x) @ k.T
    sxy = x @ x.T
    with np.errstate(divide="ignore", invalid="ignore"):
        cov = sxy - sx * sx.T / n
        var_i = sxx - sx * sx / n
        var_j = var_i.T
        corr = cov / np.sqrt(var_i * var_j)
    corr[(n < min_overlap) | ~np.isfinite(corr)] = np.nan
    return np.clip(corr, -1.0, 1.0)


def cluster_order(corr: np.ndarray) -> np.ndarray:
    """Row order that puts correlated coins next to each other.

    Average-linkage agglomerative clustering on the distance 1 - correlation (unknown pairs count
    as uncorrelated, distance 1): the two closest clusters merge, their leaves joined so that the
    most correlated ends touch. The result is the final cluster's leaf order."""
    n = corr.shape[0]
    if n <= 2:
        return np.arange(n)
    distance = 1.0 - np.where(np.isnan(corr), 0.0, corr)
    np.fill_diagonal(distance, 0.0)
    clusters: list[list[int]] = [[i] for i in range(n)]
    linkage = distance.copy()
    np.fill_diagonal(linkage, np.inf)
    active = list(range(n))
    while len(active) > 1:
        sub = linkage[np.ix_(active, active)]
        flat = int(np.argmin(sub))
        a, b = active[flat // len(active)], active[flat % len(active)]
        left, right = clusters[a], clusters[b]
        # Orient the two leaf lists so the closest pair of ends meets in the middle.
        options = [
            left + right,
            left + right[::-1],
            left[::-1] + right,
            left[::-1] + right[::-1],
        ]
        ends = [distance[o[len(left) - 1], o[len(left)]] for o in options]
        merged = options[int(np.argmin(ends))]
        size_a, size_b = len(left), len(right)
        for c in active:
            if c not in (a, b):
                value = (linkage[a, c] * size_a + linkage[b, c] * size_b) / (size_a + size_b)
                linkage[a, c] = linkage[c, a] = value
        clusters[a] = merged
        active.remove(b)
    return np.array(clusters[active[0]], dtype=np.int64)


def hour_of_day_mean(timestamp: np.ndarray, values: np.ndarray) -> np.ndarray:
    """The mean of `values` per UTC hour of day (24 numbers; NaN for hours without a value)."""
    hours = (timestamp // HOUR_SECONDS) % 24
    known = ~np.isnan(values)
    total = np.bincount(hours[known], weights=values[known], minlength=24)
    count = np.bincount(hours[known], minlength=24)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)
