"""`cryptosignals market`: is bitcoin driving each coin's moves, and are many coins moving
together? Beta and correlation to bitcoin per coin, the share of moves bitcoin explains,
breadth and the first principal component's share over time, market-wide alerts (as signals of
the pseudo-coin "market" with their outcome, track record and scorecard), clusters."""

from __future__ import annotations

import csv
import html as html_lib
import io
import json
import math
import sys
from collections import Counter
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import numpy as np
import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from cryptosignals.candles import SAMPLE_COINS, candles_to_ticks, coin_of_file, read_candles
from cryptosignals.candles import sample_path as _sample_path
from cryptosignals.commands.analyze import console, utc
from cryptosignals.engine import closed_bars
from cryptosignals.errors import BadInputError
from cryptosignals.evidence import realised_outcomes
from cryptosignals.market import BAR_SECONDS, MARKET_COLUMNS

if TYPE_CHECKING:
    from cryptosignals.backtest.scorecard import ScoreRow
    from cryptosignals.models.market import Clusters, MarketHistory

err = Console(stderr=True, soft_wrap=True)
WINDOWS: dict[str, int] = {"30m": 6, "1h": 12, "2h": 24, "4h": 48}
BTC = "bitcoin"
COIN_COLUMNS = ("coin", "beta_now", "corr_now", "beta_median", "beta_p10", "beta_p90",
                "corr_median", "moves", "btc_driven_share", "big_moves_btc_driven_share",
                "cluster")  # fmt: skip
ALERT_COLUMNS = ("timestamp", "kind", "breadth_up", "pc1_share", "market_move", "rule", "index",
                 "outcome_bp", "claim_held", "record_n", "record_hit_rate",
                 "record_mean_excess_bp", "base_rate", "typical_move_bp", "p_value",
                 "confidence", "actionable")  # fmt: skip
_MIN_COMMON_BARS = 288  # a day of bars shared with bitcoin, at least


