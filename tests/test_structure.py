"""Chart structure: pivots only at their confirmation, zones on hand-made pivots, breakouts held
or false on hand-made bars, planted patterns found and noise rarely flagged, the stream equal
to the batch in any chunking, and clear errors for bad parameters and bars."""

from __future__ import annotations

import itertools
import json
import zlib
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cryptosignals.errors import BadInputError
from cryptosignals.model import SignalType
from cryptosignals.patterns_market import pattern_market
from cryptosignals.regimes import bar_ends
from cryptosignals.rules import STRUCTURE_RULES, Frame
from cryptosignals.structure import (
    EVENTS,
    OUTPUTS,
    PATTERNS,
    StructureParams,
    StructureTracker,
    Zone,
    aggregate_bars,
    breakout_history,
    cluster_zones,
)


def _bars(close: np.ndarray, spread: float = 0.1, volume_ratio: float = 2.0
          ) -> dict[str, np.ndarray]:  # fmt: skip
    close = np.asarray(close, dtype=float)
    return {
        "end": 1_740_000_000 + 3600 * np.arange(1, len(close) + 1),
        "high": close + spread, "low": close - spread, "close": close,
        "volume_ratio": np.full(len(close), volume_ratio),
    }  # fmt: skip


def _zigzag(points: list[tuple[int, float]]) -> np.ndarray:
    at, level = zip(*points, strict=True)
    return np.interp(np.arange(at[-1] + 1), at, level)


def _walk(n: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.004, n)))
    bars = _bars(close)
    bars["high"] = close * (1 + np.abs(rng.normal(0, 0.002, n)))
    bars["low"] = close * (1 - np.abs(rng.normal(0, 0.002, n)))
    bars["volume_ratio"] = np.exp(rng.normal(0.0, 0.3, n))
    return bars


def _slice(bars: dict[str, np.ndarray], a: int, b: int) -> dict[str, np.ndarray]:
    return {k: v[a:b] for k, v in bars.items()}


def _same(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> None:
    for c in OUTPUTS:
        np.testing.assert_array_equal(a[c], b[c], err_msg=c)


SMALL = StructureParams(k=2, atr_period=3, min_span=3, max_span=40, break_bars=6)


# -- parameters and input ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"k": 0}, "k must be an integer >= 1"),
        ({"k": 2.5}, "k must be an integer"),
        ({"zone_atr": -1.0}, "zone_atr must be a number > 0"),
        ({"peak_tol_pct": float("nan")}, "peak_tol_pct must be a number > 0"),
        ({"volume_min": -0.5}, "volume_min must be a number >= 0"),
        ({"min_depth_atr": -1}, "min_depth_atr must be a number >= 0"),
        ({"min_span": 10, "max_span": 10}, "max_span (10) must be above min_span (10)"),
    ],
)
def test_bad_parameters_give_a_clear_error(changes: dict[str, object], words: str) -> None:
    with pytest.raises(BadInputError, match=words.replace("(", r"\(").replace(")", r"\)")):
        StructureParams(**changes)  # type: ignore[arg-type]


def test_unknown_parameters_are_named() -> None:
    with pytest.raises(BadInputError, match=r"unknown structure parameter.*: wobble"):
        StructureParams.from_json({"k": 3, "wobble": 1})
    assert StructureParams.from_json({"k": 4}).k == 4


def test_bad_bars_give_a_clear_error() -> None:
    tracker = StructureTracker()
    bars = _bars(np.array([100.0, 101.0, 102.0]))
    with pytest.raises(BadInputError, match=r"lack column.*volume_ratio"):
        tracker.update({k: v for k, v in bars.items() if k != "volume_ratio"})
    with pytest.raises(BadInputError, match="end times must increase"):
        tracker.update(bars | {"end": bars["end"][::-1]})
    with pytest.raises(BadInputError, match="inconsistent high/low/close"):
        tracker.update(bars | {"low": bars["high"] + 1})
    tracker.update(bars)
    with pytest.raises(BadInputError, match="end times must increase"):
        tracker.update(bars)  # the same bars again


# -- pivots --------------------------------------------------------------------------------------


