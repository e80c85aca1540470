"""The price fan (cryptosignals.forecast): its sigma, streaming == batch, no look-ahead (an outcome
is used only once it is known), coverage on generated markets of known volatility (the conformal
fan holds 80 % where the normal one does not), and the command end to end."""

from __future__ import annotations

import gzip
import itertools
import json
import math
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cryptosignals.candles import candles_to_ticks, read_candles, sample_path
from cryptosignals.commands.analyze import stream_bars
from cryptosignals.engine import Engine, EngineConfig
from cryptosignals.forecast import (
    FAN_COLUMNS,
    GROUPS,
    HORIZONS,
    WARMUP_BARS,
    ConformalFan,
    Fan,
    PriceForecaster,
    binomial_tolerance,
    coverage,
    fan_sigma,
    forecast_fan,
    horizon_sigma,
    outcomes,
)
from cryptosignals.risk import RiskForecaster, VolatilityModel, model_for
from cryptosignals.synthetic import garch_market, regime_market

BITCOIN = stream_bars(None, "bitcoin", "the tests")


def _truth(omega: float = 1e-8, alpha: float = 0.08, beta: float = 0.9) -> VolatilityModel:
    """The generator's own variance recursion, with no seasonality: sigma is the true one."""
    return VolatilityModel(omega=omega, alpha=alpha, beta=beta, initial_variance=1e-6,
                           seasonal=(1.0,) * 168, tails={"fhs": {}})  # fmt: skip


def _same(a: Fan, b: Fan) -> None:
    np.testing.assert_array_equal(a.end, b.end)
    for name in ("sigma", "z_low", "z_high", "p_up"):
        for h in HORIZONS:
            np.testing.assert_array_equal(getattr(a, name)[h], getattr(b, name)[h], err_msg=name)


def test_horizon_sigma_is_risks_own_at_its_horizons_and_fills_in_15_minutes() -> None:
    model = model_for("bitcoin")
    assert model is not None
    end, _ = BITCOIN
    v = np.linspace(1e-6, 4e-6, len(end))
    for horizon, bars in (("5m", 1), ("30m", 6)):
        np.testing.assert_allclose(
            horizon_sigma(model, end, v, bars), model.horizon_sigma(end, v, horizon), rtol=1e-12
        )
    s5, s15, s30 = (horizon_sigma(model, end, v, b) for b in (1, 3, 6))
    assert np.all((s5 < s15) & (s15 < s30))
    flat = _truth(0.0, 0.05, 0.95)  # EWMA, no seasonality: variance adds up bar by bar
    np.testing.assert_allclose(horizon_sigma(flat, end, v, 3), np.sqrt(3 * v), rtol=1e-12)


@pytest.mark.parametrize("fitted", [True, False])
@settings(max_examples=25, deadline=None)
@given(cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=6))
def test_chunked_feeding_with_the_state_saved_in_between_equals_feeding_it_all(
    fitted: bool, cuts: list[int]
) -> None:
    end, close = BITCOIN[0][:400], BITCOIN[1][:400]
    model = model_for("bitcoin") if fitted else None
    whole = PriceForecaster(model).update(end, close)
    parts, state = [], None
    bounds = [0, *sorted(cuts), len(end)]
    for a, b in itertools.pairwise(bounds):
        forecaster = PriceForecaster(model, state)
        parts.append(forecaster.update(end[a:b], close[a:b]))
        state = json.loads(json.dumps(forecaster.to_json()))
    _same(Fan.concatenate(parts), whole)


def test_the_future_cannot_change_a_past_row() -> None:
    end, close = BITCOIN
    full = forecast_fan(end, close, model_for("bitcoin"))
    k = 1500
    changed = close.copy()
    changed[k:] *= np.exp(np.random.default_rng(0).normal(0, 0.02, len(close) - k))
    for other in (forecast_fan(end[:k], close[:k], model_for("bitcoin")),
                  forecast_fan(end, changed, model_for("bitcoin"))):  # fmt: skip
        for name in ("sigma", "z_low", "z_high", "p_up"):
            for h in HORIZONS:
                np.testing.assert_array_equal(
                    getattr(other, name)[h][:k], getattr(full, name)[h][:k]
                )


