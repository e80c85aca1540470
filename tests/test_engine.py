"""The engine: streaming equals batch, no look-ahead, planted events found, bad ticks handled."""

from __future__ import annotations

import dataclasses
import itertools
import json
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cryptosignals import risk
from cryptosignals.candles import candles_to_ticks, read_candles, sample_path
from cryptosignals.engine import Engine, EngineConfig, StateVersionError, analyze_ticks
from cryptosignals.model import Signal, SignalType, TickSeries
from cryptosignals.patterns_market import pattern_market
from cryptosignals.rules import RULES, STRUCTURE_RULES, PriceChange
from cryptosignals.synthetic import candles_from_returns, generate_market

MARKET = generate_market(days=4, seed=11)
TICKS = candles_to_ticks("bitcoin", MARKET.candles["bitcoin"])
WHOLE = [s.to_json() for s in analyze_ticks(TICKS)]


def _feed_in_chunks(ticks: TickSeries, bounds: list[int]) -> list[dict]:
    engine = Engine(ticks.crypto_id)
    out = []
    for start, stop in itertools.pairwise(bounds):
        # The Lambda stores the state as JSON between batches: do the same.
        engine = Engine.from_state(json.loads(json.dumps(engine.state())))
        out += [s.to_json() for s in engine.feed(ticks[start:stop]).signals]
    return out


def test_the_planted_market_produces_signals_of_every_rule() -> None:
    patterns = {"double_top", "double_bottom", "head_shoulders", "inverse_head_shoulders"}
    assert {s["rule"] for s in WHOLE} == set(RULES) - patterns  # planted below


PATTERNS = pattern_market(days=40, seed=11)
PATTERN_TICKS = candles_to_ticks("bitcoin", PATTERNS[0])


def test_planted_chart_patterns_fire_their_rules_with_levels_and_alignment() -> None:
    """Structure runs on the engine's 1h bars: each planted pattern's rule fires within six
    hours of its last peak (cryptosignals.structure; the tracker's own tests go further)."""
    planted = PATTERNS[1]
    signals = Engine("bitcoin").feed(PATTERN_TICKS).signals
    for kind in ("double_top", "double_bottom", "head_shoulders", "inverse_head_shoulders"):
        fired = np.array([s.timestamp for s in signals if s.rule == kind])
        peaks = [int(PATTERN_TICKS.timestamp[p.last_peak]) for p in planted if p.kind == kind]
        found = sum(np.any((fired >= t) & (fired <= t + 6 * 3600)) for t in peaks)
        assert len(peaks) >= 3 and found >= len(peaks) - 1, (kind, found, len(peaks))
    rules = {s.rule for s in signals}
    assert set(STRUCTURE_RULES) <= rules
    assert {s.timeframe for s in signals if s.rule in STRUCTURE_RULES} == {"1h"}
    with pytest.raises(ValueError, match="structure runs on 1h bars"):
        EngineConfig(higher_timeframe="15m")
    assert EngineConfig(higher_timeframe="15m", structure=None).higher_timeframe == "15m"
    late = [s for s in signals if s.timestamp > PATTERN_TICKS.timestamp[0] + 6 * 86400]
    assert all(-1 <= s.details["alignment"] <= 1 for s in late)
    for suffix in ("", "_15m", "_4h"):  # the zones of 1h, 15m and 4h pivots (question 14)
        assert any(f"dist_support_atr{suffix}" in s.details for s in late), suffix
        assert any(f"dist_resistance_atr{suffix}" in s.details for s in late), suffix
    assert {s.details.get("counter_trend") for s in late if s.signal_type != SignalType.ALERT} == {
        0.0,
        1.0,
    }


