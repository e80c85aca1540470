"""Levels and patterns, the alignment strip and the market panel: the stream's own trackers over
the held ticks, drawn without a browser (the bundled sample, no network)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from dashboard_support import sample_market, sample_ticks

from cryptosignals.candles import SAMPLE_COINS
from cryptosignals.dashboard import figures, overlays
from cryptosignals.dashboard.market import Market, Span
from cryptosignals.engine import Engine, closed_bars
from cryptosignals.market import BetaTracker, MarketTracker
from cryptosignals.model import Signal, SignalType
from cryptosignals.structure import StructureTracker, aggregate_bars

DAYS = 10


@pytest.fixture(scope="module")
def held() -> Market:
    return Market({coin: sample_ticks(coin, DAYS) for coin in SAMPLE_COINS})


@pytest.fixture(scope="module")
def engine_bars(held: Market) -> dict[str, np.ndarray]:
    """The engine's base bars over bitcoin's held ticks (with every rule and its models)."""
    return Engine("bitcoin").feed(held.series["bitcoin"]).bars


def _zones(figure) -> list[tuple[str, float, float]]:  # type: ignore[no-untyped-def]
    return sorted(
        (t.name, min(t.y), max(t.y)) for t in figure.data if t.name in ("support", "resistance")
    )


def test_the_zones_drawn_are_the_structure_trackers_on_the_same_1h_bars(
    held: Market, engine_bars: dict[str, np.ndarray]
) -> None:
    overlays.clear_cache()
    b = engine_bars
    hours = aggregate_bars(b["end"], b["high"], b["low"], b["close"], b["volume_ratio"])
    tracker = StructureTracker()
    tracker.update(hours)
    expected = [z for z in tracker.zones if z.touches >= tracker.params.min_touches]
    path = overlays.structure_path(held.series["bitcoin"])
    assert path is not None and path.zones == tuple(expected) and len(expected) >= 3
    figure = figures.price_figure(held, ["bitcoin"], Span.D7, structure=True)
    last = float(b["close"][-1])
    shown = figures.visible_zones(path, *_range(held, Span.D7))
    assert shown and set(shown) <= set(expected)
    assert _zones(figure) == sorted(
        ("support" if z.centre <= last else "resistance", z.low, z.high) for z in shown
    )
    hover = next(t for t in figure.data if t.name == "support").text
    assert "touches" in hover
    # the switch: nothing of the structure without it
    plain = figures.price_figure(held, ["bitcoin"], Span.D7)
    assert not _zones(plain) and "breakout" not in {t.name for t in plain.data}


def _range(market: Market, span: int) -> tuple[float, float]:
    end = market.as_of or 0
    bars = closed_bars(market.window("bitcoin", end - span - 300, end))
    inside = bars["end"] > end - span
    return float(bars["close"][inside].min()), float(bars["close"][inside].max())


def test_breakout_and_pattern_markers_are_the_engines_events(
    held: Market, engine_bars: dict[str, np.ndarray]
) -> None:
    overlays.clear_cache()
    end = held.as_of or 0
    figure = figures.price_figure(held, ["bitcoin"], Span.D7, structure=True)
    markers = {t.name: t for t in figure.data if t.name in
               {name for _, _, name in figures.STRUCTURE_MARKERS.values()}}  # fmt: skip
    inside = engine_bars["end"] > end - Span.D7
    for column, (symbol, _, name) in figures.STRUCTURE_MARKERS.items():
        fired = inside & (engine_bars[column] != 0)
        if not fired.any():
            assert name not in markers
            continue
        trace = markers[name]
        assert trace.marker.symbol == symbol
        assert list(trace.y) == list(engine_bars["close"][fired])
    assert "breakout" in markers, "the sample's week has breakouts"


def test_the_alignment_strip_is_the_engines_trends_at_every_bar(
    held: Market, engine_bars: dict[str, np.ndarray]
) -> None:
    overlays.clear_cache()
    end = held.as_of or 0
    figure = figures.alignment_figure(held, "bitcoin", Span.D7, max_points=10_000)
    strip = figure.data[0]
    assert list(strip.y) == ["5m", "15m", "1h", "4h"]
    inside = (engine_bars["end"] > end - Span.D7) & (engine_bars["end"] <= end)
    assert len(strip.x) == int(inside.sum()) == 7 * 288
    for row, tf in zip(strip.z, strip.y, strict=True):
        expected = np.nan_to_num(engine_bars[f"trend_{tf}"][inside], nan=0.0)
        assert np.array_equal(np.asarray(row, float), expected), tf
    assert {v for row in strip.z for v in row} == {-1.0, 1.0} | ({0.0} & set(strip.z[3]))
    alignment = np.array([v for v in strip.customdata[0]], dtype=float)
    assert np.allclose(alignment, engine_bars["alignment"][inside], equal_nan=True)


def test_structure_and_strip_continue_from_the_last_tick_like_a_fresh_run_and_never_look_ahead(
    held: Market,
) -> None:
    overlays.clear_cache()
    series = held.series["solana"]
    partial = overlays.structure_path(series[: len(series) - 40])
    continued = overlays.structure_path(series)  # only the 40 new ticks are fed
    overlays.clear_cache()
    whole = overlays.structure_path(series)
    assert partial is not None and continued is not None and whole is not None
    assert len(continued.end) == len(partial.end) + 40 == len(whole.end)
    # no look-ahead: 40 later ticks changed no earlier bar's trends, alignment or events
    n = len(partial.end)
    for name in whole.trends:
        assert np.array_equal(partial.trends[name], whole.trends[name][:n], equal_nan=True)
    assert np.array_equal(partial.alignment, whole.alignment[:n], equal_nan=True)
    for name in whole.events:
        assert np.array_equal(partial.events[name], whole.events[name][:n], equal_nan=True)
    assert continued.zones == whole.zones
    for name in whole.trends:
        assert np.array_equal(continued.trends[name], whole.trends[name], equal_nan=True)
    for name in whole.events:
        assert np.array_equal(continued.events[name], whole.events[name], equal_nan=True)
    # older ticks read: the engine starts again from the first one
    longer = Market({"solana": sample_ticks("solana", DAYS + 1)}).series["solana"]
    again = overlays.structure_path(longer)
    assert again is not None and len(again.end) == len(whole.end) + 288


def _tracker_rows(market: Market) -> dict[str, np.ndarray]:
    coins = tuple(sorted(market.series))
    tracker = MarketTracker(coins)
    batch = {}
    for coin in coins:
        bars = closed_bars(market.series[coin])
        batch[coin] = (bars["end"], bars["close"])
    return tracker.update(batch)


def test_the_market_panel_is_the_market_trackers_breadth_and_pc1_share() -> None:
    overlays.clear_cache()
    held = Market({coin: sample_ticks(coin, 3) for coin in SAMPLE_COINS})
    end = held.as_of or 0
    figure = figures.market_figure(held, Span.H24)
    rows = _tracker_rows(held)
    inside = (rows["end"] > end - Span.H24) & (rows["end"] <= end)
    lines = {t.name: t for t in figure.data}
    for column, name, _ in figures.MARKET_LINES:
        assert np.allclose(np.asarray(lines[name].y, float), rows[column][inside],
                           equal_nan=True), column  # fmt: skip
    assert len(lines[figures.MARKET_LINES[0][1]].x) == int(inside.sum()) > 280
    # a refresh with new ticks continues the trackers: the same rows as one run over all
    shorter = Market({c: s[: len(s) - 20] for c, s in held.series.items()})
    overlays.clear_cache()
    overlays.market_path(dict(shorter.series))
    continued = overlays.market_path(dict(held.series))
    assert continued is not None
    for column in ("end", "breadth_up", "breadth_ma", "pc1_share"):
        assert np.array_equal(continued.rows[column], rows[column], equal_nan=True)
    # the beta table: each altcoin's BetaTracker fed the settled closes, as the process
    # function feeds it, unless the pipeline stored its own
    coins = tuple(sorted(held.series))
    b = coins.index("bitcoin")
    expected = {}
    for j, coin in enumerate(coins):
        if coin != "bitcoin":
            out = BetaTracker().update(rows["end"], rows["closes"][:, j], rows["closes"][:, b])
            expected[coin] = (round(out["beta"][-1], 3), round(out["corr"][-1], 3))
    table = {r["coin"]: r for r in figures.beta_rows(held)}
    assert {c: (r["beta_bitcoin"], r["corr_bitcoin"]) for c, r in table.items()} == expected
    assert {r["source"] for r in table.values()} == {"held ticks"}
    stored = {"beta": 1.5, "corr": 0.9, "explained_share": 0.8, "btc_driven": True}
    with_context = dataclasses.replace(held, context={"solana": stored})
    table = {r["coin"]: r for r in figures.beta_rows(with_context)}
    assert table["solana"] == {
        "coin": "solana", "corr_bitcoin": 0.9, "beta_bitcoin": 1.5, "explained": 80.0,
        "driven": "yes", "source": "pipeline",
    }  # fmt: skip
    assert table["ethereum"]["source"] == "held ticks"
    # the market's values now, as the pipeline stored them, in the panel's title
    assert "stored by the pipeline" not in figure.layout.title.text
    now = {"end": end, "breadth_up": 0.75, "breadth_ma": 0.5, "pc1_share": 0.61, "alert": ""}
    title = figures.market_figure(dataclasses.replace(held, context={"solana": now}), Span.H24)
    assert "breadth_up 0.75, breadth_ma 0.50, pc1_share 0.61" in title.layout.title.text


def test_every_signals_context_is_a_column_of_the_signals_table() -> None:
    market = sample_market(days=1)
    rows = figures.signal_rows(figures.filter_signals(market.signals))
    assert rows and all(set(figures.CONTEXT_DETAILS) <= set(row) for row in rows)
    assert any(row["alignment"] is not None for row in rows)
    details = {"alignment": 0.5, "counter_trend": 1.0, "dist_support_atr": 1.234,
               "dist_resistance_atr": float("nan")}  # fmt: skip
    signal = Signal("bitcoin", 1, SignalType.BUY, "breakout", "5m", 1.0, 0.5, details=details)
    (row,) = figures.signal_rows([signal])
    assert (row["alignment"], row["counter_trend"], row["dist_support_atr"]) == (0.5, 1.0, 1.23)
    assert row["dist_resistance_atr"] is None


def test_one_coin_or_none_gives_messages_not_errors(held: Market) -> None:
    one = Market({"bitcoin": held.series["bitcoin"]})
    assert figures.market_figure(one, Span.H24).layout.annotations[0].text
    assert figures.alignment_figure(Market(), None, Span.H24).layout.annotations[0].text
