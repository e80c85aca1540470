"""`Market`: what the dashboard shows, as one immutable snapshot of the tables.

The reader builds it from DynamoDB; tests build it from the engine's output directly. Figures
and tables are pure functions of a `Market` and the page's controls.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

import numpy as np

from cryptosignals.model import Signal, TickSeries
from cryptosignals.windows import Aggregate


class Span(IntEnum):
    """The price chart's time spans, in seconds (the selector's values)."""

    H1 = 3600
    H6 = 6 * 3600
    H24 = 24 * 3600
    D7 = 7 * 24 * 3600
    D30 = 30 * 24 * 3600  # enough history for the hour-of-week profile (two whole weeks)

    @property
    def label(self) -> str:
        return {3600: "1h", 21600: "6h", 86400: "24h", 604800: "7d", 2592000: "30d"}[int(self)]


BASE_COIN = "bitcoin"


@dataclass(frozen=True)
class Market:
    """Ticks per coin (event time ascending), signals, the latest aggregates per coin, and the
    latest risk forecast and regime the pipeline stored per coin (`risk`: the 60-minute
    aggregate's `risk` map, see cryptosignals.risk.RiskForecaster.latest) and the market context
    (`context`: its `market` map: beta, corr, explained_share, btc_driven to bitcoin, and the
    market's end, breadth_up, breadth_ma, pc1_share, mean_corr, alert; see
    cryptosignals.handlers.process)."""

    series: Mapping[str, TickSeries] = field(default_factory=dict)
    signals: Sequence[Signal] = ()
    aggregates: Sequence[Aggregate] = ()
    risk: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    context: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    @property
    def coins(self) -> list[str]:
        """Coins with ticks, bitcoin first (the base of betas), then by name."""
        names = sorted(c for c, s in self.series.items() if len(s))
        return sorted(names, key=lambda c: c != BASE_COIN)

    @property
    def as_of(self) -> int | None:
        """The newest tick's event time: the right edge of every chart (None: no ticks)."""
        ends = [int(s.timestamp[-1]) for s in self.series.values() if len(s)]
        return max(ends) if ends else None

    @property
    def tick_count(self) -> int:
        return sum(len(s) for s in self.series.values())

    def window(self, coin: str, start: int, end: int) -> TickSeries:
        """The coin's ticks with start < time <= end."""
        series = self.series[coin]
        lo, hi = np.searchsorted(series.timestamp, [start, end], side="right")
        return series[slice(int(lo), int(hi))]