def test_a_pivot_is_reported_only_at_its_confirmation_bar() -> None:
    close = _zigzag([(0, 100.0), (6, 106.0), (12, 100.0), (18, 104.0)])  # peak at 6, trough 12
    for k in (1, 2, 3):
        out = StructureTracker(StructureParams(k=k)).update(_bars(close))
        assert np.flatnonzero(out["pivot"] > 0).tolist() == [6 + k]
        assert np.flatnonzero(out["pivot"] < 0).tolist() == [12 + k]


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), cut=st.integers(1, 299))
def test_future_bars_never_change_past_outputs(seed: int, cut: int) -> None:
    bars = _walk(300, seed)
    whole = StructureTracker(SMALL).update(bars)
    prefix = StructureTracker(SMALL).update(_slice(bars, 0, cut))
    _same(prefix, {c: v[:cut] for c, v in whole.items()})


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), cuts=st.lists(st.integers(0, 400), max_size=6))
def test_chunked_through_json_equals_whole(seed: int, cuts: list[int]) -> None:
    bars = _walk(400, seed)
    whole = StructureTracker(SMALL).update(bars)
    parts, state = [], None
    edges = [0, *sorted(cuts), 400]
    for a, b in itertools.pairwise(edges):
        if state is None:
            tracker = StructureTracker(SMALL)
        else:
            tracker = StructureTracker.from_json(json.loads(json.dumps(state)), SMALL)
        parts.append(tracker.update(_slice(bars, a, b)))
        state = tracker.to_json()
    _same({c: np.concatenate([p[c] for p in parts]) for c in OUTPUTS}, whole)


# -- zones ---------------------------------------------------------------------------------------


def test_zones_cluster_hand_made_pivots() -> None:
    prices = np.array([105.1, 100.0, 105.0, 100.2, 105.3, 110.0])
    bars = np.array([1, 2, 3, 4, 5, 6])
    zones = cluster_zones(prices, bars, bandwidth=0.5)
    assert [(round(z.centre, 4), z.touches, z.last_touch) for z in zones] == [
        (100.1, 2, 4), (105.1333, 3, 5), (110.0, 1, 6),
    ]  # fmt: skip
    assert zones[0].low == pytest.approx(99.85) and zones[0].high == pytest.approx(100.35)
    assert zones[1].low == pytest.approx(104.8833, abs=1e-4)  # centre +/- half the bandwidth
    skewed = cluster_zones(np.array([100.0, 100.5, 100.5]), np.array([1, 2, 3]), bandwidth=0.5)
    assert skewed[0].low == 100.0 and skewed[0].high == pytest.approx(100.5833, abs=1e-4)
    assert cluster_zones(prices, bars, bandwidth=10.0)[0].touches == 6
    assert cluster_zones(np.array([]), np.array([]), 1.0) == []


def _zones_one_cluster_at_a_time(prices: np.ndarray, bars: np.ndarray, bw: float) -> list[Zone]:
    """The zones as first written (each cluster's members gathered, numpy's mean, min and
    max of them): the oracle of the one-pass version."""
    order = np.argsort(prices, kind="stable")
    zones, start = [], 0
    for j in range(1, len(order) + 1):
        if j == len(order) or prices[order[j]] - prices[order[start]] > bw:
            members = order[start:j]
            p, centre = prices[members], float(prices[members].mean())
            zones.append(Zone(centre, min(float(p.min()), centre - bw / 2),
                              max(float(p.max()), centre + bw / 2), len(members),
                              int(bars[members].max())))  # fmt: skip
            start = j
    return zones


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.floats(50.0, 150.0), min_size=1, max_size=300),
    st.floats(0.01, 20.0),
    st.randoms(use_true_random=False),
)
def test_zones_are_the_same_to_the_bit_as_one_cluster_at_a_time(
    prices: list[float], bandwidth: float, rng: Any
) -> None:
    """Clusters of 1 to 300 pivots (numpy sums 8 or more values pairwise): the centre of each
    zone is numpy's mean of its members exactly, its edges and touches the same."""
    bars = np.array(rng.sample(range(10_000), len(prices)), dtype=np.int64)
    values = np.round(np.array(prices), rng.choice([1, 2, 6]))  # ties, as real pivots have
    assert cluster_zones(values, bars, bandwidth) == _zones_one_cluster_at_a_time(
        values, bars, bandwidth
    )


def test_distances_to_support_and_resistance_are_in_atrs() -> None:
    # two peaks near 106 and two troughs near 100, then the close sits at 103
    close = _zigzag([(0, 103.0), (5, 106.0), (10, 100.0), (15, 106.0), (20, 100.0), (25, 103.0)])
    out = StructureTracker(SMALL).update(_bars(close))
    last_atr = out["structure_atr"][-1]
    assert out["dist_resistance_atr"][-1] == pytest.approx((106.1 - 103.0) / last_atr)
    assert out["dist_support_atr"][-1] == pytest.approx((103.0 - 99.9) / last_atr)
    assert out["resistance_touches"][-1] == 2 and out["support_touches"][-1] == 2
    assert np.isnan(out["dist_resistance_atr"][:8]).all()  # no zone yet