def test_an_outcome_is_learnt_exactly_when_it_is_known_never_before() -> None:
    """The look-ahead trap: the forecast made after bar t learns from the close h later, at that
    bar, not earlier. A jump at bar k first moves the 30-minute tracker in the row of bar k."""
    end, close = BITCOIN[0][:300], BITCOIN[1][:300].copy()
    forecaster = PriceForecaster(None)
    for i in range(len(end)):
        forecaster.update(end[i : i + 1], close[i : i + 1])
        for h, bars in HORIZONS.items():
            assert forecaster.matured(h) == max(0, i + 1 - WARMUP_BARS - bars)
    k = 200
    jumped = close.copy()
    jumped[k:] *= 1.2  # far outside any fan
    calm, shocked = forecast_fan(end, close, None), forecast_fan(end, jumped, None)
    a, b = calm.z_high["30m"], shocked.z_high["30m"]
    moved = np.flatnonzero((a != b) & ~(np.isnan(a) & np.isnan(b)))
    assert moved[0] == k  # the forecast made at k - 6 matures at k, and the row of k knows it


def test_a_missing_bar_drops_its_outcome_instead_of_borrowing_another() -> None:
    end, close = BITCOIN[0][:200], BITCOIN[1][:200]
    keep = np.ones(len(end), bool)
    keep[150] = False  # the bar closing 5 minutes after 149, 15 after 147, 30 after 144
    forecaster = PriceForecaster(None)
    forecaster.update(end[keep], close[keep])
    full = PriceForecaster(None)
    full.update(end, close)
    for h in HORIZONS:
        # one outcome lost (its bar is missing), one never issued (from the missing bar)
        assert forecaster.matured(h) == full.matured(h) - 2
    y = outcomes(end[keep], close[keep], "5m")
    assert np.isnan(y[149]) and y[148] == close[149]


def test_the_state_is_small_and_round_trips() -> None:
    forecaster = PriceForecaster(model_for("bitcoin"))
    forecaster.update(*BITCOIN)
    text = json.dumps(forecaster.to_json())
    assert len(text) < 1000  # about 300 bytes a horizon
    again = PriceForecaster(model_for("bitcoin"), json.loads(text))
    assert again.to_json() == forecaster.to_json()
    with pytest.raises(ValueError, match="increase"):
        again.update(BITCOIN[0][-1:], BITCOIN[1][-1:])


def test_without_a_fitted_model_the_ewma_fallback_serves_and_says_so(tmp_path: Path) -> None:
    models = tmp_path / "models.json"
    params = model_for("bitcoin")
    assert params is not None
    models.write_text(
        json.dumps({"version": 1, "coins": {"bitcoin": {"volatility": params.to_json()}}})
    )
    assert PriceForecaster.for_coin("bitcoin", models).model is not None
    fallback = PriceForecaster.for_coin("dogecoin", models)
    assert fallback.model is None and "ewma fallback" in fallback.method
    fan = fallback.update(*BITCOIN)
    assert np.isnan(fan.sigma["5m"][:WARMUP_BARS]).all()
    assert np.isfinite(fan.sigma["5m"][WARMUP_BARS:]).all()
    np.testing.assert_allclose(fan.sigma["30m"], fan.sigma["5m"] * np.sqrt(6))


def _covers(
    fan: Fan, end: np.ndarray, close: np.ndarray, h: str, raw: bool = False
) -> tuple[float, float]:
    low, _, high = fan.quantiles(h)
    if raw:
        low, high = fan.raw(h)
    result = coverage(close, low, high, outcomes(end, close, h), step=HORIZONS[h])
    return result.inside - 0.8, binomial_tolerance(result.n)


@pytest.mark.parametrize("fitted", [True, False])
def test_the_calibrated_fan_covers_80_percent_on_a_market_of_known_volatility(fitted: bool) -> None:
    """Non-overlapping outcomes (every h-th row), so the binomial tolerance (3 standard errors)
    applies; the tracker's own error bound is far smaller over 60 days."""
    market = garch_market(days=60, seed=11)
    close = market.candles.close
    fan = forecast_fan(market.end, close, _truth() if fitted else None)
    for h in HORIZONS:
        miss, tolerance = _covers(fan, market.end, close, h)
        assert abs(miss) <= tolerance, (h, miss, tolerance)


