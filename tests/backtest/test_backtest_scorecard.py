"""Signal scorecard: forward returns, hit rates, seeded bootstrap intervals, baseline."""

from __future__ import annotations

import numpy as np
import pytest
from bt_support import make_candles, random_walk

from cryptosignals.backtest.scorecard import HORIZONS, Scorecard, bootstrap, forward_returns
from cryptosignals.errors import BadInputError
from cryptosignals.model import Signal, SignalType


def _signal(candles, i: int, kind: SignalType, rule: str = "r") -> Signal:  # type: ignore[no-untyped-def]
    close_time = int(candles.timestamp[i] // 1000 + 300)
    return Signal("x", close_time, kind, rule, "5m", float(candles.close[i]), 0.4)


def test_forward_returns_look_exactly_h_bars_ahead() -> None:
    close = np.array([100.0, 110.0, 99.0, 120.0])
    assert np.allclose(forward_returns(close, 1), [0.1, -0.1, 120 / 99 - 1, np.nan], equal_nan=True)
    assert np.allclose(forward_returns(close, 3), [0.2, np.nan, np.nan, np.nan], equal_nan=True)
    assert np.isnan(forward_returns(close, 9)).all()


def test_bootstrap_is_seeded_and_brackets_the_mean() -> None:
    values = np.random.default_rng(0).normal(0.01, 0.02, 200)
    a = bootstrap(values, np.random.default_rng(5))
    b = bootstrap(values, np.random.default_rng(5))
    assert a == b
    assert a[0] < values.mean() < a[1]
    assert a[1] - a[0] == pytest.approx(2 * 1.96 * values.std() / np.sqrt(200), rel=0.2)


def test_a_buy_before_every_rise_scores_a_full_hit_rate_and_an_edge() -> None:
    # Up 1% every 10th bar, flat otherwise; BUY fires right before each rise.
    steps = np.where(np.arange(1, 400) % 10 == 0, 1.01, 1.0)
    close = 100 * np.concatenate([[1.0], np.cumprod(steps)])
    c = make_candles(close)
    buys = [_signal(c, i, SignalType.BUY, "oracle") for i in range(9, 380, 10)]
    rows = Scorecard(c, n_boot=200).run(buys)
    five = next(r for r in rows if r.horizon == "5m")
    assert (five.rule, five.signal_type, five.n) == ("oracle", "BUY", len(buys))
    assert five.hit_rate == 1.0 and five.mean_return == pytest.approx(0.01)
    assert five.baseline_hit_rate == pytest.approx(0.1, abs=0.01)
    assert five.edge
    assert [r.horizon for r in rows] == list(HORIZONS)
    day = rows[-1]  # only signals with a full day of data after them count at 24h
    assert day.n == len([i for i in range(9, 380, 10) if i + 288 < len(close)])


def test_a_sell_hits_when_the_price_falls_and_alerts_measure_the_size_of_the_move() -> None:
    c = random_walk(3000, 4)
    fwd = forward_returns(c.close, 1)
    falls = [i for i in range(100, 2900) if fwd[i] < 0][:50]
    big = np.argsort(-np.abs(np.nan_to_num(fwd)))[:40]
    rows = Scorecard(c, n_boot=200).run(
        [_signal(c, i, SignalType.SELL, "seller") for i in falls]
        + [_signal(c, int(i), SignalType.ALERT, "alarm") for i in big]
    )
    sell = next(r for r in rows if r.rule == "seller" and r.horizon == "5m")
    alert = next(r for r in rows if r.rule == "alarm" and r.horizon == "5m")
    assert sell.hit_rate == 1.0 and sell.edge and sell.mean_return < 0
    assert alert.hit_rate == 1.0 and alert.baseline_hit_rate == pytest.approx(0.5, abs=0.01)
    assert alert.mean_return > 0 and alert.edge


def test_the_engine_scorecard_covers_every_rule_that_fired(btc_candles) -> None:  # type: ignore[no-untyped-def]
    card = Scorecard(btc_candles, "bitcoin", n_boot=100)
    rows = card.run()
    fired = {(s.rule, str(s.signal_type)) for s in card.signals()}
    assert {(r.rule, r.signal_type) for r in rows} == fired
    assert {r.horizon for r in rows} == set(HORIZONS)
    assert all(r.hit_low <= r.hit_rate <= r.hit_high for r in rows if r.n > 30)
    assert rows == card.run()  # seeded


def test_no_signal_is_a_clear_error() -> None:
    with pytest.raises(BadInputError, match="no signal"):
        Scorecard(random_walk(100, 1)).run([])
