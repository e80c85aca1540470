"""Risk: the VaR backtests (Kupiec's and Christoffersen's tests against the literature's worked
regions and their nominal rate on generated hits), and the volatility forecast (the recursion
against arch, horizons, seasonality, streaming, and coverage on a market it can describe)."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cryptosignals.profile import HOURS_PER_WEEK, hour_of_week
from cryptosignals.risk import (
    HORIZONS,
    MEASURES,
    RiskForecaster,
    VolatilityModel,
    backtest_var,
    chi2_sf,
    christoffersen_independence,
    conditional_coverage,
    kupiec_pof,
    position_size,
)


def test_the_chi_squared_tail_matches_its_critical_values() -> None:
    assert chi2_sf(3.841458820694124, 1) == pytest.approx(0.05, abs=1e-12)
    assert chi2_sf(6.634896601021214, 1) == pytest.approx(0.01, abs=1e-12)
    assert chi2_sf(5.991464547107979, 2) == pytest.approx(0.05, abs=1e-12)
    assert chi2_sf(0.0, 1) == 1.0


def _accepted(p: float, periods: int) -> tuple[int, int]:
    """The numbers of hits Kupiec's test does not reject at 5 %."""
    ok = [x for x in range(periods // 2)
          if not kupiec_pof(np.r_[np.ones(x), np.zeros(periods - x)], p).rejects()]  # fmt: skip
    return min(ok), max(ok)


@pytest.mark.parametrize(
    ("p", "periods", "low", "high"),
    [  # Jorion, Value at Risk (3rd ed.), table 6-3: 95 % non-rejection regions, low < N < high
        (0.01, 510, 1, 11), (0.01, 1000, 4, 17),
        (0.025, 255, 2, 12), (0.025, 510, 6, 21), (0.025, 1000, 15, 36),
        (0.05, 255, 6, 21), (0.05, 510, 16, 36), (0.05, 1000, 37, 65),
    ],
)  # fmt: skip
def test_kupiec_reproduces_the_published_non_rejection_regions(
    p: float, periods: int, low: int, high: int
) -> None:
    assert _accepted(p, periods) == (low + 1, high - 1)


def test_kupiec_at_one_percent_over_255_days() -> None:
    """The table gives N < 7; the test also rejects zero hits (LR 5.1: too good to be true)."""
    assert _accepted(0.01, 255) == (1, 6)
    assert kupiec_pof(np.zeros(255), 0.01).statistic == pytest.approx(-2 * 255 * np.log(0.99))


def test_clustered_hits_fail_independence_even_at_the_right_rate() -> None:
    hits = np.zeros(1000)
    for start in range(50, 1000, 100):  # 50 hits in 10 clusters of 5: rate right, timing wrong
        hits[start : start + 5] = 1
    assert not kupiec_pof(hits, 0.05).rejects()
    assert christoffersen_independence(hits).rejects(0.001)
    assert christoffersen_independence(hits, simulations=999).rejects(0.01)
    assert conditional_coverage(hits, 0.05).rejects(0.001)


def test_the_tests_hold_their_rate_on_hits_that_are_right_and_the_asymptotic_one_does_not() -> None:
    """Independent hits at the claimed rate, 1,000 periods: Kupiec and the conditional coverage
    reject at about 5 %; the independence test's chi-squared p-value over-rejects (rare 1 -> 1
    transitions), its Monte Carlo p-value does not."""
    rng = np.random.default_rng(9)
    runs, rejected = 2000, {"pof": 0, "ind": 0, "cc": 0, "ind_mc": 0}
    for run in range(runs):
        hits = rng.random(1000) < 0.05
        rejected["pof"] += kupiec_pof(hits, 0.05).rejects()
        rejected["ind"] += christoffersen_independence(hits).rejects()
        rejected["cc"] += conditional_coverage(hits, 0.05).rejects()
        if run < 400:
            mc = christoffersen_independence(hits, simulations=199, seed=run)
            rejected["ind_mc"] += mc.rejects()
    rates = {k: v / (400 if k == "ind_mc" else runs) for k, v in rejected.items()}
    assert 0.03 <= rates["pof"] <= 0.07 and 0.03 <= rates["cc"] <= 0.07, rates
    assert rates["ind"] > 0.07, rates  # the asymptotic p-value's known size distortion
    assert rates["ind_mc"] <= 0.065, rates


def test_bad_hits_are_a_clear_error() -> None:
    with pytest.raises(ValueError, match="0/1"):
        kupiec_pof(np.array([0.0, 0.5]), 0.05)
    with pytest.raises(ValueError, match="non-empty"):
        christoffersen_independence(np.array([]))
    with pytest.raises(ValueError, match=r"\(0, 1\)"):
        kupiec_pof(np.zeros(10), 1.5)


# -- the forecast ---------------------------------------------------------------------------------

START = 1_739_836_800  # 2025-02-18 00:00 UTC, a Tuesday


def _model(**changes: object) -> VolatilityModel:
    fields: dict[str, object] = dict(
        omega=2e-8, alpha=0.08, beta=0.9, initial_variance=1e-6,
        seasonal=tuple([1.0] * HOURS_PER_WEEK),
        tails={"fhs": {h: (1.6, 2.0, 2.5, 2.7) for h in HORIZONS}}, nu=5.0,
    )  # fmt: skip
    fields.update(changes)
    return VolatilityModel(**fields)  # type: ignore[arg-type]


def garch_market(
    days: int, seed: int, busy_hours: tuple[int, int] = (14, 17), busy: float = 2.0
) -> tuple[np.ndarray, np.ndarray]:
    """5-minute bar ends and closes from a GARCH(1,1) with Student-t(4) innovations and an
    afternoon that is `busy` times as volatile: a market whose risk the model can describe."""
    rng = np.random.default_rng(seed)
    n = days * 288
    end = START + 300 * np.arange(1, n + 1)
    hours = hour_of_week(end - 300) % 24
    season = np.where((hours >= busy_hours[0]) & (hours < busy_hours[1]), busy, 1.0)
    omega, alpha, beta, nu = 1e-8, 0.06, 0.92, 4.0
    shocks = rng.standard_t(nu, n) * math.sqrt((nu - 2) / nu)
    v, r = omega / (1 - alpha - beta), np.empty(n)
    for i in range(n):
        r[i] = math.sqrt(v) * shocks[i]
        v = omega + alpha * r[i] ** 2 + beta * v
    return end, 100.0 * np.exp(np.cumsum(r * season))


def test_the_variance_recursion_is_garch_as_arch_computes_it() -> None:
    from arch.univariate import GARCH, StudentsT, ZeroMean

    end, close = garch_market(5, seed=1, busy=1.0)
    r = np.diff(np.log(close)) * 1e4
    fit = ZeroMean(r, volatility=GARCH(1, 0, 1), distribution=StudentsT()).fit(disp="off")
    p = fit.params
    # arch starts from a backcast; ours from the model's initial variance: start ours from
    # arch's variance of the first return, and the recursions must agree from then on.
    model = _model(omega=p["omega"] / 1e8, alpha=p["alpha[1]"], beta=p["beta[1]"],
                   initial_variance=fit.conditional_volatility[0] ** 2 / 1e8)  # fmt: skip
    ours = RiskForecaster(model).update(end, close).next_variance
    # ours[i] (after bar i, i >= 1) is arch's variance of return i (the return into bar i + 1)
    np.testing.assert_allclose(ours[1:-1], fit.conditional_volatility[1:] ** 2 / 1e8, rtol=1e-9)


def test_ewma_horizon_sigma_is_square_root_of_time_on_a_flat_week() -> None:
    model = _model(omega=0.0, alpha=0.06, beta=0.94)
    end = np.array([START + 300])
    for horizon, seconds in HORIZONS.items():
        got = model.horizon_sigma(end, np.array([4e-6]), horizon)
        assert got[0] == pytest.approx(math.sqrt(seconds / 300 * 4e-6), rel=1e-12)


def test_garch_horizon_variance_reverts_to_its_long_run_level() -> None:
    model = _model()
    long_run = model.omega / (1 - model.persistence)
    end = np.array([START + 300])
    calm, storm = (model.horizon_sigma(end, np.array([v]), "4h")[0] ** 2 / 48
                   for v in (long_run / 10, long_run * 10))  # fmt: skip
    assert long_run / 10 < calm < long_run < storm < long_run * 10


def test_the_seasonal_factor_of_each_future_bar_is_its_own_hour() -> None:
    seasonal = [1.0] * HOURS_PER_WEEK
    busy = int(hour_of_week(np.array([START]))[0]) + 1  # the hour after the forecast
    seasonal[busy] = 3.0
    model = _model(omega=0.0, alpha=0.0, beta=1.0, seasonal=tuple(seasonal))
    at_hour_end = np.array([START + 3600 - 300 * 6])  # 30 minutes before the busy hour
    sigma_30m = model.horizon_sigma(at_hour_end, np.array([1.0]), "30m")[0]
    sigma_1h = model.horizon_sigma(at_hour_end, np.array([1.0]), "1h")[0]
    assert sigma_30m == pytest.approx(math.sqrt(6))  # the next 30 minutes are all quiet
    assert sigma_1h == pytest.approx(math.sqrt(6 + 6 * 9))  # then six bars at 3x


@settings(max_examples=40, deadline=None)
@given(cuts=st.lists(st.integers(1, 199), max_size=5, unique=True))
def test_forecasts_streamed_in_chunks_equal_the_whole(cuts: list[int]) -> None:
    end, close = garch_market(1, seed=3)
    end, close = end[:200], close[:200]
    model = _model()
    whole = RiskForecaster(model).update(end, close)
    forecaster, parts = RiskForecaster(model), []
    bounds = [0, *sorted(cuts), 200]
    for a, b in itertools.pairwise(bounds):
        forecaster = RiskForecaster(model, json.loads(json.dumps(forecaster.to_json())))
        parts.append(forecaster.update(end[a:b], close[a:b]))
    np.testing.assert_array_equal(np.concatenate([p.next_variance for p in parts]),
                                  whole.next_variance)  # fmt: skip
    for h in HORIZONS:
        np.testing.assert_array_equal(np.concatenate([p.sigma[h] for p in parts]), whole.sigma[h])


def test_a_model_survives_json_and_bad_parameters_are_refused() -> None:
    model = _model()
    assert VolatilityModel.from_json(json.loads(json.dumps(model.to_json()))) == model
    with pytest.raises(ValueError, match="alpha \\+ beta <= 1"):
        _model(alpha=0.2, beta=0.9)
    with pytest.raises(ValueError, match="168 positive"):
        _model(seasonal=(1.0,) * 24)
    with pytest.raises(ValueError, match="one multiplier per"):
        _model(tails={"fhs": {"1h": (1.0, 2.0)}})
    with pytest.raises(ValueError, match="not a volatility model"):
        VolatilityModel.from_json({"omega": 1})


def test_position_size_spends_the_budget_without_leverage() -> None:
    size = position_size(np.array([0.02, 0.005, 0.0]), budget=0.01)
    assert size[0] == pytest.approx(0.5)
    assert size[1] == 1.0  # 2x would be needed: capped
    assert np.isnan(size[2])
    with pytest.raises(ValueError, match="fraction of equity"):
        position_size(np.array([0.02]), budget=1.5)


def test_backtest_counts_hits_over_non_overlapping_horizons() -> None:
    n = 1200
    forecast = np.tile([1.0, 1.5, 2.0, 2.5], (n, 1))
    loss = np.zeros(n)
    loss[::12][:10] = 3.0  # 10 hits of the VaR99 among 100 scored hours
    loss[5] = 9.0  # between scored bars: not counted
    result = backtest_var(forecast, loss, step=12, simulations=0)
    assert result["var_99"].n == 100 and result["var_99"].hits == 10
    assert not result["var_99"].passes()  # 10 % is not 1 %
    assert result["var_99"].es_ratio == pytest.approx(3.0 / 2.5)
    assert [name for name, _ in MEASURES if name.startswith("var")] == sorted(result)


@pytest.mark.slow
@pytest.mark.parametrize(("seed", "kind"), [(11, "ewma"), (12, "ewma"), (11, "garch")])
def test_walk_forward_var_holds_its_rate_on_a_market_it_can_describe(seed: int, kind: str) -> None:
    """Fat tails, clustered volatility and a busy afternoon: the fitted forecast's 5-minute and
    1-hour VaR99 pass Kupiec's test, while the normal baseline under-covers at 5 minutes."""
    from cryptosignals.models.volatility import walk_forward

    end, close = garch_market(45, seed=seed)
    wf = walk_forward(end, close, kind=kind, train_days=21, refit_days=7, min_train_days=14)
    fhs_5m = backtest_var(wf.var["fhs"]["5m"], wf.loss["5m"], 1, simulations=0)["var_99"]
    fhs_1h = backtest_var(wf.var["fhs"]["1h"], wf.loss["1h"], 12, simulations=0)["var_99"]
    normal = backtest_var(wf.var["normal"]["5m"], wf.loss["5m"], 1, simulations=0)["var_99"]
    assert fhs_5m.passes() and fhs_1h.passes(), (fhs_5m, fhs_1h)
    assert normal.rate > fhs_5m.rate and normal.pof.rejects(), normal
    assert wf.models[0].fitted["end"] < end[np.flatnonzero(wf.fit_start >= 0)[0]]
