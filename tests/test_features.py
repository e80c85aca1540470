"""Model features: streamed in chunks == at once, no look-ahead, the engine's own columns."""

from __future__ import annotations

import functools
import itertools
import json

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from cryptosignals.candles import candles_to_ticks, read_candles, sample_path
from cryptosignals.engine import Engine
from cryptosignals.features import (
    FEATURE_NAMES,
    FeatureBuilder,
    model_features,
    returns_as_of,
)


@functools.cache
def _bars() -> dict[str, np.ndarray]:
    candles = read_candles(sample_path("ethereum"))
    bars = Engine("ethereum").feed(candles_to_ticks("ethereum", candles)).bars
    return {k: v[:1500] for k, v in bars.items()}


def _slice(bars: dict[str, np.ndarray], a: int, b: int) -> dict[str, np.ndarray]:
    return {k: v[a:b] for k, v in bars.items()}


def test_features_have_one_column_per_name_and_read_the_engine_columns() -> None:
    bars = _bars()
    x = model_features(bars)
    assert x.shape == (len(bars["end"]), len(FEATURE_NAMES))
    col = {name: x[:, i] for i, name in enumerate(FEATURE_NAMES)}
    close = bars["close"]
    np.testing.assert_allclose(col["ret_12"][12:], np.log(close[12:] / close[:-12]))
    assert np.isnan(col["ret_12"][:12]).all() and np.isnan(col["ret_1"][0])
    np.testing.assert_array_equal(col["rsi"], bars["rsi_14"])
    np.testing.assert_allclose(col["macd_hist_pct"], bars["macd_hist"] / close * 100)
    ok = np.isfinite(col["bb_pct_b"])
    assert ok.mean() > 0.9 and np.median(col["bb_pct_b"][ok]) > 0.2
    assert np.isnan(col["btc_ret_12"]).all()
    np.testing.assert_allclose(col["hour_sin"] ** 2 + col["hour_cos"] ** 2, 1.0)


def test_weekday_and_hour_are_those_of_the_bar_close() -> None:
    bars = {k: v[:1] for k, v in _bars().items()}
    bars["end"] = np.array([1_744_588_800.0 + 6 * 3600])  # Monday 2025-04-14 06:00 UTC
    row = dict(zip(FEATURE_NAMES, model_features(bars)[0], strict=True))
    assert abs(row["hour_sin"] - 1.0) < 1e-12  # 06:00 is a quarter of the day
    assert abs(row["weekday_sin"]) < 1e-12 and abs(row["weekday_cos"] - 1.0) < 1e-12


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(0, 1500), min_size=1, max_size=6))
def test_features_fed_in_chunks_equal_the_whole_series(cuts: list[int]) -> None:
    bars = _bars()
    whole = model_features(bars)
    builder = FeatureBuilder()
    parts = []
    edges = [0, *sorted(cuts), len(bars["end"])]
    for a, b in itertools.pairwise(edges):
        parts.append(builder.update(_slice(bars, a, b)))
        builder = FeatureBuilder.from_json(json.loads(json.dumps(builder.to_json())))
    np.testing.assert_array_equal(np.concatenate(parts), whole)


def test_future_bars_never_change_a_past_row() -> None:
    bars = _bars()
    whole = model_features(bars)
    early = model_features(_slice(bars, 0, 700))
    np.testing.assert_array_equal(early, whole[:700])


def test_bitcoin_return_is_taken_from_bars_closed_by_then() -> None:
    end = np.arange(1, 40, dtype=float) * 300
    close = np.exp(np.arange(1, 40) * 0.01)
    r = returns_as_of(end, end, close)
    assert np.isnan(r[:12]).all()
    np.testing.assert_allclose(r[12:], 0.12)
    # times between bars see the last closed bar; past the data the value is unknown
    later = returns_as_of(np.array([end[20] + 100, end[-1] + 3600]), end, close)
    np.testing.assert_allclose(later[0], 0.12)
    assert np.isnan(later[1])


def test_features_and_serving_import_no_training_library() -> None:
    import subprocess
    import sys

    code = ("import sys, cryptosignals.features, cryptosignals.predict; bad = {'sklearn', "
            "'lightgbm', 'scipy', 'arch', 'hmmlearn', 'pandas'} & set(sys.modules); "
            "print(sorted(bad))")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
