"""Figure builders without a browser: a Market in, plotly figures and table rows out."""

from __future__ import annotations

import dataclasses
import time

import numpy as np
import pytest
from dashboard_support import planted_betas, sample_market, sample_ticks, synthetic_market

from cryptosignals import regimes, risk
from cryptosignals.candles import SAMPLE_COINS
from cryptosignals.dashboard import figures, overlays
from cryptosignals.dashboard.app import status_text
from cryptosignals.dashboard.market import Market, Span
from cryptosignals.engine import closed_bars
from cryptosignals.indicators import sma
from cryptosignals.model import Signal, SignalType
from cryptosignals.profile import DAYS, hour_of_week_volatility


@pytest.fixture(scope="module")
def market() -> Market:
    return sample_market(days=2)


def _traces(figure, kind: str = "lines") -> dict:  # type: ignore[no-untyped-def]
    return {t.name: t for t in figure.data if t.mode == kind}


def test_one_coin_is_drawn_in_usd_with_its_sma_over_the_span(market: Market) -> None:
    figure = figures.price_figure(market, ["bitcoin"], Span.H6, [20])
    lines = _traces(figure)
    assert set(lines) == {"bitcoin", "bitcoin SMA 20"}
    btc = market.series["bitcoin"]
    assert len(lines["bitcoin"].x) == 72  # 6 hours of 5-minute ticks
    assert lines["bitcoin"].y[-1] == btc.price[-1]
    assert lines["bitcoin SMA 20"].y[-1] == pytest.approx(sma(btc.price, 20)[-1])
    assert not np.isnan(lines["bitcoin SMA 20"].y[0]), "the SMA is warm at the left edge"
    assert figure.layout.yaxis.title.text == "USD"


def test_several_coins_are_normalised_to_100_at_the_start_of_the_span(market: Market) -> None:
    figure = figures.price_figure(market, list(SAMPLE_COINS), Span.H24)
    lines = _traces(figure)
    assert set(lines) == set(SAMPLE_COINS)
    for coin in SAMPLE_COINS:
        y = np.asarray(lines[coin].y)
        assert y[0] == pytest.approx(100.0)
        window = market.window(coin, market.as_of - Span.H24, market.as_of)  # type: ignore[operator]
        assert y[-1] == pytest.approx(100.0 * window.price[-1] / window.price[0])


def test_signals_are_triangles_and_diamonds_with_rule_and_confidence_on_hover(
    market: Market,
) -> None:
    figure = figures.price_figure(market, ["ethereum"], Span.H24)
    markers = _traces(figure, "markers")
    assert {"BUY", "SELL"} <= set(markers)
    assert markers["BUY"].marker.symbol == "triangle-up"
    assert markers["SELL"].marker.symbol == "triangle-down"
    end = market.as_of
    expected = [
        s
        for s in market.signals
        if s.crypto_id == "ethereum" and end - Span.H24 < s.timestamp <= end  # type: ignore[operator]
    ]
    assert sum(len(t.x) for t in markers.values()) == len(expected)
    coin, _rule, timeframe, confidence, details, record = markers["BUY"].customdata[0]
    assert coin == "ethereum" and timeframe == "5m" and 0.0 < confidence < 1.0
    assert "rule: %{customdata[1]}" in markers["BUY"].hovertemplate
    assert "confidence" in markers["BUY"].hovertemplate and details
    assert "record: %{customdata[5]}" in markers["BUY"].hovertemplate and record


def test_by_choice_only_actionable_signals_are_drawn_and_listed(market: Market) -> None:
    actionable = Signal("ethereum", market.as_of or 0, SignalType.BUY, "rsi_reversal", "5m", 1.0,
                        0.7, evidence={"n": 40.0, "mean_net_bp": 35.0, "hit_rate": 0.6,
                                       "p_adjusted": 0.02}, actionable=True)  # fmt: skip
    quiet = Market(market.series, [*market.signals, actionable], market.aggregates)
    markers = _traces(figures.price_figure(quiet, ["ethereum"], Span.H24, actionable_only=True),
                      "markers")  # fmt: skip
    assert list(markers) == ["BUY"] and len(markers["BUY"].x) == 1
    chosen = figures.filter_signals(quiet.signals, actionable_only=True)
    assert chosen == [actionable]
    (row,) = figures.signal_rows(chosen)
    assert row["actionable"] == "yes" and row["record"] == "n=40, hit 60%, net +35 bp, p_adj 0.02"


