"""The price fan, the market-wide alerts and the signals' new context on the dashboard, checked
against the stream's own output: the engine over the bundled sample (the fan it stores with the
60-minute aggregate and the one in its bars), and the real pipeline on the local stack for the
market's alerts (a generated market of five coins that move as one: the bundled four never give
one) and bitcoin's part in the other coins' signals."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from dashboard_support import moving_market, run_pipeline, sample_market, sample_ticks

from cryptosignals.dashboard import figures, overlays
from cryptosignals.dashboard.market import Market, Span
from cryptosignals.dashboard.reader import DashboardReader
from cryptosignals.engine import Engine, closed_bars
from cryptosignals.forecast import HORIZONS
from cryptosignals.local.runtime import temporary_environment
from cryptosignals.local.stack import LocalStack
from cryptosignals.market import MARKET_ID
from cryptosignals.model import Signal, SignalType
from cryptosignals.models.market import market_history


@pytest.fixture(scope="module")
def market() -> Market:
    return sample_market(days=2)


def _by_name(figure) -> dict:  # type: ignore[no-untyped-def]
    return {t.name: t for t in figure.data}


def _cone_points(figure) -> tuple[list[int], list[float], list[float]]:  # type: ignore[no-untyped-def]
    traces = _by_name(figure)
    low, high = traces["price fan 10-90 %"], traces["price fan 10-90 % (up)"]
    times = [int(np.datetime64(x, "s").astype(np.int64)) for x in low.x]
    return times, list(low.y), list(high.y)


def test_the_cone_is_the_fan_the_pipeline_stored_with_the_60_minute_aggregate(
    market: Market,
) -> None:
    overlays.clear_cache()
    stored = market.risk["bitcoin"]
    figure = figures.price_figure(market, ["bitcoin"], Span.H6, fan=True)
    times, low, high = _cone_points(figure)
    end = stored["timestamp"]
    assert end == int(market.series["bitcoin"].timestamp[-1])  # the last closed bar
    assert times == [end, end + 300, end + 900, end + 1800]
    fan = stored["fan"]
    close = fan["5m"]["q50"]
    assert low == [close, *(fan[h]["q10"] for h in HORIZONS)]
    assert high == [close, *(fan[h]["q90"] for h in HORIZONS)]
    assert low[1] > low[2] > low[3] and high[1] < high[2] < high[3]  # it widens with time
    hover = _by_name(figure)["price fan 10-90 %"].hovertemplate
    assert figures.FAN_CLAIM in hover and "pipeline" in hover
    # off by the switch, and never on a chart of several coins
    assert "price fan 10-90 %" not in _by_name(figures.price_figure(market, ["bitcoin"], Span.H6))
    several = figures.price_figure(market, ["bitcoin", "ethereum"], Span.H6, fan=True)
    assert "price fan 10-90 %" not in _by_name(several)


def test_without_a_stored_fan_the_cone_is_the_held_ticks_engines_last_bar(market: Market) -> None:
    overlays.clear_cache()
    held = Market({"ethereum": market.series["ethereum"]})  # no risk map: not from the pipeline
    bars = Engine("ethereum").feed(market.series["ethereum"]).bars
    cone = figures.fan_cone(held, "ethereum")
    assert cone is not None and cone.source == "held ticks" and cone.end == int(bars["end"][-1])
    for h, (q10, q50, q90) in cone.quantiles.items():
        assert (q10, q50, q90) == tuple(bars[f"fan_{q}_{h}"][-1] for q in ("q10", "q50", "q90"))
    # the fan warms up for 6 hours: over fewer held ticks there is none, and no error
    overlays.clear_cache()
    short = Market({"ethereum": market.series["ethereum"][-36:]})
    assert figures.fan_cone(short, "ethereum") is None
    figure = figures.price_figure(short, ["ethereum"], Span.H6, fan=True, fan_band=True)
    assert {t.name for t in figure.data} == {"ethereum"}


def test_the_30m_fan_through_time_is_the_engines_placed_at_the_time_it_was_made_for() -> None:
    overlays.clear_cache()
    ticks = sample_ticks("solana", 4)
    held = Market({"solana": ticks})
    bars = Engine("solana").feed(ticks).bars
    end = held.as_of or 0
    figure = figures.price_figure(held, ["solana"], Span.H24, fan_band=True)
    (low, high) = [t for t in figure.data if (t.name or "").startswith("fan made 30 min before")]
    assert high.name.endswith("(up)") and high.fill == "tonexty"
    made = bars["end"] > end - Span.H24 - 1800
    made &= bars["end"] <= end - 1800
    assert len(low.x) == int(made.sum()) == 288  # a day of bars, each made 30 min before
    assert np.array_equal(np.asarray(low.y, float), bars["fan_q10_30m"][made])
    x = np.asarray(low.x, dtype="datetime64[s]").astype(np.int64)
    assert np.array_equal(x, bars["end"][made] + 1800)
    # the share of the span's closes inside, named: what the fan promises is 80 %
    later = np.searchsorted(bars["end"], bars["end"][made] + 1800)
    close = bars["close"][later]
    inside = (close >= bars["fan_q10_30m"][made]) & (close <= bars["fan_q90_30m"][made])
    assert f"({inside.mean():.0%} of {len(close)} closes inside)" in low.name
    assert 0.65 < inside.mean() < 0.95
    # no look-ahead: 40 later ticks change no earlier bar's fan
    overlays.clear_cache()
    partial = overlays.structure_path(ticks[: len(ticks) - 40])
    whole = overlays.structure_path(ticks)
    assert partial is not None and whole is not None
    n = len(partial.end)
    for column, values in partial.fan.items():
        assert np.array_equal(values, whole.fan[column][:n], equal_nan=True), column


def test_the_signals_table_shows_4h_distances_and_bitcoins_part_not_again_in_details() -> None:
    details = {"alignment": 0.25, "counter_trend": 0.0, "dist_support_atr": 1.234,
               "dist_resistance_atr": 0.5, "dist_support_atr_4h": 3.456,
               "dist_resistance_atr_4h": float("nan"), "dist_support_atr_15m": 0.7,
               "beta": 1.3, "explained_share": 0.824, "btc_driven": 1.0, "adx": 30.0}  # fmt: skip
    alt = Signal("solana", 1, SignalType.BUY, "breakout", "5m", 1.0, 0.5, details=details)
    btc = dataclasses.replace(alt, crypto_id="bitcoin", details={"alignment": 1.0})
    alert = Signal(MARKET_ID, 2, SignalType.ALERT, "market_breadth_up", "1h", 101.0, 0.5,
                   details={"index": 101.0, "breadth_up": 0.83})  # fmt: skip
    rows = figures.signal_rows([alt, btc, alert])
    assert set(rows[0]) == {key for key, _ in figures.SIGNAL_COLUMNS}
    assert (rows[0]["dist_support_atr_4h"], rows[0]["dist_resistance_atr_4h"]) == (3.46, None)
    assert (rows[0]["btc_share"], rows[0]["btc_driven"]) == (82.0, "yes")
    assert rows[0]["details"] == "adx=30, beta=1.3, dist_support_atr_15m=0.7"
    assert (rows[1]["btc_share"], rows[1]["btc_driven"]) == (None, None)
    assert rows[2]["coin"] == MARKET_ID and rows[2]["type"] == "ALERT"
    assert rows[2]["details"] == "breadth_up=0.83, index=101"
    headers = dict(figures.SIGNAL_COLUMNS)
    assert headers["btc_share"][0] == headers["btc_driven"][0] == "BTC-driven"
    assert headers["dist_support_atr_4h"] == ("to support (ATR)", "4h")


@pytest.mark.integration
@pytest.mark.slow
def test_market_alerts_the_pipeline_stored_are_read_listed_and_marked_with_their_record() -> None:
    # what the batch analysis makes of the bars (the stream's own MarketSignals)
    ticks = moving_market()
    bars = {c: closed_bars(t) for c, t in ticks.items()}
    history = market_history({c: (b["end"], b["close"]) for c, b in bars.items()})
    last = history.signals[-1].timestamp
    # a stack tracking the five coins, fed through the pipeline (Kinesis -> process function
    # -> DynamoDB) up to half an hour before the last alert, read, then fed the rest
    cut = {c: int(np.searchsorted(t.timestamp, last - 1800, side="right")) for c, t in
           ticks.items()}  # fmt: skip
    stack = LocalStack.start(parameters={"TrackedCoins": ",".join(ticks)})
    try:
        with temporary_environment(stack.environment()):
            reader = DashboardReader(budget=None)
            run_pipeline(stack, [t[: cut[c]] for c, t in ticks.items()])
            first = {s.signal_id for s in reader.refresh().signals if s.crypto_id == MARKET_ID}
            run_pipeline(stack, [t[cut[c] :] for c, t in ticks.items()])
            market = reader.refresh()  # reads the market's new alert with the coins' ticks
    finally:
        stack.stop()
    overlays.clear_cache()
    end = market.as_of or 0
    expected = {s.signal_id: s for s in history.signals if s.timestamp > end - Span.H24}
    alerts = [s for s in market.signals if s.crypto_id == MARKET_ID]
    assert len(expected) == 4 and {s.signal_id for s in alerts} == set(expected)
    assert first == {i for i, s in expected.items() if s.timestamp < last}
    for s in alerts:
        reference = expected[s.signal_id]
        assert (s.rule, s.signal_type, s.actionable) == (
            reference.rule, reference.signal_type, reference.actionable)  # fmt: skip
        assert s.evidence == pytest.approx(reference.evidence)
        assert s.details == pytest.approx(reference.details)
    assert max(s.evidence["n"] for s in alerts) > 0  # a record that grows
    # the pseudo-coin is no coin: no series, no row of its own, no empty chart
    assert market.coins == sorted(ticks, key=lambda c: c != "bitcoin")
    assert MARKET_ID not in market.series
    assert MARKET_ID not in {r["coin"] for r in figures.risk_rows(market)}
    assert MARKET_ID not in {r["coin"] for r in figures.aggregate_rows(market)}
    assert MARKET_ID not in {r["coin"] for r in figures.beta_rows(market)}
    assert figures.price_figure(market, [MARKET_ID], Span.H24).layout.annotations[0].text
    # listed in the signals table, alone when chosen
    chosen = figures.filter_signals(market.signals, coins=[MARKET_ID])
    rows = figures.signal_rows(chosen)
    assert [r["rule"] for r in rows] == [s.rule for s in sorted(alerts, key=lambda s: -s.timestamp)]
    assert all(r["record"] == figures.track_record(s) for r, s in
               zip(rows, sorted(alerts, key=lambda s: -s.timestamp), strict=True))  # fmt: skip
    # marked on the co-movement panel at their times, with their track record on hover
    figure = figures.market_figure(market, Span.H24)
    marks = [t for t in figure.data if t.name and t.name.startswith("market alert")]
    x = sorted(int(np.datetime64(v, "s").astype(np.int64)) for t in marks for v in t.x)
    assert x == sorted(s.timestamp for s in alerts)
    custom = [c for t in marks for c in t.customdata]
    assert {c[1] for c in custom} == {figures.track_record(s) for s in alerts}
    assert all("record:" in t.hovertemplate for t in marks)
    assert f"{len(alerts)} market alerts (pipeline)" in figure.layout.title.text
    # bitcoin's part in the other coins' signals, as the process function stored it
    rows = figures.signal_rows(s for s in market.signals if s.crypto_id == "coin-1")
    shares = [r for r in rows if r["btc_driven"] is not None]
    assert shares and {r["btc_driven"] for r in shares} <= {"yes", "no"}
    assert all(0 <= r["btc_share"] <= 100 for r in shares)