def test_on_fat_tails_the_normal_fan_misses_its_rate_where_the_conformal_one_holds() -> None:
    """Student-t(4) shocks with the true sigma: a normal 10-90 % band (+-1.28 sigma) covers about
    85 %, well outside the tolerance; tracked quantiles of z bring it back to 80 %."""
    market = garch_market(days=60, seed=5, nu=4.0)
    close = market.candles.close
    fan = forecast_fan(market.end, close, _truth())
    for h in HORIZONS:
        miss, tolerance = _covers(fan, market.end, close, h)
        assert abs(miss) <= tolerance, (h, miss, tolerance)
    for h in ("5m", "15m"):
        miss, tolerance = _covers(fan, market.end, close, h, raw=True)
        assert miss > tolerance, (h, miss, tolerance)  # over-covers: too wide in the middle


def test_calm_usual_and_turbulent_bars_each_cover_80_percent_on_their_own() -> None:
    """Mondrian groups: on a market whose volatility switches between a calm and a turbulent
    state (Student-t(5) shocks), each group of bars, by sigma against its trailing level, has
    its own quantiles and holds 80 % within a binomial tolerance."""
    market = regime_market(days=60, seed=0)
    close = market.candles.close
    fan = forecast_fan(market.end, close, None)
    assert set(np.unique(fan.group)) == {0, 1, 2}
    for h, bars in HORIZONS.items():
        low, _, high = fan.quantiles(h)
        y = outcomes(market.end, close, h)
        for g in range(len(GROUPS)):
            mine = np.where(fan.group == g, low, np.nan)
            result = coverage(close, mine, high, y, step=bars)
            assert result.n > 900
            assert abs(result.inside - 0.8) <= binomial_tolerance(result.n), (h, GROUPS[g])


def test_p_up_is_the_trailing_base_rate_of_up_moves() -> None:
    market = garch_market(days=20, seed=2)
    close = market.candles.close
    drifting = close * np.exp(0.0005 * np.arange(len(close)))  # half a sigma up every bar
    flat, up = forecast_fan(market.end, close, None), forecast_fan(market.end, drifting, None)
    assert abs(np.nanmean(flat.p_up["5m"][2000:]) - 0.5) < 0.05
    assert np.nanmean(up.p_up["5m"][2000:]) > 0.6
    assert np.nanmean(up.p_up["30m"][2000:]) > np.nanmean(up.p_up["5m"][2000:])


# -- the streamed fan: the engine's own sigma into a ConformalFan ------------------------------


def _engine_sigma(
    end: np.ndarray, close: np.ndarray, model: VolatilityModel | None = None
) -> dict[str, np.ndarray]:
    """What the engine's RiskForecaster forecasts over these bars, as the fan's sigmas."""
    model = model or model_for("bitcoin")
    assert model is not None
    return fan_sigma(model, RiskForecaster(model).update(end, close))


def _same_fan(a: Fan, b: Fan) -> None:
    _same(a, b)
    np.testing.assert_array_equal(a.group, b.group)


def test_fan_sigma_is_risks_at_5_and_30_minutes_and_the_same_recursion_at_15() -> None:
    end, close = BITCOIN
    model = model_for("bitcoin")
    assert model is not None
    forecast = RiskForecaster(model).update(end, close)
    sigma = fan_sigma(model, forecast)
    assert list(sigma) == list(HORIZONS)
    for h in ("5m", "30m"):
        np.testing.assert_array_equal(sigma[h], forecast.sigma[h])
    np.testing.assert_array_equal(
        sigma["15m"], horizon_sigma(model, end, forecast.next_variance, 3)
    )
    assert np.all((sigma["5m"] < sigma["15m"]) & (sigma["15m"] < sigma["30m"]))


