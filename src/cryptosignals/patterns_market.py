"""Generated markets with planted chart patterns, for judging cryptosignals.structure: a calm
random walk with a double top, double bottom, head and shoulders or inverse head and shoulders
planted every few days at known times, and the same walk without them (pure noise)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cryptosignals.candles import Candles
from cryptosignals.synthetic import candles_from_returns


@dataclass(frozen=True)
class PlantedPattern:
    """A chart pattern planted in `pattern_market`: candle indices of its first candle, of its
    last peak (the second top or bottom, the right shoulder) and of the candle after it."""

    kind: str  # "double_top", "double_bottom", "head_shoulders", "inverse_head_shoulders"
    start: int
    last_peak: int
    stop: int


#: Each pattern as anchor levels (in units of its height, 0 = the neckline) and leg lengths (in
#: units of `leg_hours`): a rise into the first peak from below the neckline, the peaks and
#: troughs, and a faster fall through the neckline after the last peak.
PATTERN_SHAPES: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    "double_top": ((-0.5, 1.0, 0.0, 1.0, -0.5), (1.0, 1.0, 1.0, 0.5)),
    "head_shoulders": ((-0.5, 1.0, 0.0, 1.6, 0.0, 1.0, -0.5), (1.0, 1.0, 1.0, 1.0, 1.0, 0.5)),
}
PATTERN_SHAPES["double_bottom"] = (tuple(-a for a in PATTERN_SHAPES["double_top"][0]),
                                   PATTERN_SHAPES["double_top"][1])  # fmt: skip
PATTERN_SHAPES["inverse_head_shoulders"] = (
    tuple(-a for a in PATTERN_SHAPES["head_shoulders"][0]), PATTERN_SHAPES["head_shoulders"][1],
)  # fmt: skip


def pattern_market(
    days: int = 60, seed: int = 0, kinds: tuple[str, ...] = tuple(PATTERN_SHAPES),
    every_days: float = 3.0, height: float = 0.04, leg_hours: float = 8.0, vol: float = 0.001,
    plant: bool = True, start_time: int = 1_740_000_000,
) -> tuple[Candles, list[PlantedPattern]]:  # fmt: skip
    """A calm random walk of 5-minute candles (`vol` per bar, Gaussian) with a chart pattern
    planted every `every_days` days from day 2, cycling through `kinds`. A pattern is a chain
    of Brownian bridges (the same `vol` noise) between its anchor levels (`PATTERN_SHAPES`,
    `height` as log price per unit), so its peaks land on their levels and the path between is
    as rough as the walk's. With `plant=False` it is the pure walk: noise to count false
    alarms on."""
    unknown = [k for k in kinds if k not in PATTERN_SHAPES]
    if unknown or not kinds:
        raise ValueError(f"unknown pattern kind(s) {unknown}; known: {', '.join(PATTERN_SHAPES)}")
    rng = np.random.default_rng(seed)
    n = days * 288
    returns = rng.normal(0.0, vol, n)
    leg = leg_hours * 12  # bars
    planted: list[PlantedPattern] = []
    at, which = 2 * 288, 0
    while plant:
        kind = kinds[which % len(kinds)]
        anchors, legs = PATTERN_SHAPES[kind]
        lengths = [round(u * leg) for u in legs]
        if at + sum(lengths) >= n:
            break
        path = [np.zeros(1)]
        i = at
        for a, b, m in zip(anchors[:-1], anchors[1:], lengths, strict=True):
            walk = np.cumsum(rng.normal(0.0, vol, m))
            t = np.arange(1, m + 1) / m
            path.append(height * (a + (b - a) * t) + walk - t * walk[-1])
            i += m
        level = np.concatenate(path)
        returns[at : at + len(level) - 1] = np.diff(level + height * anchors[0])
        last = at + sum(lengths[:-1]) - 1
        planted.append(PlantedPattern(kind, at, last, at + sum(lengths)))
        at += int(every_days * 288)
        which += 1
    return candles_from_returns(returns, vol, rng, start_time), planted