def test_structure_and_trends_resume_across_batches_exactly() -> None:
    whole = [s.to_json() for s in analyze_ticks(PATTERN_TICKS)]
    n = len(PATTERN_TICKS)
    assert _feed_in_chunks(PATTERN_TICKS, [0, 1, 3000, 3001, 7777, n // 2, n - 5, n]) == whole


@settings(max_examples=15, deadline=None)
@given(cuts=st.lists(st.integers(0, len(TICKS)), max_size=12))
def test_feeding_any_chunking_gives_the_same_signals_as_one_batch(cuts: list[int]) -> None:
    bounds = [0, *sorted(cuts), len(TICKS)]
    assert _feed_in_chunks(TICKS, bounds) == WHOLE


def test_several_tick_rules_each_keep_their_own_memory_across_batches() -> None:
    """Two price-change rules (1h and 30m): what one remembers must not be the other's."""
    hour, half = (
        PriceChange(minutes=60, threshold_pct=1.0),
        PriceChange(minutes=30, threshold_pct=1.0),
    )
    config = EngineConfig(rules=(), tick_rules=(hour, half))

    def firing(s: Signal) -> dict[str, Any]:  # the evidence's family differs by design
        return {k: v for k, v in s.to_json().items() if k not in ("evidence", "actionable")}

    whole = [firing(s) for s in Engine("bitcoin", config).feed(TICKS).signals]
    alone = [
        firing(s)
        for s in Engine("bitcoin", EngineConfig(rules=(), tick_rules=(half,))).feed(TICKS).signals
    ]
    assert len(alone) >= 3 and [s for s in whole if s in alone] == alone  # pairing changes nothing
    engine, chunked = Engine("bitcoin", config), []
    for start in range(0, len(TICKS), 7):
        engine = Engine.from_state(json.loads(json.dumps(engine.state())), config)
        chunked += [s.to_json() for s in engine.feed(TICKS[start : start + 7]).signals]
    assert chunked == [s.to_json() for s in Engine("bitcoin", config).feed(TICKS).signals]


def test_one_tick_at_a_time_gives_the_same_signals_as_one_batch() -> None:
    ticks = TICKS[:400]
    expected = [s.to_json() for s in analyze_ticks(ticks)]
    assert _feed_in_chunks(ticks, list(range(len(ticks) + 1))) == expected


def test_a_tick_at_a_time_through_stored_json_leaves_the_state_of_one_batch() -> None:
    """What the Lambda stores after each 5-minute tick of real data is what one batch leaves:
    the streams of a timeframe that closed no bar are kept as they were read."""
    ticks = candles_to_ticks("bitcoin", read_candles(sample_path("bitcoin")))[:400]
    whole, engine = Engine("bitcoin"), Engine("bitcoin")
    whole.feed(ticks)
    for i in range(len(ticks)):
        engine = Engine.from_state(json.loads(json.dumps(engine.state())))
        engine.feed(ticks[i : i + 1])
    assert engine.state() == whole.state()


@settings(max_examples=10, deadline=None)
@given(n=st.integers(1, len(TICKS) - 1))
def test_appending_later_ticks_never_changes_earlier_signals(n: int) -> None:
    prefix = [s.to_json() for s in analyze_ticks(TICKS[:n])]
    assert prefix == WHOLE[: len(prefix)]
    last_time = int(TICKS.timestamp[n - 1])
    assert all(s["timestamp"] > last_time for s in WHOLE[len(prefix) :])


def test_the_future_cannot_change_a_signal_even_when_it_is_rewritten() -> None:
    n = len(TICKS) // 2
    altered = TICKS[:]
    price = altered.price.copy()
    price[n:] *= np.linspace(1.0, 0.5, len(price) - n)  # a crash after n
    altered = TickSeries("bitcoin", altered.timestamp, price, altered.volume_24h,
                         altered.market_cap, altered.change_24h)  # fmt: skip
    cutoff = int(TICKS.timestamp[n - 1])
    before = [s for s in WHOLE if s["timestamp"] <= cutoff]
    after_change = [s.to_json() for s in analyze_ticks(altered) if s.timestamp <= cutoff]
    assert before == after_change


def _index_of(ts: int) -> int:
    return (ts - int(TICKS.timestamp[0])) // 300


@pytest.mark.parametrize(
    ("kind", "rule", "signal_type"),
    [
        ("pump", "price_change_1h", SignalType.ALERT),
        ("volume_spike", "volume_spike", SignalType.ALERT),
        ("rsi_dip", "rsi_reversal", SignalType.BUY),
    ],
)
def test_each_planted_event_fires_its_rule(kind: str, rule: str, signal_type: str) -> None:
    event = next(e for e in MARKET.events if e.kind == kind)
    hits = [
        _index_of(s["timestamp"])
        for s in WHOLE
        if s["rule"] == rule and s["signal_type"] == signal_type
    ]
    assert any(event.start <= i <= event.stop + 2 for i in hits), (event, hits)


def test_alert_rules_stay_quiet_in_a_calm_market_without_events() -> None:
    calm = generate_market(days=4, seed=5, regimes=False, plant=False)
    ticks = candles_to_ticks("bitcoin", calm.candles["bitcoin"])
    fired = {s.rule for s in analyze_ticks(ticks)}
    assert not fired & {"price_change_1h", "volume_spike"}
    planted = generate_market(days=4, seed=5, regimes=False)
    ticks = candles_to_ticks("bitcoin", planted.candles["bitcoin"])
    assert {"price_change_1h", "volume_spike"} <= {s.rule for s in analyze_ticks(ticks)}


def test_duplicates_are_dropped_and_out_of_order_ticks_rejected_with_a_reason() -> None:
    engine = Engine("bitcoin")
    engine.feed(TICKS[:100])
    repeat = engine.feed(TICKS[95:100])
    assert repeat.duplicates == 1 and len(repeat.rejected) == 4 and repeat.accepted == 0
    assert "out of order" in repeat.rejected[0].reason
    assert repeat.signals == []
    rest = engine.feed(TICKS[100:])
    assert [s.to_json() for s in rest.signals] == [s for s in WHOLE if s["timestamp"] >
                                                   int(TICKS.timestamp[99])]  # fmt: skip


def test_irregular_ticks_build_bars_by_event_time() -> None:
    # Polls at odd seconds, with a missed 5-minute bucket: bars close on the next tick.
    ts = np.array([1000, 1170, 1290, 1310, 1980, 2110], dtype=np.int64)
    price = np.array([10.0, 11.0, 9.0, 12.0, 13.0, 14.0])
    nan = np.full(6, np.nan)
    engine = Engine("bitcoin", EngineConfig(rules=(), tick_rules=()))
    bars = engine.feed(TickSeries("bitcoin", ts, price, nan, nan, nan)).bars
    # Bars (900,1200] and (1200,1500] and (1800,2100] closed; (2100,2400] is still open.
    assert bars["end"].tolist() == [1200.0, 1500.0, 2100.0]
    assert bars["open"][1] == 9.0 and bars["close"][1] == 12.0
    assert bars["high"][2] == 13.0 and bars["close"][2] == 13.0
    assert engine.bars["5m"].open[0] == 2400


def test_state_survives_json_and_rejects_a_foreign_version() -> None:
    engine = Engine("bitcoin")
    engine.feed(TICKS[:300])
    state = json.loads(json.dumps(engine.state(), allow_nan=False))
    assert Engine.from_state(state).state() == state
    with pytest.raises(StateVersionError, match="version"):
        Engine.from_state({**state, "version": 99})


def test_aggregates_of_the_last_tick_come_with_every_batch() -> None:
    result = Engine("bitcoin").feed(TICKS[:400])
    windows = {a.time_window: a for a in result.aggregates}
    assert sorted(windows) == [5, 30, 60, 1440]
    assert windows[60].sample_count == 12 and windows[5].sample_count == 1
    assert windows[1440].window_end == int(TICKS.timestamp[399])


def test_confidence_is_within_bounds_and_details_are_finite_json() -> None:
    for s in WHOLE:
        assert 0.0 <= s["confidence_score"] <= 1.0
        json.dumps(s["details"], allow_nan=False)


def test_signal_ids_are_unique_and_deterministic() -> None:
    ids = [s["signal_id"] for s in WHOLE]
    assert len(ids) == len(set(ids))
    assert ids == [s.signal_id for s in analyze_ticks(TICKS)]


def test_state_is_strict_json_even_with_an_open_bar_and_unknown_volume() -> None:
    nan = np.full(1, np.nan)
    engine = Engine("bitcoin")
    engine.feed(TickSeries("bitcoin", np.array([1_700_000_010]), np.array([50.0]), nan, nan, nan))
    state = json.loads(json.dumps(engine.state(), allow_nan=False))
    assert state["frames"]["5m"]["bars"]["open"][5] is None
    assert Engine.from_state(state).state() == state


def test_the_coins_risk_and_regime_ride_with_the_batch_and_every_signal() -> None:
    engine = Engine("bitcoin")  # the bundled fitted models of the coin
    assert engine.config.volatility is not None and engine.config.regimes is not None
    result = engine.feed(TICKS)
    latest = result.risk
    assert latest is not None and latest["timestamp"] == TICKS.timestamp[-1]
    one_hour = latest["horizons"]["1h"]
    assert 0 < one_hour["sigma"] < one_hour["var_95"] < one_hour["var_99"] < one_hour["es_975"]
    assert latest["position_size"] == pytest.approx(min(1.0, 0.01 / one_hour["var_99"]))
    hour = next(a for a in result.aggregates if a.time_window == 60)
    sigma_before = engine.risk.sigma_as_of(TICKS.timestamp[-1:] - 3600, "1h")[0]
    assert latest["move_sigma_1h"] == pytest.approx(np.log1p(hour.chg_pct / 100) / sigma_before)
    regime = latest["regime"]
    assert regime["name"] == engine.config.regimes.names[regime["rank"]]
    assert sum(regime["probabilities"].values()) == pytest.approx(1.0)
    fan, close = latest["fan"], float(result.bars["close"][-1])  # the last bar's price fan
    assert fan["30m"]["q50"] == pytest.approx(close, rel=1e-6)  # a random-walk centre
    assert fan["5m"]["q10"] > fan["30m"]["q10"] and fan["5m"]["q90"] < fan["30m"]["q90"]
    assert fan["30m"]["q10"] < close < fan["30m"]["q90"]
    late = [s for s in result.signals if s.timestamp > TICKS.timestamp[0] + 86_400]
    assert late and all("sigma_1h" in s.details and "regime_rank" in s.details for s in late)
    moves = [s for s in result.signals if s.rule == "price_change_1h"]
    assert moves and all(abs(s.details["move_sigma"]) > 1 for s in moves)  # a 5 % move is big
    without = Engine("bitcoin", EngineConfig()).feed(TICKS)
    assert without.risk is None
    assert {s.signal_id for s in without.signals} >= {
        s.signal_id for s in result.signals if s.rule != "cut_size"
    }  # the forecast adds context and one rule; it changes no other signal


def test_the_base_bars_features_come_out_of_each_feed_the_same_in_any_chunking() -> None:
    whole = Engine("bitcoin").feed(TICKS).bars
    engine, parts = Engine("bitcoin"), []
    for start, stop in itertools.pairwise([0, 300, 301, 800, len(TICKS)]):
        engine = Engine.from_state(json.loads(json.dumps(engine.state())))
        parts.append(engine.feed(TICKS[start:stop]).bars)
    assert {"close", "rsi_14", "adx_14", "trend", "volume_ratio", "sigma_1h"} <= set(whole)
    for name, column in whole.items():
        np.testing.assert_array_equal(np.concatenate([p[name] for p in parts]), column, name)


def test_a_deployed_p_up_model_scores_every_signal_and_names_its_version() -> None:
    """Serving: the engine evaluates a trained artifact with numpy at each bar, from the same
    feature code training used; each signal records p_up and the model's version; chunked ==
    whole. (No model is deployed by default: none beat the base rate, docs/models.md.)"""
    from cryptosignals.features import model_features
    from cryptosignals.models.evaluation import dataset, train_artifact
    from cryptosignals.predict import load_predictor

    artifact = train_artifact(dataset("bitcoin", MARKET.candles["bitcoin"], "up_1h"))
    predictor = load_predictor(json.loads(json.dumps(artifact)))
    config = EngineConfig(predictor=predictor)
    result = Engine("bitcoin", config).feed(TICKS)
    expected = predictor.predict(model_features(result.bars))
    np.testing.assert_allclose(result.bars["p_up"], expected, rtol=0, atol=1e-12)
    at = {int(t): p for t, p in zip(result.bars["end"], expected, strict=True)}
    bar_signals = [s for s in result.signals if s.timeframe == "5m"]
    assert bar_signals and all(s.details["p_up"] == at[s.timestamp] for s in bar_signals)
    assert {s.model_version for s in bar_signals} == {predictor.version}
    assert predictor.version.startswith("bitcoin_up_1h_logistic_")
    whole = [s.to_json() for s in result.signals]
    engine, parts = Engine("bitcoin", config), []
    for start, stop in itertools.pairwise([0, 200, 201, 700, len(TICKS)]):
        engine = Engine.from_state(json.loads(json.dumps(engine.state())), config)
        parts += [s.to_json() for s in engine.feed(TICKS[start:stop]).signals]
    assert parts == whole
    assert all("p_up" not in s["details"] and "model_version" not in s for s in WHOLE)


def test_structure_signals_of_a_prefix_are_those_of_the_whole_series() -> None:
    """Prefix invariance for the structure rules too: cutting the planted-pattern market
    anywhere leaves every earlier signal as it was (patterns, breakouts, their levels)."""
    whole = [s.to_json() for s in analyze_ticks(PATTERN_TICKS)]
    assert {"double_top", "breakout", "false_breakout"} <= {s["rule"] for s in whole}
    for n in (2000, 5555, 9001):
        prefix = [s.to_json() for s in analyze_ticks(PATTERN_TICKS[:n])]
        assert prefix == whole[: len(prefix)]
        last_time = int(PATTERN_TICKS.timestamp[n - 1])
        assert all(s["timestamp"] > last_time for s in whole[len(prefix) :])


MINUTE_MARKET = generate_market(coins=("bitcoin",), days=2, seed=5, interval_s=60, plant=False)
MINUTE_TICKS = candles_to_ticks("bitcoin", MINUTE_MARKET.candles["bitcoin"])


def test_the_one_minute_trend_exists_when_ticks_arrive_every_minute() -> None:
    """Question 13: the 1m trend is the sign of EMA(5) - EMA(30) of 1-minute closes (TA-Lib's
    EMA), read at each base bar's close; it resumes exactly, and it is unknown (NaN, left out
    of the alignment) where the 1-minute bars do not follow each other."""
    import talib

    bars = Engine("bitcoin").feed(MINUTE_TICKS).bars
    close = MINUTE_TICKS.price
    expected = np.sign(talib.EMA(close, 5) - talib.EMA(close, 30))
    at = np.searchsorted(MINUTE_TICKS.timestamp, bars["end"])  # each base bar's last tick
    known = np.isfinite(expected[at])
    assert known.sum() > 500
    np.testing.assert_array_equal(bars["trend_1m"][known], expected[at][known])
    trends = np.array([bars[f"trend_{tf}"] for tf in ("1m", "5m", "15m", "1h", "4h")])
    finite = np.isfinite(trends)
    mean = np.where(finite, trends, 0).sum(axis=0) / np.maximum(finite.sum(axis=0), 1)
    np.testing.assert_allclose(bars["alignment"][finite.any(axis=0)], mean[finite.any(axis=0)])

    engine, parts = Engine("bitcoin"), []
    for start, stop in itertools.pairwise([0, 1, 700, 703, 2000, len(MINUTE_TICKS)]):
        engine = Engine.from_state(json.loads(json.dumps(engine.state())))
        parts.append(engine.feed(MINUTE_TICKS[start:stop]).bars["trend_1m"])
    np.testing.assert_array_equal(np.concatenate(parts), bars["trend_1m"])

    gap = np.ones(len(MINUTE_TICKS), dtype=bool)
    gap[1001:1004] = False  # three minutes missing: the next bar (a 5-minute close) follows a gap
    after = Engine("bitcoin").feed(MINUTE_TICKS[gap]).bars
    first = np.searchsorted(after["end"], MINUTE_TICKS.timestamp[1004])
    assert after["end"][first] == MINUTE_TICKS.timestamp[1004]
    assert np.isnan(after["trend_1m"][first]) and np.isfinite(after["trend_1m"][first + 1])


def test_one_minute_ticks_one_at_a_time_through_json_give_what_one_batch_gives() -> None:
    """Four 1-minute ticks in five close no base bar (the engine then skips its models): fed
    one at a time through the stored JSON, the bars, signals, risk and state are one batch's."""
    ticks = MINUTE_TICKS[:900]
    whole = Engine("bitcoin")
    expected = whole.feed(ticks)
    engine, bars, signals, risk = Engine("bitcoin"), [], [], None
    for i in range(len(ticks)):
        engine = Engine.from_state(json.loads(json.dumps(engine.state())))
        result = engine.feed(ticks[i : i + 1])
        bars.append(result.bars)
        signals += [s.to_json() for s in result.signals]
        risk = result.risk
    assert signals == [s.to_json() for s in expected.signals]
    assert risk == expected.risk and engine.state() == whole.state()
    for name, column in expected.bars.items():
        joined = np.concatenate([b[name] for b in bars])
        assert joined.dtype == column.dtype and list(bars[-1]) == list(expected.bars)
        np.testing.assert_array_equal(joined, column)


def test_five_minute_ticks_have_no_one_minute_trend() -> None:
    bars = Engine("bitcoin").feed(TICKS).bars
    assert np.isnan(bars["trend_1m"]).all()
    assert np.isfinite(bars["trend_5m"][100:]).all()


def _stale_sigma_market(seed: int, factor: float, sd: float = 0.002) -> TickSeries:
    """20 days of i.i.d. Student-t(4) returns of sd `sd`, times `factor` from day 12 on."""
    rng = np.random.default_rng(seed)
    n = 20 * 288
    sigma = np.full(n, sd)
    sigma[12 * 288 :] *= factor
    returns = rng.standard_t(4, n) / np.sqrt(2.0) * sigma
    return candles_to_ticks("bitcoin", candles_from_returns(returns, sigma, rng, 1_740_000_000))


@pytest.mark.slow
def test_the_drift_monitor_alarms_when_the_volatility_model_goes_stale_and_not_otherwise() -> None:
    """Question 27: each 5-minute move over the 5m sigma forecast made before it, watched by
    Page-Hinkley (cryptosignals.drift). A model with a fixed sigma of 0.2 %: no alarm in 20
    stationary days; the volatility doubling on day 12 is caught within 8 hours."""
    fixed = dataclasses.replace(
        risk.model_for("bitcoin"), omega=0.002**2, alpha=0.0, beta=0.0, seasonal=(1.0,) * 168
    )
    config = dataclasses.replace(EngineConfig.for_coin("bitcoin"), volatility=fixed)
    for seed in (0, 1):
        for factor in (1.0, 2.0):
            ticks = _stale_sigma_market(seed, factor)
            result = Engine("bitcoin", config).feed(ticks)
            alarms = result.bars["end"][result.bars["drift_alarm"] == 1]
            change = ticks.timestamp[0] + 12 * 86_400
            if factor == 1.0:
                assert len(alarms) == 0, alarms
            else:
                assert (alarms < change).sum() == 0 and 0 < alarms[0] - change <= 8 * 3600
                assert result.risk is not None and result.risk["drift"]["last_alarm"] >= alarms[-1]


def test_another_coins_p_up_reads_bitcoins_last_hour_as_its_training_did() -> None:
    """A served model of another coin sees bitcoin's last hour (`btc_ret_12`) from bitcoin's
    bars given with the batch, the same rows training built (`models.evaluation.dataset`): the
    served P(up) equals the trained model's on them, and feeding in chunks, each with the
    bitcoin bars closed by its last tick, changes nothing."""
    from cryptosignals.engine import closed_bars
    from cryptosignals.features import FEATURE_NAMES
    from cryptosignals.models.evaluation import dataset, train_artifact
    from cryptosignals.predict import load_predictor

    candles = MARKET.candles
    data = dataset("ethereum", candles["ethereum"], "up_1h", bitcoin=candles["bitcoin"])
    assert np.isfinite(data.x[:, FEATURE_NAMES.index("btc_ret_12")]).sum() > 500
    predictor = load_predictor(json.loads(json.dumps(train_artifact(data))))
    config = dataclasses.replace(EngineConfig.for_coin("ethereum"), predictor=predictor)
    ticks = candles_to_ticks("ethereum", candles["ethereum"])
    btc = closed_bars(candles_to_ticks("bitcoin", candles["bitcoin"]))
    whole = Engine("ethereum", config).feed(ticks, (btc["end"], btc["close"])).bars["p_up"]
    np.testing.assert_allclose(whole, predictor.predict(data.x), rtol=0, atol=1e-12)

    engine, parts = Engine("ethereum", config), []
    for start, stop in itertools.pairwise([0, 300, 301, 800, len(ticks)]):
        engine = Engine.from_state(json.loads(json.dumps(engine.state())), config)
        known = btc["end"] <= ticks.timestamp[stop - 1]
        bitcoin = (btc["end"][known], btc["close"][known])
        parts.append(engine.feed(ticks[start:stop], bitcoin).bars["p_up"])
    np.testing.assert_array_equal(np.concatenate(parts), whole)
    blind = Engine("ethereum", config).feed(ticks).bars["p_up"]  # bitcoin's hour imputed
    assert np.abs(blind - whole).max() > 1e-6
