"""Drift detection: the null budget, planted changes found in time, chunked == whole, no
look-ahead, river's Page-Hinkley alarm for alarm, and the command end to end."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cryptosignals.candles import candles_to_ticks, read_candles, sample_path
from cryptosignals.drift import Adwin, DriftMonitor, ErrorScale, PageHinkley, standardised_moves
from cryptosignals.engine import closed_bars
from cryptosignals.synthetic import flipping_candles, volatility_shift_market

MONTH = 30 * 288  # 5-minute bars in 30 days


def student_moves(n: int, seed: int, nu: float = 4.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return standardised_moves(rng.standard_t(nu, n) / np.sqrt(nu / (nu - 2)), np.ones(n))


def test_standardised_moves_raise_at_most_one_false_alarm_per_30_days_of_stationary_bars() -> None:
    # Student-t(4) returns over a right sigma: the null the thresholds were set on
    alarms = [DriftMonitor("moves").update(np.arange(MONTH), student_moves(MONTH, s)).alarm.sum()
              for s in range(6)]  # fmt: skip
    assert sum(alarms) <= len(alarms)  # measured: 0 in 240 days (docs/drift.md)


def test_a_volatility_doubling_against_a_stale_sigma_is_caught_within_a_day() -> None:
    market = volatility_shift_market(days=40, change_day=30, factor=2.0, seed=3)
    r = np.diff(np.log(np.r_[100.0, market.candles.close]))
    stale = market.sigma / np.where(np.arange(len(r)) >= 30 * 288, 2.0, 1.0)  # the old sigma
    found = DriftMonitor("moves").update(np.arange(len(r)), standardised_moves(r, stale))
    alarms = np.flatnonzero(found.alarm)
    assert not (alarms < 30 * 288).any()
    assert len(alarms) and alarms[0] - 30 * 288 < 288  # measured median: ~5 hours


def test_pooled_scaled_errors_stay_quiet_on_noise_and_alarm_on_a_shift() -> None:
    rng = np.random.default_rng(0)
    errors = rng.normal(0.0, 1.0, 2 * MONTH)
    errors[MONTH + 144 :] += 0.5  # the model got worse by half a standard deviation
    found = DriftMonitor("scaled").update(np.arange(len(errors)), errors)
    alarm_at = found.alarm_times
    assert not (alarm_at < MONTH).any()
    assert len(alarm_at) and alarm_at[0] - MONTH < 3 * 288


@pytest.mark.slow
def test_a_flipped_relation_is_found_after_the_flip_and_never_before() -> None:
    from cryptosignals.models.drift import prequential_direction
    from cryptosignals.models.evaluation import dataset

    data = dataset("x", flipping_candles(days=50, flip_day=35, strength=0.3, seed=0))
    result = prequential_direction(data)
    alarms = np.array(next(s for s in result.learners if s.name == "on_alarm").alarms)
    flip = data.end[0] + 35 * 86_400
    assert len(alarms) and (alarms > flip).all()
    assert alarms[0] - flip < 3 * 86_400  # measured: 27-33 hours on three seeds
    assert result.beats_base("online")  # it learns the new relation label by label


@settings(max_examples=30, deadline=None)
@given(
    cuts=st.lists(st.integers(0, 3000), max_size=5),
    kind=st.sampled_from(DriftMonitor.KINDS),
    adwin=st.booleans(),
    seed=st.integers(0, 5),
)
def test_chunked_feeding_through_json_equals_feeding_at_once(
    cuts: list[int], kind: str, adwin: bool, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    x = np.abs(rng.standard_t(3, 3000)) * np.where(np.arange(3000) > 1500, 2.5, 1.0)
    x[rng.integers(0, 3000, 30)] = np.nan
    t = np.arange(3000, dtype=np.int64) * 300

    def detector() -> PageHinkley | Adwin:
        return Adwin(clock=8) if adwin else PageHinkley(15.0, 0.1, "both")

    whole = DriftMonitor(kind, detector(), None).update(t, x)
    monitor = DriftMonitor(kind, detector(), None)
    pieces = []
    for lo, hi in zip([0, *sorted(cuts)], [*sorted(cuts), 3000], strict=True):
        monitor = DriftMonitor.from_json(json.loads(json.dumps(monitor.to_json())))
        pieces.append(monitor.update(t[lo:hi], x[lo:hi]))
    assert np.array_equal(np.concatenate([p.times for p in pieces]), whole.times)
    assert np.array_equal(np.concatenate([p.alarm for p in pieces]), whole.alarm)
    np.testing.assert_array_equal(np.concatenate([p.values for p in pieces]), whole.values)
    assert whole.alarm.any()


def test_the_future_cannot_change_a_past_alarm() -> None:
    x = student_moves(4000, 1) * np.where(np.arange(4000) > 2000, 2.0, 1.0)
    before = DriftMonitor("moves").update(np.arange(3000), x[:3000]).alarm
    changed = x.copy()
    changed[3000:] = 6.0  # a wild future
    after = DriftMonitor("moves").update(np.arange(4000), changed).alarm
    assert before.any() and np.array_equal(after[:3000], before)


def test_the_prequential_forecasts_do_not_move_when_later_bars_arrive() -> None:
    from cryptosignals.models.drift import prequential_volatility

    bars = closed_bars(candles_to_ticks("bitcoin", read_candles(sample_path("bitcoin"))))
    end, close = bars["end"], bars["close"]
    short = prequential_volatility("bitcoin", end[:4000], close[:4000], 8, 3, 4)
    full = prequential_volatility("bitcoin", end, close, 8, 3, 4)
    n = len(short.times)
    assert np.array_equal(full.times[:n], short.times)
    for name, loss in short.losses.items():
        np.testing.assert_allclose(full.losses[name][:n], loss, rtol=1e-12)


def test_page_hinkley_equals_rivers_alarm_for_alarm() -> None:
    drift = pytest.importorskip("river.drift")
    rng = np.random.default_rng(7)
    x = np.concatenate([rng.normal(0, 1, 3000), rng.normal(1.5, 1, 2000),
                        rng.normal(-1, 2, 3000)])  # fmt: skip
    for mode in ("up", "down", "both"):
        for threshold, delta, alpha in ((50.0, 0.005, 1 - 1e-4), (20.0, 0.1, 1.0)):
            theirs = drift.PageHinkley(threshold=threshold, delta=delta, alpha=alpha, mode=mode)
            expected = []
            for i, v in enumerate(x):
                theirs.update(float(v))
                if theirs.drift_detected:
                    expected.append(i)
            ours = PageHinkley(threshold, delta, mode, alpha).update(x)
            assert np.flatnonzero(ours).tolist() == expected, (mode, threshold)
            assert expected  # the shifts are found by both


def test_adwin_equals_rivers_alarm_for_alarm() -> None:
    drift = pytest.importorskip("river.drift")
    rng = np.random.default_rng(11)
    for trial in range(6):
        x = rng.standard_t(3, 6000) * rng.choice([0.5, 1.0, 2.0])
        x[rng.integers(1000, 5000) :] += rng.normal(0.0, 1.0)
        for clock in (1, 32):
            theirs = drift.ADWIN(clock=clock)
            expected = []
            for i, v in enumerate(x):
                theirs.update(float(v))
                if theirs.drift_detected:
                    expected.append(i)
            assert np.flatnonzero(Adwin(clock=clock).update(x)).tolist() == expected, trial


def test_adwin_is_quiet_on_stationary_moves_and_catches_a_doubling_within_a_day() -> None:
    assert sum(int(Adwin().update(student_moves(MONTH, s)).sum()) for s in range(4)) == 0
    market = volatility_shift_market(days=40, change_day=30, factor=2.0, seed=3)
    r = np.diff(np.log(np.r_[100.0, market.candles.close]))
    stale = market.sigma / np.where(np.arange(len(r)) >= 30 * 288, 2.0, 1.0)
    alarms = np.flatnonzero(Adwin().update(standardised_moves(r, stale)))
    assert len(alarms) and alarms[0] >= 30 * 288 and alarms[0] - 30 * 288 < 288


def test_broken_states_are_refused() -> None:
    with pytest.raises(ValueError, match="not a drift monitor state"):
        DriftMonitor.from_json({"kind": "moves"})
    with pytest.raises(ValueError, match="mode"):
        PageHinkley(mode="sideways")
    with pytest.raises(ValueError):
        ErrorScale(halflife=0)


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cryptosignals", "drift", *args],
                          capture_output=True, text=True, timeout=300)  # fmt: skip


@pytest.mark.slow
@pytest.mark.e2e
def test_the_command_reports_alarms_and_the_comparison_on_a_bundled_sample(
    tmp_path: Path,
) -> None:
    page = tmp_path / "drift.html"
    result = run("-c", "bitcoin", "--target", "volatility", "--format", "json", "--html", str(page))
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert (out["coin"], out["target"], out["train_days"]) == ("bitcoin", "volatility", 10)
    assert [s["name"] for s in out["learners"]] == ["scheduled", "on_alarm", "online"]
    assert out["learners"][0]["refits"] >= 3 and out["rows"] > 3000
    assert "<svg" in page.read_text()
    table = run("-c", "bitcoin", "--detector", "adwin")
    assert table.returncode == 0, table.stderr
    assert "on_alarm" in table.stdout and "drift alarms in" in table.stdout


@pytest.mark.e2e
def test_a_file_too_short_gets_one_clear_line(tmp_path: Path) -> None:
    short = tmp_path / "bitcoin_5m.csv"
    lines = read_candles_lines(600)
    short.write_text(lines)
    result = run("-i", str(short), "--target", "volatility")
    assert result.returncode != 0
    assert (
        result.stderr.strip().startswith("error:") and len(result.stderr.strip().splitlines()) == 1
    )


def read_candles_lines(n: int) -> str:
    c = read_candles(sample_path("bitcoin"))
    rows = ["timestamp,open,high,low,close,volume"] + [
        f"{c.timestamp[i]},{c.open[i]},{c.high[i]},{c.low[i]},{c.close[i]},{c.volume[i]}"
        for i in range(n)
    ]
    return "\n".join(rows) + "\n"


def test_the_stream_side_imports_no_training_library() -> None:
    code = ("import sys, cryptosignals.drift; bad = {'sklearn', 'river', 'scipy', 'arch', "
            "'lightgbm', 'hmmlearn', 'pandas'} & set(sys.modules); print(sorted(bad))")  # fmt: skip
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)  # fmt: skip
    assert result.stdout.strip() == "[]"
