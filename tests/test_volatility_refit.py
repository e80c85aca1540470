"""The training job's volatility refit (question 27): judged on the newest week, unseen, against
the forecast served now; served only if it forecast that week better (QLIKE)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from cryptosignals.models.training import (
    VOLATILITY_JUDGE_DAYS,
    VOLATILITY_TRAIN_DAYS,
    qlike,
    refit_volatility,
)
from cryptosignals.models.volatility import fit_volatility
from cryptosignals.risk import VolatilityModel
from cryptosignals.synthetic import VolatilityMarket, garch_market

DAY = 86_400


@pytest.fixture(scope="module")
def market() -> VolatilityMarket:
    """40 days of GARCH(1,1)-t(5) 5-minute bars (a coin whose dynamics do not change)."""
    return garch_market(days=40, seed=3, nu=5.0)


def _fitted_on_first(market: VolatilityMarket, days: int) -> VolatilityModel:
    bars = market.end < market.end[0] + days * DAY
    return fit_volatility(market.end[bars], market.candles.close[bars], kind="garch")


def test_qlike_is_lowest_at_the_true_variance() -> None:
    rng = np.random.default_rng(0)
    move = rng.standard_normal(200_000) * 0.002
    losses = {s: qlike(np.full(move.size, s), move).mean() for s in (0.001, 0.002, 0.004)}
    assert min(losses, key=lambda s: losses[s]) == 0.002


def test_a_stale_forecast_is_replaced_by_a_refit_fitted_on_the_newest_days(
    market: VolatilityMarket,
) -> None:
    good = _fitted_on_first(market, 20)
    # a forecast that barely moves from a variance 100 times too small: badly wrong
    stale = replace(good, alpha=0.001, beta=0.998, initial_variance=good.initial_variance / 100)
    outcome = refit_volatility("coin", market.candles, stale, "stale", run="r1")
    report = outcome.report
    assert outcome.earned and report["verdict"] == "refit forecasts better"
    assert report["qlike_difference"] < 0 and report["qlike_difference_interval"][1] < 0
    assert report["judged_to"] - report["judged_from"] == pytest.approx(
        VOLATILITY_JUDGE_DAYS * DAY, abs=600
    )
    artifact = outcome.artifact
    assert artifact is not None and artifact["kind"] == "volatility"
    training = artifact["training"]
    assert training["end"] == int(market.end[-1])  # fitted up to the last bar once it earned it
    assert training["end"] - training["start"] <= VOLATILITY_TRAIN_DAYS * DAY
    day = np.datetime64(training["end"], "s").astype("datetime64[D]").astype(str).replace("-", "")
    assert report["artifact"] == f"coin_volatility_{day}.json"


def test_a_forecast_as_good_as_the_refit_is_kept_and_the_interval_says_no_difference(
    market: VolatilityMarket,
) -> None:
    served = _fitted_on_first(market, 20)  # the same process, fitted on older days
    outcome = refit_volatility("coin", market.candles, served, "served")
    low, high = outcome.report["qlike_difference_interval"]
    assert low < 0 < high  # no difference that the newest week can tell
    assert abs(outcome.report["qlike_difference"]) < 0.02
    assert outcome.earned == (outcome.report["qlike_difference"] < 0)


def test_too_little_history_is_not_evaluated(market: VolatilityMarket) -> None:
    served = _fitted_on_first(market, 20)
    short = market.candles[: 15 * 288]
    outcome = refit_volatility("coin", short, served, "served")
    assert outcome.report["verdict"] == "not evaluated" and outcome.artifact is None
    assert "needs 21" in outcome.report["reason"]
    assert refit_volatility("coin", None, served, "served").report["reason"] == (
        "no history for this coin"
    )
