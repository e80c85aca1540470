"""The dashboard's numeric kernels: downsampling, the common grid, correlation, clusters."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cryptosignals.dashboard import stats


@given(
    st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=400),
    st.integers(4, 60),
)
@settings(max_examples=150, deadline=None)
def test_downsample_keeps_at_most_max_points_and_every_bucket_extreme(
    values: list[float], max_points: int
) -> None:
    v = np.array(values)
    ts = np.arange(len(v), dtype=np.int64)
    x, y = stats.downsample(ts, v, max_points)
    assert len(x) <= max_points if len(v) > max_points else len(x) == len(v)
    assert np.all(np.diff(x) > 0), "points stay in time order"
    assert np.array_equal(y, v[x]), "points are real ticks, not invented"
    assert y.max() == v.max() and y.min() == v.min(), "spikes survive"


def test_downsample_leaves_short_series_alone_and_keeps_nan_gaps() -> None:
    ts = np.arange(10, dtype=np.int64)
    v = np.arange(10.0)
    assert stats.downsample(ts, v, 100)[1] is v
    v = np.concatenate([np.full(50, np.nan), np.arange(50.0)])
    _x, y = stats.downsample(np.arange(100, dtype=np.int64), v, 10)
    assert np.isnan(y[0]) and np.nanmax(y) == 49.0


def test_grid_takes_the_last_price_at_or_before_each_time_never_a_later_one() -> None:
    ts = [np.array([100, 160, 250], dtype=np.int64), np.array([130], dtype=np.int64)]
    prices = [np.array([1.0, 2.0, 3.0]), np.array([10.0])]
    grid, matrix = stats.on_grid(ts, prices, 60, 300, 60)
    assert grid.tolist() == [120, 180, 240, 300]
    assert matrix[0].tolist() == [1.0, 2.0, 2.0, 3.0]
    # coin 2 ticked once at 130: unknown before, bridged for two steps, stale (NaN) after that
    assert np.isnan(matrix[1, 0]) and matrix[1, 1:3].tolist() == [10.0, 10.0]
    assert np.isnan(matrix[1, 3])


def test_correlation_equals_numpy_on_complete_data_and_uses_common_times_with_gaps() -> None:
    rng = np.random.default_rng(1)
    r = rng.normal(size=(5, 300))
    r[1] += r[0]
    assert np.allclose(stats.correlation(r), np.corrcoef(r))
    gappy = r.copy()
    gappy[2, :100] = np.nan
    both = slice(100, None)
    expected = np.corrcoef(r[0, both], r[2, both])[0, 1]
    assert stats.correlation(gappy)[0, 2] == pytest.approx(expected)
    flat = np.vstack([r[0], np.zeros(300)])
    assert np.isnan(stats.correlation(flat)[0, 1]), "a constant coin has no correlation"


def test_cluster_order_puts_each_correlated_group_together() -> None:
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=500), rng.normal(size=500)
    groups = [0, 1, 0, 1, 0, 1, 1]  # interleaved on purpose
    rows = np.vstack([(a if g == 0 else b) + rng.normal(0, 0.3, 500) for g in groups])
    order = stats.cluster_order(stats.correlation(rows))
    assert sorted(order.tolist()) == list(range(len(groups)))
    labels = [groups[i] for i in order]
    assert sum(x != y for x, y in itertools.pairwise(labels)) == 1


def test_hour_of_day_mean_buckets_by_utc_hour() -> None:
    ts = np.array([0, 1800, 3600, 86400 + 60, 23 * 3600], dtype=np.int64)
    values = np.array([1.0, 3.0, 10.0, 5.0, np.nan])
    hourly = stats.hour_of_day_mean(ts, values)
    assert hourly[0] == 3.0 and hourly[1] == 10.0
    assert np.isnan(hourly[23]) and np.isnan(hourly[5])
