"""The simulation: fills, fees, slippage, sides, stops, sizing, and no look-ahead."""

from __future__ import annotations

import math

import numpy as np
import pytest
from bt_support import START_MS, make_candles, random_walk

from cryptosignals.backtest import Backtest, BacktestConfig, make_rule, simulate
from cryptosignals.backtest.core import (
    directions_from_signals,
    frame_directions,
    orders_from_directions,
)
from cryptosignals.errors import BadInputError
from cryptosignals.rules import MACrossover, RSIReversal

NAN = math.nan


def _orders(*targets: float) -> np.ndarray:
    return np.array(targets, dtype=float)


def test_a_round_trip_by_hand_with_fees() -> None:
    # open:  100, 100, 110, 120 ; buy at bar 1's open, sell at bar 3's open.
    c = make_candles([100, 110, 120, 130], open_=[100, 100, 110, 120])
    cfg = BacktestConfig(fee_bps=10, cash=1000.0)
    r = simulate(c, _orders(NAN, 1, NAN, 0), cfg)
    units = 1000 / (100 * 1.001)
    entry_fee = units * 100 * 0.001
    exit_fee = units * 120 * 0.001
    (t,) = r.trades
    assert (t.side, t.entry_price, t.exit_price, t.exit_reason) == ("long", 100, 120, "signal")
    assert t.units == pytest.approx(units)
    assert t.fees == pytest.approx(entry_fee + exit_fee)
    assert t.pnl == pytest.approx(units * 20 - entry_fee - exit_fee)
    assert t.entry_time == START_MS // 1000 + 300 and t.exit_time == START_MS // 1000 + 900
    assert r.metrics.final_equity == pytest.approx(1000 + t.pnl)
    # Marked at each close while held: bar 1 closes at 110, bar 2 at 120.
    assert r.equity == pytest.approx([1000, units * 110, units * 120, 1000 + t.pnl])
    assert r.metrics.exposure == pytest.approx(0.5)


def test_fees_cost_exactly_their_basis_points_of_the_traded_value() -> None:
    c = make_candles([100, 100, 100, 100])
    free = simulate(c, _orders(NAN, 1, 0, NAN), BacktestConfig(fee_bps=0, cash=1000.0))
    paid = simulate(c, _orders(NAN, 1, 0, NAN), BacktestConfig(fee_bps=25, cash=1000.0))
    assert free.metrics.final_equity == pytest.approx(1000.0)
    units = 1000 / (100 * 1.0025)
    assert paid.metrics.final_equity == pytest.approx(1000 - 2 * units * 100 * 0.0025)
    assert paid.metrics.fees == pytest.approx(2 * units * 100 * 0.0025)


def test_slippage_moves_every_fill_against_the_trader() -> None:
    c = make_candles([100, 100, 100, 100])
    r = simulate(c, _orders(NAN, 1, -1, 0), BacktestConfig(fee_bps=0, slippage_bps=50))
    long, short = r.trades
    assert long.entry_price == pytest.approx(100.5) and long.exit_price == pytest.approx(99.5)
    assert short.entry_price == pytest.approx(99.5) and short.exit_price == pytest.approx(100.5)
    assert long.pnl < 0 and short.pnl < 0


def test_a_short_gains_when_the_price_falls() -> None:
    c = make_candles([100, 90, 80, 80], open_=[100, 100, 90, 80])
    r = simulate(c, _orders(NAN, -1, NAN, 0), BacktestConfig(fee_bps=0, cash=1000.0))
    (t,) = r.trades
    assert t.side == "short" and t.pnl == pytest.approx(10 * 20)
    assert r.equity == pytest.approx([1000, 1100, 1200, 1200])