def test_alert_markers_are_diamonds() -> None:
    base = sample_market(days=1)
    alert = Signal("bitcoin", base.as_of or 0, SignalType.ALERT, "volume_spike", "5m", 1.0, 0.7)
    market = Market(base.series, [alert], base.aggregates)
    markers = _traces(figures.price_figure(market, ["bitcoin"], Span.H1), "markers")
    assert list(markers) == ["ALERT"] and markers["ALERT"].marker.symbol == "diamond"


def test_long_series_are_downsampled_but_keep_their_extremes() -> None:
    market = synthetic_market(coins=2, minutes=7 * 1440)
    figure = figures.price_figure(market, ["bitcoin"], Span.D7, max_points=500)
    line = _traces(figure)["bitcoin"]
    assert len(line.x) <= 500
    assert max(line.y) == market.series["bitcoin"].price.max()


def test_heatmap_has_a_row_of_24_hours_for_every_coin(market: Market) -> None:
    for metric in figures.HeatmapMetric:
        heatmap = figures.volume_heatmap(market, market.coins, Span.H24, metric).data[0]
        assert list(heatmap.y) == market.coins
        assert list(heatmap.x) == list(range(24))
        for row in heatmap.z:
            assert len(row) == 24 and sum(v is not None for v in row) >= 23


def test_correlation_matrix_covers_every_coin_ordered_by_cluster_with_betas(
    market: Market,
) -> None:
    returns = figures.returns_of(market, market.coins, Span.H24)
    assert returns.step == 300 and returns.count == 287
    heatmap = figures.correlation_figure(returns).data[0]
    assert sorted(heatmap.x) == sorted(SAMPLE_COINS) and list(heatmap.x) == list(heatmap.y)
    z = np.array(heatmap.z, dtype=float)
    assert np.allclose(np.diag(z), 1.0) and np.allclose(z, z.T)
    rows = figures.beta_rows(market)
    assert {r["coin"] for r in rows} == set(SAMPLE_COINS) - {"bitcoin"}
    assert all(0.5 < r["corr_bitcoin"] <= 1 and r["beta_bitcoin"] > 0 for r in rows)


def test_planted_betas_come_back_from_the_dashboard_rows() -> None:
    market = synthetic_market(coins=5, minutes=1440)
    rows = figures.beta_rows(market)
    found = {r["coin"]: r["beta_bitcoin"] for r in rows}
    planted = dict(zip(market.coins[1:], planted_betas(5), strict=True))
    assert found == pytest.approx(planted, abs=0.1)
    assert all(r["corr_bitcoin"] > 0.6 for r in rows)


def test_signal_filters_combine_and_sort_newest_first(market: Market) -> None:
    everything = figures.filter_signals(market.signals)
    assert len(everything) == len(market.signals)
    assert [s.timestamp for s in everything] == sorted(s.timestamp for s in everything)[::-1]
    chosen = figures.filter_signals(
        market.signals, coins=["solana"], types=["SELL"], min_confidence=0.6
    )
    assert chosen and all(
        s.crypto_id == "solana" and s.signal_type == "SELL" and s.confidence_score >= 0.6
        for s in chosen
    )
    rule = chosen[0].rule
    assert all(s.rule == rule for s in figures.filter_signals(market.signals, rules=[rule]))
    rows = figures.signal_rows(chosen)
    assert rows[0]["coin"] == "solana" and rows[0]["time"].endswith("UTC")


def test_aggregate_rows_give_every_window_per_coin_bitcoin_first(market: Market) -> None:
    rows = figures.aggregate_rows(market)
    assert next(r["coin"] for r in rows) == "bitcoin" and len(rows) == len(SAMPLE_COINS)
    for row in rows:
        for window in ("5m", "30m", "60m", "24h"):
            assert isinstance(row[f"avg_{window}"], float)
            assert isinstance(row[f"chg_{window}"], float)
        assert row["low_24h"] <= row["avg_24h"] <= row["high_24h"]
        assert row["samples_24h"] == 288


def test_an_empty_market_gives_messages_not_errors() -> None:
    empty = Market()
    for figure in (
        figures.price_figure(empty, ["bitcoin"], Span.H24),
        figures.volume_heatmap(empty, [], Span.H24),
        figures.correlation_figure(figures.returns_of(empty, [], Span.H24)),
    ):
        assert not figure.data and figure.layout.annotations[0].text
    assert figures.aggregate_rows(empty) == [] and figures.signal_rows([]) == []
    assert "empty" in status_text(empty, None, 0.1)
    assert status_text(empty, "Cannot reach DynamoDB", 0.1).startswith("Cannot reach")