def test_the_engines_sigma_streamed_gives_the_batch_fan_of_the_same_model() -> None:
    """The wiring: the engine's bars and a RiskForecaster beside it (its 1h sigma is the
    engine's bit for bit) into a ConformalFan give PriceForecaster's fan of the coin's model."""
    config = EngineConfig.for_coin("bitcoin")
    assert config.volatility is not None
    ticks = candles_to_ticks("bitcoin", read_candles(sample_path("bitcoin")))
    bars = Engine("bitcoin", config).feed(ticks).bars
    end, close = bars["end"].astype(np.int64), bars["close"]
    forecast = RiskForecaster(config.volatility).update(end, close)
    np.testing.assert_array_equal(forecast.sigma["1h"], bars["sigma_1h"])
    fan = ConformalFan().update(end, close, fan_sigma(config.volatility, forecast))
    _same_fan(fan, PriceForecaster(config.volatility).update(end, close))
    columns = fan.columns()
    assert tuple(columns) == FAN_COLUMNS
    assert np.isnan(columns["fan_q90_30m"][:WARMUP_BARS]).all()
    known = columns["fan_q10_30m"][WARMUP_BARS:], columns["fan_q90_30m"][WARMUP_BARS:]
    assert np.all((known[0] < close[WARMUP_BARS:]) & (close[WARMUP_BARS:] < known[1]))


@settings(max_examples=25, deadline=None)
@given(cuts=st.lists(st.integers(min_value=0, max_value=500), max_size=6),
       given_groups=st.booleans())  # fmt: skip
def test_the_streamed_fan_fed_in_chunks_through_json_equals_it_fed_at_once(
    cuts: list[int], given_groups: bool
) -> None:
    end, close = BITCOIN[0][:500], BITCOIN[1][:500]
    sigma = _engine_sigma(end, close)
    group = np.arange(len(end)) // 50 % 3 if given_groups else None
    whole_fan = ConformalFan()
    whole = whole_fan.update(end, close, sigma, group)
    parts, state = [], None
    for a, b in itertools.pairwise([0, *sorted(cuts), len(end)]):
        fan = ConformalFan(state)
        chunk = {h: s[a:b] for h, s in sigma.items()}
        parts.append(fan.update(end[a:b], close[a:b], chunk, None if group is None else group[a:b]))
        state = json.loads(json.dumps(fan.to_json()))
    _same_fan(Fan.concatenate(parts), whole)
    assert state == json.loads(json.dumps(whole_fan.to_json()))


def test_the_streamed_state_is_plain_json_under_400_bytes_compressed_and_resumes() -> None:
    end, close = BITCOIN
    fan = ConformalFan()
    fan.update(end, close, _engine_sigma(end, close))
    text = json.dumps(fan.to_json(), separators=(",", ":"))
    assert len(zlib.compress(text.encode())) < 400
    again = ConformalFan(json.loads(text))
    assert again.to_json() == fan.to_json()
    assert again.matured("30m") == len(end) - WARMUP_BARS - HORIZONS["30m"]
    with pytest.raises(ValueError, match="increase"):
        again.update(end[-1:], close[-1:], {h: np.ones(1) for h in HORIZONS})
    with pytest.raises(ValueError, match="version"):
        ConformalFan({**fan.to_json(), "version": 1})


def test_the_streamed_fan_refuses_missing_sigmas_and_ragged_columns() -> None:
    end, close = BITCOIN[0][:10], BITCOIN[1][:10]
    with pytest.raises(ValueError, match="needs a sigma forecast for 15m"):
        ConformalFan().update(end, close, {"5m": np.ones(10), "30m": np.ones(10)})
    with pytest.raises(ValueError, match="one value per bar"):
        ConformalFan().update(end, close, {h: np.ones(9) for h in HORIZONS})
    with pytest.raises(ValueError, match="a group is 0, 1 or 2"):
        ConformalFan().update(end, close, {h: np.ones(10) for h in HORIZONS}, np.full(10, 3))