class Format(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"


class Rows(StrEnum):
    coins = "coins"
    market = "market"
    alerts = "alerts"


def read_bars(paths: list[Path]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Each file's coin and the stream's 5-minute bars (close time, close), with clear errors for
    inputs the comparison cannot use."""
    if not paths:
        paths = [_sample_path(coin) for coin in SAMPLE_COINS]
    bars: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    where: dict[str, Path] = {}
    with Progress(console=err, transient=True) as bar:
        task = bar.add_task("reading candles", total=len(paths))
        for path in paths:
            coin = coin_of_file(path, None)
            if coin in bars:
                raise BadInputError(f"{path} and {where[coin]} are both {coin}'s candles")
            candles = read_candles(path)
            if candles.interval_ms > BAR_SECONDS * 1000:
                raise BadInputError(
                    f"{path}: candles every {candles.interval_ms // 60_000} minutes; market "
                    "works on 5-minute bars, so it needs 1- or 5-minute candles"
                )
            built = closed_bars(candles_to_ticks(coin, candles))
            bars[coin] = (built["end"].astype(np.int64), np.asarray(built["close"], float))
            where[coin] = path
            bar.advance(task)
    if len(bars) < 2:
        raise BadInputError(
            "market compares coins: give at least two candle files, bitcoin's among them "
            "(e.g. --input bitcoin_5m.csv.gz ethereum_5m.csv.gz)"
        )
    if BTC not in bars:
        raise BadInputError(
            f"market measures each coin against bitcoin: no bitcoin file among the inputs "
            f"({', '.join(bars)}); add bitcoin_5m.csv(.gz)"
        )
    btc_end = bars[BTC][0]
    for coin, (end, _) in bars.items():
        common = len(np.intersect1d(end, btc_end, assume_unique=True))
        if coin != BTC and common < _MIN_COMMON_BARS:
            raise BadInputError(
                f"{where[coin]} and {where[BTC]} are not aligned: they share {common} 5-minute "
                f"bars ({utc(int(end[0]))} to {utc(int(end[-1]))} vs {utc(int(btc_end[0]))} to "
                f"{utc(int(btc_end[-1]))} UTC); market needs at least a day in common"
            )
    return bars


def _finite(values: np.ndarray) -> np.ndarray:
    return values[np.isfinite(values)]


def _f(value: float) -> float | None:
    return None if not math.isfinite(value) else round(float(value), 6)


def coin_rows(history: MarketHistory, window_bars: int, clusters: Clusters | None) -> list[dict]:
    """Per coin: beta and correlation to bitcoin now and over the input (median, 10th and 90th
    percentiles over time), and the share of its moves (non-overlapping windows on the window's
    grid; "big": the largest 10 % by size) that were btc-driven."""
    rows = []
    label = {} if clusters is None else dict(zip(clusters.coins, clusters.labels, strict=True))
    for coin, out in history.beta.items():
        beta, corr = _finite(out["beta"]), _finite(out["corr"])
        on_grid = out["end"] % (window_bars * BAR_SECONDS) == 0
        moves = on_grid & np.isfinite(out["explained_share"])
        size = np.abs(out["coin_move"])
        big = moves & (size >= np.quantile(size[moves], 0.9)) if moves.any() else moves
        rows.append({
            "coin": coin,
            "beta_now": _f(beta[-1]) if len(beta) else None,
            "corr_now": _f(corr[-1]) if len(corr) else None,
            "beta_median": _f(np.median(beta)) if len(beta) else None,
            "beta_p10": _f(np.quantile(beta, 0.1)) if len(beta) else None,
            "beta_p90": _f(np.quantile(beta, 0.9)) if len(beta) else None,
            "corr_median": _f(np.median(corr)) if len(corr) else None,
            "moves": int(moves.sum()),
            "btc_driven_share": _f(out["btc_driven"][moves].mean()) if moves.any() else None,
            "big_moves_btc_driven_share": (
                _f(out["btc_driven"][big].mean()) if big.any() else None
            ),
            "cluster": int(label[coin]) if coin in label else None,
        })  # fmt: skip
    return rows


def market_rows(history: MarketHistory, every: int = 1) -> list[dict[str, Any]]:
    """The market tracker's rows (every `every`-th bar on that grid, e.g. hourly)."""
    m = history.market
    keep = np.flatnonzero(m["end"] % (every * BAR_SECONDS) == 0)
    rows = []
    for i in keep:
        row: dict[str, Any] = {"timestamp": int(m["end"][i]), "n_coins": int(m["n_coins"][i])}
        for name in MARKET_COLUMNS[2:-1]:
            row[name] = _f(m[name][i])
        row["alert"] = str(m["alert"][i])
        rows.append(row)
    return rows


def alert_rows(history: MarketHistory) -> list[dict[str, Any]]:
    """Each market alert, as the stream made it a signal of the pseudo-coin "market": its
    index price, its outcome over the next hour (`outcome_bp`: |move| minus the typical move
    its evidence carried; `claim_held` when > 0; None where the data ends first) and its
    rule's track record when it fired (only outcomes that had ended by then)."""
    m = history.market
    signals = {s.timestamp: s for s in history.signals}
    outcome = realised_outcomes(history.signals, m["end"], m["index"], 0.0)
    x = {s.timestamp: float(v) for s, v in zip(history.signals, outcome, strict=True)}
    rows = []
    for i in np.flatnonzero(m["alert"] != ""):
        t = int(m["end"][i])
        row: dict[str, Any] = {"timestamp": t, "kind": str(m["alert"][i]),
                               "breadth_up": _f(m["breadth_up"][i]),
                               "pc1_share": _f(m["pc1_share"][i]),
                               "market_move": _f(m["market_move"][i])}  # fmt: skip
        s = signals.get(t)
        if s is not None:
            e, v = s.evidence, x.get(t, math.nan)
            row.update({
                "rule": s.rule, "index": _f(s.price),
                "outcome_bp": _f(v * 1e4), "claim_held": None if math.isnan(v) else v > 0,
                "record_n": int(e.get("n", 0)), "record_hit_rate": _f(e.get("hit_rate", math.nan)),
                "record_mean_excess_bp": _f(e.get("mean_net_bp", math.nan)),
                "base_rate": _f(e.get("base_rate", math.nan)),
                "typical_move_bp": _f(e.get("typical_move_bp", math.nan)),
                "p_value": _f(e.get("p_value", math.nan)), "confidence": s.confidence_score,
                "actionable": s.actionable,
            })  # fmt: skip
        rows.append(row)
    return rows


def evidence_rows(scorecard: list[ScoreRow]) -> list[dict[str, Any]]:
    """The market alerts' scorecard rows as JSON (NaN -> None)."""
    return [{k: _f(v) if isinstance(v, float) else v for k, v in r.to_json().items()}
            for r in scorecard]  # fmt: skip


def market_summary(history: MarketHistory) -> dict[str, Any]:
    m = history.market
    days = len(m["end"]) * BAR_SECONDS / 86_400

    def spread(name: str) -> dict[str, float | None]:
        v = _finite(m[name])
        if not len(v):
            return {"median": None, "p10": None, "p90": None}
        return {"median": _f(np.median(v)), "p10": _f(np.quantile(v, 0.1)),
                "p90": _f(np.quantile(v, 0.9))}  # fmt: skip

    counts = Counter(str(a) for a in m["alert"] if a)
    return {
        "bars": len(m["end"]), "days": round(days, 2),
        "pc1_share": spread("pc1_share"), "mean_corr": spread("mean_corr"),
        "breadth_up": spread("breadth_up"), "breadth_ma": spread("breadth_ma"),
        "alerts": dict(counts), "alerts_per_day": round(sum(counts.values()) / days, 3),
    }  # fmt: skip


def _clusters(history: MarketHistory, min_corr: float) -> Clusters | None:
    try:
        from cryptosignals.market import bar_returns
        from cryptosignals.models.market import correlation_clusters

        returns = bar_returns(history.end, history.closes)
        return correlation_clusters(returns, history.coins, min_corr)
    except ImportError:
        err.print("clusters need scipy (pip install 'cryptosignals[models]'): left out")
        return None


def _heatmap(clusters: Clusters) -> str:
    """The correlation matrix as an SVG grid, coins in dendrogram order (clusters side by side)."""
    order = [int(i) for i in clusters.order]
    names = [clusters.coins[i] for i in order]
    cell, left, top = 40, 110, 110
    size = left + cell * len(names) + 10
    parts = []
    for a, i in enumerate(order):
        y = top + a * cell
        parts.append(f'<text x="{left - 6}" y="{y + cell * 0.6:.0f}" text-anchor="end" '
                     f'font-size="12">{html_lib.escape(names[a])}</text>')  # fmt: skip
        x = left + a * cell + cell * 0.6
        parts.append(f'<text x="{x:.0f}" y="{top - 6}" font-size="12" '
                     f'transform="rotate(-60 {x:.0f} {top - 6})">{html_lib.escape(names[a])}'
                     "</text>")  # fmt: skip
        for b, j in enumerate(order):
            rho = float(clusters.corr[i, j])
            shade = 255 - round(max(rho, 0.0) * 200)  # white (0) to deep blue (1)
            colour = f"rgb({shade},{shade},255)" if rho >= 0 else "rgb(255,220,220)"
            parts.append(
                f'<rect x="{left + b * cell}" y="{y}" width="{cell}" height="{cell}" '
                f'fill="{colour}" stroke="#fff"><title>{html_lib.escape(names[a])} / '
                f"{html_lib.escape(names[b])}: {rho:.2f}</title></rect>"
                f'<text x="{left + b * cell + cell / 2:.0f}" y="{y + cell * 0.62:.0f}" '
                f'text-anchor="middle" font-size="11">{rho:.2f}</text>'
            )
    # the clusters' boundaries
    labels = [int(clusters.labels[i]) for i in order]
    a = 0
    while a < len(labels):
        b = a
        while b + 1 < len(labels) and labels[b + 1] == labels[a]:
            b += 1
        x, w = left + a * cell, (b - a + 1) * cell
        parts.append(f'<rect x="{x}" y="{top + a * cell}" width="{w}" height="{w}" '
                     'fill="none" stroke="#333" stroke-width="2"/>')  # fmt: skip
        a = b + 1
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{size}" height="{size}" '
            f'viewBox="0 0 {size} {size}">{"".join(parts)}</svg>')  # fmt: skip


def market_html(history: MarketHistory, window: str, coins: list[dict], clusters: Clusters | None,
                summary: dict[str, Any], cluster_corr: float) -> str:  # fmt: skip
    """A page: per-coin beta table, the correlation heatmap by cluster, breadth and PC1 share
    over time with the market alerts."""
    from cryptosignals.backtest.report import BLUE, GREEN, GREY, PAGE_CSS, RED, TimePanel

    m = history.market
    x = m["end"].astype(float)
    x0, x1 = float(x[0]), float(x[-1])

    def finite_line(panel: TimePanel, name: str, colour: str) -> None:
        ok = np.isfinite(m[name])
        if ok.any():
            panel.line(x[ok], m[name][ok], colour)

    breadth = TimePanel(x0, x1, [np.array([0.0, 1.0])], fmt="{:.0%}", h=220)
    finite_line(breadth, "breadth_up", BLUE)
    finite_line(breadth, "breadth_ma", GREY)
    pc1 = TimePanel(x0, x1, [np.array([0.0, 1.0])], fmt="{:.0%}", h=220)
    finite_line(pc1, "pc1_share", GREEN)
    alerts = np.flatnonzero(m["alert"] != "")
    pc1.markers([float(x[i]) for i in alerts],
                [float(m["pc1_share"][i]) if math.isfinite(m["pc1_share"][i]) else 0.0
                 for i in alerts], "x", RED,
                [f"{utc(int(m['end'][i]))}: {m['alert'][i]}" for i in alerts])  # fmt: skip

    def cell(v: Any, pct: bool = False) -> str:
        if v is None:
            return "n/a"
        return f"{v:.0%}" if pct else f"{v:.2f}" if isinstance(v, float) else str(v)

    rows = "".join(
        f"<tr><td>{html_lib.escape(r['coin'])}</td><td>{cell(r['beta_now'])}</td>"
        f"<td>{cell(r['corr_now'])}</td><td>{cell(r['beta_median'])}</td>"
        f"<td>{cell(r['beta_p10'])} to {cell(r['beta_p90'])}</td><td>{cell(r['corr_median'])}</td>"
        f"<td>{r['moves']}</td><td>{cell(r['btc_driven_share'], True)}</td>"
        f"<td>{cell(r['big_moves_btc_driven_share'], True)}</td><td>{cell(r['cluster'])}</td></tr>"
        for r in coins
    )
    groups = "" if clusters is None else "; ".join(", ".join(g) for g in clusters.groups())
    heat = "" if clusters is None else (
        f"<h2>Correlation of 5-minute returns, ordered by cluster</h2><p class='small'>Clusters "
        f"(average linkage on sqrt(2(1-rho)), cut at rho {cluster_corr:g}): "
        f"{html_lib.escape(groups)}</p>"
        f"{_heatmap(clusters)}"
    )  # fmt: skip
    alert_text = ", ".join(f"{k} {v}" for k, v in summary["alerts"].items()) or "none"
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>Market</title>
<style>{PAGE_CSS}</style></head><body><h1>Market context: {len(history.coins)} coins</h1>
<p class="small">{utc(int(m["end"][0]))} to {utc(int(m["end"][-1]))} UTC, 5-minute bars; every
value made at a bar's close from what was known then (docs/market.md). Moves over {window}.</p>
<h2>Bitcoin's influence per coin</h2><table><tr><th>coin</th><th>beta now</th><th>corr now</th>
<th>beta median</th><th>beta p10 to p90</th><th>corr median</th><th>{window} moves</th>
<th>btc-driven</th><th>big moves btc-driven</th><th>cluster</th></tr>{rows}</table>
{heat}
<h2>Breadth: share of coins up over {window} (blue), above their moving average (grey)</h2>
{breadth.svg([("up over " + window, BLUE), ("above MA", GREY)])}
<h2>Share of variance of the first principal component (× = market alert: {alert_text})</h2>
{pc1.svg([("PC1 share", GREEN), ("alert", RED)])}</body></html>
"""


def market(
    input: Annotated[
        list[Path] | None,
        typer.Option(
            "--input",
            "-i",
            help="Candle files <coin>_5m.csv(.gz), bitcoin's among them (--input a b c, or "
            "--input a --input b). Default: the bundled samples.",
            show_default=False,
        ),
    ] = None,
    files: Annotated[list[Path] | None, typer.Argument(hidden=True)] = None,
    window: Annotated[
        str, typer.Option(help=f"Window of a move and of breadth: {', '.join(WINDOWS)}.")
    ] = "1h",
    halflife: Annotated[
        float, typer.Option(min=1.0, help="Half-life of the beta's weights, in 5-minute bars.")
    ] = 288.0,
    cluster_corr: Annotated[
        float,
        typer.Option(
            min=-1.0,
            max=1.0,
            help="Cut the clusters where groups correlate less than this on average.",
        ),
    ] = 0.75,
    format: Annotated[Format, typer.Option(help="Output format.")] = Format.table,
    rows: Annotated[
        Rows,
        typer.Option(
            help="csv: the per-coin summary, the market's rows (every bar), or the market "
            "alerts with their outcome and track record."
        ),
    ] = Rows.coins,
    limit: Annotated[int, typer.Option(min=1, help="Market rows shown in table format.")] = 12,
    html: Annotated[
        Path | None,
        typer.Option(
            "--html",
            help="Also write a page: beta table, correlation heatmap by cluster, breadth and "
            "PC1 share over time.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Is bitcoin driving each coin's moves (beta, correlation, share of moves bitcoin explains),
    and are many coins moving together (breadth, first principal component's share, market
    alerts, clusters)? Streamed bar by bar as the engine would: no value sees later bars."""
    from cryptosignals.models.market import market_history, market_scorecard

    if window not in WINDOWS:
        raise BadInputError(f"unknown window {window!r}; one of {', '.join(WINDOWS)}")
    bars = read_bars([*(input or []), *(files or [])])
    with Progress(console=err, transient=True) as bar:
        task = bar.add_task("streaming the market", total=None)
        history = market_history(
            bars, WINDOWS[window], halflife,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )  # fmt: skip
    clusters = _clusters(history, cluster_corr)
    scorecard = market_scorecard(history)
    coins = coin_rows(history, WINDOWS[window], clusters)
    summary = market_summary(history)
    if html is not None:
        html.write_text(
            market_html(history, window, coins, clusters, summary, cluster_corr), "utf-8"
        )
        err.print(f"market page written to {html}")
    if format is Format.json:
        output = {
            "coins": coins, "window": window, "halflife_bars": halflife, "market": summary,
            "hourly": market_rows(history, 12), "alerts": alert_rows(history),
            "alert_evidence": evidence_rows(scorecard),
            "clusters": None if clusters is None else clusters.groups(),
            "corr": None if clusters is None else {
                "coins": list(clusters.coins),
                "matrix": [[_f(v) for v in row] for row in clusters.corr]},
        }  # fmt: skip
        sys.stdout.write(json.dumps(output, allow_nan=False) + "\n")
        return
    if format is Format.csv:
        buffer = io.StringIO()
        table_rows, columns = {
            Rows.coins: (coins, COIN_COLUMNS),
            Rows.market: (market_rows(history), ("timestamp", *MARKET_COLUMNS[1:])),
            Rows.alerts: (alert_rows(history), ALERT_COLUMNS),
        }[rows]
        writer = csv.DictWriter(buffer, columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(table_rows)
        sys.stdout.write(buffer.getvalue())
        return
    _print_tables(coins, history, summary, clusters, window, limit)
    _print_evidence(history, scorecard)


def _print_evidence(history: MarketHistory, scorecard: list[ScoreRow]) -> None:
    """The market alerts as signals: the scorecard at 1 hour and the stream's record."""
    if not scorecard:
        return
    out = console()
    table = Table(title="Market alerts as signals: a bigger move of the equal-weighted index than "
                  "usual in the next hour?", title_justify="left")  # fmt: skip
    for column in ("rule", "n", "claim held", "base rate", "|move| bp", "interval",
                   "random timing", "p", "q"):  # fmt: skip
        table.add_column(column, justify="left" if column == "rule" else "right")

    def bp(v: float) -> str:
        return "-" if not math.isfinite(v) else f"{v * 1e4:.1f}"

    for r in scorecard:
        if r.horizon != "1h":
            continue
        table.add_row(
            r.rule, str(r.n), f"{r.hit_rate:.0%}", f"{r.baseline_hit_rate:.0%}",
            bp(r.mean_return), f"{bp(r.mean_low)} to {bp(r.mean_high)}", bp(r.baseline_mean),
            "-" if math.isnan(r.p_value) else f"{r.p_value:.3f}",
            "-" if math.isnan(r.q_value) else f"{r.q_value:.3f}",
        )  # fmt: skip
    out.print(table)
    last = {s.rule: s for s in history.signals}
    out.print("the stream's record at the last alert (outcomes ended before it; always-valid p): "
              + "; ".join(f"{rule} n {s.evidence.get('n', 0):.0f}, p "
                          f"{s.evidence.get('p_value', 1.0):.2f}, actionable {s.actionable}"
                          for rule, s in sorted(last.items())))  # fmt: skip


def _print_tables(coins: list[dict], history: MarketHistory, summary: dict[str, Any],
                  clusters: Clusters | None, window: str, limit: int) -> None:  # fmt: skip
    out = console()

    def num(v: Any, pct: bool = False) -> str:
        return "-" if v is None else f"{v:.0%}" if pct else f"{v:.2f}"

    table = Table(title=f"Bitcoin's influence ({window} moves)", title_justify="left")
    for column in ("coin", "beta now", "corr now", "beta median", "beta p10-p90", "corr median",
                   "moves", "btc-driven", "big moves", "cluster"):  # fmt: skip
        table.add_column(column, justify="left" if column == "coin" else "right")
    for r in coins:
        table.add_row(
            r["coin"], num(r["beta_now"]), num(r["corr_now"]), num(r["beta_median"]),
            f"{num(r['beta_p10'])}-{num(r['beta_p90'])}", num(r["corr_median"]),
            str(r["moves"]), num(r["btc_driven_share"], True),
            num(r["big_moves_btc_driven_share"], True),
            "-" if r["cluster"] is None else str(r["cluster"]),
        )  # fmt: skip
    out.print(table)
    hourly = market_rows(history, 12)[-limit:]
    table = Table(title=f"Market, last {len(hourly)} hours", title_justify="left")
    for column in ("hour (UTC)", "coins", "up over " + window, "above MA", "median move",
                   "PC1 share", "mean corr"):  # fmt: skip
        table.add_column(column, justify="right")
    for r in hourly:
        table.add_row(
            utc(r["timestamp"]), str(r["n_coins"]), num(r["breadth_up"], True),
            num(r["breadth_ma"], True),
            "-" if r["market_move"] is None else f"{r['market_move']:+.2%}",
            num(r["pc1_share"], True), num(r["mean_corr"]),
        )  # fmt: skip
    out.print(table)
    pc1 = summary["pc1_share"]
    alerts = ", ".join(f"{k} {v}" for k, v in summary["alerts"].items()) or "none"
    out.print(
        f"PC1 share over {summary['days']} days: median {num(pc1['median'], True)} "
        f"(10-90 %: {num(pc1['p10'], True)}-{num(pc1['p90'], True)}); market alerts: {alerts} "
        f"({summary['alerts_per_day']:.2f} a day)"
    )
    if clusters is not None:
        out.print("clusters: " + "; ".join(", ".join(g) for g in clusters.groups()))


def register(app: typer.Typer) -> None:
    app.command()(market)