def test_distances_of_base_bars_use_the_zones_known_now() -> None:
    close = _zigzag([(0, 103.0), (5, 106.0), (10, 100.0), (15, 106.0), (20, 100.0), (25, 103.0)])
    tracker = StructureTracker(SMALL)
    out = tracker.update(_bars(close))
    now = tracker.distances(np.array([close[-1], 104.0, 120.0]))
    assert now["dist_resistance_atr"][0] == out["dist_resistance_atr"][-1]
    assert now["dist_support_atr"][1] == pytest.approx((104.0 - 99.9) / out["structure_atr"][-1])
    assert np.isnan(now["dist_resistance_atr"][2]) and now["support_touches"][2] == 2


# -- breakouts -----------------------------------------------------------------------------------


def _range_then(tail: list[tuple[int, float]]) -> np.ndarray:
    """A range between 100 and 106 (two touches each), then `tail` from bar 25 on."""
    head = [(0, 103.0), (5, 106.0), (10, 100.0), (15, 106.0), (20, 100.0), (25, 103.0)]
    return _zigzag(head + tail)


def test_a_breakout_that_stays_out_is_labelled_held() -> None:
    close = _range_then([(28, 105.5), (29, 108.0), (40, 110.0)])
    out = StructureTracker(SMALL).update(_bars(close))
    assert np.flatnonzero(out["breakout"]).tolist() == [29]
    assert out["breakout"][29] == 1 and out["breakout_level"][29] == pytest.approx(106.35, abs=0.1)
    assert np.flatnonzero(out["breakout_held"]).tolist() == [29 + SMALL.hold_bars]
    assert not out["false_breakout"].any()
    assert breakout_history(out)[0].held is True


def test_a_breakout_back_inside_its_zone_is_labelled_false() -> None:
    close = _range_then([(28, 105.5), (29, 108.0), (31, 103.0), (40, 103.0)])
    out = StructureTracker(SMALL).update(_bars(close))
    assert np.flatnonzero(out["breakout"]).tolist() == [29]
    assert np.flatnonzero(out["false_breakout"]).tolist() == [30]  # 105.5: inside the zone
    assert out["false_breakout"][30] == 1 and not out["breakout_held"].any()
    [event] = breakout_history(out)
    assert (event.start, event.resolved, event.direction, event.held) == (29, 30, 1, False)


def test_a_breakdown_needs_volume_above_its_mean() -> None:
    close = _range_then([(28, 100.5), (29, 97.0), (40, 95.0)])
    quiet = StructureTracker(SMALL).update(_bars(close, volume_ratio=0.8))
    assert not quiet["breakout"].any()
    loud = StructureTracker(SMALL).update(_bars(close, volume_ratio=1.5))
    assert np.flatnonzero(loud["breakout"]).tolist() == [29] and loud["breakout"][29] == -1


def test_breakout_history_labels_every_breakout_once() -> None:
    out = StructureTracker(SMALL).update(_walk(3000, seed=5))
    history = breakout_history(out)
    assert len(history) >= 10
    resolved = (out["false_breakout"] != 0) | (out["breakout_held"] != 0)
    assert len(history) == resolved.sum()
    assert all(h.resolved - h.start <= SMALL.hold_bars for h in history)
    assert all(h.held == (out["breakout_held"][h.resolved] == h.direction) for h in history)


# -- patterns ------------------------------------------------------------------------------------


def test_a_hand_made_double_top_fires_on_the_neckline_break() -> None:
    # peaks at 110 (bars 10 and 22), trough 104 (bar 16), then down through the neckline
    close = _zigzag([(0, 100.0), (10, 110.0), (16, 104.0), (22, 110.2), (30, 98.0)])
    out = StructureTracker(SMALL).update(_bars(close))
    [at] = np.flatnonzero(out["double_top"])
    assert close[at] < 103.9 <= close[at - 1]  # the first close below the trough's low
    assert out["neckline"][at] == pytest.approx(103.9)
    assert out["pattern_height"][at] == pytest.approx(110.3 - 103.9)
    mirrored = StructureTracker(SMALL).update(_bars(220.0 - close))
    assert np.flatnonzero(mirrored["double_bottom"]).tolist() == [at]
    assert not out["head_shoulders"].any() and not out["double_bottom"].any()


def test_a_hand_made_head_and_shoulders_fires_on_the_neckline_break() -> None:
    close = _zigzag([(0, 100.0), (8, 108.0), (13, 103.0), (20, 112.0), (27, 103.2),
                     (33, 108.1), (40, 98.0)])  # fmt: skip
    out = StructureTracker(SMALL).update(_bars(close))
    [at] = np.flatnonzero(out["head_shoulders"])
    assert close[at] < out["neckline"][at] <= close[at - 1] + 0.05
    assert out["pattern_height"][at] == pytest.approx(112.1 - 102.95, abs=0.05)
    mirrored = StructureTracker(SMALL).update(_bars(220.0 - close))
    assert np.flatnonzero(mirrored["inverse_head_shoulders"]).tolist() == [at]