def test_stop_loss_fills_at_the_stop_or_at_a_gapped_open() -> None:
    cfg = BacktestConfig(fee_bps=0, stop_loss=0.05, cash=1000.0)
    # Entered at 100, the bar after dips to 94: out at the stop, 95.
    c = make_candles([100, 101, 98, 99], open_=[100, 100, 101, 98], low=[99, 99, 94, 97])
    (t,) = simulate(c, _orders(NAN, 1, NAN, NAN), cfg).trades
    assert (t.exit_reason, t.exit_price, t.exit_time) == ("stop_loss", 95.0, START_MS // 1000 + 600)
    # The price opens at 90, below the stop: out at the open.
    c = make_candles([100, 101, 91, 99], open_=[100, 100, 90, 91], low=[99, 99, 89, 90])
    (t,) = simulate(c, _orders(NAN, 1, NAN, NAN), cfg).trades
    assert (t.exit_reason, t.exit_price) == ("stop_loss", 90.0)


def test_take_profit_and_the_pessimistic_rule_when_both_are_in_one_bar() -> None:
    c = make_candles([100, 101, 108, 99], open_=[100, 100, 101, 108], high=[100, 102, 111, 109])
    cfg = BacktestConfig(fee_bps=0, take_profit=0.1, stop_loss=0.05)
    (t,) = simulate(c, _orders(NAN, 1, NAN, NAN), cfg).trades
    assert (t.exit_reason, t.exit_price) == ("take_profit", pytest.approx(110.0))
    wide = make_candles([100, 101, 100, 99], open_=[100, 100, 101, 100],
                        high=[100, 102, 112, 100], low=[100, 99, 94, 98])  # fmt: skip
    (t,) = simulate(wide, _orders(NAN, 1, NAN, NAN), cfg).trades
    assert t.exit_reason == "stop_loss"  # both touched: assume the worse came first


def test_after_a_stop_the_position_stays_flat_until_the_next_signal() -> None:
    c = make_candles([100, 90, 90, 90, 95], open_=[100, 100, 90, 90, 90], low=[100, 89, 90, 90, 90])
    r = simulate(c, _orders(NAN, 1, NAN, NAN, 1), BacktestConfig(fee_bps=0, stop_loss=0.05))
    assert [t.exit_reason for t in r.trades] == ["stop_loss", "open"]
    assert r.units[2] == 0 and r.units[3] == 0 and r.units[4] > 0


def test_long_only_turns_sells_into_flat() -> None:
    directions = np.array([1, NAN, -1, NAN, 1, NAN])
    assert np.array_equal(
        orders_from_directions(directions, long_only=True),
        [NAN, 1, NAN, 0, NAN, 1],
        equal_nan=True,
    )
    assert np.array_equal(
        orders_from_directions(directions, long_only=False),
        [NAN, 1, NAN, -1, NAN, 1],
        equal_nan=True,
    )


def test_atr_sizing_commits_less_when_volatility_is_higher() -> None:
    calm, wild = random_walk(600, 1, vol=0.002), random_walk(600, 1, vol=0.01)
    cfg = BacktestConfig(sizing="atr", risk=0.01, atr_multiple=2.0)
    f_calm, f_wild = cfg.fractions(calm), cfg.fractions(wild)
    assert f_calm[:15].max() == 0.0  # no position before the ATR is known
    assert np.median(f_wild[20:]) < np.median(f_calm[20:]) <= 1.0
    from cryptosignals import indicators

    atr = indicators.atr(wild.high, wild.low, wild.close, 14)
    i = 300  # a position opened at bar i's open uses the ATR of bar i - 1
    assert f_wild[i] == pytest.approx(min(1.0, 0.01 / (2 * atr[i - 1] / wild.close[i - 1])))
    r = simulate(wild, _orders(*([NAN] * 300 + [1] + [NAN] * 299)), cfg)
    (t,) = r.trades
    assert t.units * t.entry_price * (1 + cfg.fee_bps / 1e4) == pytest.approx(10_000 * f_wild[300])


def test_a_signal_is_filled_at_the_open_of_the_bar_that_opens_when_it_is_known() -> None:
    c = random_walk(1500, 3)
    bt = Backtest(c, [MACrossover(5, 30)], BacktestConfig(fee_bps=0))
    signals = bt.signals()
    result = bt.run()
    entries = {t.entry_time for t in result.trades}
    for s in signals:  # every signal but one on the last bar is an entry at its own time
        if s.timestamp < c.timestamp[-1] // 1000 + 300:
            assert s.timestamp in entries
    opens = dict(zip((c.timestamp // 1000).tolist(), c.open.tolist(), strict=True))
    assert all(t.entry_price == opens[t.entry_time] for t in result.trades)


@pytest.mark.parametrize("nth", [5, 12, 20])
@pytest.mark.parametrize("source", ["engine", "frame"])
def test_changing_future_candles_never_changes_past_trades(nth: int, source: str) -> None:
    """Cut where a signal fires: from that bar's close on, the market is replaced (that close
    moves 5 % against the signal, then another random walk). What was decided by the cut bar's
    open (its open price is known then) must not change: trades closed before, entries made
    at or before it, the equity before it."""
    base = random_walk(1500, 11)
    rules = [MACrossover(5, 30), RSIReversal()]
    fired = np.flatnonzero(~np.isnan(frame_directions(base, rules)))
    cut = int(fired[nth])
    direction = frame_directions(base, rules)[cut]
    other = random_walk(1500, 12, start=float(base.close[cut - 1]))
    close = np.concatenate([base.close[:cut], other.close[cut:]])
    close[cut] = base.close[cut] * (1 - 0.05 * direction)
    open_ = np.concatenate([base.open[: cut + 1], other.open[cut + 1 :]])
    mixed = make_candles(
        close,
        open_,
        np.maximum(np.concatenate([base.high[:cut], other.high[cut:]]), np.maximum(open_, close)),
        np.minimum(np.concatenate([base.low[:cut], other.low[cut:]]), np.minimum(open_, close)),
    )
    cfg = BacktestConfig(sizing="atr", stop_loss=0.01, take_profit=0.02)
    a = Backtest(base, rules, cfg).run(source)  # type: ignore[arg-type]
    b = Backtest(mixed, rules, cfg).run(source)  # type: ignore[arg-type]
    cut_time = int(base.timestamp[cut] // 1000)

    def closed_before(r):  # type: ignore[no-untyped-def]
        return [t for t in r.trades if t.exit_time is not None and t.exit_time < cut_time]

    def entries_by(r):  # type: ignore[no-untyped-def]
        return [(t.side, t.entry_time, t.entry_price, t.units) for t in r.trades
                if t.entry_time <= cut_time]  # fmt: skip

    assert closed_before(a) == closed_before(b) and len(closed_before(a)) >= nth // 2
    assert entries_by(a) == entries_by(b)
    assert np.array_equal(a.equity[:cut], b.equity[:cut])
    assert not np.array_equal(a.equity[cut:], b.equity[cut:])


def test_the_frame_path_gives_the_engines_trades_for_every_buy_sell_rule(btc_candles) -> None:  # type: ignore[no-untyped-def]
    names = ["ma_cross", "trend_slope", "price_ma_cross", "rsi_reversal", "macd_momentum",
             "bollinger_breakout"]  # fmt: skip
    rules = [make_rule(n) for n in names]
    signals = Backtest(btc_candles, rules).signals()  # one engine run for all rules
    for rule in rules:
        engine = directions_from_signals([s for s in signals if s.rule == rule.name], btc_candles)
        frame = frame_directions(btc_candles, [rule])
        assert np.array_equal(engine, frame, equal_nan=True), rule.name
        assert np.sum(~np.isnan(frame)) > 20, rule.name
    bt = Backtest(btc_candles, [MACrossover(5, 30)], BacktestConfig(stop_loss=0.01))
    assert bt.run("engine").trades == bt.run("frame").trades


def test_bad_configurations_and_too_little_data_are_clear_errors() -> None:
    with pytest.raises(BadInputError, match="fraction"):
        BacktestConfig(fraction=1.5)
    with pytest.raises(BadInputError, match="stop_loss"):
        BacktestConfig(stop_loss=2.0)
    with pytest.raises(BadInputError, match="too few"):
        Backtest(random_walk(20, 1), [MACrossover(5, 30)])
    walk = random_walk(100, 1)
    shifted = type(walk)(walk.timestamp + 60_000, walk.open, walk.high, walk.low, walk.close,
                         walk.volume)  # fmt: skip
    with pytest.raises(BadInputError, match="boundaries"):
        Backtest(shifted, [MACrossover(5, 30)])
    with pytest.raises(BadInputError, match="unknown strategy"):
        make_rule("moon")
    with pytest.raises(BadInputError, match="unknown parameter"):
        make_rule("ma_cross", {"fastest": 3})
    with pytest.raises(BadInputError, match="shorter than slow"):
        make_rule("ma_cross", {"fast": 30, "slow": 5})
    with pytest.raises(BadInputError, match="whole number"):
        make_rule("ma_cross", {"fast": 2.5})
