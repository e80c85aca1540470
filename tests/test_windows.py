"""Rolling windows by event time: against a brute-force reference of their definition (the 5m
window exact, the longer ones in whole buckets), streamed == batch, bounded state."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cryptosignals.windows import (
    BUCKETS,
    FIELDS,
    WINDOWS,
    Window,
    WindowState,
    _json_floats,
    aggregates_at,
    rolling_windows,
)


def _irregular_ticks(seed: int, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    gaps = rng.choice([30, 60, 61, 300, 900, 3600], size=n)  # missed polls included
    ts = 1_700_000_000 + np.cumsum(gaps).astype(np.int64)
    price = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    volume = np.where(rng.random(n) < 0.1, np.nan, rng.uniform(1e6, 2e6, n))
    return ts, price, volume


def _start(t: int, window: Window) -> int:
    """Where the window ending at a tick at t starts (exclusive): t - W for the exact 5m window,
    else W before the end of the tick's bucket."""
    width = BUCKETS.get(window)
    end = t if width is None else -(-t // width) * width
    return end - int(window) * 60


def _brute_force(ts, price, volume, i, window):  # type: ignore[no-untyped-def]
    inside = [j for j in range(len(ts)) if _start(ts[i], window) < ts[j] <= ts[i]]
    p = [price[j] for j in inside]
    v = [volume[j] for j in inside if not np.isnan(volume[j])]
    return (
        sum(p) / len(p), min(p), max(p), (sum(v) / len(v)) if v else np.nan,
        (p[-1] / p[0] - 1) * 100, len(p),
    )  # fmt: skip


def test_windows_match_a_brute_force_reference_on_irregular_ticks() -> None:
    ts, price, volume = _irregular_ticks(3, 300)
    result = rolling_windows(ts, price, volume)
    for window in WINDOWS:
        for i in range(len(ts)):
            expected = _brute_force(ts, price, volume, i, window)
            np.testing.assert_allclose(result[window][i], expected, rtol=1e-12, equal_nan=True)


def test_window_bounds_are_open_at_the_start_and_closed_at_the_end() -> None:
    ts = np.array([0, 60, 300, 360], dtype=np.int64) + 1_700_000_000
    out = rolling_windows(ts, np.array([1.0, 2.0, 3.0, 4.0]), np.full(4, np.nan))
    # The 5m window ending at +300 excludes the tick at +0 exactly 5 minutes earlier.
    assert out[WINDOWS[0]][2][FIELDS.index("sample_count")] == 2
    assert out[WINDOWS[0]][3][FIELDS.index("min_price")] == 3.0


def test_repeated_timestamps_are_refused() -> None:
    ts = np.array([1, 2, 2], dtype=np.int64)
    with pytest.raises(ValueError, match="strictly increasing"):
        rolling_windows(ts, np.ones(3), np.ones(3))


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), cuts=st.lists(st.integers(0, 200), max_size=6))
def test_streamed_windows_equal_batch_windows_exactly(seed: int, cuts: list[int]) -> None:
    ts, price, volume = _irregular_ticks(seed, 200)
    whole = rolling_windows(ts, price, volume)
    state = WindowState()
    pieces = {w: [] for w in WINDOWS}
    bounds = [0, *sorted(cuts), 200]
    for a, b in itertools.pairwise(bounds):
        state = WindowState.from_json(json.loads(json.dumps(state.to_json())))
        for w, rows in state.update(ts[a:b], price[a:b], volume[a:b]).items():
            pieces[w].append(rows)
    for w in WINDOWS:
        np.testing.assert_array_equal(np.concatenate(pieces[w]), whole[w])


def test_aggregates_carry_the_table_keys() -> None:
    ts, price, volume = _irregular_ticks(1, 50)
    rows = rolling_windows(ts, price, volume)
    items = [a.to_json() for a in aggregates_at("bitcoin", int(ts[-1]), rows)]
    assert [i["time_window"] for i in items] == [5, 30, 60, 1440]
    assert all(i["crypto_id"] == "bitcoin" and i["window_end"] == int(ts[-1]) for i in items)


def test_on_bucket_ends_the_bucketed_windows_are_the_exact_ones() -> None:
    """Five-minute candles land on bucket ends: then (E - W, t] is (t - W, t] for 30m and 60m."""
    ts = 1_700_000_100 + 300 * np.arange(400, dtype=np.int64)
    ts = ts - ts % 300
    price = np.linspace(100.0, 140.0, 400)
    out = rolling_windows(ts, price, np.ones(400))
    for window in (Window.M30, Window.M60):
        count = int(out[window][-1][FIELDS.index("sample_count")])
        assert count == int(window) // 5
        assert out[window][-1][FIELDS.index("min_price")] == price[-count]


def test_the_state_stays_bounded_at_any_tick_rate() -> None:
    """A day of ticks every 10 seconds keeps five minutes of ticks and 12 + 24 buckets."""
    ts = 1_700_000_000 + 10 * np.arange(8640 * 2, dtype=np.int64)
    price = 100 + np.cumsum(np.random.default_rng(2).normal(0, 0.01, len(ts)))
    state = WindowState()
    state.update(ts, price, np.full(len(ts), 1e9))
    stored = state.to_json()
    assert len(stored["ticks"][0]) == 30
    assert [len(columns[0]) for columns in stored["buckets"].values()] == [12, 24]


_STORED = st.one_of(
    st.floats(),
    st.integers(-(2**60), 2**60).map(float),
    st.sampled_from([0.0, -0.0, 2.0**53, -(2.0**53), 2.0**53 - 1, 1e20, math.inf, math.nan]),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_STORED, max_size=12))
def test_a_stored_column_is_its_values_with_whole_numbers_as_ints(values: list[float]) -> None:
    column = _json_floats(np.array(values, dtype=float))
    expected = [None if v != v else int(v) if v.is_integer() else v for v in values]
    assert [type(v) for v in column] == [type(v) for v in expected]
    assert json.dumps(column) == json.dumps(expected)