def test_a_new_high_before_the_break_cancels_the_double_top() -> None:
    close = _zigzag([(0, 100.0), (10, 110.0), (16, 104.0), (22, 110.2), (25, 108.0),
                     (28, 112.0), (40, 98.0)])  # fmt: skip
    out = StructureTracker(SMALL).update(_bars(close))
    assert not out["double_top"][:28].any()


def _fired_near(kind: str, seed: int, hours: float = 6.0) -> tuple[int, int, int]:
    candles, planted = pattern_market(days=40, seed=seed)
    end5 = bar_ends(candles.timestamp)
    bars = aggregate_bars(end5, candles.high, candles.low, candles.close,
                          np.ones(len(end5)), 3600)  # fmt: skip
    out = StructureTracker().update(bars)
    fired = bars["end"][out[kind] > 0]
    peaks = [end5[p.last_peak] for p in planted if p.kind == kind]
    found = sum(np.any((fired >= t) & (fired <= t + hours * 3600)) for t in peaks)
    return found, len(peaks), len(fired)


def test_planted_patterns_are_found_within_six_hours() -> None:
    for kind in PATTERNS:
        found, planted, _ = _fired_near(kind, seed=11)
        assert planted >= 3 and found >= planted - 1, (kind, found, planted)


def test_noise_rarely_flags_a_pattern() -> None:
    fired = 0
    for seed, vol in ((1, 0.001), (2, 0.003)):  # a calm coin and a volatile one
        candles, planted = pattern_market(days=60, seed=seed, plant=False, vol=vol)
        assert planted == []
        end5 = bar_ends(candles.timestamp)
        bars = aggregate_bars(end5, candles.high, candles.low, candles.close,
                              np.ones(len(end5)), 3600)  # fmt: skip
        out = StructureTracker().update(bars)
        fired += sum(int((out[k] > 0).sum()) for k in PATTERNS)
    assert fired <= 4  # all four patterns, 120 days: <= 1 each per 30 days


def test_the_state_stays_small_after_weeks_of_bars() -> None:
    tracker = StructureTracker()
    tracker.update(_walk(24 * 90, seed=3))  # 90 days of 1h bars
    packed = zlib.compress(json.dumps(tracker.to_json()).encode())
    assert len(packed) <= 1500
    assert len(tracker.pivots) <= tracker.params.max_pivots


def test_aggregate_bars_keeps_closed_periods_only() -> None:
    end = 1_740_000_000 - 1_740_000_000 % 3600 + 300 * np.arange(1, 30)  # 2 full hours + 5 bars
    high = np.arange(29.0) + 1
    out = aggregate_bars(end, high, high - 2, high - 1, high / 10, 3600)
    assert out["end"].tolist() == [end[11], end[23]]
    assert out["high"].tolist() == [12.0, 24.0] and out["low"].tolist() == [-1.0, 11.0]
    assert out["close"].tolist() == [11.0, 23.0]
    assert out["volume_ratio"].tolist() == pytest.approx([1.2, 2.4])


# -- rules ---------------------------------------------------------------------------------------


def test_the_rules_fire_from_the_tracker_columns() -> None:
    nan = np.nan
    cols = {c: np.zeros(4) for c in EVENTS} | {
        "structure_atr": np.ones(4), "breakout_level": np.array([nan, 10.0, nan, nan]),
        "neckline": np.array([nan, nan, 9.0, nan]), "pattern_height": np.array([nan, nan, 1, nan]),
    }  # fmt: skip
    cols["breakout"][1] = 1
    cols["false_breakout"][3] = 1
    cols["double_top"][2] = 1
    cols["inverse_head_shoulders"][2] = 1
    frame = Frame(cols, [])
    expect = {
        "breakout": ([1], SignalType.BUY), "false_breakout": ([3], SignalType.SELL),
        "double_top": ([2], SignalType.SELL), "inverse_head_shoulders": ([2], SignalType.BUY),
        "double_bottom": ([], None), "head_shoulders": ([], None),
    }  # fmt: skip
    assert set(STRUCTURE_RULES) == set(expect)
    for name, (where, kind) in expect.items():
        rule = STRUCTURE_RULES[name]()
        assert rule.__doc__ and rule.__doc__.startswith("Claim: ")
        firing = rule.fire(frame)
        assert np.flatnonzero(firing.mask).tolist() == where, name
        if where:
            assert firing.signal_type[where[0]] == kind