@pytest.mark.slow
def test_one_refresh_of_every_view_at_24h_x_50_coins_of_1_minute_data_is_quick() -> None:
    """The work of one page refresh after the read: every chart and table for 72,000 ticks."""
    market = synthetic_market(coins=50, minutes=1440)
    assert market.tick_count == 72_000
    timings = []
    for _ in range(3):
        started = time.perf_counter()
        price = figures.price_figure(market, market.coins[:8], Span.H24, [20, 50])
        all_coins = figures.price_figure(market, market.coins, Span.H24)
        heatmap = figures.volume_heatmap(market, market.coins, Span.H24)
        returns = figures.returns_of(market, market.coins, Span.H24)
        correlation = figures.correlation_figure(returns)
        betas = figures.beta_rows(market)
        rows = figures.signal_rows(figures.filter_signals(market.signals))
        aggregates = figures.aggregate_rows(market)
        payload = sum(
            len(f.to_json()) for f in (price, all_coins, heatmap, correlation)
        )  # what Dash sends to the browser
        timings.append(time.perf_counter() - started)
    assert len(correlation.data[0].x) == 50 and len(betas) == 49
    assert len(heatmap.data[0].y) == 50 and rows and len(aggregates) == 50
    best = min(timings)
    print(f"\none refresh, 50 coins x 1,440 1-minute ticks: {best * 1000:.0f} ms, "
          f"{payload / 1e6:.1f} MB of figures")  # fmt: skip
    assert best < 3.0


# -- risk, regimes and "when does it move" -----------------------------------------------------


def _bars(market: Market, coin: str) -> tuple[np.ndarray, np.ndarray]:
    bars = closed_bars(market.series[coin], "5m")
    return bars["end"].astype(np.int64), bars["close"]


def _seconds(x: object) -> np.ndarray:
    return np.asarray(x, dtype="datetime64[s]").astype(np.int64)


def test_one_coin_gets_the_1h_var99_band_of_the_risk_module_at_every_bar(market: Market) -> None:
    overlays.clear_cache()
    figure = figures.price_figure(market, ["bitcoin"], Span.H6, band=True)
    lines = _traces(figure)
    lower, upper = lines["1h VaR99"], lines["1h VaR99 (up)"]
    end, close = _bars(market, "bitcoin")
    model = risk.model_for("bitcoin")
    assert model is not None
    var_99 = risk.RiskForecaster(model).update(end, close).tail(model, "1h")["var_99"]
    inside = end > (market.as_of or 0) - Span.H6  # forecasts from the whole series: warm here
    assert np.array_equal(_seconds(lower.x), end[inside]) and len(lower.x) == 72
    assert np.allclose(lower.y, close[inside] * np.exp(-var_99[inside]), rtol=1e-12)
    assert np.allclose(upper.y, close[inside] * np.exp(var_99[inside]), rtol=1e-12)
    assert np.allclose(lower.customdata, var_99[inside]) and "VaR99" in lower.hovertemplate
    assert upper.fill == "tonexty" and not figure.layout.shapes  # regimes not asked for
    assert np.all(lower.y < close[inside]) and 0.002 < np.median(var_99) < 0.1


def test_regime_shading_spans_the_filters_runs_coloured_by_rank(market: Market) -> None:
    overlays.clear_cache()
    figure = figures.price_figure(market, ["ethereum"], Span.H24, regimes=True)
    assert "1h VaR99" not in _traces(figure)  # the band not asked for
    end, close = _bars(market, "ethereum")
    model = regimes.model_for("ethereum")
    assert model is not None
    label = regimes.filter_regimes(model, end, close).label
    inside = end > (market.as_of or 0) - Span.H24
    shapes = figure.layout.shapes
    assert shapes
    covered = np.full(len(end), -1)
    for shape in shapes:
        x0, x1 = _seconds([shape.x0, shape.x1])
        rank = model.names.index(shape.name.removeprefix("regime: "))
        run = (end > x0) & (end <= x1)
        assert run.any() and np.all(label[run] == rank), shape.name
        assert np.all(covered[run] == -1), "runs do not overlap"
        covered[run] = rank
        assert shape.fillcolor == figures.REGIME_COLOURS[rank] and shape.layer == "below"
    assert np.array_equal(covered[inside], label[inside])  # every bar of the span, no more
    assert len({s.name for s in shapes if s.showlegend}) == sum(s.showlegend for s in shapes)
    assert {s.name for s in shapes if s.showlegend} == {f"regime: {model.names[k]}"
                                                        for k in set(label[inside])}  # fmt: skip


def test_several_coins_get_neither_band_nor_regimes(market: Market) -> None:
    figure = figures.price_figure(market, list(SAMPLE_COINS), Span.H24, band=True, regimes=True)
    assert set(_traces(figure)) == set(SAMPLE_COINS) and not figure.layout.shapes


