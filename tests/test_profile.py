"""When does a coin move (cryptosignals.profile): the calendar, the intervals over weeks, the
test of each cell, and the weekend comparison; their false-positive rates on generated markets
with clustered volatility and no calendar effect, their power on a planted busy hour; and the
real `cryptosignals profile` command."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cryptosignals.candles import Candles
from cryptosignals.profile import (
    Grid,
    Measure,
    bar_measures,
    candle_measures,
    cell_of,
    circular_block_indices,
    hour_of_week,
    hour_of_week_volatility,
    profile_candles,
    seasonal_profile,
    t_quantile,
    t_two_sided_p,
    week_cell_means,
    weekend_vs_weekday,
    weekly_log_factors,
)

MONDAY = 1_740_355_200  # 2025-02-24 00:00 UTC, a Monday
BAR = 300


def _clustered_market(
    weeks: int = 17,
    seed: int = 0,
    start: int = MONDAY,
    busy: float = 1.0,
    busy_hours: tuple[int, ...] = (14, 15),
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(close times, closes, volumes) of 5-minute bars: GARCH(1,1) returns with Student-t(4)
    innovations times a slow log-volatility (an AR(1) with a half-life of three days), volume
    following volatility; `busy` times the volatility on `busy_hours` UTC of weekdays, and no
    calendar effect at all when busy = 1."""
    rng = np.random.default_rng(seed)
    n = weeks * 7 * 86_400 // BAR
    z = rng.standard_t(4, n) / math.sqrt(2.0)
    alpha, beta = 0.06, 0.93
    variance, garch = 1.0, np.empty(n)
    for i in range(n):
        garch[i] = math.sqrt(variance)
        variance = (1 - alpha - beta) + alpha * (garch[i] * z[i]) ** 2 + beta * variance
    phi = 0.5 ** (1 / (3 * 288))
    shocks = rng.normal(0.0, 0.5 * math.sqrt(1 - phi**2), n)
    slow = np.empty(n)
    slow[0] = 0.0
    for i in range(1, n):
        slow[i] = phi * slow[i - 1] + shocks[i]
    t = start + np.arange(n, dtype=np.int64) * BAR
    how = hour_of_week(t)
    season = np.where(np.isin(how % 24, busy_hours) & (how // 24 < 5), busy, 1.0)
    sigma = garch * np.exp(slow) * season
    returns = 0.002 * sigma * z / sigma.mean()
    volume = 1e6 * sigma / sigma.mean() * np.exp(rng.normal(0.0, 0.4, n))
    return t + BAR, 100.0 * np.exp(np.cumsum(returns)), volume


# --- calendar and helpers ----------------------------------------------------------------------


def test_hour_of_week_counts_from_monday_midnight_utc() -> None:
    t = np.array([MONDAY, MONDAY + 3599, MONDAY + 3600, MONDAY + 7 * 86_400 - 1, MONDAY + 86_400])
    assert hour_of_week(t).tolist() == [0, 0, 1, 167, 24]
    assert cell_of(t, Grid.hour_of_day).tolist() == [0, 0, 1, 23, 0]
    assert cell_of(t, Grid.day_of_week).tolist() == [0, 0, 0, 6, 1]
    assert Grid.hour_of_week.labels()[14] == "Mon 14h" and Grid.hour_of_week.cells == 168


@pytest.mark.slow  # importing scipy takes seconds
def test_student_t_tails_match_scipy() -> None:
    stats = pytest.importorskip("scipy.stats")
    for df in (1, 2, 3, 7, 16, 120):
        for t in (0.0, 0.3, 1.0, 2.2, 6.0):
            assert t_two_sided_p(t, df) == pytest.approx(2 * stats.t.sf(t, df), rel=1e-10)
        assert t_quantile(0.95, df) == pytest.approx(stats.t.ppf(0.975, df), rel=1e-9)


def test_returns_are_dated_by_the_candle_they_happen_in_and_gaps_give_none() -> None:
    open_times = MONDAY + BAR * np.array([0, 1, 2, 3, 5, 6])  # the 4th bar is missing
    close = np.array([100.0, 101.0, 99.0, 99.0, 100.0, 100.0])
    candles = Candles(open_times * 1000, close, close, close, close, np.arange(1.0, 7.0))
    t, values = candle_measures(candles)
    # each return at its own candle's open (the step over the gap: at the missing candle's)
    assert t.tolist() == [*open_times[1:4], open_times[3] + BAR, open_times[5]]
    r = values[Measure.returns]
    assert r[0] == pytest.approx(math.log(1.01)) and r[2] == 0.0
    assert math.isnan(r[3]) and math.isnan(values[Measure.volatility][3])  # across the gap
    assert values[Measure.volume].tolist() == [2.0, 3.0, 4.0, 5.0, 6.0]


def test_a_week_with_less_than_half_its_cells_is_left_out() -> None:
    t = MONDAY + BAR * np.arange(int(2.4 * 7 * 288))  # two weeks and 40 % of a third
    means = week_cell_means(t, np.ones(len(t)), Grid.day_of_week)
    assert means.shape == (2, 7)
    t = MONDAY + 2 * 86_400 + BAR * np.arange(3 * 7 * 288)  # starts on a Wednesday
    means = week_cell_means(t, np.ones(len(t)), Grid.day_of_week)
    assert means.shape == (3, 7)  # 5 of 7 days in the first week; 2 of 7 in the last: out
    assert np.isnan(means[0, :2]).all() and not np.isnan(means[0, 2:]).any()


def test_weekly_factors_take_out_each_weeks_level_even_with_missing_cells() -> None:
    rng = np.random.default_rng(1)
    factor = np.exp(rng.normal(0.0, 0.4, 24))
    level = np.exp(rng.normal(0.0, 1.0, 9))
    means = level[:, None] * factor[None, :]
    means[0, :10] = np.nan  # a partial first week
    weekly = weekly_log_factors(means)
    truth = np.log(factor) - np.log(factor).mean()
    assert np.allclose(np.nanmean(weekly, axis=0), truth, atol=1e-9)
    assert np.allclose(weekly[0, 10:], truth[10:], atol=1e-9)


def test_circular_blocks_are_runs_of_consecutive_days_that_wrap() -> None:
    index = circular_block_indices(20, 7, 50, np.random.default_rng(0))
    assert index.shape == (50, 20)
    for row in index:
        for block in (row[0:7], row[7:14]):
            assert (np.diff(block) % 20 == 1).all()


def test_factors_and_intervals_on_a_noise_free_profile() -> None:
    t = MONDAY + BAR * np.arange(5 * 7 * 288)
    how = hour_of_week(t)
    value = np.where(how % 24 == 14, 2.0, 1.0) * (1 + 0.1 * ((t // 604_800) % 3))
    p = seasonal_profile(t, value, Grid.hour_of_day, Measure.volatility)
    assert p.estimate[14] == pytest.approx(2 / 2 ** (1 / 24))  # vs the geometric mean cell
    assert p.estimate[0] == pytest.approx(1 / 2 ** (1 / 24))
    assert p.flagged.all()  # every hour differs, without noise
    assert np.allclose(p.low, p.estimate) and np.allclose(p.high, p.estimate)


# --- the null: no calendar effect --------------------------------------------------------------


@pytest.mark.slow
def test_no_calendar_effect_rejects_at_about_the_nominal_rate_and_bh_flags_next_to_nothing() -> (
    None
):
    rejected, tested, flagged, runs = 0, 0, 0, 0
    for seed in range(10):
        start = MONDAY + (seed % 7) * 86_400 + 5 * 3600  # partial first and last weeks
        t, values = bar_measures(*_clustered_market(seed=seed, start=start))
        for grid in Grid:
            for measure in Measure:
                p = seasonal_profile(t, values[measure], grid, measure)
                rejected += int(np.sum(p.p_value <= 0.05))
                tested += int(np.sum(~np.isnan(p.p_value)))
                flagged += int(p.flagged.sum())
                runs += 1
    rate = rejected / tested
    assert 0.02 <= rate <= 0.065, rate  # 10 seeds x 3 x (168 + 24 + 7) cells
    assert flagged / runs <= 0.3, flagged / runs  # BH at 10 %: at most a stray cell now and then


@pytest.mark.slow
def test_a_planted_busy_hour_is_found_and_its_factor_covered() -> None:
    found, covered, cells = 0, 0, 0
    planted = [d * 24 + h for d in range(5) for h in (14, 15)]
    season = np.ones(168)
    season[planted] = 2.0
    truth = season / np.exp(np.mean(np.log(season)))  # factor against the geometric mean cell
    for seed in range(4):
        t, values = bar_measures(*_clustered_market(seed=100 + seed, busy=2.0))
        p = hour_of_week_volatility(*_clustered_market(seed=100 + seed, busy=2.0)[:2])
        found += int(p.flagged[planted].sum())
        covered += int(np.sum((p.low <= truth) & (truth <= p.high)))
        cells += 168
        by_hour = seasonal_profile(t, values[Measure.volatility], Grid.hour_of_day, p.measure)
        assert by_hour.flagged[[14, 15]].all() and (by_hour.estimate[[14, 15]] > 1.4).all()
        assert np.argmax(by_hour.estimate) in (14, 15)
    assert found >= 0.8 * 4 * len(planted), found
    assert 0.92 <= covered / cells <= 0.98, covered / cells


def _daily_session_values(seeds: int, weeks: int, weekend: float) -> list[tuple]:
    """Hourly values whose daily level follows a persistent log-AR(1) (half-life 4 days) with
    heavy-tailed hours; the weekend level `weekend` times the weekdays'. One market per seed,
    vectorised over seeds."""
    rng = np.random.default_rng(7)
    days = 7 * weeks + 3
    phi = 0.5 ** (1 / 4)
    log_level = np.zeros((seeds, days))
    shocks = rng.normal(0.0, 0.4 * math.sqrt(1 - phi**2), (seeds, days))
    for d in range(1, days):
        log_level[:, d] = phi * log_level[:, d - 1] + shocks[:, d]
    start = MONDAY + 2 * 86_400  # a Wednesday
    t = start + 3600 * np.arange(24 * days, dtype=np.int64)
    is_weekend = cell_of(t, Grid.day_of_week) >= 5
    level = np.repeat(np.exp(log_level), 24, axis=1) * np.where(is_weekend, weekend, 1.0)
    noise = np.abs(rng.standard_t(4, level.shape))
    signed = rng.standard_t(4, level.shape)
    return [(t, level[k] * noise[k], level[k] * signed[k] * 1e-3) for k in range(seeds)]


@pytest.mark.slow
def test_weekend_intervals_exclude_no_difference_at_about_the_nominal_rate() -> None:
    markets = _daily_session_values(seeds=600, weeks=17, weekend=1.0)
    misses = {Measure.volatility: 0, Measure.returns: 0}
    for k, (t, size, signed) in enumerate(markets):
        for measure, values in ((Measure.volatility, size), (Measure.returns, signed)):
            s = weekend_vs_weekday(t, values, measure, replicates=400, seed=k)
            misses[measure] += s.excludes_null
    for measure, count in misses.items():
        assert count / len(markets) <= 0.07, (measure, count)  # measured: 3.2 % and 4.5 %
    assert sum(misses.values()) >= 0.02 * 2 * len(markets)  # not so wide it never rejects


def test_a_quieter_weekend_is_found() -> None:
    t, size, _ = _daily_session_values(seeds=1, weeks=17, weekend=0.6)[0]
    s = weekend_vs_weekday(t, size, Measure.volatility, replicates=500)
    assert s.excludes_null and s.high < 1.0 and s.low < 0.6 * 1.15 < s.high + 0.2
    assert s.weekend_days + s.weekday_days == 7 * 17 + 3


# --- the command ---------------------------------------------------------------------------------


@pytest.mark.e2e
@pytest.mark.slow
def test_profile_command_prints_json_and_draws_the_heatmap(tmp_path: Path) -> None:
    page = tmp_path / "profile.html"
    run = subprocess.run(
        [sys.executable, "-m", "cryptosignals", "profile", "--format", "json", "--html", str(page)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert "3 weeks of data" in run.stderr  # says that three weeks is little
    document = json.loads(run.stdout)
    assert document["coin"] == "bitcoin" and document["weeks"] == 3
    hours = document["profiles"]["hour_of_day"]["volatility"]
    assert hours["unit"] == "factor" and len(hours["cells"]) == 24
    cell = hours["cells"][14]
    assert cell["label"] == "14h" and cell["low"] <= cell["estimate"] <= cell["high"]
    assert {"p_value", "q_value", "flagged", "weeks"} <= set(cell)
    assert len(document["profiles"]["hour_of_week"]["volume"]["cells"]) == 168
    assert len(document["profiles"]["day_of_week"]["return"]["cells"]) == 7
    session = document["weekend_vs_weekday"]["volatility"]
    assert session["low"] <= session["estimate"] <= session["high"]
    assert session["weekend_days"] == 6 and session["weekday_days"] == 15
    text = page.read_text()
    assert text.count("<rect x=") >= 168 and 'class="heatmap"' in text
    assert (
        "Mon" in text
        and "Weekend vs weekdays" in text
        and "http" not in text.replace('xmlns="http://www.w3.org/2000/svg"', "")
    )


@pytest.mark.e2e
@pytest.mark.slow
def test_profile_command_says_in_one_line_when_a_file_is_too_short(tmp_path: Path) -> None:
    short = tmp_path / "bitcoin_5m.csv"
    rows = [
        f"{(MONDAY + BAR * k) * 1000},{100 + k % 3},103,99,{100 + k % 3},5" for k in range(2000)
    ]
    short.write_text("timestamp,open,high,low,close,volume\n" + "\n".join(rows) + "\n")
    run = subprocess.run(
        [sys.executable, "-m", "cryptosignals", "profile", "--input", str(short)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert run.returncode == 2 and "two weeks" in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1


def test_profile_of_candles_has_every_grid_and_measure() -> None:
    t, close, volume = _clustered_market(weeks=3, seed=5)
    open_ms = (t - BAR) * 1000
    result = profile_candles("x", Candles(open_ms, close, close, close, close, volume))
    assert len(result.profiles) == 9 and set(result.sessions) == set(Measure)
    assert result.weeks == 3 and result.bars == len(t)
    assert set(result.to_json()["profiles"]) == {"hour_of_week", "hour_of_day", "day_of_week"}


@pytest.mark.slow
def test_profile_benchmark_prints_the_figures_of_each_coin(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[1]
    run = subprocess.run(
        [sys.executable, str(root / "benchmarks" / "profile.py"), "--data", str(tmp_path),
         "--coins", "bitcoin,solana", "--json", str(tmp_path / "figures.json")],
        capture_output=True, text=True, timeout=120, check=False, cwd=root,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert "bundled three-week samples" in run.stdout and "busiest hour" in run.stdout
    figures = json.loads((tmp_path / "figures.json").read_text())
    assert [f["coin"] for f in figures] == ["bitcoin", "solana"]
    first = figures[0]
    assert first["busiest_hour"]["factor"] > 1 > first["calmest_hour"]["factor"]
    assert set(first["weekend_vs_weekday"]) == {"volatility", "volume", "return"}


@pytest.mark.slow  # importing arch takes seconds
def test_block_bootstrap_standard_error_agrees_with_arch() -> None:
    bootstrap = pytest.importorskip("arch.bootstrap")
    t, size, _ = _daily_session_values(seeds=1, weeks=17, weekend=0.8)[0]
    s = weekend_vs_weekday(t, size, Measure.volatility, replicates=4000, seed=3)
    ours = math.log(s.high / s.estimate) / t_quantile(0.95, (7 * 17 + 3) // 7 - 1)
    days = (t // 86_400).reshape(-1, 24)[:, 0]
    means = size.reshape(-1, 24).mean(axis=1)
    weekend = cell_of(days * 86_400, Grid.day_of_week) >= 5

    def log_ratio(m: np.ndarray, w: np.ndarray) -> float:
        return float(np.log(m[w].mean() / m[~w].mean()))

    assert math.log(s.estimate) == pytest.approx(log_ratio(means, weekend))
    theirs = bootstrap.CircularBlockBootstrap(7, means, weekend, seed=3)
    draws = theirs.apply(log_ratio, 4000)
    assert ours == pytest.approx(float(np.std(draws, ddof=1)), rel=0.08)
