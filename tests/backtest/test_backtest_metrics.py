"""Metrics on hand-computed cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cryptosignals.backtest.metrics import (
    bar_returns,
    bars_per_year,
    cagr,
    compute_metrics,
    drawdown_curve,
    max_drawdown,
    sharpe,
    sortino,
)


def test_a_year_of_five_minute_bars_is_105120_bars_in_a_24_7_market() -> None:
    assert bars_per_year(300) == 105_120
    assert bars_per_year(3600) == 8760


def test_max_drawdown_is_the_largest_fall_from_a_running_peak() -> None:
    equity = np.array([100.0, 120.0, 90.0, 130.0, 65.0, 140.0])
    assert max_drawdown(equity, 100.0) == pytest.approx(0.5)
    assert drawdown_curve(equity, 100.0) == pytest.approx([0, 0, -0.25, 0, -0.5, 0])


def test_a_loss_on_the_first_bar_counts_against_the_starting_cash() -> None:
    assert max_drawdown(np.array([80.0, 90.0]), 100.0) == pytest.approx(0.2)
    assert bar_returns(np.array([80.0, 90.0]), 100.0) == pytest.approx([-0.2, 0.125])


def test_sharpe_and_sortino_by_hand() -> None:
    r = np.array([0.01, -0.02, 0.03, 0.0])
    mean = 0.005
    sd = math.sqrt(sum((x - mean) ** 2 for x in r) / 3)
    assert sharpe(r, 100.0) == pytest.approx(mean / sd * 10.0)
    downside = math.sqrt((0.02**2) / 4)
    assert sortino(r, 100.0) == pytest.approx(mean / downside * 10.0)
    assert math.isnan(sharpe(np.zeros(5), 100.0))  # no variation: undefined, not infinite


def test_cagr_compounds_over_fractions_of_a_year() -> None:
    assert cagr(100.0, 200.0, 0.5) == pytest.approx(3.0)  # doubling twice a year
    assert cagr(100.0, 50.0, 2.0) == pytest.approx(math.sqrt(0.5) - 1)
    assert cagr(100.0, 0.0, 1.0) == -1.0


def test_win_rate_profit_factor_and_exposure_from_trades() -> None:
    equity = np.array([100.0, 101.0, 99.0, 103.0])
    units = np.array([0.0, 1.0, 1.0, 0.0])
    pnl = np.array([3.0, -1.0, 2.0, 5.0])
    closed = np.array([True, True, True, False])  # the open trade is left out of the rates
    m = compute_metrics(equity, units, pnl, pnl / 100, closed, 0.4, 100.0, 300)
    assert m.win_rate == pytest.approx(2 / 3)
    assert m.profit_factor == pytest.approx(5.0)
    assert m.exposure == pytest.approx(0.5)
    assert (m.n_trades, m.n_closed) == (4, 3)
    assert m.total_return == pytest.approx(0.03)
    assert m.max_drawdown == pytest.approx(2 / 101)
    assert m.calmar == pytest.approx(m.cagr / m.max_drawdown)
    assert m.avg_trade_return == pytest.approx(4 / 300)


def test_metrics_json_has_no_nan_or_infinity() -> None:
    m = compute_metrics(
        np.array([100.0, 100.0]), np.zeros(2), np.array([1.0]), np.array([0.01]),
        np.array([True]), 0.0, 100.0, 300,
    )  # fmt: skip
    assert m.profit_factor == math.inf
    data = m.to_json()
    assert data["profit_factor"] is None and data["sharpe"] is None
