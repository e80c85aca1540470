"""Self-contained HTML reports (inline SVG, no JavaScript, no network): an adapter over results.

- backtest: figures next to buy-and-hold, price with entries and exits, equity vs
  buy-and-hold, drawdown, and the trades table;
- scorecard: the table, and per horizon the mean forward return of each rule's signals with
  its confidence interval against the all-bars baseline.
"""

from __future__ import annotations

import html
import itertools
import math
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np

from cryptosignals.backtest.core import BacktestResult
from cryptosignals.backtest.metrics import Metrics
from cryptosignals.backtest.scorecard import HORIZONS, ScoreRow
from cryptosignals.evidence import Calibration

_W, _H, _PAD_L, _PAD_R, _PAD_T, _PAD_B = 960, 260, 70, 20, 14, 28
PAGE_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1000px;color:#222}
h1{font-size:22px}h2{font-size:17px;margin-top:28px}
table{border-collapse:collapse;font-variant-numeric:tabular-nums}
td,th{padding:3px 10px;border-bottom:1px solid #e4e4e4;text-align:right;white-space:nowrap}
th:first-child,td:first-child{text-align:left}
.small{color:#666;font-size:12px}.scroll{max-height:420px;overflow:auto}
svg{background:#fcfcfc;border:1px solid #eee}
.yes{color:#0a7d32;font-weight:600}
"""
GREEN, RED, BLUE, GREY = "#0a7d32", "#c62828", "#1f5fbf", "#888888"


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M")


def _thin(n: int, limit: int = 1600) -> np.ndarray:
    """Indices to draw: all of them, or each bucket's first point (lines stay readable)."""
    if n <= limit:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, limit).astype(int))


def _extremes(y: np.ndarray, limit: int = 800) -> np.ndarray:
    """Per bucket the lowest and highest point, so that peaks and troughs survive thinning."""
    n = len(y)
    if n <= 2 * limit:
        return np.arange(n)
    edges = np.linspace(0, n, limit + 1).astype(int)
    keep = []
    for a, b in itertools.pairwise(edges):
        part = y[a:b]
        keep += [a + int(np.nanargmin(part)), a + int(np.nanargmax(part))]
    return np.unique(keep)


class TimePanel:
    """A time-series panel of a report: x = unix seconds, y = values; SVG strings appended in
    order (line, area, markers), drawn by `svg()`."""

    def __init__(
        self, x0: float, x1: float, ys: Sequence[np.ndarray], fmt: str = "{:,.0f}", h: int = _H
    ) -> None:
        finite = np.concatenate([y[np.isfinite(y)] for y in ys]) if ys else np.array([0.0])
        lo, hi = (float(finite.min()), float(finite.max())) if len(finite) else (0.0, 1.0)
        if hi == lo:
            lo, hi = lo - 1.0, hi + 1.0
        pad = (hi - lo) * 0.04
        self.lo, self.hi, self.x0, self.x1 = lo - pad, hi + pad, x0, max(x1, x0 + 1)
        self.h, self.fmt = h, fmt
        self.parts: list[str] = []

    def sx(self, x: np.ndarray | float) -> Any:
        return _PAD_L + (np.asarray(x) - self.x0) / (self.x1 - self.x0) * (_W - _PAD_L - _PAD_R)

    def sy(self, y: np.ndarray | float) -> Any:
        inner = self.h - _PAD_T - _PAD_B
        return _PAD_T + (self.hi - np.asarray(y)) / (self.hi - self.lo) * inner

    def line(self, x: np.ndarray, y: np.ndarray, color: str, width: float = 1.2) -> None:
        idx = _extremes(y)
        pts = " ".join(
            f"{px:.1f},{py:.1f}"
            for px, py in zip(self.sx(x[idx]), self.sy(y[idx]), strict=True)
            if math.isfinite(py)
        )
        self.parts.append(
            f'<polyline fill="none" stroke="{color}" stroke-width="{width}" points="{pts}"/>'
        )

    def area(self, x: np.ndarray, y: np.ndarray, color: str) -> None:
        idx = _extremes(y)
        xs, ys = self.sx(x[idx]), self.sy(y[idx])
        base = self.sy(0.0)
        pts = " ".join(f"{a:.1f},{b:.1f}" for a, b in zip(xs, ys, strict=True))
        first, last = xs[0], xs[-1]
        self.parts.append(
            f'<polygon fill="{color}" fill-opacity="0.35" stroke="{color}" '
            f'points="{first:.1f},{base:.1f} {pts} {last:.1f},{base:.1f}"/>'
        )

    def markers(
        self, x: Sequence[float], y: Sequence[float], shape: str, color: str, tip: Sequence[str]
    ) -> None:
        for px, py, t in zip(
            self.sx(np.array(x, float)), self.sy(np.array(y, float)), tip, strict=True
        ):
            if shape == "up":
                d = f"M{px:.1f},{py - 6:.1f} l5,9 h-10 z"
            elif shape == "down":
                d = f"M{px:.1f},{py + 6:.1f} l5,-9 h-10 z"
            else:
                d = f"M{px - 4:.1f},{py - 4:.1f} l8,8 m0,-8 l-8,8"
            fill = color if shape != "x" else "none"
            self.parts.append(
                f'<path d="{d}" fill="{fill}" stroke="{color}" stroke-width="1.5">'
                f"<title>{html.escape(t)}</title></path>"
            )

    def svg(self, legend: Sequence[tuple[str, str]] = ()) -> str:
        axes = []
        for k in range(5):
            v = self.lo + (self.hi - self.lo) * k / 4
            y = self.sy(v)
            axes.append(
                f'<line x1="{_PAD_L}" x2="{_W - _PAD_R}" y1="{y:.1f}" y2="{y:.1f}" stroke="#eee"/>'
                f'<text x="{_PAD_L - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11">'
                f"{self.fmt.format(v)}</text>"
            )
        for k in range(5):
            t = self.x0 + (self.x1 - self.x0) * k / 4
            x = self.sx(t)
            anchor = "start" if k == 0 else "end" if k == 4 else "middle"
            axes.append(
                f'<text x="{x:.1f}" y="{self.h - 8}" text-anchor="{anchor}" font-size="11">'
                f"{_when(t)[:10]}</text>"
            )
        keys = "".join(
            f'<rect x="{_PAD_L + 10 + 150 * i}" y="{_PAD_T + 2}" width="12" height="4" '
            f'fill="{c}"/><text x="{_PAD_L + 26 + 150 * i}" y="{_PAD_T + 8}" font-size="11">'
            f"{html.escape(name)}</text>"
            for i, (name, c) in enumerate(legend)
        )
        return (
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{_W}" height="{self.h}" '
            f'viewBox="0 0 {_W} {self.h}">{"".join(axes)}{"".join(self.parts)}{keys}</svg>'
        )


def _number(value: float, pct: bool = False) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    return f"{value * 100:,.2f}%" if pct else f"{value:,.2f}"


METRIC_ROWS: tuple[tuple[str, str, bool], ...] = (
    ("Final equity", "final_equity", False),
    ("Total return", "total_return", True),
    ("CAGR", "cagr", True),
    ("Sharpe (ann.)", "sharpe", False),
    ("Sortino (ann.)", "sortino", False),
    ("Max drawdown", "max_drawdown", True),
    ("Calmar", "calmar", False),
    ("Volatility (ann.)", "volatility", True),
    ("Exposure", "exposure", True),
    ("Trades", "n_trades", False),
    ("Win rate", "win_rate", True),
    ("Profit factor", "profit_factor", False),
    ("Avg trade return", "avg_trade_return", True),
    ("Fees paid", "fees", False),
)


def metric_rows(strategy: Metrics, hold: Metrics) -> list[tuple[str, str, str]]:
    """(label, strategy, buy-and-hold) formatted: shared by the terminal and the HTML."""
    rows = []
    for label, key, pct in METRIC_ROWS:
        a, b = getattr(strategy, key), getattr(hold, key)
        if key == "n_trades":
            rows.append((label, str(a), str(b)))
        else:
            rows.append((label, _number(a, pct), _number(b, pct)))
    return rows


def backtest_html(result: BacktestResult, title: str = "Backtest") -> str:
    """The whole report as one HTML string."""
    t = result.timestamp.astype(float) + result.interval_seconds  # values as of each close
    x0, x1 = float(t[0]), float(t[-1])
    price = TimePanel(x0, x1, [result.close])
    price.line(t, result.close, GREY)
    for side, shape, color in (("long", "up", GREEN), ("short", "down", RED)):
        chosen = [tr for tr in result.trades if tr.side == side]
        price.markers(
            [tr.entry_time for tr in chosen], [tr.entry_price for tr in chosen], shape, color,
            [f"{side} {tr.units:.6g} @ {tr.entry_price:,.2f} ({_when(tr.entry_time)})"
             for tr in chosen],
        )  # fmt: skip
    closed = [tr for tr in result.trades if tr.exit_time is not None]
    price.markers(
        [tr.exit_time or 0 for tr in closed], [tr.exit_price for tr in closed], "x", "#333",
        [f"exit {tr.side} @ {tr.exit_price:,.2f}, {tr.return_pct:+.2f}% ({tr.exit_reason})"
         for tr in closed],
    )  # fmt: skip
    equity = TimePanel(x0, x1, [result.equity, result.buy_and_hold_equity])
    equity.line(t, result.buy_and_hold_equity, GREY)
    equity.line(t, result.equity, BLUE, 1.6)
    dd = result.drawdown
    draw = TimePanel(x0, x1, [dd, np.array([0.0])], fmt="{:.0%}", h=180)
    draw.area(t, dd, RED)
    m, b = result.metrics, result.buy_and_hold
    rows = "".join(
        f"<tr><td>{label}</td><td>{a}</td><td>{c}</td></tr>" for label, a, c in metric_rows(m, b)
    )
    trades = "".join(
        f"<tr><td>{i + 1}</td><td>{tr.side}</td><td>{_when(tr.entry_time)}</td>"
        f"<td>{tr.entry_price:,.2f}</td>"
        f"<td>{_when(tr.exit_time) if tr.exit_time is not None else 'open'}</td>"
        f"<td>{tr.exit_price:,.2f}</td><td>{tr.units:.6g}</td><td>{tr.fees:,.2f}</td>"
        f'<td style="color:{GREEN if tr.pnl > 0 else RED}">{tr.pnl:,.2f}</td>'
        f"<td>{tr.return_pct:+.2f}%</td><td>{tr.bars_held}</td><td>{tr.exit_reason}</td></tr>"
        for i, tr in enumerate(result.trades)
    )
    info = result.info
    params = ", ".join(
        f"{k}={v}" for rule in info.get("params", {}).values() for k, v in rule.items()
    )
    sub = (
        f"{html.escape(str(info.get('coin', '')))} · {html.escape(str(info.get('strategy', '')))}"
        f"({html.escape(params)}) · {len(result.equity):,} bars of {result.interval_seconds // 60}m"
        f" · {_when(result.timestamp[0])} to {_when(x1)} UTC · fee {info.get('fee_bps')} bps,"
        f" slippage {info.get('slippage_bps')} bps · "
        f"{'long only' if info.get('long_only') else 'long/short'}"
    )
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>{PAGE_CSS}</style></head><body>
<h1>{html.escape(title)}</h1><p class="small">{sub}</p>
<h2>Figures</h2>
<table><tr><th></th><th>Strategy</th><th>Buy and hold</th></tr>{rows}</table>
<p class="small">Fills at the next bar's open after a signal; Sharpe and Sortino annualised over
a 365-day 24/7 year; see docs/backtesting.md for every assumption.</p>
<h2>Price, entries (▲ long, ▼ short) and exits (×)</h2>{price.svg()}
<h2>Equity vs buy and hold</h2>{equity.svg([("strategy", BLUE), ("buy and hold", GREY)])}
<h2>Drawdown</h2>{draw.svg()}
<h2>Trades ({len(result.trades)})</h2>
<div class="scroll"><table><tr><th>#</th><th>side</th><th>entry (UTC)</th><th>entry price</th>
<th>exit (UTC)</th><th>exit price</th><th>units</th><th>fees</th><th>P&amp;L</th><th>return</th>
<th>bars</th><th>exit</th></tr>{trades}</table></div>
</body></html>
"""


def _score_chart(rows: Sequence[ScoreRow], horizon: str) -> str:
    """Horizontal bars: each rule/type's mean forward return with its CI, baseline dashed."""
    chosen = [r for r in rows if r.horizon == horizon and r.signal_type != "ALERT"]
    if not chosen:
        return ""
    ends = [v for r in chosen for v in (r.mean_low, r.mean_high, r.mean_return)]
    ends = [v for v in ends if math.isfinite(v)] + [0.0, chosen[0].baseline_mean]
    lo, hi = min(ends), max(ends)
    if hi == lo:
        hi = lo + 1e-4
    left, right, row_h = 220, 20, 18
    height = 30 + row_h * len(chosen)

    def sx(v: float) -> float:
        return left + (v - lo) / (hi - lo) * (_W - left - right)

    parts = []
    for i, r in enumerate(chosen):
        y = 20 + i * row_h
        color = GREEN if r.signal_type == "BUY" else RED
        x0, x1 = sx(0.0), sx(r.mean_return)
        parts.append(
            f'<text x="{left - 6}" y="{y + 12}" text-anchor="end" font-size="11">'
            f"{html.escape(r.rule)} {r.signal_type} (n={r.n})</text>"
            f'<rect x="{min(x0, x1):.1f}" y="{y + 3}" width="{abs(x1 - x0):.1f}" height="11" '
            f'fill="{color}" fill-opacity="0.55"/>'
        )
        if math.isfinite(r.mean_low):
            parts.append(
                f'<line x1="{sx(r.mean_low):.1f}" x2="{sx(r.mean_high):.1f}" y1="{y + 8.5}" '
                f'y2="{y + 8.5}" stroke="#222"/>'
            )
    base = sx(chosen[0].baseline_mean)
    zero = sx(0.0)
    parts.append(
        f'<line x1="{base:.1f}" x2="{base:.1f}" y1="14" y2="{height - 10}" stroke="{BLUE}" '
        f'stroke-dasharray="4 3"/><line x1="{zero:.1f}" x2="{zero:.1f}" y1="14" '
        f'y2="{height - 10}" stroke="#bbb"/>'
        f'<text x="{left}" y="12" font-size="11">{lo * 1e4:.1f} bp</text>'
        f'<text x="{_W - right}" y="12" font-size="11" text-anchor="end">{hi * 1e4:.1f} bp</text>'
        f'<text x="{base + 4:.1f}" y="{height - 4}" font-size="11" fill="{BLUE}">all bars</text>'
    )
    return (
        f"<h3>{horizon}</h3>"
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_W}" height="{height}" '
        f'viewBox="0 0 {_W} {height}">{"".join(parts)}</svg>'
    )


#: A curve of a reliability diagram: its bins (mean probability, observed rate, count) and the
#: lines its legend shows.
Curve = tuple[list[tuple[float, float, int]], list[str]]
CURVE_COLOURS = (BLUE, "#d9822b", GREEN, RED)


def calibration_curve(name: str, c: Calibration) -> Curve:
    """A `Calibration` as a curve, its legend the figures that say whether it is a probability."""
    return c.bins, [
        f"{name}: {c.n:,} signals",
        f"calibration error (ECE) {c.ece:.3f}",
        f"Brier skill vs the base rate {c.skill:+.4f}",
        f"rank correlation {c.spearman:+.3f}",
    ]


def reliability_svg(curves: dict[str, Curve], title: str = "", note: str = "") -> str:
    """A reliability diagram: each bin's mean confidence (x) against how often the claim then
    held (y); on the dashed diagonal a probability means what it says. The axes zoom to the
    range the bins use."""
    size, left, top, legend_w = 400, 62, 46, 280
    width, height = left + size + legend_w, top + size + 58
    values = [v for bins, _ in curves.values() for b in bins for v in b[:2]] or [0.0, 1.0]
    lo = max(0.0, math.floor(min(values) * 10 - 0.5) / 10)
    hi = min(1.0, math.ceil(max(values) * 10 + 0.5) / 10)

    def sx(v: float) -> float:
        return left + (v - lo) / (hi - lo) * size

    def sy(v: float) -> float:
        return top + (hi - v) / (hi - lo) * size

    parts = [
        f'<rect x="{left}" y="{top}" width="{size}" height="{size}" fill="#fcfcfc" stroke="#ddd"/>'
    ]
    for k in range(round((hi - lo) * 10) + 1):
        v = lo + k / 10
        parts.append(
            f'<line x1="{sx(v):.1f}" x2="{sx(v):.1f}" y1="{top}" y2="{top + size}" stroke="#eee"/>'
            f'<line x1="{left}" x2="{left + size}" y1="{sy(v):.1f}" y2="{sy(v):.1f}" '
            f'stroke="#eee"/><text x="{sx(v):.1f}" y="{top + size + 16}" text-anchor="middle" '
            f'font-size="11">{v:.1f}</text><text x="{left - 6}" y="{sy(v) + 4:.1f}" '
            f'text-anchor="end" font-size="11">{v:.1f}</text>'
        )
    parts.append(
        f'<line x1="{sx(lo):.1f}" y1="{sy(lo):.1f}" x2="{sx(hi):.1f}" y2="{sy(hi):.1f}" '
        f'stroke="{GREY}" stroke-dasharray="5 4"/>'
        f'<text x="{left + size / 2}" y="{top + size + 36}" text-anchor="middle" font-size="12">'
        f"confidence_score (mean per bin of equal count)</text>"
        f'<text transform="translate(16 {top + size / 2}) rotate(-90)" text-anchor="middle" '
        f'font-size="12">share of claims that held</text>'
        f'<text x="{left}" y="18" font-size="14" font-weight="600">{html.escape(title)}</text>'
        f'<text x="{left}" y="35" font-size="11" fill="#555">{html.escape(note)}</text>'
    )
    legend_x, legend_y = left + size + 18, top + 8
    parts.append(
        f'<line x1="{legend_x}" x2="{legend_x + 22}" y1="{legend_y}" y2="{legend_y}" '
        f'stroke="{GREY}" stroke-dasharray="5 4"/><text x="{legend_x + 28}" '
        f'y="{legend_y + 4}" font-size="11">perfectly calibrated</text>'
    )
    for k, ((name, (bins, legend)), colour) in enumerate(
        zip(curves.items(), itertools.cycle(CURVE_COLOURS), strict=False)
    ):
        points = " ".join(f"{sx(p):.1f},{sy(r):.1f}" for p, r, _ in bins)
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="1.5" '
                     f'points="{points}"/>')  # fmt: skip
        parts += [
            f'<circle cx="{sx(p):.1f}" cy="{sy(r):.1f}" r="4" fill="{colour}"><title>'
            f"{html.escape(name)}: {n} signals, confidence {p:.3f}, held {r:.3f}</title></circle>"
            for p, r, n in bins
        ]
        y = legend_y + 26 + 62 * k
        parts.append(f'<circle cx="{legend_x + 11}" cy="{y - 4}" r="4" fill="{colour}"/>')
        parts += [
            f'<text x="{legend_x + 28}" y="{y + 14 * j}" font-size="11">{html.escape(t)}</text>'
            for j, t in enumerate(legend)
        ]
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="system-ui,sans-serif">'
        f'<rect width="{width}" height="{height}" fill="#fff"/>{"".join(parts)}</svg>\n'
    )


