"""Meta-labelling: labels read only later bars, training signals are purged before each fold, the
threshold is chosen without the fold, nothing is found on a random walk and a planted effect is
(so these tests could fail), and the command runs end to end on a bundled sample."""

from __future__ import annotations

import dataclasses
import functools
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cryptosignals.candles import read_candles, sample_path
from cryptosignals.models.metalabel import (
    MetaConfig,
    MetaEvaluation,
    SignalSet,
    evaluate_filter,
    lift_intervals,
    signal_set,
)
from cryptosignals.synthetic import predictable_candles

SHORT = MetaConfig(train_days=10, test_days=3, resamples=300)
WALK = MetaConfig(train_days=12, test_days=3, resamples=300)


@functools.cache
def _bitcoin() -> SignalSet:
    return signal_set("bitcoin", read_candles(sample_path("bitcoin")), SHORT)


@functools.cache
def _bitcoin_evaluated() -> MetaEvaluation:
    return evaluate_filter(_bitcoin(), SHORT)


@functools.cache
def _walk(strength: float, seed: int) -> MetaEvaluation:
    candles = predictable_candles(days=30, seed=seed, strength=strength)
    return evaluate_filter(signal_set("bitcoin", candles, WALK), WALK)


def test_labels_come_from_bars_after_the_signal_within_the_timeout() -> None:
    data = _bitcoin()
    assert len(data) > 1000 and set(data.side) == {-1.0, 1.0}
    assert np.all(data.label_end > data.t)
    assert np.all(data.label_end <= data.t + SHORT.timeout_s)
    assert np.array_equal(data.hit, (data.label == 1).astype(float))
    stopped = data.label == -1
    assert np.all(data.net[stopped] < 0)  # a stop loses, and the round trip on top
    assert data.x.shape == (len(data), len(data.names))


def test_later_candles_change_no_earlier_signal_row_or_label() -> None:
    candles = read_candles(sample_path("bitcoin"))
    cut = len(candles) * 2 // 3
    short = signal_set("bitcoin", candles[:cut], SHORT)
    whole = _bitcoin()
    assert short.label_end.max() <= candles.timestamp[cut - 1] / 1000 + 300
    settled = whole.label_end <= short.label_end.max()
    common = np.isin(whole.t, short.t) & settled
    keep = np.isin(short.t, whole.t[common])
    assert common.sum() > 500
    for name in ("t", "side", "hit", "label", "label_end", "net"):
        assert np.array_equal(getattr(whole, name)[common], getattr(short, name)[keep]), name
    np.testing.assert_allclose(whole.x[common][:, : len(short.names) - len(short.rules) - 1],
                               short.x[keep][:, : len(short.names) - len(short.rules) - 1],
                               equal_nan=True)  # fmt: skip


def test_training_signals_whose_label_window_reaches_the_fold_are_purged() -> None:
    result = _bitcoin_evaluated()
    data = result.data
    assert len(result.folds) >= 3
    for fold in result.folds:
        start = data.t[fold.test].min()
        assert data.t[fold.train].max() < start
        assert data.label_end[fold.train].max() < start  # no label window reaches the fold
        before = np.flatnonzero(data.t < start)
        assert len(before) == len(fold.train) + fold.purged
        clashing = before[data.label_end[before] >= start]
        assert fold.purged == len(clashing) and not np.isin(clashing, fold.train).any()
    assert sum(f.purged for f in result.folds) > 0
    assert len(result.index) == sum(len(f.test) for f in result.folds)


def test_the_threshold_is_chosen_without_the_fold_it_filters() -> None:
    result = _bitcoin_evaluated()
    data = result.data
    last = result.folds[-1].test
    hit, net = data.hit.copy(), data.net.copy()
    hit[last] = 1.0 - hit[last]  # the last fold's outcomes turned around
    net[last] = -net[last]
    changed = evaluate_filter(dataclasses.replace(data, hit=hit, net=net), SHORT)
    assert changed.filters == result.filters  # each fold's share, threshold and trades
    assert np.array_equal(changed.p, result.p) and np.array_equal(changed.taken, result.taken)


def test_taking_every_signal_has_no_lift() -> None:
    rng = np.random.default_rng(0)
    t = np.sort(rng.uniform(0, 20 * 86_400, 400))
    value = rng.normal(0, 1, 400)
    every, kept, lift = lift_intervals(t, value, np.ones(400, bool), 200)
    assert every == kept and (lift.value, lift.low, lift.high) == (0.0, 0.0, 0.0)
    every, kept, lift = lift_intervals(t, value, value > 0, 200)
    assert kept.value > every.value and lift.low > 0


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_on_a_random_walk_the_filter_earns_nothing_within_its_interval(seed: int) -> None:
    f = _walk(0.0, seed).figures["all"]
    assert f["n"] > 1500 and f["n_taken"] < f["n"]  # the filter was used in some folds
    lift = f["net_bp_lift"]
    assert lift["low"] <= 0 <= lift["high"], lift
    assert abs(lift["value"]) < 3.0  # bp per trade


def test_a_planted_effect_is_found_and_the_filter_raises_hit_rate_and_net_return() -> None:
    # momentum: each bar drifts in the direction of the last hour, so a signal with the hour's
    # move reaches its profit barrier more often: a feature (signed ret_12) the model sees
    f = _walk(0.3, 5).figures["all"]
    assert f["hit_rate_lift"]["low"] > 0.05, f["hit_rate_lift"]
    assert f["net_bp_lift"]["low"] > 0, f["net_bp_lift"]
    assert f["stop_rate_lift"]["high"] < 0  # not only fewer timeouts: fewer stops too
    assert f["auc"]["low"] > 0.6 and f["brier"] < f["brier_base_rate"]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cryptosignals", *args],
                          capture_output=True, text=True, timeout=300)  # fmt: skip


@pytest.mark.e2e
@pytest.mark.slow
def test_metalabel_command_reports_each_rule_with_and_without_the_filter(tmp_path: Path) -> None:
    page = tmp_path / "meta.html"
    path = str(sample_path("bitcoin"))
    result = run("metalabel", "--input", path, "--format", "json", "--html", str(page))
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["coin"] == "bitcoin" and out["config"]["timeout_s"] == 3600
    pooled = out["figures"]["all"]
    assert pooled["n"] == sum(f["n_test"] for f in out["folds"]) > 500
    assert pooled["n"] == sum(f["n"] for name, f in out["figures"].items() if name != "all")
    for key in ("hit_rate", "hit_rate_filtered", "net_bp", "net_bp_filtered", "net_bp_lift"):
        assert pooled[key]["low"] <= pooled[key]["value"] <= pooled[key]["high"], key
    assert -60 < pooled["net_bp"]["value"] < 0  # the rules lose their round trip
    assert "<svg" in page.read_text() and "Folds" in page.read_text()
    one = run("metalabel", "--input", path, "--rule", "macd_momentum", "--format", "table")
    assert one.returncode == 0, one.stderr
    assert "macd_momentum" in one.stdout and "ma_crossover" not in one.stdout


@pytest.mark.e2e
def test_metalabel_command_refuses_a_bad_file_in_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bitcoin_5m.csv"
    bad.write_text("timestamp,open,high,low,close,volume\n1,2,3\n")
    result = run("metalabel", "--input", str(bad))
    assert result.returncode != 0
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
