"""Indicators equal TA-Lib on real data, and chunked streaming equals one batch, bit for bit."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from fractions import Fraction

import numpy as np
import pytest
import talib
from hypothesis import example, given, settings
from hypothesis import strategies as st

from cryptosignals import indicators as ind
from cryptosignals.candles import Candles
from cryptosignals.indicators import INDICATORS, Stream


def assert_matches_reference(ours: np.ndarray, reference: np.ndarray) -> None:
    """Same warm-up (NaN mask), then within 1e-9 relative error.

    For values that cross zero (slopes, MACD) the relative error is taken against the series'
    typical magnitude: a difference of 1e-18 on a value of 1e-12 is not a disagreement.
    """
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(reference))
    known = ~np.isnan(reference)
    scale = np.maximum(np.abs(reference[known]), np.mean(np.abs(reference[known])))
    worst = np.max(np.abs(ours[known] - reference[known]) / scale)
    assert worst <= 1e-9, f"max relative error {worst:.2e}"


def _cases(c: Candles) -> dict[str, tuple[tuple[np.ndarray, ...], tuple[np.ndarray, ...]]]:
    h, lo, x = c.high, c.low, c.close
    return {
        "sma": ((ind.sma(x),), (talib.SMA(x, 30),)),
        "sma_20": ((ind.sma(x, 20),), (talib.SMA(x, 20),)),
        "ema": ((ind.ema(x),), (talib.EMA(x, 30),)),
        "ema_5": ((ind.ema(x, 5),), (talib.EMA(x, 5),)),
        "rsi": ((ind.rsi(x),), (talib.RSI(x, 14),)),
        "rsi_7": ((ind.rsi(x, 7),), (talib.RSI(x, 7),)),
        "macd": (ind.macd(x), talib.MACD(x, 12, 26, 9)),
        "macd_5_35_5": (ind.macd(x, 5, 35, 5), talib.MACD(x, 5, 35, 5)),
        "bbands": (ind.bbands(x), talib.BBANDS(x, 5, 2.0, 2.0)),
        "bbands_20": (ind.bbands(x, 20, 2.5, 1.5), talib.BBANDS(x, 20, 2.5, 1.5)),
        "atr": ((ind.atr(h, lo, x),), (talib.ATR(h, lo, x, 14),)),
        "atr_1": ((ind.atr(h, lo, x, 1),), (talib.ATR(h, lo, x, 1),)),
        "adx": ((ind.adx(h, lo, x),), (talib.ADX(h, lo, x, 14),)),
        "roc": ((ind.roc(x),), (talib.ROC(x, 10),)),
        "stddev": ((ind.stddev(x),), (talib.STDDEV(x, 5, 1.0),)),
        "stddev_20_2": ((ind.stddev(x, 20, 2.0),), (talib.STDDEV(x, 20, 2.0),)),
        "linearreg_slope": ((ind.linearreg_slope(x),), (talib.LINEARREG_SLOPE(x, 14),)),
        "min": ((ind.rolling_min(x),), (talib.MIN(x, 30),)),
        "max": ((ind.rolling_max(x),), (talib.MAX(x, 30),)),
        "sma_of_atr": ((ind.sma(ind.atr(h, lo, x), 50),), (talib.SMA(talib.ATR(h, lo, x), 50),)),
    }


CASE_NAMES = list(_cases(Candles(*(np.arange(1.0, 3.0) for _ in range(6)))).keys())


@pytest.mark.parametrize("case", CASE_NAMES)
def test_indicator_matches_talib_on_real_candles(sample_candles: Candles, case: str) -> None:
    ours, reference = _cases(sample_candles)[case]
    assert len(ours) == len(reference)
    for mine, theirs in zip(ours, reference, strict=True):
        assert len(mine) == len(sample_candles)
        assert_matches_reference(mine, theirs)


def test_slope_equals_exact_rational_least_squares(btc_candles: Candles) -> None:
    """TA-Lib >= 0.6 updates the slope incrementally; ours is checked against exact arithmetic."""
    x = btc_candles.close[:400]
    ours = ind.linearreg_slope(x, 14)
    xs = [Fraction(i) for i in range(14)]
    x_mean = sum(xs) / 14
    for end in range(13, 400, 37):
        window = [Fraction(v) for v in x[end - 13 : end + 1]]
        y_mean = sum(window) / 14
        exact = sum((a - x_mean) * (b - y_mean) for a, b in zip(xs, window, strict=True)) / sum(
            (a - x_mean) ** 2 for a in xs
        )
        assert abs(ours[end] - float(exact)) <= 1e-9 * max(abs(float(exact)), 1.0)


def test_leading_nans_are_skipped_like_talib() -> None:
    x = np.concatenate([[np.nan] * 7, np.linspace(100, 130, 60) + np.sin(np.arange(60))])
    assert_matches_reference(ind.sma(x, 10), talib.SMA(x, 10))
    assert_matches_reference(ind.ema(x, 10), talib.EMA(x, 10))
    assert_matches_reference(ind.rsi(x, 14), talib.RSI(x, 14))


def test_flat_prices_give_zero_deviation_and_zero_rsi() -> None:
    x = np.full(50, 42.0)
    assert np.all(ind.stddev(x, 5)[4:] == 0.0)
    assert np.all(ind.rsi(x, 14)[14:] == talib.RSI(x, 14)[14:])
    upper, middle, lower = ind.bbands(x, 5)
    assert np.all(upper[4:] == middle[4:]) and np.all(lower[4:] == 42.0)


def test_bad_parameters_are_rejected_with_the_indicator_name() -> None:
    with pytest.raises(ValueError, match="rsi: period must be an integer >= 2"):
        ind.rsi(np.ones(10), period=1)
    with pytest.raises(ValueError, match="unknown parameter"):
        Stream("sma", length=3)
    with pytest.raises(ValueError, match="unknown indicator"):
        Stream("supertrend")


def _series(seed: int, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    spread = np.abs(rng.normal(0, 0.005, n)) * close
    return close + spread, close - spread, close


STREAM_CONFIGS = [
    ("sma", {"period": 7}),
    ("ema", {"period": 9}),
    ("rsi", {"period": 5}),
    ("macd", {"fast": 3, "slow": 8, "signal": 4}),
    ("bbands", {"period": 6, "nbdev_up": 2.0, "nbdev_dn": 1.5}),
    ("atr", {"period": 4}),
    ("adx", {"period": 4}),
    ("roc", {"period": 3}),
    ("stddev", {"period": 5, "nbdev": 1.0}),
    ("linearreg_slope", {"period": 6}),
    ("min", {"period": 5}),
    ("max", {"period": 5}),
]


def test_every_registered_indicator_has_a_streaming_test() -> None:
    assert {name for name, _ in STREAM_CONFIGS} == set(INDICATORS)


@settings(max_examples=100, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 120),
    cuts=st.lists(st.integers(0, 120), max_size=8),
    config=st.sampled_from(STREAM_CONFIGS),
    gaps=st.lists(st.integers(0, 119), max_size=3),
)
@example(seed=0, n=8, cuts=[3], config=("max", {"period": 5}), gaps=[1])  # a NaN while filling
def test_chunked_stream_equals_whole_series_bit_for_bit(
    seed: int, n: int, cuts: list[int], config: tuple[str, dict], gaps: list[int]
) -> None:
    """Also with NaNs (missing values) anywhere, leading or inside a window."""
    name, params = config
    high, low, close = _series(seed, n)
    for gap in (g for g in gaps if g < n):
        high[gap] = low[gap] = close[gap] = np.nan
    inputs = (high, low, close) if INDICATORS[name].inputs == ("high", "low", "close") else (close,)
    whole = Stream(name, **params).update(*inputs)

    stream = Stream(name, **params)
    bounds = [0, *sorted(c for c in cuts if c <= n), n]
    pieces = []
    for start, stop in itertools.pairwise(bounds):
        # Store and reload the state between chunks, as the Lambda does between batches.
        stream = Stream.from_json(json.loads(json.dumps(stream.to_json())))
        pieces.append(stream.update(*(x[start:stop] for x in inputs)))
    for k, output in enumerate(whole):
        np.testing.assert_array_equal(np.concatenate([p[k] for p in pieces]), output)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(40, 150), extra=st.integers(1, 50))
def test_appending_future_values_never_changes_past_outputs(seed: int, n: int, extra: int) -> None:
    high, low, close = _series(seed, n + extra)
    for name, params in STREAM_CONFIGS:
        three = INDICATORS[name].inputs == ("high", "low", "close")
        full = Stream(name, **params).update(*((high, low, close) if three else (close,)))
        cut = (high[:n], low[:n], close[:n]) if three else (close[:n],)
        prefix = Stream(name, **params).update(*cut)
        for a, b in zip(prefix, full, strict=True):
            np.testing.assert_array_equal(a, b[:n])


def test_interpreted_kernels_equal_compiled_kernels(btc_candles: Candles) -> None:
    """The Lambda runs the kernels as plain Python: it must compute exactly what numba does."""
    pytest.importorskip("numba")
    code = (
        "import json, numpy as np, sys\n"
        "from cryptosignals import indicators as ind\n"
        "from cryptosignals.candles import read_candles, sample_path\n"
        "c = read_candles(sample_path('bitcoin'))[:1500]\n"
        "h, lo, x = c.high, c.low, c.close\n"
        "out = [ind.rsi(x), ind.adx(h, lo, x), *ind.macd(x),\n"
        "       *ind.bbands(x, 20), ind.linearreg_slope(x), ind.atr(h, lo, x)]\n"
        "json.dump([np.nan_to_num(o, nan=-1.0).tolist() for o in out], sys.stdout)\n"
    )
    env = {**os.environ, "NUMBA_DISABLE_JIT": "1"}
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    interpreted = json.loads(result.stdout)
    c = btc_candles[:1500]
    compiled = [
        ind.rsi(c.close),
        ind.adx(c.high, c.low, c.close),
        *ind.macd(c.close),
        *ind.bbands(c.close, 20),
        ind.linearreg_slope(c.close),
        ind.atr(c.high, c.low, c.close),
    ]
    for mine, theirs in zip(compiled, interpreted, strict=True):
        np.testing.assert_array_equal(np.nan_to_num(mine, nan=-1.0), np.array(theirs))


@pytest.mark.parametrize("name", ["min", "max"])
def test_a_stored_min_or_max_keeps_only_the_values_that_can_still_be_the_extreme(
    name: str,
) -> None:
    """The ring of 120 values shrinks to the window's record values (about ln 120 on noise);
    the chunked test above checks that outputs are unchanged bit for bit."""
    stream = Stream(name, period=120)
    stream.update(np.random.default_rng(5).normal(size=5000))
    stored = stream.to_json()["state"]
    assert 2 <= sum(v is not None for v in stored) <= 2 + 20
    restored = Stream.from_json(json.loads(json.dumps(stream.to_json())))
    later = np.random.default_rng(6).normal(size=300)
    np.testing.assert_array_equal(restored.update(later)[0], stream.update(later)[0])