def test_band_and_regimes_cost_nothing_when_no_tick_is_new_and_continue_the_stream(
    market: Market,
) -> None:
    overlays.clear_cache()
    series = market.series["solana"]
    partial = overlays.risk_path(series[: len(series) - 30])
    hits = overlays._paths.hits
    assert overlays.risk_path(series[: len(series) - 30]) is partial
    assert overlays._paths.hits == hits + 1
    continued = overlays.risk_path(series)  # only the 30 new ticks' bars are fed
    overlays.clear_cache()
    whole = overlays.risk_path(series)
    assert partial is not None and continued is not None and whole is not None
    assert len(continued.end) == len(partial.end) + 30
    for name in ("end", "close", "sigma", "var_99", "label"):
        assert np.array_equal(getattr(continued, name), getattr(whole, name)), name
    trimmed = overlays.risk_path(series[60:])  # the reader dropped the oldest ticks: still warm
    assert trimmed is not None and trimmed.label[0] >= 0
    keep = whole.end >= series.timestamp[60]
    assert np.array_equal(trimmed.var_99, whole.var_99[keep])
    assert np.array_equal(trimmed.label, whole.label[keep])
    # the coin's ticks replaced by other ones (another market in the same process)
    other = synthetic_market(coins=2, minutes=600).series["bitcoin"]
    other = dataclasses.replace(other, crypto_id="solana")
    fresh = overlays.risk_path(other)
    assert fresh is not None and fresh.end[0] > whole.end[-1] and fresh.label[0] == -1


def test_when_does_it_move_is_a_7_x_24_heatmap_with_the_flagged_cells_marked() -> None:
    ticks = sample_ticks("bitcoin", 21)
    found = hour_of_week_volatility(ticks.timestamp, ticks.price)
    figure = figures.profile_figure(Market({"bitcoin": ticks}), "bitcoin")
    heatmap, marks = figure.data
    assert list(heatmap.y) == list(DAYS) and list(heatmap.x) == list(range(24))
    z = np.array(heatmap.z, dtype=float)
    assert z.shape == (7, 24) and not np.isnan(z).any()
    assert np.allclose(z, np.clip(np.log2(found.grid_7x24()), -1, 1))
    assert heatmap.customdata[0][13][0] == pytest.approx(found.estimate[13])  # Monday 13h
    assert found.flagged.any()
    flagged = {(DAYS[k // 24], k % 24) for k in np.flatnonzero(found.flagged)}
    assert set(zip(marks.y, marks.x, strict=True)) == flagged
    assert marks.marker.symbol == "square-open"


def test_when_does_it_move_says_what_the_profile_needs_with_too_little_history(
    market: Market,
) -> None:
    figure = figures.profile_figure(market, "bitcoin")
    assert not figure.data
    text = figure.layout.annotations[0].text
    assert "2.0 days of ticks held" in text and "at least two weeks" in text
    assert "No ticks" in figures.profile_figure(Market(), None).layout.annotations[0].text


def test_risk_rows_show_the_stored_forecast_and_regime_and_are_blank_without(
    market: Market,
) -> None:
    stored = market.risk["bitcoin"]
    without = Market(market.series, market.signals, market.aggregates,
                     {"bitcoin": stored})  # fmt: skip
    rows = {r["coin"]: r for r in figures.risk_rows(without)}
    assert list(rows) == ["bitcoin", "cardano", "ethereum", "solana"]
    btc = rows["bitcoin"]
    assert btc["var_99_1h"] == pytest.approx(stored["horizons"]["1h"]["var_99"] * 100, abs=0.01)
    assert btc["sigma_1h"] == pytest.approx(stored["horizons"]["1h"]["sigma"] * 100, abs=0.01)
    assert btc["position_size"] == pytest.approx(stored["position_size"] * 100, abs=0.1)
    assert btc["regime"] == stored["regime"]["name"] and btc["likeliest"].endswith(")")
    assert btc["as_of"] == figures.utc(stored["timestamp"])
    assert all(v is None for k, v in rows["cardano"].items() if k != "coin")


@pytest.mark.parametrize("coin", SAMPLE_COINS)
def test_the_history_held_before_a_span_warms_up_the_regimes_and_the_forecast(coin: str) -> None:
    volatility, model = risk.model_for(coin), regimes.model_for(coin)
    assert volatility is not None and model is not None
    bars = overlays.WARMUP_SECONDS // overlays.BAR_SECONDS
    assert model.warmup + 1 < bars
    assert volatility.beta**bars < 0.06  # what is left of the forecast's starting variance