def test_the_streamed_fan_reads_no_later_bar_and_learns_an_outcome_only_when_it_is_known() -> None:
    end, close = BITCOIN
    sigma = _engine_sigma(end, close)
    full = ConformalFan().update(end, close, sigma)
    k = 1500
    changed = close.copy()
    changed[k:] *= np.exp(np.random.default_rng(1).normal(0, 0.02, len(close) - k))
    later = {h: s.copy() for h, s in sigma.items()}
    for s in later.values():
        s[k:] *= 3.0
    cut = ConformalFan().update(end[:k], close[:k], {h: s[:k] for h, s in sigma.items()})
    for other in (cut, ConformalFan().update(end, changed, later)):
        for name in ("sigma", "z_low", "z_high", "p_up"):
            for h in HORIZONS:
                np.testing.assert_array_equal(
                    getattr(other, name)[h][:k], getattr(full, name)[h][:k]
                )
    fan = ConformalFan()
    for i in range(300):
        fan.update(end[i : i + 1], close[i : i + 1], {h: s[i : i + 1] for h, s in sigma.items()})
        for h, bars in HORIZONS.items():
            assert fan.matured(h) == max(0, i + 1 - WARMUP_BARS - bars)


@pytest.mark.parametrize("nu", [math.inf, 4.0])
def test_the_streamed_fan_covers_80_percent_on_a_garch_market_with_the_engines_sigma(
    nu: float,
) -> None:
    """The engine's RiskForecaster with the generator's own recursion as its model, normal and
    Student-t(4) shocks: every horizon's band holds 80 % on non-overlapping outcomes within the
    binomial tolerance (3 standard errors)."""
    market = garch_market(days=60, seed=7, nu=nu)
    close = market.candles.close
    fan = ConformalFan().update(market.end, close, _engine_sigma(market.end, close, _truth()))
    for h in HORIZONS:
        miss, tolerance = _covers(fan, market.end, close, h)
        assert abs(miss) <= tolerance, (h, miss, tolerance)


# -- the command ---------------------------------------------------------------------------------


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cryptosignals", "forecast", *args],
                          capture_output=True, text=True, timeout=300)  # fmt: skip


@pytest.mark.e2e
def test_the_command_writes_json_and_a_page(tmp_path: Path) -> None:
    page = tmp_path / "fan.html"
    result = run("-c", "bitcoin", "--horizon", "30m", "--format", "json", "--html", str(page))
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert (out["coin"], out["horizon"]) == ("bitcoin", "30m")
    rows = out["rows"]
    end = BITCOIN[0]
    assert len(rows) == len(end) - WARMUP_BARS
    assert rows[0]["timestamp"] == int(end[WARMUP_BARS])
    for row in rows:
        assert set(row) == {"timestamp", "q10", "q50", "q90", "p_up"}
        assert row["q10"] < row["q50"] < row["q90"] and 0 < row["p_up"] < 1
    assert out["coverage"]["calibrated"]["n"] > 5000
    assert "coverage" in result.stderr and "uncalibrated" in result.stderr
    text = page.read_text()
    assert "<svg" in text and "running coverage" in text


@pytest.mark.e2e
@pytest.mark.parametrize("fmt", ["csv", "table"])
def test_the_command_writes_csv_and_a_table(fmt: str) -> None:
    result = run("-c", "ethereum", "--horizon", "15m", "--format", fmt)
    assert result.returncode == 0, result.stderr
    if fmt == "csv":
        lines = result.stdout.splitlines()
        assert lines[0] == "timestamp,q10,q50,q90,p_up"
        assert len(lines) - 1 == len(stream_bars(None, "ethereum", "x")[0]) - WARMUP_BARS
    else:
        assert "ethereum" in result.stdout and "q90" in result.stdout
    assert "10-90 % coverage" in result.stderr


@pytest.mark.e2e
def test_mistakes_get_one_clear_line(tmp_path: Path) -> None:
    bad = run("-c", "bitcoin", "--horizon", "1h")
    assert bad.returncode == 2 and "unknown horizon '1h'" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1
    short = tmp_path / "bitcoin_5m.csv.gz"
    with gzip.open(sample_path("bitcoin"), "rt") as src, gzip.open(short, "wt") as dst:
        dst.write("\n".join(src.read().splitlines()[:50]) + "\n")
    few = run("--input", str(short))
    assert few.returncode == 2 and "too short" in few.stderr
    assert len(few.stderr.strip().splitlines()) == 1