def scorecard_html(
    rows: Sequence[ScoreRow],
    title: str = "Signal scorecard",
    calibration: dict[str, Calibration] | None = None,
) -> str:
    def bp(v: float) -> str:
        return f"{v * 1e4:+.1f}" if math.isfinite(v) else ""

    def p(v: float) -> str:
        return f"{v:.3f}" if math.isfinite(v) else ""

    def verdict(r: ScoreRow) -> str:
        if r.edge:
            return '<td class="yes">edge</td>'
        return "<td>against</td>" if r.against else "<td></td>"

    table = "".join(
        f"<tr><td>{html.escape(r.rule)}</td><td>{r.signal_type}</td><td>{r.horizon}</td>"
        f"<td>{r.n}</td><td>{_number(r.hit_rate, True)}</td>"
        f"<td>{_number(r.baseline_hit_rate, True)}</td>"
        f"<td>{bp(r.mean_return)} [{bp(r.mean_low)}, {bp(r.mean_high)}]</td>"
        f"<td>{bp(r.baseline_mean)} [{bp(r.baseline_low)}, {bp(r.baseline_high)}]</td>"
        f"<td>{bp(r.mean_net)}</td><td>{p(r.p_value)}</td><td>{p(r.q_value)}</td>"
        f"{verdict(r)}</tr>"
        for r in rows
    )
    charts = "".join(_score_chart(rows, h) for h in HORIZONS)
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>{PAGE_CSS}</style></head><body><h1>{html.escape(title)}</h1>
<p class="small">Entry at the first tick after the signal, exit at the first tick at or after
entry + horizon. A BUY's claim holds when the price rose by more than the round-trip cost, a
SELL's when it fell by more; ALERT rows measure the size of the move (|return|) against the
typical move. p: two-sided, from circular time shifts of the same signals (clusters and
overlapping windows kept); the band is what random timing of these signals gives (95 %); q:
Benjamini-Hochberg over the table. "Edge": q &le; 0.10 on the signal's side (it beats random
timing; the net column says whether it pays); "against": on the other. Returns in basis
points; rows under the minimum n carry no interval.</p>
<table><tr><th>rule</th><th>type</th><th>horizon</th><th>n</th><th>hit rate</th>
<th>baseline</th><th>mean bp [95%]</th><th>random timing bp [95%]</th><th>net bp</th>
<th>p</th><th>q</th><th>verdict</th></tr>{table}</table>
<h2>Mean forward return after BUY / SELL signals, with 95% intervals</h2>{charts}
{_calibration_section(calibration)}
</body></html>
"""


def _calibration_section(calibration: dict[str, Calibration] | None) -> str:
    if not calibration or not any(c.n for c in calibration.values()):
        return ""
    lines = "".join(
        f"<li>{html.escape(kind)}: {c.n} signals, expected calibration error {c.ece:.3f}, Brier "
        f"{c.brier:.4f} (the base rate each signal carried: {c.brier_reference:.4f}, skill "
        f"{c.skill:+.4f}), rank correlation with the outcome {c.spearman:+.3f}</li>"
        for kind, c in calibration.items()
        if c.n
    )
    return (
        '<h2>Is the confidence a probability?</h2><p class="small">Each signal\'s '
        "confidence (from its rule's track record up to then) against whether its claim held "
        "at its evaluation horizon; ten bins of equal count.</p>"
        f"<ul>{lines}</ul>"
        + reliability_svg(
            {k: calibration_curve(k, c) for k, c in calibration.items() if c.n},
            "Is confidence_score a probability?",
            "each signal's confidence against whether its claim held at its horizon",
        )
    )
