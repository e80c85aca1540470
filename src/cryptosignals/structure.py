"""Chart structure: pivots, support and resistance zones, breakouts (held or false), and the
classic reversal patterns (double top/bottom, head and shoulders and its inverse).

The stream's part, numpy only. `StructureTracker` takes closed bars of ONE timeframe (the caller
aggregates them: 1h bars are the default the tolerances were measured on; `aggregate_bars` makes
them from 5-minute bars in a batch) and returns one row of outputs per new bar. Everything is
known at the close of the bar it is reported on; no later bar changes it (tested).

- **Pivots.** Bar i is a pivot high when its high is above the highs of the `k` bars before it
  and not below those of the `k` bars after it (a pivot low likewise); it is known only at bar
  i + k, its confirmation bar, and reported there (`pivot` = +1 / -1).
- **Zones.** The confirmed pivot prices (highs and lows alike) of the last `max_pivots` pivots,
  sorted and cut into clusters: a price more than `zone_atr` ATRs above its cluster's lowest
  price starts a new cluster. A zone is a cluster: its centre (mean price), its edges (the
  cluster's range, widened to at least `zone_atr` ATRs around the centre), its touches (pivots
  in it) and its last touch. Zones are redrawn at each confirmed pivot (ATR of that bar).
  Zones with at least `min_touches` touches count: those with centre below the close are
  support, above resistance. `dist_support_atr` = (close - centre) / ATR of the nearest support,
  `dist_resistance_atr` = (centre - close) / ATR of the nearest resistance, NaN when there is none.
- **Breakouts.** A close above a resistance zone's upper edge after a close at or below it (+1),
  or below a support zone's lower edge after a close at or above it (-1), while `volume_ratio`
  (the 24h volume over its trailing mean) exceeds `volume_min`. One breakout is followed at a
  time: if a close gets back inside the zone (at or below the upper edge for +1, at or above
  the lower edge for -1) within `hold_bars` bars it was false (`false_breakout` = its direction
  on that bar; no new breakout is counted on that bar), otherwise it held (`breakout_held` = its
  direction on bar `hold_bars` after).
  Every breakout is labelled exactly once, in order (`breakout_history`).
- **Patterns** from confirmed pivots (prices are highs for peaks, lows for troughs):
  - `double_top`: two pivot highs `min_span`..`max_span` bars apart, within `peak_tol_pct` % of
    each other, no pivot high between them above the lower of the two, and the lowest pivot low
    between them (the neckline) at least `min_depth_pct` % and `min_depth_atr` ATRs (the ATR at
    the second peak's confirmation) below the lower peak. The ATR floor keeps the false-alarm
    rate on noise from growing with the coin's volatility (a percent depth alone is easy to
    reach in a volatile market: measured in benchmarks/structure.py). Armed when the
    second peak is confirmed; fires on the first close below the neckline within `break_bars`
    bars of the confirmation, unless a close above the higher peak comes first.
    `double_bottom` is its mirror.
  - `head_shoulders`: three pivot highs (left shoulder, head, right shoulder) spanning at most
    `max_span` bars, the head at least `head_margin_pct` % above both shoulders, the shoulders
    within `peak_tol_pct` % of each other, no pivot high between a shoulder and the head above
    that shoulder; the neckline is the line through the lowest pivot low between the left
    shoulder and the head and the lowest between the head and the right shoulder, the two within
    `neckline_tol_pct` % of each other, the higher at least `min_depth_pct` % and
    `min_depth_atr` ATRs below the lower shoulder.
    Fires on the first close below the neckline (extended to that bar) within `break_bars` bars
    of the right shoulder's confirmation, unless a close above the head comes first.
    `inverse_head_shoulders` is its mirror.
  On the firing bar `neckline` is the neckline's price and `pattern_height` the distance from
  the extreme peak (head) to the neckline (positive, in price), the classic target's size.

State (`to_json`): the last 2k + 1 bars' highs and lows, the ATR, the last `max_pivots` pivots,
the breakout being followed and the armed patterns: about 1 KB as zlib-compressed JSON whatever
the history's length (measured in benchmarks/structure.py).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from cryptosignals.errors import BadInputError

#: Columns a bar batch must have.
INPUTS = ("end", "high", "low", "close", "volume_ratio")
#: Event columns (+1 / -1 / 0, or 1 / 0 for the patterns), then the value columns (NaN-filled).
EVENTS = (
    "pivot",
    "breakout",
    "false_breakout",
    "breakout_held",
    "double_top",
    "double_bottom",
    "head_shoulders",
    "inverse_head_shoulders",
)
VALUES = (
    "structure_atr",
    "dist_support_atr",
    "dist_resistance_atr",
    "support_touches",
    "resistance_touches",
    "breakout_level",
    "neckline",
    "pattern_height",
)
OUTPUTS = EVENTS + VALUES
PATTERNS = ("double_top", "double_bottom", "head_shoulders", "inverse_head_shoulders")


@dataclass(frozen=True)
class StructureParams:
    """The tracker's parameters (module docstring); defaults are for 1h bars."""

    k: int = 3  # bars on each side of a pivot; a pivot is confirmed k bars after its extreme
    atr_period: int = 14  # Wilder's ATR on the tracker's bars
    zone_atr: float = 0.5  # cluster bandwidth and minimum zone width, in ATRs
    max_pivots: int = 32  # the pivots remembered, for zones and patterns
    min_touches: int = 2  # pivots a zone needs to count as support or resistance
    volume_min: float = 1.0  # volume_ratio above which a breakout counts
    hold_bars: int = 3  # a breakout back inside its zone within these bars was false
    peak_tol_pct: float = 1.0  # the two peaks (the two shoulders) within this % of each other
    min_depth_pct: float = 2.5  # the neckline at least this % below the (lower) peaks
    min_depth_atr: float = 3.5  # ... and at least this many ATRs below them (0: no such floor)
    head_margin_pct: float = 1.0  # the head at least this % above both shoulders
    neckline_tol_pct: float = 1.5  # the two troughs of a head and shoulders within this %
    min_span: int = 6  # bars between the two peaks, at least
    max_span: int = 72  # bars from the first peak (left shoulder) to the last, at most
    break_bars: int = 6  # bars after the last peak's confirmation for the neckline break

    def __post_init__(self) -> None:
        ints = {
            "k": 1,
            "atr_period": 1,
            "max_pivots": 3,
            "min_touches": 1,
            "hold_bars": 1,
            "min_span": 1,
            "max_span": 2,
            "break_bars": 0,
        }
        for name, low in ints.items():
            value = getattr(self, name)
            if not isinstance(value, int | np.integer) or isinstance(value, bool) or value < low:
                raise BadInputError(
                    f"structure parameter {name} must be an integer >= {low}, got {value!r}"
                )
        for name in ("zone_atr", "peak_tol_pct", "min_depth_pct", "neckline_tol_pct"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise BadInputError(
                    f"structure parameter {name} must be a number > 0, got {value!r}"
                )
        for name in ("volume_min", "head_margin_pct", "min_depth_atr"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
                raise BadInputError(
                    f"structure parameter {name} must be a number >= 0, got {value!r}"
                )
        if self.max_span <= self.min_span:
            raise BadInputError(
                f"structure parameter max_span ({self.max_span}) must be above "
                f"min_span ({self.min_span})"
            )

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> StructureParams:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise BadInputError(f"unknown structure parameter(s): {', '.join(unknown)}")
        return cls(**data)


@dataclass(frozen=True)
class Zone:
    """A support or resistance zone: a cluster of confirmed pivot prices."""

    centre: float
    low: float
    high: float
    touches: int
    last_touch: int  # bar number (0 = the tracker's first bar) of its latest pivot

    @property
    def width(self) -> float:
        return self.high - self.low


def cluster_zones(prices: np.ndarray, bars: np.ndarray, bandwidth: float) -> list[Zone]:
    """Zones from pivot prices (and their bar numbers): sorted, a price more than `bandwidth`
    above its cluster's lowest starts a new cluster; each zone at least `bandwidth` wide. Edges
    from the sorted prices and the latest bars in one pass: every bar of a resumed stream
    redraws the zones of three timeframes."""
    prices, bars = np.asarray(prices, float), np.asarray(bars, np.int64)
    if len(prices) == 0 or not bandwidth > 0:
        return []
    order = np.argsort(prices, kind="stable")
    ordered = prices[order]
    values = ordered.tolist()
    starts = [0]
    for j, price in enumerate(values):
        if price - values[starts[-1]] > bandwidth:
            starts.append(j)
    ends = [*starts[1:], len(values)]
    # numpy's mean of each cluster's values (np.add.reduceat would sum them in another order)
    centres = [float(ordered[start:end].mean()) for start, end in zip(starts, ends, strict=True)]
    latest = np.maximum.reduceat(bars[order], starts).tolist()
    return [
        Zone(centre, min(values[start], centre - bandwidth / 2),
             max(values[end - 1], centre + bandwidth / 2), end - start, last)
        for start, end, centre, last in zip(starts, ends, centres, latest, strict=True)
    ]  # fmt: skip


def _pct(a: float, b: float) -> float:
    """|a - b| in percent of the larger."""
    return abs(a - b) / max(abs(a), abs(b)) * 100.0


class StructureTracker:
    """Pivots, zones, breakouts and patterns over a stream of closed bars of one timeframe,
    resumable: `to_json()` is its state, and feeding bars in any chunks gives the same outputs
    as feeding them at once (tested)."""

    def __init__(
        self, params: StructureParams | None = None, state: Mapping[str, Any] | None = None
    ) -> None:
        self.params = params or StructureParams()
        s = dict(state or {})
        self.n = int(s.get("n", 0))  # bars seen
        self.last_end: int | None = s.get("last_end")
        self.prev_close: float | None = s.get("prev_close")
        self.atr = float(s.get("atr", math.nan))
        self.tr_sum = float(s.get("tr_sum", 0.0))
        self.highs: list[float] = [float(x) for x in s.get("highs", [])]
        self.lows: list[float] = [float(x) for x in s.get("lows", [])]
        # pivots: [bar number, +1 high / -1 low, price], oldest first
        self.pivots: list[list[Any]] = [
            [int(i), int(d), float(p)] for i, d, p in s.get("pivots", [])
        ]
        self.zone_bw = float(s.get("zone_bw", math.nan))
        # the breakout being followed: [direction, zone low, zone high, bar number]
        pending = s.get("pending")
        self.pending: list[Any] | None = (
            None
            if pending is None
            else [
                int(pending[0]),
                float(pending[1]),
                float(pending[2]),
                int(pending[3]),
            ]
        )
        # armed patterns: kind -> [bar a, price a, bar b, price b, invalidation, height, expiry]
        self.armed: dict[str, list[float]] = {
            k: [float(x) for x in v] for k, v in s.get("armed", {}).items()
        }
        unknown = set(self.armed) - set(PATTERNS)
        if unknown:
            raise BadInputError(f"structure state: unknown pattern(s) {sorted(unknown)}")
        self._zone_cache: list[Zone] | None = None  # drawn when first needed

    # -- state ---------------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "last_end": self.last_end,
            "prev_close": self.prev_close,
            "atr": None if math.isnan(self.atr) else self.atr,
            "tr_sum": self.tr_sum,
            "highs": self.highs,
            "lows": self.lows,
            "pivots": self.pivots,
            "zone_bw": None if math.isnan(self.zone_bw) else self.zone_bw,
            "pending": self.pending,
            "armed": self.armed,
        }

    @classmethod
    def from_json(
        cls, data: Mapping[str, Any], params: StructureParams | None = None
    ) -> StructureTracker:
        clean = {k: v for k, v in data.items() if v is not None}
        return cls(params, clean)

    # -- the stream ----------------------------------------------------------------------------

    def update(self, bars: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Outputs (`OUTPUTS`) for each new closed bar; `bars` has the columns `INPUTS`
        (`end`: bar close, unix seconds, increasing)."""
        missing = [c for c in INPUTS if c not in bars]
        if missing:
            raise BadInputError(f"structure bars lack column(s): {', '.join(missing)}")
        end = np.asarray(bars["end"], dtype=np.int64)
        high, low, close, vr = (
            np.asarray(bars[c], dtype=float) for c in ("high", "low", "close", "volume_ratio")
        )
        size = len(end)
        if any(len(a) != size for a in (high, low, close, vr)):
            raise BadInputError("structure bars: columns of different lengths")
        if size and (
            np.any(np.diff(end) <= 0) or (self.last_end is not None and end[0] <= self.last_end)
        ):
            raise BadInputError(
                "structure bars: end times must increase (a bar twice, or out of order)"
            )
        bad = (
            ~(np.isfinite(high) & np.isfinite(low) & np.isfinite(close))
            | (low > high)
            | (close <= 0)
        )
        if np.any(bad):
            i = int(np.argmax(bad))
            raise BadInputError(
                f"structure bars: bar ending {int(end[i])} has a non-finite or "
                f"inconsistent high/low/close"
            )
        out = {c: np.zeros(size) for c in EVENTS} | {c: np.full(size, np.nan) for c in VALUES}
        for i in range(size):
            self._step(i, float(high[i]), float(low[i]), float(close[i]), float(vr[i]), out)
        if size:
            self.last_end = int(end[-1])
        return out

    def _step(
        self, i: int, high: float, low: float, close: float, vr: float, out: dict[str, np.ndarray]
    ) -> None:
        p = self.params
        n = self.n
        # ATR (Wilder; the first value is the mean of the first atr_period true ranges)
        prev = self.prev_close
        tr = high - low if prev is None else max(high, prev) - min(low, prev)
        if n < p.atr_period:
            self.tr_sum += tr
            if n == p.atr_period - 1:
                self.atr = self.tr_sum / p.atr_period
        else:
            self.atr = (self.atr * (p.atr_period - 1) + tr) / p.atr_period
        out["structure_atr"][i] = self.atr

        # the breakout being followed, then a new one against the zones known before this bar
        if self.pending is not None:
            direction, z_low, z_high, start = self.pending
            back = close <= z_high if direction > 0 else close >= z_low
            if back:
                out["false_breakout"][i] = direction
                self.pending = None
            elif n - start >= p.hold_bars:
                out["breakout_held"][i] = direction
                self.pending = None
        failed = out["false_breakout"][i] != 0  # that bar's event; no new breakout with it
        if self.pending is None and not failed and prev is not None and vr > p.volume_min:
            self._breakout(i, n, prev, close, out)

        # pivots: bar n - k is confirmed now
        self.highs.append(high)
        self.lows.append(low)
        window = 2 * p.k + 1
        if len(self.highs) > window:
            del self.highs[0], self.lows[0]
        if len(self.highs) == window:
            self._confirm(i, n - p.k, out)

        # armed patterns: the neckline break, an invalidation or the end of the wait
        for kind in PATTERNS:
            arm = self.armed.get(kind)
            if arm is None:
                continue
            bar_a, price_a, bar_b, price_b, stop, height, expiry = arm
            neck = price_a + (price_b - price_a) * (n - bar_a) / (bar_b - bar_a)
            top = kind in ("double_top", "head_shoulders")
            if (close < neck) if top else (close > neck):
                out[kind][i] = 1.0
                out["neckline"][i] = neck
                out["pattern_height"][i] = height
                del self.armed[kind]
            elif ((close > stop) if top else (close < stop)) or n >= expiry:
                del self.armed[kind]

        # where the close sits among the zones
        self._distances(i, close, out)
        self.prev_close = close
        self.n = n + 1

    def _breakout(
        self, i: int, n: int, prev: float, close: float, out: dict[str, np.ndarray]
    ) -> None:
        up = [
            z for z in self.zones if z.touches >= self.params.min_touches and prev <= z.high < close
        ]
        down = [
            z for z in self.zones if z.touches >= self.params.min_touches and prev >= z.low > close
        ]
        if up:
            z = max(up, key=lambda z: z.high)
            self.pending = [1, z.low, z.high, n]
            out["breakout"][i], out["breakout_level"][i] = 1.0, z.high
        elif down:
            z = min(down, key=lambda z: z.low)
            self.pending = [-1, z.low, z.high, n]
            out["breakout"][i], out["breakout_level"][i] = -1.0, z.low

    def _confirm(self, i: int, c: int, out: dict[str, np.ndarray]) -> None:
        """Is bar c (the middle of the window) a pivot? Record it, redraw the zones, look for
        patterns ending at it."""
        k = self.params.k
        h, lo = self.highs, self.lows
        mid_h, mid_l = h[k], lo[k]
        is_high = mid_h > max(h[:k]) and mid_h >= max(h[k + 1 :])
        is_low = mid_l < min(lo[:k]) and mid_l <= min(lo[k + 1 :])
        new = []
        if is_low:  # a bar can be both (an outside bar): the low first, then the high
            new.append([c, -1, mid_l])
        if is_high:
            new.append([c, 1, mid_h])
        if not new:
            return
        out["pivot"][i] = 1.0 if is_high and not is_low else (-1.0 if is_low and not is_high else 0)
        self.pivots.extend(new)
        del self.pivots[: max(0, len(self.pivots) - self.params.max_pivots)]
        self.zone_bw = self.params.zone_atr * self.atr  # NaN until the ATR is known
        self._zone_cache = None  # a new pivot: redraw the zones
        for _, direction, _ in new:
            self._patterns(int(direction))

    @property
    def zones(self) -> list[Zone]:
        """The zones of the pivots kept now (drawn lazily: most bars of a resumed tracker in the
        stream close no hour and never ask)."""
        if self._zone_cache is None:
            self._zone_cache = self._zones()
        return self._zone_cache

    def _zones(self) -> list[Zone]:
        if not self.pivots or math.isnan(self.zone_bw):
            return []
        bars = np.array([q[0] for q in self.pivots], dtype=np.int64)
        prices = np.array([q[2] for q in self.pivots], dtype=float)
        return cluster_zones(prices, bars, self.zone_bw)

    def _distances(self, i: int, close: float, out: dict[str, np.ndarray]) -> None:
        if math.isnan(self.atr) or self.atr <= 0:
            return
        support = [
            z for z in self.zones if z.touches >= self.params.min_touches and z.centre <= close
        ]
        resistance = [
            z for z in self.zones if z.touches >= self.params.min_touches and z.centre > close
        ]
        if support:
            z = max(support, key=lambda z: z.centre)
            out["dist_support_atr"][i] = (close - z.centre) / self.atr
            out["support_touches"][i] = z.touches
        if resistance:
            z = min(resistance, key=lambda z: z.centre)
            out["dist_resistance_atr"][i] = (z.centre - close) / self.atr
            out["resistance_touches"][i] = z.touches

    def distances(self, close: np.ndarray) -> dict[str, np.ndarray]:
        """`dist_support_atr`, `dist_resistance_atr`, `support_touches`, `resistance_touches`
        of any prices against the zones and ATR known now (after the last bar fed): for the
        base bars between two of the tracker's bars (a 5-minute close against 1h zones)."""
        close = np.asarray(close, dtype=float)
        out = {c: np.full(len(close), np.nan) for c in VALUES}
        for i, c in enumerate(close.tolist()):
            self._distances(i, c, out)
        names = ("dist_support_atr", "dist_resistance_atr", "support_touches", "resistance_touches")
        return {c: out[c] for c in names}

    # -- patterns ------------------------------------------------------------------------------

    def _patterns(self, direction: int) -> None:
        """Arm the patterns whose last peak (trough, for the bottoms) is the newest pivot."""
        if direction > 0:
            self._double("double_top", 1)
            self._head_shoulders("head_shoulders", 1)
        else:
            self._double("double_bottom", -1)
            self._head_shoulders("inverse_head_shoulders", -1)

    def _side(self, sign: int) -> tuple[list[int], list[float], list[int], list[float]]:
        """Peaks and troughs as (bars, prices) with the prices multiplied by `sign`, so that a
        bottom is a top of the mirrored prices."""
        peaks = [(q[0], sign * q[2]) for q in self.pivots if q[1] == sign]
        troughs = [(q[0], sign * q[2]) for q in self.pivots if q[1] == -sign]
        return (
            [b for b, _ in peaks],
            [x for _, x in peaks],
            [b for b, _ in troughs],
            [x for _, x in troughs],
        )

    @staticmethod
    def _lowest(
        bars: list[int], prices: list[float], start: int, stop: int
    ) -> tuple[int, float] | None:
        inside = [(x, b) for b, x in zip(bars, prices, strict=True) if start < b < stop]
        if not inside:
            return None
        x, b = min(inside)
        return b, x

    def _deep(self, depth: float) -> bool:
        """Is a pattern `depth` (price) deep enough in ATRs (the ATR of the last peak's
        confirmation bar)?"""
        floor = self.params.min_depth_atr
        return floor <= 0 or (not math.isnan(self.atr) and depth >= floor * self.atr)

    def _double(self, kind: str, sign: int) -> None:
        p = self.params
        pb, px, tb, tx = self._side(sign)
        b2, x2 = pb[-1], px[-1]
        for j in range(len(pb) - 2, -1, -1):
            b1, x1 = pb[j], px[j]
            if b2 - b1 > p.max_span:
                break
            if b2 - b1 < p.min_span:
                continue
            lower, upper = min(x1, x2), max(x1, x2)
            if any(x > lower for x in px[j + 1 : -1]):
                continue  # a peak between above the lower of the two
            if _pct(x1 * sign, x2 * sign) > p.peak_tol_pct:
                continue
            trough = self._lowest(tb, tx, b1, b2)
            if trough is None:
                continue
            neck = trough[1]
            if (lower - neck) / abs(lower) * 100.0 < p.min_depth_pct or not self._deep(
                lower - neck
            ):
                continue
            self.armed[kind] = [
                float(trough[0]),
                sign * neck,
                float(trough[0]) + 1.0,
                sign * neck,
                sign * upper,
                upper - neck,
                float(b2 + p.k + p.break_bars),
            ]
            return

    def _head_shoulders(self, kind: str, sign: int) -> None:
        p = self.params
        pb, px, tb, tx = self._side(sign)
        if len(pb) < 3:
            return
        b3, x3 = pb[-1], px[-1]
        for h in range(len(pb) - 2, 0, -1):
            bh, xh = pb[h], px[h]
            if b3 - bh > p.max_span:
                break
            if any(x > x3 for x in px[h + 1 : -1]) or xh < x3 * (
                1 + p.head_margin_pct / 100 * (1 if sign > 0 else -1)
            ):
                continue
            for s in range(h - 1, -1, -1):
                b1, x1 = pb[s], px[s]
                if b3 - b1 > p.max_span or any(x > x1 for x in px[s + 1 : h]):
                    break
                if xh < x1 * (1 + p.head_margin_pct / 100 * (1 if sign > 0 else -1)):
                    continue
                if _pct(x1 * sign, x3 * sign) > p.peak_tol_pct:
                    continue
                t1 = self._lowest(tb, tx, b1, bh)
                t2 = self._lowest(tb, tx, bh, b3)
                if (
                    t1 is None
                    or t2 is None
                    or _pct(t1[1] * sign, t2[1] * sign) > p.neckline_tol_pct
                ):
                    continue
                depth = min(x1, x3) - max(t1[1], t2[1])
                if depth / abs(min(x1, x3)) * 100 < p.min_depth_pct or not self._deep(depth):
                    continue
                neck_at_head = t1[1] + (t2[1] - t1[1]) * (bh - t1[0]) / (t2[0] - t1[0])
                self.armed[kind] = [
                    float(t1[0]),
                    sign * t1[1],
                    float(t2[0]),
                    sign * t2[1],
                    sign * xh,
                    xh - neck_at_head,
                    float(b3 + p.k + p.break_bars),
                ]
                return


# -- batch helpers -------------------------------------------------------------------------------


def aggregate_bars(
    end: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    volume_ratio: np.ndarray,
    seconds: int = 3600,
) -> dict[str, np.ndarray]:
    """Closed bars of `seconds` from 5-minute (or any finer) bars closing at `end` (unix
    seconds): the high, low, last close and last volume_ratio of each period; a period is
    kept only if its last base bar closes exactly at the period's end (it is closed)."""
    end = np.asarray(end, dtype=np.int64)
    if seconds <= 0:
        raise BadInputError(f"aggregate_bars: seconds must be > 0, got {seconds}")
    if len(end) == 0:
        return {c: np.empty(0) for c in INPUTS}
    bucket = -(-end // seconds)  # the period each bar belongs to, by its close time
    starts = np.flatnonzero(np.r_[True, bucket[1:] != bucket[:-1]])
    stops = np.r_[starts[1:], len(end)]
    closed = end[stops - 1] == bucket[starts] * seconds
    last = stops[closed] - 1
    return {
        "end": end[last],
        "high": np.maximum.reduceat(np.asarray(high, float), starts)[closed],
        "low": np.minimum.reduceat(np.asarray(low, float), starts)[closed],
        "close": np.asarray(close, float)[last],
        "volume_ratio": np.asarray(volume_ratio, float)[last],
    }


@dataclass(frozen=True)
class Breakout:
    """One breakout and its label: `held` True when no close got back inside its zone within
    `hold_bars` bars. `start` and `resolved` are row indices of the outputs."""

    start: int
    resolved: int
    direction: int
    level: float
    held: bool


def breakout_history(out: Mapping[str, np.ndarray]) -> list[Breakout]:
    """Every resolved breakout in a tracker's outputs (concatenated in order), held or false:
    the track record for the evidence layer and a meta-label for a learned filter. A breakout
    not yet resolved at the end is left out."""
    starts = np.flatnonzero(out["breakout"] != 0)
    ends = np.flatnonzero((out["false_breakout"] != 0) | (out["breakout_held"] != 0))
    history = []
    for s in starts:
        after = ends[ends > s]
        if len(after) == 0:
            break
        r = int(after[0])
        history.append(
            Breakout(
                int(s),
                r,
                int(out["breakout"][s]),
                float(out["breakout_level"][s]),
                bool(out["breakout_held"][r] != 0),
            )
        )
    return history
