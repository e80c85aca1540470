"""How long one dashboard refresh takes with 24 hours x 50 coins of 1-minute ticks (72,000 raw
items) in the local emulator. moto is far slower than DynamoDB, so the read figures are an
upper bound; the drawing figures are the page's own work. About 4 minutes:

    .venv/bin/python benchmarks/dashboard.py
    .venv/bin/python benchmarks/dashboard.py --draw-only   # no emulator: the drawing, ~10 s

It prints: the first (cold) read of every table, an incremental refresh after one new tick per
coin (what every `dcc.Interval` tick costs), and the work of drawing every chart and table.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1] / "tests" / "dashboard"))  # the test market

import numpy as np
from dashboard_support import synthetic_market

from cryptosignals.aws.store import Store
from cryptosignals.dashboard import figures
from cryptosignals.dashboard.market import Market, Span
from cryptosignals.dashboard.reader import DashboardReader
from cryptosignals.local.stack import LocalStack
from cryptosignals.model import Tick, TickSeries


def draw(market: Market) -> float:
    """Every view of one refresh, as the page's callbacks build them (default controls), and
    the price chart of one coin with its VaR band, regimes, levels and patterns, price fan and
    30-minute fan through time, its alignment strip, and the market panel with the market
    alerts (the forecast, the filter, the rule-less engine and the market trackers continue
    from the last refresh: only new bars are fed)."""
    started = time.perf_counter()
    figures.price_figure(market, market.coins[:8], Span.H24, [20]).to_json()
    figures.price_figure(
        market, market.coins[:1], Span.H24, [20], band=True, regimes=True, structure=True,
        fan=True, fan_band=True,
    ).to_json()  # fmt: skip
    figures.alignment_figure(market, market.coins[0], Span.H24).to_json()
    figures.market_figure(market, Span.H24).to_json()
    figures.profile_figure(market, market.coins[0]).to_json()
    figures.risk_rows(market)
    figures.volume_heatmap(market, market.coins, Span.H24).to_json()
    returns = figures.returns_of(market, market.coins, Span.H24)
    figures.correlation_figure(returns).to_json()
    figures.beta_rows(market)
    figures.signal_rows(figures.filter_signals(market.signals))
    figures.aggregate_rows(market)
    return time.perf_counter() - started


def _with_tick(market: Market, at: int) -> Market:
    """The market with one more tick per coin at `at` (what the reader holds after it)."""
    series = {}
    for coin, s in market.series.items():
        series[coin] = TickSeries(
            coin, np.r_[s.timestamp, at], np.r_[s.price, s.price[-1]],
            np.r_[s.volume_24h, s.volume_24h[-1]], np.r_[s.market_cap, np.nan],
            np.r_[s.change_24h, np.nan],
        )  # fmt: skip
    return dataclasses.replace(market, series=series)


def draw_only(market: Market) -> None:
    """The drawing alone, as after the reads above: cold, again with nothing new, and after one
    new tick per coin three times."""
    print(f"drawing, cold: {draw(market) * 1000:.0f} ms")
    print(f"drawing, nothing new: {draw(market) * 1000:.0f} ms")
    end = market.as_of or 0
    for round_ in range(1, 4):
        market = _with_tick(market, end + 60 * round_)
        print(f"drawing after 1 new tick per coin ({round_}): {draw(market) * 1000:.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draw-only", action="store_true", help="no emulator: the drawing")
    market = synthetic_market(coins=50, minutes=1440)
    if parser.parse_args().draw_only:
        draw_only(market)
        return
    with LocalStack.start() as stack:
        os.environ.update(stack.environment())
        store = Store()
        started = time.perf_counter()
        for series in market.series.values():
            store.put_ticks(series.ticks())
        store.put_aggregates(market.aggregates)
        store.put_signals(market.signals)
        print(
            f"wrote {market.tick_count:,} ticks, {len(market.signals):,} signals "
            f"in {time.perf_counter() - started:.1f} s"
        )
        reader = DashboardReader()
        started = time.perf_counter()
        read = reader.refresh()
        first = time.perf_counter() - started
        print(
            f"first refresh: {first:.2f} s, {read.tick_count:,} ticks (the last hour first); "
            f"drawing: {draw(read) * 1000:.0f} ms"
        )
        rounds = 1
        while reader.loading:
            read = reader.refresh()
            rounds += 1
        full = time.perf_counter() - started
        assert read.tick_count == market.tick_count, read.tick_count
        print(f"whole 24 hours held after {rounds} refreshes, {full:.1f} s of reading")
        started = time.perf_counter()
        reader.refresh()
        idle = time.perf_counter() - started
        print(
            f"refresh with nothing new: read {idle * 1000:.0f} ms, "
            f"drawing {draw(read) * 1000:.0f} ms"
        )
        end = read.as_of or 0
        for round_ in range(1, 4):
            new = [
                Tick(coin, end + 60 * round_, float(s.price[-1]), float(s.volume_24h[-1]))
                for coin, s in market.series.items()
            ]
            store.put_ticks(new)
            store.put_aggregates(
                [a.__class__(**{**a.__dict__, "window_end": end + 60 * round_})
                 for a in market.aggregates]
            )  # fmt: skip
            started = time.perf_counter()
            read = reader.refresh()
            incremental = time.perf_counter() - started
            drawing = draw(read)
            print(
                f"refresh {round_} (1 new tick per coin): read {incremental * 1000:.0f} ms + "
                f"drawing {drawing * 1000:.0f} ms = {(incremental + drawing) * 1000:.0f} ms"
            )


if __name__ == "__main__":
    main()
