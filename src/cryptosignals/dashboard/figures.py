"""Figures and table rows of the dashboard: pure functions of a `Market` and the controls.

No Dash, no AWS: each returns a plotly Figure or plain rows, so the tests check them without a
browser. Times on the axes are UTC.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import numpy as np
import plotly.graph_objects as go

from cryptosignals.dashboard import overlays, stats
from cryptosignals.dashboard.market import BASE_COIN, Market
from cryptosignals.forecast import HORIZONS as FAN_HORIZONS
from cryptosignals.indicators import sma
from cryptosignals.market import MARKET_ID
from cryptosignals.model import Signal, SignalType
from cryptosignals.profile import DAYS, Profile
from cryptosignals.structure import Zone
from cryptosignals.windows import Window

#: Points per line after downsampling: enough for a 1,500-pixel-wide chart.
MAX_POINTS = 1500
#: Returns per coin in the correlation (the grid step grows with the span to stay under it).
MAX_RETURNS = 2000
MARKERS: dict[SignalType, tuple[str, str]] = {
    SignalType.BUY: ("triangle-up", "#1a9850"),
    SignalType.SELL: ("triangle-down", "#d73027"),
    SignalType.ALERT: ("diamond", "#fd8d3c"),
}
#: Background of each regime by rank (calm light to turbulent dark), and the band's colours.
REGIME_COLOURS = ("#fdf3e1", "#fbd9a4", "#f39c5a", "#c8432b")
REGIME_OPACITY = 0.35
BAND_LINE = "#7b3294"
BAND_FILL = "rgba(123, 50, 148, 0.10)"
#: The price fan's colours (the cone after the last bar, the 30-minute band through time).
FAN_LINE = "#01665e"
FAN_FILL = "rgba(1, 102, 94, 0.15)"
#: What the fan's 10-90 % band promises, on its hover (docs/forecast.md).
FAN_CLAIM = "80 % of outcomes fell inside out of sample"
_LAYOUT: dict[str, Any] = {
    "template": "plotly_white",
    "margin": {"l": 60, "r": 20, "t": 50, "b": 40},
    "font": {"size": 12},
}


def utc(timestamp: int | float) -> str:
    return datetime.fromtimestamp(int(timestamp), UTC).strftime("%Y-%m-%d %H:%M UTC")


def _times(timestamp: np.ndarray) -> np.ndarray:
    return np.asarray(timestamp, dtype="int64").astype("datetime64[s]")


def message_figure(text: str, title: str = "") -> go.Figure:
    """An empty chart that says why it is empty."""
    figure = go.Figure()
    figure.update_layout(
        **_LAYOUT,
        title=title,
        xaxis={"visible": False},
        yaxis={"visible": False},
        annotations=[
            {
                "text": text,
                "showarrow": False,
                "font": {"size": 15},
                "xref": "paper",
                "yref": "paper",
            }
        ],
    )
    return figure


def _nullable(matrix: np.ndarray) -> list[list[float | None]]:
    """A matrix as nested lists with None for NaN (a gap in a heatmap, not a zero)."""
    return [[None if np.isnan(v) else float(v) for v in row] for row in np.asarray(matrix, float)]


def _details(signal: Signal, leave_out: Iterable[str] = ()) -> str:
    skip = set(leave_out)
    return (
        ", ".join(f"{k}={v:.4g}" for k, v in sorted(signal.details.items()) if k not in skip) or "-"
    )


def price_figure(
    market: Market,
    coins: Sequence[str],
    span: int,
    ma_periods: Sequence[int] = (),
    max_points: int = MAX_POINTS,
    actionable_only: bool = False,
    band: bool = False,
    regimes: bool = False,
    structure: bool = False,
    fan: bool = False,
    fan_band: bool = False,
) -> go.Figure:
    """Prices over the last `span` seconds (to the newest tick), with SMA overlays and signals.

    One coin: prices in USD. Several: each normalised to 100 at its first tick in the span, so
    they share one axis. SMAs are computed over the whole stored series (no warm-up gap at the
    left edge) in ticks. Signals are markers at their price: BUY up-triangles, SELL
    down-triangles, ALERT diamonds; hover shows rule, timeframe, confidence, the rule's track
    record and details. `actionable_only` draws only the signals whose record earned an alert.

    With one coin, `band` draws the 1h VaR99 band at each closed 5-minute bar (close·exp(∓VaR99):
    where an hour's 1-in-100 loss, or the same move up, from that close would take the price)
    and `regimes` shades the background by the filtered regime (`regime_shapes`), both from
    the fitted models over the coin's whole held series (`overlays.risk_path`); `structure`
    draws the support and resistance zones known at the last bar and the structure tracker's
    breakouts and patterns (`structure_traces`, from `overlays.structure_path`); `fan` draws the
    price fan after the last closed bar, a cone from its close to the 10-90 % band 5, 15 and 30
    minutes later (`fan_cone`, `fan_traces`), and `fan_band` the 30-minute band through time,
    each placed at the time it was made for, with the share of the span's closes inside it
    (`fan_band_traces`)."""
    coins = [c for c in coins if c in market.series and len(market.series[c])]
    end = market.as_of
    title = "Price"
    if not coins or end is None:
        return message_figure("No ticks yet for the selected coins.", title)
    start = end - int(span)
    normalise = len(coins) > 1
    figure = go.Figure()
    marker_points: dict[SignalType, list[tuple[Any, ...]]] = {t: [] for t in SignalType}
    for coin in coins:
        series = market.series[coin]
        lo, hi = np.searchsorted(series.timestamp, [start, end], side="right")
        ts, price = series.timestamp[lo:hi], series.price[lo:hi]
        if len(ts) == 0:
            continue
        scale = 100.0 / price[0] if normalise else 1.0
        x, y = stats.downsample(ts, price * scale, max_points)
        figure.add_trace(
            go.Scatter(
                x=_times(x), y=y, name=coin, legendgroup=coin, mode="lines",
                hovertemplate=f"{coin}<br>%{{x}}<br>%{{y:.6g}}<extra></extra>",
            )
        )  # fmt: skip
        for period in ma_periods:
            average = sma(series.price, int(period))[lo:hi] * scale
            x, y = stats.downsample(ts, average, max_points)
            figure.add_trace(
                go.Scatter(
                    x=_times(x), y=y, name=f"{coin} SMA {period}", legendgroup=coin,
                    mode="lines", line={"dash": "dot", "width": 1},
                    hovertemplate=f"{coin} SMA {period}<br>%{{x}}<br>%{{y:.6g}}<extra></extra>",
                )
            )  # fmt: skip
        for signal in market.signals:
            if (
                signal.crypto_id == coin
                and start < signal.timestamp <= end
                and (signal.actionable or not actionable_only)
            ):
                marker_points[signal.signal_type].append(
                    (
                        signal.timestamp,
                        signal.price * scale,
                        coin,
                        signal.rule,
                        signal.timeframe,
                        signal.confidence_score,
                        _details(signal),
                        track_record(signal),
                    )
                )
    shapes: list[dict[str, Any]] = []
    if not normalise and (band or regimes):
        path = overlays.risk_path(market.series[coins[0]])
        if path is not None:
            if band:
                for trace in band_traces(path, start, end, max_points):
                    figure.add_trace(trace)
            if regimes:
                shapes = regime_shapes(path, start, end)
    if not normalise and structure:
        found = overlays.structure_path(market.series[coins[0]])
        if found is not None:
            for trace in structure_traces(found, start, end):
                figure.add_trace(trace)
    if not normalise and fan_band:
        found = overlays.structure_path(market.series[coins[0]])
        if found is not None:
            for trace in fan_band_traces(found, start, end, max_points):
                figure.add_trace(trace)
    if not normalise and fan:
        cone = fan_cone(market, coins[0])
        if cone is not None:
            for trace in fan_traces(cone):
                figure.add_trace(trace)
    for signal_type, points in marker_points.items():
        if not points:
            continue
        symbol, colour = MARKERS[signal_type]
        figure.add_trace(
            go.Scatter(
                x=_times(np.array([p[0] for p in points])),
                y=[p[1] for p in points],
                mode="markers",
                name=str(signal_type),
                legendgroup=f"signal-{signal_type}",
                marker={"symbol": symbol, "color": colour, "size": 9, "line": {"width": 0.5}},
                customdata=[list(p[2:]) for p in points],
                hovertemplate=(
                    f"<b>{signal_type}</b> %{{customdata[0]}}<br>%{{x}}<br>"
                    "rule: %{customdata[1]} (%{customdata[2]})<br>"
                    "confidence: %{customdata[3]:.2f}<br>record: %{customdata[5]}<br>"
                    "%{customdata[4]}<extra></extra>"
                ),
            )
        )
    figure.update_layout(
        **_LAYOUT,
        title=f"{title}, last {_span_label(span)} to {utc(end)}",
        yaxis_title="index (first tick in span = 100)" if normalise else "USD",
        hovermode="closest",
        legend={"orientation": "h", "y": -0.15},
        uirevision=f"{','.join(coins)}|{span}",
    )
    if shapes:
        figure.update_layout(shapes=shapes)
    return figure


def _iso(timestamp: int) -> str:
    """Unix seconds as the UTC date-time string plotly reads on a date axis."""
    return str(np.datetime64(int(timestamp), "s"))


def band_traces(path: overlays.RiskPath, start: int, end: int, max_points: int) -> list[go.Scatter]:
    """The 1h VaR99 band over the bars closed in (start, end]: the lower line (named, with the
    VaR and the level on hover) and the upper one, the band between them shaded."""
    inside = (path.end > start) & (path.end <= end)
    ts, lower, upper = path.end[inside], path.lower[inside], path.upper[inside]
    var_99 = path.var_99[inside]
    if len(ts) == 0:
        return []
    step = max(1, -(-len(ts) // max_points))  # a smooth forecast: every step-th bar is enough
    keep = np.unique(np.r_[np.arange(0, len(ts), step), len(ts) - 1])
    ts, lower, upper, var_99 = ts[keep], lower[keep], upper[keep], var_99[keep]
    hover = (
        f"{overlays.HORIZON} VaR99 %{{customdata:.2%}}<br>%{{x}}<br>%{{y:.6g}}: "
        "an hour's 1-in-100 WHAT from this bar's close<extra></extra>"
    )
    return [
        go.Scatter(
            x=_times(ts), y=lower, name=f"{overlays.HORIZON} VaR99", legendgroup="var",
            mode="lines", line={"color": BAND_LINE, "width": 1}, customdata=var_99,
            hovertemplate=hover.replace("WHAT", "loss"),
        ),
        go.Scatter(
            x=_times(ts), y=upper, name=f"{overlays.HORIZON} VaR99 (up)", legendgroup="var",
            mode="lines", line={"color": BAND_LINE, "width": 1}, fill="tonexty",
            fillcolor=BAND_FILL, customdata=var_99, showlegend=False,
            hovertemplate=hover.replace("WHAT", "move up"),
        ),
    ]  # fmt: skip


def regime_runs(path: overlays.RiskPath, start: int, end: int) -> list[tuple[int, int, int]]:
    """(from, to, label) of each run of one regime over the bars closed in (start, end]: a bar
    closing at t covers (t - 5 min, t]; the warm-up (-1) is not a run."""
    inside = (path.end > start) & (path.end <= end)
    ts, label = path.end[inside], path.label[inside]
    if len(ts) == 0:
        return []
    bar = overlays.BAR_SECONDS
    cut = np.flatnonzero((np.diff(label) != 0) | (np.diff(ts) > bar)) + 1
    runs = []
    for lo, hi in zip(np.r_[0, cut], np.r_[cut, len(ts)], strict=True):
        if label[lo] >= 0:
            runs.append((max(int(ts[lo]) - bar, start), int(ts[hi - 1]), int(label[lo])))
    return runs


def regime_shapes(path: overlays.RiskPath, start: int, end: int) -> list[dict[str, Any]]:
    """Background rectangles, one per regime run (`regime_runs`), coloured by the regime's rank
    (calm light to turbulent dark); the first of each regime names it in the legend."""
    shapes, named = [], set()
    for begin, stop, label in regime_runs(path, start, end):
        name = path.names[label] if label < len(path.names) else f"regime {label}"
        shapes.append(
            {
                "type": "rect", "xref": "x", "yref": "paper", "x0": _iso(begin),
                "x1": _iso(stop), "y0": 0, "y1": 1, "layer": "below", "line": {"width": 0},
                "fillcolor": REGIME_COLOURS[min(label, len(REGIME_COLOURS) - 1)],
                "opacity": REGIME_OPACITY, "name": f"regime: {name}",
                "legendgroup": "regime", "showlegend": label not in named,
                "legendrank": 2000 - label,
            }
        )  # fmt: skip
        named.add(label)
    return shapes


@dataclass(frozen=True)
class FanCone:
    """The price fan issued after the bar closing at `end` (close `close`): per horizon of
    `forecast.HORIZONS` ("5m", "15m", "30m") its q10, q50 and q90 in USD; `source` says whose
    it is ("pipeline": stored with the 60-minute aggregate; "held ticks": the engine over them)."""

    end: int
    close: float
    quantiles: dict[str, tuple[float, float, float]]
    source: str


def _cone(end: Any, fan: Any, source: str) -> FanCone | None:
    """A cone from a fan map {horizon: {q10, q50, q90}}, if every value is a positive price."""
    if not isinstance(end, int | float) or not isinstance(fan, Mapping):
        return None
    quantiles = {}
    for h in FAN_HORIZONS:
        low, centre, high = (_finite((fan.get(h) or {}).get(q)) for q in ("q10", "q50", "q90"))
        if low is None or centre is None or high is None or not 0 < low <= centre <= high:
            return None
        quantiles[h] = (low, centre, high)
    return FanCone(int(end), next(iter(quantiles.values()))[1], quantiles, source)


def fan_cone(market: Market, coin: str) -> FanCone | None:
    """The coin's price fan after its last closed 5-minute bar: the one the pipeline stored with
    the 60-minute aggregate (`Market.risk[coin]["fan"]`: its engine has calibrated it since the
    coin was first polled) or, where it stored none or an older one, the last bar's of the
    engine over the held ticks (`overlays.structure_path`; None while that warms up, 6 hours,
    or without a fitted volatility model)."""
    stored = market.risk.get(coin) or {}
    cone = _cone(stored.get("timestamp"), stored.get("fan"), "pipeline")
    series = market.series.get(coin)
    path = overlays.structure_path(series) if series is not None and len(series) else None
    if path is not None and path.fan:
        last = {h: {q: float(path.fan[f"fan_{q}_{h}"][-1]) for q in ("q10", "q50", "q90")}
                for h in FAN_HORIZONS}  # fmt: skip
        held = _cone(int(path.end[-1]), last, "held ticks")
        if held is not None and (cone is None or held.end > cone.end):
            cone = held
    return cone


def fan_traces(cone: FanCone) -> list[go.Scatter]:
    """The cone: from the bar's close to each horizon's q10 (lower line) and q90 (upper line,
    the band between shaded) and the centre (the last close: a random walk's), with the
    quantiles and what they promise on hover."""
    x = [cone.end] + [cone.end + FAN_HORIZONS[h] * overlays.BAR_SECONDS for h in cone.quantiles]
    label = ["now"] + [f"+{h[:-1]} min" for h in cone.quantiles]
    q10, q50, q90 = ([cone.close] + [q[i] for q in cone.quantiles.values()] for i in range(3))
    custom = [[lb, lo, hi] for lb, lo, hi in zip(label, q10, q90, strict=True)]
    hover = (
        "price fan %{customdata[0]}: %{customdata[1]:.6g} to %{customdata[2]:.6g}<br>"
        f"{FAN_CLAIM} (10-90 %)<br>made at the close of {utc(cone.end)} "
        f"({cone.source})<extra></extra>"
    )
    times = _times(np.array(x))
    return [
        go.Scatter(
            x=times, y=q10, name="price fan 10-90 %", legendgroup="fan", mode="lines",
            line={"color": FAN_LINE, "width": 1}, customdata=custom, hovertemplate=hover,
        ),
        go.Scatter(
            x=times, y=q90, name="price fan 10-90 % (up)", legendgroup="fan", mode="lines",
            line={"color": FAN_LINE, "width": 1}, fill="tonexty", fillcolor=FAN_FILL,
            customdata=custom, hovertemplate=hover, showlegend=False,
        ),
        go.Scatter(
            x=times, y=q50, name="price fan centre", legendgroup="fan", mode="lines",
            line={"color": FAN_LINE, "width": 1, "dash": "dot"}, showlegend=False,
            hovertemplate="price fan centre: the last close %{y:.6g}<extra></extra>",
        ),
    ]  # fmt: skip


#: The horizon of the fan drawn through time.
FAN_BAND_HORIZON = "30m"


def fan_band_coverage(
    path: overlays.StructurePath, start: int, end: int, horizon: str = FAN_BAND_HORIZON
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The fan made `horizon` before each bar closing in (start, end] (the engine's
    fan_q10_<horizon> and fan_q90_<horizon> of the bar then): (the time it was made for, q10,
    q90, the close there), where both the fan and that later bar exist."""
    ahead = FAN_HORIZONS[horizon] * overlays.BAR_SECONDS
    low, high = path.fan[f"fan_q10_{horizon}"], path.fan[f"fan_q90_{horizon}"]
    target = path.end + ahead
    at = np.minimum(np.searchsorted(path.end, target), len(path.end) - 1)
    found = path.end[at] == target
    keep = found & np.isfinite(low) & np.isfinite(high) & (target > start) & (target <= end)
    return target[keep], low[keep], high[keep], path.close[at[keep]]


def fan_band_traces(
    path: overlays.StructurePath, start: int, end: int, max_points: int = MAX_POINTS
) -> list[go.Scatter]:
    """The 30-minute fan through time, each band at the time it was made for (30 minutes after
    its bar), so that the price line is seen inside or outside it; the share of the span's
    closes inside is in its name (80 % when calibrated; over a day's 288 closes, which overlap
    by six, a few points either way are chance)."""
    if not path.fan:
        return []
    target, low, high, close = fan_band_coverage(path, start, end)
    if not len(target):
        return []
    inside = float(np.mean((close >= low) & (close <= high)))
    step = max(1, -(-len(target) // max_points))
    keep = np.unique(np.r_[np.arange(0, len(target), step), len(target) - 1])
    minutes = FAN_HORIZONS[FAN_BAND_HORIZON] * overlays.BAR_SECONDS // 60
    name = f"fan made {minutes} min before ({inside:.0%} of {len(target)} closes inside)"
    hover = (f"the 10-90 % fan made {minutes} min before: %{{y:.6g}}<br>%{{x}}<br>"
             f"{FAN_CLAIM}<extra></extra>")  # fmt: skip
    x = _times(target[keep])
    line = {"color": FAN_LINE, "width": 0.8, "dash": "dash"}
    return [
        go.Scatter(x=x, y=low[keep], name=name, legendgroup="fan-band", mode="lines",
                   line=line, hovertemplate=hover),
        go.Scatter(x=x, y=high[keep], name=f"{name} (up)", legendgroup="fan-band",
                   mode="lines", line=line, fill="tonexty", fillcolor="rgba(1, 102, 94, 0.06)",
                   showlegend=False, hovertemplate=hover),
    ]  # fmt: skip


#: Zones and structure events: colours, and each event's marker and name.
SUPPORT_FILL = "rgba(26, 152, 80, 0.13)"
RESISTANCE_FILL = "rgba(215, 48, 39, 0.13)"
STRUCTURE_MARKERS: dict[str, tuple[str, str, str]] = {
    # column: (symbol, colour, name); the direction (+1 / -1) is in the hover
    "breakout": ("star", "#2c7bb6", "breakout"),
    "breakout_held": ("circle-open", "#2c7bb6", "breakout held"),
    "false_breakout": ("x", "#7f7f7f", "false breakout"),
    "double_top": ("hexagon", "#b2182b", "double top"),
    "double_bottom": ("hexagon", "#1a9850", "double bottom"),
    "head_shoulders": ("pentagon", "#b2182b", "head and shoulders"),
    "inverse_head_shoulders": ("pentagon", "#1a9850", "inverse head and shoulders"),
}
#: How far beyond the span's price range a zone is still drawn, as a share of that range.
ZONE_MARGIN = 0.25


def visible_zones(path: overlays.StructurePath, low: float, high: float) -> list[Zone]:
    """The zones known at the last bar that reach into [low, high] widened by ZONE_MARGIN of
    its height each side (a zone far from the span's prices would only squash the chart)."""
    margin = ZONE_MARGIN * (high - low)
    return [z for z in path.zones if z.high >= low - margin and z.low <= high + margin]


def structure_traces(path: overlays.StructurePath, start: int, end: int) -> list[go.Scatter]:
    """The support (below the last close) and resistance (above) zones known at the last bar
    as bands across the span, with centre, edges and touches on hover; a marker at each
    breakout, its label (held / false) and each pattern firing in (start, end], at the close of
    the 5-minute bar that closed its hour, with the level, neckline and pattern height."""
    inside = (path.end > start) & (path.end <= end)
    if not inside.any():
        return []
    close = path.close[inside]
    last = float(path.close[-1])
    x0, x1 = _iso(max(start, int(path.end[inside][0]))), _iso(end)
    traces = []
    named: set[str] = set()
    for zone in visible_zones(path, float(np.min(close)), float(np.max(close))):
        kind = "support" if zone.centre <= last else "resistance"
        traces.append(
            go.Scatter(
                x=[x0, x1, x1, x0, x0], y=[zone.low, zone.low, zone.high, zone.high, zone.low],
                mode="lines", fill="toself", line={"width": 0}, hoveron="fills",
                fillcolor=SUPPORT_FILL if kind == "support" else RESISTANCE_FILL,
                name=kind, legendgroup=kind, showlegend=kind not in named,
                text=(f"{kind} {zone.centre:.6g} ({zone.low:.6g}-{zone.high:.6g}), "
                      f"{zone.touches} touches"),
                hoverinfo="text",
            )
        )  # fmt: skip
        named.add(kind)
    ts = path.end[inside]
    for column, (symbol, colour, name) in STRUCTURE_MARKERS.items():
        values = path.events[column][inside]
        at = np.flatnonzero(values != 0)
        if not len(at):
            continue
        level = path.events["breakout_level"][inside][at]
        neckline = path.events["neckline"][inside][at]
        height = path.events["pattern_height"][inside][at]
        custom = [
            [("up" if v > 0 else "down") if "break" in column else "", _cell(lv), _cell(nk),
             _cell(h)]
            for v, lv, nk, h in zip(values[at], level, neckline, height, strict=True)
        ]  # fmt: skip
        if "break" in column:
            hover = f"<b>{name}</b> %{{customdata[0]}}<br>%{{x}}<br>close %{{y:.6g}}"
            hover += "<br>level %{customdata[1]:.6g}" if column == "breakout" else ""
        else:
            hover = (f"<b>{name}</b><br>%{{x}}<br>close %{{y:.6g}}<br>neckline "
                     "%{customdata[2]:.6g}<br>pattern height %{customdata[3]:.6g}")  # fmt: skip
        traces.append(
            go.Scatter(
                x=_times(ts[at]), y=close[at], mode="markers", name=name,
                legendgroup="structure", customdata=custom,
                marker={"symbol": symbol, "color": colour, "size": 11, "line": {"width": 1}},
                hovertemplate=hover + "<extra></extra>",
            )
        )  # fmt: skip
    return traces


#: The alignment strip's colours: down, unknown (warming up), up.
TREND_COLOURS = ("#d73027", "#e0e0e0", "#1a9850")


def alignment_figure(market: Market, coin: str | None, span: int,
                     max_points: int = MAX_POINTS) -> go.Figure:  # fmt: skip
    """The trend sign of each timeframe (EMA 5 vs 30 of its closes, as the engine defines it)
    at each closed 5-minute bar of the span: one row per timeframe, up green, down red, grey
    while a timeframe's trend is not known yet; the alignment (their mean, -1..+1) on hover."""
    title = "Timeframe alignment"
    if coin is None or coin not in market.series or not len(market.series[coin]):
        return message_figure("No ticks yet for the selected coin.", title)
    path = overlays.structure_path(market.series[coin])
    end = market.as_of or 0
    if path is None or not ((path.end > end - span) & (path.end <= end)).any():
        return message_figure(f"{coin}: no closed 5-minute bar in the span yet.", title)
    at = np.flatnonzero((path.end > end - span) & (path.end <= end))
    at = np.unique(np.r_[at[:: max(1, -(-len(at) // max_points))], at[-1]])
    # a timeframe never known in the span is left out (the 1m trend with five-minute ticks)
    shown = [
        tf for tf in overlays.TREND_TIMEFRAMES if np.isfinite(path.trends[f"trend_{tf}"][at]).any()
    ]
    shown = shown or list(overlays.TREND_TIMEFRAMES)
    rows = [f"trend_{tf}" for tf in shown]
    z = np.array([np.nan_to_num(path.trends[r][at], nan=0.0) for r in rows])
    alignment = path.alignment[at]
    custom = [[_cell(a) for a in alignment] for _ in rows]
    figure = go.Figure(
        go.Heatmap(
            z=z.tolist(), x=_times(path.end[at]), y=shown,
            zmin=-1, zmax=1, customdata=custom, showscale=False, xgap=0, ygap=1,
            colorscale=[[0.0, TREND_COLOURS[0]], [0.33, TREND_COLOURS[0]],
                        [0.34, TREND_COLOURS[1]], [0.66, TREND_COLOURS[1]],
                        [0.67, TREND_COLOURS[2]], [1.0, TREND_COLOURS[2]]],
            hovertemplate=("%{y} trend %{z:+.0f} (0: not known yet)<br>%{x}<br>"
                           "alignment %{customdata:+.2f}<extra></extra>"),
        )
    )  # fmt: skip
    latest = path.alignment[at[-1]]
    figure.update_layout(
        **{**_LAYOUT, "margin": {"l": 60, "r": 20, "t": 36, "b": 24}},
        title=(f"{title}: {coin}, trend of each timeframe (EMA 5 vs 30; green up, red down), "
               f"alignment now {latest:+.2f}" if np.isfinite(latest) else f"{title}: {coin}"),
        yaxis={"type": "category", "autorange": "reversed"},
        uirevision=f"{coin}|{span}",
    )  # fmt: skip
    return figure


#: The market panel's lines: column, name, colour.
MARKET_LINES = (
    ("breadth_up", "breadth up (share of coins up over the hour)", "#1a9850"),
    ("breadth_ma", "breadth MA (share above their 4h EMA)", "#2c7bb6"),
    ("pc1_share", "PC1 share (variance of the common factor)", "#7b3294"),
)


def market_figure(market: Market, span: int) -> go.Figure:
    """Co-movement of the held coins over the span (cryptosignals.market.MarketTracker over
    their closed 5-minute bars, `overlays.market_path`): breadth up, breadth above the moving
    average and the first principal component's share of variance, 0 to 1, with the
    market-wide alerts in the span as diamonds (`market_alerts`: the pipeline's signals of the
    pseudo-coin "market", filled when actionable, their track record on hover)."""
    title = "Market co-movement"
    found = overlays.market_path(dict(market.series))
    end = market.as_of
    if found is None or end is None:
        return message_figure("Co-movement needs at least two coins with closed bars.", title)
    rows = found.rows
    inside = (rows["end"] > end - span) & (rows["end"] <= end)
    if not inside.any():
        return message_figure("No settled bar in the span yet.", title)
    x = _times(rows["end"][inside])
    figure = go.Figure()
    for column, name, colour in MARKET_LINES:
        figure.add_trace(
            go.Scatter(
                x=x, y=rows[column][inside], name=name, mode="lines",
                line={"color": colour, "width": 1.5},
                hovertemplate=f"{column} %{{y:.2f}}<br>%{{x}}<extra></extra>",
            )
        )  # fmt: skip
    alerts, source = market_alerts(market, found)
    alerts = [s for s in alerts if end - span < s.timestamp <= end]
    for trace in _alert_traces(alerts, rows, source):
        figure.add_trace(trace)
    figure.update_layout(
        **_LAYOUT,
        title=(
            f"{title} of {len(found.coins)} coins, last {_span_label(span)} (5-minute bars), "
            f"{len(alerts)} market alert{'' if len(alerts) == 1 else 's'} ({source})"
            + _stored_now(market)
        ),
        yaxis={"range": [-0.02, 1.02], "title": "share"},
        legend={"orientation": "h", "y": -0.2},
        hovermode="x unified",
    )
    return figure


def market_alerts(market: Market, found: overlays.MarketPath | None) -> tuple[list[Signal], str]:
    """The market-wide alerts (signals of the pseudo-coin "market") and whose they are: the
    pipeline's, read from the signals table with their track record since the pipeline started,
    whenever it streams the market (some coin's 60-minute aggregate carries a market map, or it
    stored an alert); else those of `MarketSignals` over the held ticks (`found`), whose record
    starts at the first held tick."""
    stored = [s for s in market.signals if s.crypto_id == MARKET_ID]
    if stored or market.context:
        return stored, "pipeline"
    return ([] if found is None else list(found.signals)), "held ticks"


#: Where a market alert sits on the panel: the line its kind is about.
_ALERT_LINE = {"market_pc1_jump": "pc1_share"}


def _alert_traces(alerts: list[Signal], rows: dict[str, np.ndarray], source: str) -> list[Any]:
    """A diamond per market alert at its bar time, on the line it is about (breadth up, or the
    PC1 share for a jump of it), filled when actionable; rule, track record and details on
    hover."""
    traces = []
    for actionable, symbol, label in ((True, "diamond", "actionable"),
                                      (False, "diamond-open", "not actionable")):  # fmt: skip
        chosen = [s for s in alerts if s.actionable == actionable]
        if not chosen:
            continue
        y = []
        for s in chosen:
            column = _ALERT_LINE.get(s.rule, "breadth_up")
            value = s.details.get(column)
            if value is None or not np.isfinite(value):
                at = np.flatnonzero(rows["end"] == s.timestamp)
                value = float(rows[column][at[0]]) if len(at) else 1.0
            y.append(value)
        traces.append(
            go.Scatter(
                x=_times(np.array([s.timestamp for s in chosen])), y=y, mode="markers",
                name=f"market alert ({label})", legendgroup="market-alert",
                marker={"symbol": symbol, "color": "#fd8d3c", "size": 11,
                        "line": {"width": 1.5, "color": "#fd8d3c"}},
                customdata=[[s.rule, track_record(s), _details(s)] for s in chosen],
                hovertemplate=(f"<b>%{{customdata[0]}}</b> ({label}, {source})<br>"
                               "record: %{customdata[1]}<br>%{customdata[2]}<extra></extra>"),
            )
        )  # fmt: skip
    return traces


def _stored_now(market: Market) -> str:
    """The market's breadth and PC1 share as the pipeline last stored them (the 60-minute
    aggregates' market map; the newest one), or nothing."""
    stored = [c for c in market.context.values() if isinstance(c.get("end"), int | float)]
    if not stored:
        return ""
    newest = max(stored, key=lambda c: c["end"])
    parts = [f"{name} {newest[name]:.2f}" for name in ("breadth_up", "breadth_ma", "pc1_share")
             if isinstance(newest.get(name), int | float)]  # fmt: skip
    if not parts:
        return ""
    alert = f", alert {newest['alert']}" if newest.get("alert") else ""
    return (
        f"<br><sub>stored by the pipeline at {utc(newest['end'])}: {', '.join(parts)}{alert}</sub>"
    )


def _span_label(span: int) -> str:
    hours = int(span) / 3600
    return f"{hours / 24:g}d" if hours >= 48 else f"{hours:g}h"


@dataclass(frozen=True)
class Returns:
    """Log returns of several coins on one time grid (rows follow `coins`)."""

    coins: list[str]
    step: int
    values: np.ndarray

    @property
    def count(self) -> int:
        return self.values.shape[1]


def returns_of(market: Market, coins: Sequence[str], span: int) -> Returns:
    """Log returns of each coin over the span, on a grid of the coins' usual tick interval (at
    least 1 minute, coarser when the span would give more than MAX_RETURNS returns)."""
    end = market.as_of
    coins = [c for c in coins if c in market.series and len(market.series[c])]
    if end is None or not coins:
        return Returns([], 60, np.zeros((0, 0)))
    start = end - int(span)
    gaps = [np.diff(market.series[c].timestamp[-500:]) for c in coins]
    usual = int(np.median(np.concatenate(gaps))) if sum(len(g) for g in gaps) else 60
    step = max(60, usual, -(-int(span) // MAX_RETURNS))
    step = -(-step // 60) * 60
    grid, matrix = stats.on_grid(
        [market.series[c].timestamp for c in coins],
        [market.series[c].price for c in coins],
        start,
        end,
        step,
    )
    del grid
    return Returns(list(coins), step, stats.log_returns(matrix))


def correlation_figure(returns: Returns) -> go.Figure:
    """Correlation matrix of returns, coins ordered by cluster."""
    title = "Correlation of returns"
    if len(returns.coins) < 2 or returns.count < 3:
        return message_figure("Correlation needs at least two coins with a few ticks each.", title)
    corr = stats.correlation(returns.values)
    order = stats.cluster_order(corr)
    names = [returns.coins[i] for i in order]
    ordered = corr[np.ix_(order, order)]
    text = [["" if np.isnan(v) else f"{v:.2f}" for v in row] for row in ordered]
    figure = go.Figure(
        go.Heatmap(
            z=_nullable(ordered),
            x=names,
            y=names,
            zmin=-1,
            zmax=1,
            colorscale="RdBu",
            text=text,
            texttemplate="%{text}" if len(names) <= 16 else None,
            hovertemplate="%{y} / %{x}: %{z:.3f}<extra></extra>",
            colorbar={"title": "ρ"},
        )
    )
    figure.update_layout(
        **_LAYOUT,
        title=f"{title} ({returns.step // 60}-minute log returns, ordered by cluster)",
        yaxis={"autorange": "reversed"},
    )
    return figure


def beta_rows(market: Market, base: str = BASE_COIN) -> list[dict[str, Any]]:
    """Each other coin's correlation and beta to `base` now, and the share of its last hour's
    move that bitcoin explains (is bitcoin driving it?): `cryptosignals.market.BetaTracker`
    (exponentially weighted, half-life a day of 5-minute returns), as the pipeline stored it
    with the coin's 60-minute aggregate (`Market.context`) or, where it stored none, run over
    the held ticks (`overlays.market_path`, run only when some coin has none); `from` says
    which."""
    stored_all = all((market.context.get(c) or {}).get("beta") is not None
                     for c in market.coins if c != base)  # fmt: skip
    found = None if stored_all else overlays.market_path(dict(market.series), base)
    held = {} if found is None else found.beta
    rows = []
    for coin in sorted((set(held) | set(market.context)) - {base}):
        stored = market.context.get(coin) or {}
        values = stored if stored.get("beta") is not None else held.get(coin)
        if not values:
            continue
        driven = values.get("btc_driven")
        rows.append(
            {
                "coin": coin,
                f"corr_{base}": _round(values.get("corr"), 3),
                f"beta_{base}": _round(values.get("beta"), 3),
                "explained": _percent(values.get("explained_share"), 0),
                "driven": "yes" if driven and driven == driven else "",
                "source": "pipeline" if values is stored else "held ticks",
            }
        )
    return sorted(rows, key=lambda r: -(r[f"corr_{base}"] or -2.0))


def _finite(value: Any) -> float | None:
    """A finite number as a float, anything else None."""
    if not isinstance(value, int | float) or not np.isfinite(value):
        return None
    return float(value)


def _round(value: Any, digits: int) -> float | None:
    if not isinstance(value, int | float) or not np.isfinite(value):
        return None
    return round(float(value), digits)


class HeatmapMetric(StrEnum):
    """What the heatmap colours: the 24h volume, or how much the price moves."""

    VOLUME = "volume"
    ACTIVITY = "activity"


def volume_heatmap(
    market: Market, coins: Sequence[str], span: int, metric: str = HeatmapMetric.VOLUME
) -> go.Figure:
    """Coins x UTC hour of day over the span.

    `volume`: the mean 24h-volume reading per hour, as % above/below the coin's own mean over the
    span (coins of any size share one scale; hover gives USD). CoinGecko volumes are 24-hour
    totals, so this shows when the daily total grows (see docs/assumptions.md).
    `activity`: the mean absolute 1-step return per hour, in basis points: when the coin moves."""
    end = market.as_of
    coins = [c for c in coins if c in market.series and len(market.series[c])]
    title = "Volume by hour of day" if metric == HeatmapMetric.VOLUME else "Activity by hour"
    if end is None or not coins:
        return message_figure("No ticks yet.", title)
    start = end - int(span)
    z, absolute = [], []
    for coin in coins:
        window = market.window(coin, start, end)
        if metric == HeatmapMetric.VOLUME:
            hourly = stats.hour_of_day_mean(window.timestamp, window.volume_24h)
            mean = np.nanmean(hourly) if np.any(~np.isnan(hourly)) else np.nan
            relative = (hourly / mean - 1.0) * 100.0 if mean and mean > 0 else hourly * np.nan
            z.append(relative)
            absolute.append(hourly)
        else:
            moves = np.abs(np.diff(np.log(window.price))) * 1e4
            hourly = stats.hour_of_day_mean(window.timestamp[1:], moves)
            z.append(hourly)
            absolute.append(hourly)
    z_matrix = np.array(z, dtype=float).reshape(len(coins), 24)
    absolute_matrix = np.array(absolute, dtype=float).reshape(len(coins), 24)
    if metric == HeatmapMetric.VOLUME:
        colour = {"colorscale": "RdBu_r", "zmid": 0, "colorbar": {"title": "% vs mean"}}
        hover = "%{y} %{x}:00 UTC<br>%{z:+.2f}% vs mean<br>24h volume $%{customdata:,.0f}"
    else:
        colour = {"colorscale": "Viridis", "colorbar": {"title": "bp"}}
        hover = "%{y} %{x}:00 UTC<br>mean |move| %{z:.2f} bp<extra></extra>"
    figure = go.Figure(
        go.Heatmap(
            z=_nullable(z_matrix),
            x=list(range(24)),
            y=list(coins),
            customdata=_nullable(absolute_matrix),
            hovertemplate=hover + ("" if "extra" in hover else "<extra></extra>"),
            **colour,
        )
    )
    figure.update_layout(
        **_LAYOUT,
        title=f"{title} (UTC), last {_span_label(span)}",
        xaxis={"title": "hour of day (UTC)", "dtick": 2},
        yaxis={"autorange": "reversed"},
    )
    return figure


def profile_figure(market: Market, coin: str | None) -> go.Figure:
    """When the coin moves: its hour-of-week volatility factors (7 days x 24 UTC hours, Monday
    on top) from every held tick (`profile.hour_of_week_volatility`), coloured on a log scale
    (blue calmer, red busier than the coin's typical hour, saturated at half and double); the
    cells that differ from the rest after Benjamini-Hochberg are outlined. Without enough
    history it says what the profile needs."""
    title = "When does it move"
    if coin is None or coin not in market.series or not len(market.series[coin]):
        return message_figure("No ticks yet for the selected coin.", title)
    series = market.series[coin]
    found = overlays.volatility_profile(series)
    if not isinstance(found, Profile):
        held = (int(series.timestamp[-1]) - int(series.timestamp[0])) / 86_400
        return message_figure(
            f"{coin}: {held:.1f} days of ticks held; {found}.<br>"
            "A longer span holds more history (30d at most).",
            f"{title}: {coin}",
        )
    factor = found.grid_7x24()
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.clip(np.log2(factor), -1.0, 1.0)
    low, high, q = (found.grid_7x24(v) for v in (found.low, found.high, found.q_value))
    weeks = found.grid_7x24(found.weeks)
    custom = [
        [[_cell(factor[d, h]), _cell(low[d, h]), _cell(high[d, h]), _cell(q[d, h]),
          int(weeks[d, h])] for h in range(24)]
        for d in range(7)
    ]  # fmt: skip
    figure = go.Figure(
        go.Heatmap(
            z=_nullable(z), x=list(range(24)), y=list(DAYS), customdata=custom, zmin=-1, zmax=1,
            zmid=0, colorscale="RdBu_r", name="factor", xgap=1, ygap=1,
            colorbar={"title": "factor", "tickvals": [-1, -0.5, 0, 0.5, 1],
                      "ticktext": ["½", "0.71", "1", "1.41", "2"]},
            hovertemplate=(
                "%{y} %{x}h UTC: factor %{customdata[0]:.2f} (%{customdata[1]:.2f}-"
                "%{customdata[2]:.2f}), q=%{customdata[3]:.2g}, %{customdata[4]} weeks"
                "<extra></extra>"
            ),
        )
    )  # fmt: skip
    flagged = np.argwhere(found.grid_7x24(found.flagged))
    figure.add_trace(
        go.Scatter(
            x=[int(h) for _, h in flagged], y=[DAYS[d] for d, _ in flagged], mode="markers",
            name=f"differs (q ≤ {found.fdr:g})", hoverinfo="skip",
            marker={"symbol": "square-open", "size": 16, "color": "#111",
                    "line": {"width": 2}},
        )
    )  # fmt: skip
    first, last = (utc(t)[:10] for t in (series.timestamp[0], series.timestamp[-1]))
    figure.update_layout(
        **_LAYOUT,
        title=(
            f"{title}: {coin}, |5-min return| by hour of week vs its typical hour "
            f"({first} to {last}, {int(np.max(found.weeks))} weeks)"
        ),
        xaxis={"title": "hour of day (UTC)", "dtick": 3, "range": [-0.5, 23.5]},
        yaxis={"autorange": "reversed", "type": "category"},
        legend={"orientation": "h", "y": -0.2},
    )
    return figure


def _cell(value: float) -> float | None:
    return None if np.isnan(value) else float(value)


def filter_signals(
    signals: Iterable[Signal],
    coins: Sequence[str] | None = None,
    types: Sequence[str] | None = None,
    rules: Sequence[str] | None = None,
    min_confidence: float = 0.0,
    actionable_only: bool = False,
) -> list[Signal]:
    """Signals matching every given filter (an empty or None filter lets everything through),
    newest first."""
    chosen = [
        s
        for s in signals
        if (not actionable_only or s.actionable)
        and (not coins or s.crypto_id in coins)
        and (not types or str(s.signal_type) in types)
        and (not rules or s.rule in rules)
        and s.confidence_score >= min_confidence
    ]
    return sorted(chosen, key=lambda s: (-s.timestamp, s.crypto_id, s.rule))


def track_record(signal: Signal) -> str:
    """The rule's record on this coin when the signal fired, in a few words."""
    n = int(signal.evidence.get("n", 0))
    if not n:
        return "no record yet"
    mean = signal.evidence.get("mean_net_bp", float("nan"))
    hit = signal.evidence.get("hit_rate", float("nan"))
    p = signal.evidence.get("p_adjusted", float("nan"))
    return f"n={n}, hit {hit:.0%}, net {mean:+.0f} bp, p_adj {p:.2g}"


#: The context every signal's details carry, shown as columns of the signals table: the
#: timeframes' alignment (-1..+1), against the higher timeframes (1) or not (0), and the
#: distances to the nearest support and resistance in ATRs, of the 1h zones and the 4h ones.
CONTEXT_DETAILS = ("alignment", "counter_trend", "dist_support_atr", "dist_support_atr_4h",
                   "dist_resistance_atr", "dist_resistance_atr_4h")  # fmt: skip
#: Bitcoin's part in another coin's move at the signal (the process function's `with_beta`):
#: the share of the coin's last hour's move that bitcoin explains, and whether that makes it
#: bitcoin-driven; bitcoin's own signals and the market's carry neither.
BTC_DETAILS = ("explained_share", "btc_driven")
#: The signals table's columns: (row key, (header group, header)); a group's header spans its
#: columns (the 1h and 4h distances, bitcoin's share and flag).
SIGNAL_COLUMNS: tuple[tuple[str, tuple[str, str]], ...] = (
    *((key, ("", name)) for key, name in (
        ("time", "time"), ("coin", "coin"), ("type", "type"), ("rule", "rule"),
        ("timeframe", "timeframe"), ("price", "price"), ("confidence", "confidence"),
        ("actionable", "actionable"), ("record", "track record"), ("alignment", "alignment"),
        ("counter_trend", "counter-trend"))),
    ("dist_support_atr", ("to support (ATR)", "1h")),
    ("dist_support_atr_4h", ("to support (ATR)", "4h")),
    ("dist_resistance_atr", ("to resistance (ATR)", "1h")),
    ("dist_resistance_atr_4h", ("to resistance (ATR)", "4h")),
    ("btc_share", ("BTC-driven", "share %")),
    ("btc_driven", ("BTC-driven", "flag")),
    ("details", ("", "details")),
)  # fmt: skip


def _detail(signal: Signal, key: str) -> float | None:
    value = signal.details.get(key)
    return None if value is None or not np.isfinite(value) else round(float(value), 2)


def _btc_driven(signal: Signal) -> str | None:
    flag = signal.details.get("btc_driven")
    if flag is None or not np.isfinite(flag):
        return None
    return "yes" if flag else "no"


def signal_rows(signals: Iterable[Signal], limit: int = 500) -> list[dict[str, Any]]:
    """Rows of the signals table (`SIGNAL_COLUMNS`); the details column holds what the other
    columns do not show."""
    return [
        {
            "time": utc(s.timestamp),
            "coin": s.crypto_id,
            "type": str(s.signal_type),
            "rule": s.rule,
            "timeframe": s.timeframe,
            "price": float(f"{s.price:.6g}"),
            "confidence": round(s.confidence_score, 2),
            "record": track_record(s),
            "actionable": "yes" if s.actionable else "",
            **{key: _detail(s, key) for key in CONTEXT_DETAILS},
            "btc_share": _percent(s.details.get("explained_share"), 0),
            "btc_driven": _btc_driven(s),
            "details": _details(s, (*CONTEXT_DETAILS, *BTC_DETAILS)),
        }
        for s in list(signals)[:limit]
    ]


def aggregate_rows(market: Market) -> list[dict[str, Any]]:
    """One row per coin: each window's average price and % change, and the 24h range."""
    by_coin: dict[str, dict[str, Any]] = {}
    for a in market.aggregates:
        row = by_coin.setdefault(a.crypto_id, {"coin": a.crypto_id, "as_of": 0})
        label = {Window.M5: "5m", Window.M30: "30m", Window.M60: "60m", Window.H24: "24h"}[
            Window(a.time_window)
        ]
        row["as_of"] = max(row["as_of"], a.window_end)
        row[f"avg_{label}"] = float(f"{a.avg_price:.6g}")
        row[f"chg_{label}"] = round(a.chg_pct, 3)
        if a.time_window == Window.H24:
            row["low_24h"] = float(f"{a.min_price:.6g}")
            row["high_24h"] = float(f"{a.max_price:.6g}")
            row["volume_24h"] = None if a.volume_aggregated is None else round(a.volume_aggregated)
            row["samples_24h"] = a.sample_count
    rows = sorted(by_coin.values(), key=lambda r: (r["coin"] != BASE_COIN, r["coin"]))
    for row in rows:
        row["as_of"] = utc(row["as_of"])
    return rows


def _percent(value: Any, digits: int = 2) -> float | None:
    if not isinstance(value, int | float) or not np.isfinite(value):
        return None
    return round(float(value) * 100, digits)


def risk_rows(market: Market) -> list[dict[str, Any]]:
    """One row per coin: the latest regime (the filter's label, which changes only after a few
    bars of a new state, and the likeliest state now with its probability), the 1h VaR99, 1h
    sigma and position size the pipeline stored with the coin's 60-minute aggregate, in %;
    blank when it has none (no model, or still warming up)."""
    coins = sorted(set(market.coins) | set(market.risk) | {a.crypto_id for a in market.aggregates})
    rows = []
    for coin in sorted(coins, key=lambda c: (c != BASE_COIN, c)):
        stored = market.risk.get(coin) or {}
        hour = (stored.get("horizons") or {}).get(overlays.HORIZON) or {}
        regime = stored.get("regime") or {}
        name = regime.get("name")
        probabilities: dict[str, float] = regime.get("probabilities") or {}
        likeliest = max(probabilities, key=lambda k: probabilities[k], default=None)
        timestamp = stored.get("timestamp")
        rows.append(
            {
                "coin": coin,
                "as_of": utc(timestamp) if isinstance(timestamp, int | float) else None,
                "regime": None if name is None else str(name),
                "likeliest": None
                if likeliest is None
                else f"{likeliest} ({float(probabilities[likeliest]):.2f})",
                "var_99_1h": _percent(hour.get("var_99")),
                "sigma_1h": _percent(hour.get("sigma")),
                "position_size": _percent(stored.get("position_size"), 1),
                "budget": _percent(stored.get("budget"), 2),
            }
        )
    return rows
