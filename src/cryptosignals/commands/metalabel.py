"""`cryptosignals metalabel`: can a model of "does this rule's signal reach its profit barrier
first" filter false signals, walk-forward out of sample? (docs/metalabel.md)"""

from __future__ import annotations

import html as html_lib
import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from cryptosignals.candles import coin_of_file, read_candles, sample_path
from cryptosignals.commands.analyze import CoinOption, InputOption, console, utc
from cryptosignals.commands.models import ModelKind, _candles, _plain
from cryptosignals.errors import BadInputError

err = Console(stderr=True, soft_wrap=True)


class Format(StrEnum):
    table = "table"
    json = "json"


def _fmt(f: dict[str, float], spec: str) -> str:
    return f"{f['value']:{spec}} [{f['low']:{spec}}, {f['high']:{spec}}]"


def _rows(figures: dict[str, dict[str, Any]]) -> list[list[str]]:
    from cryptosignals.models.metalabel import verdict

    rows = []
    for name, f in figures.items():
        rows.append([
            name, f"{f['n']:,}", f"{f['n_taken']:,}", f"{f['hit_rate']['value']:.3f}",
            f"{f['hit_rate_filtered']['value']:.3f}", f"{f['stop_rate_lift']['value']:+.3f}",
            f"{f['net_bp']['value']:+.1f}", f"{f['net_bp_filtered']['value']:+.1f}",
            _fmt(f["net_bp_lift"], "+.1f"), verdict(f["net_bp_lift"]), f"{f['auc']['value']:.2f}",
        ])  # fmt: skip
    return rows


HEADERS = ("rule", "n", "kept", "hit", "hit kept", "stop +/-", "net bp", "net kept",
           "net lift [95 %]", "filter", "AUC")  # fmt: skip


def metalabel_html(coin: str, out: dict[str, Any], result: Any) -> str:
    """A page: the per-rule table, the reliability of P(profit first) beside the base rate's,
    and each fold's choice."""
    from cryptosignals.backtest.report import PAGE_CSS, reliability_svg
    from cryptosignals.evidence import calibration

    head = "".join(f"<th>{h}</th>" for h in HEADERS)
    body = "".join(
        "<tr>" + "".join(f"<td>{html_lib.escape(c)}</td>" for c in row) + "</tr>"
        for row in _rows(out["figures"])
    )
    curves = {
        "model": (calibration(result.p, result.hit, 10).bins,
                  [f"P(profit first), {len(result.p):,} test signals"]),
        "base rate": (calibration(result.base, result.hit, 10).bins,
                      ["the training window's hit rate"]),
    }  # fmt: skip
    svg = reliability_svg(curves, f"{coin}: P(profit barrier first) out of sample",
                          "walk-forward folds; bins of equal count")  # fmt: skip
    svg = svg.replace("confidence_score (mean per bin of equal count)", "P (mean per bin)")
    svg = svg.replace("share of claims that held", "share that reached the profit barrier")
    folds = "".join(
        f"<tr><td>{utc(f['start'])}</td><td>{f['n_train']:,}</td><td>{f['n_purged']}</td>"
        f"<td>{f['n_test']:,}</td><td>{f['base_rate']:.3f}</td><td>{f['keep_share']:.2f}</td>"
        f"<td>{f['threshold']:.3f}</td><td>{f['taken']:,}</td></tr>"
        for f in out["folds"]
    )
    c = out["config"]
    return f"""<!doctype html><html><head><meta charset="utf-8">
<title>Meta-labelling: {html_lib.escape(coin)}</title><style>{PAGE_CSS}</style></head><body>
<h1>{html_lib.escape(coin)}: can P(profit barrier first) filter the rules' signals?</h1>
<p class="small">Barriers {c["profit"]:g} and {c["stop"]:g} sigma_1h, timeout
{c["timeout_s"] // 60} min, {2 * c["cost_bps"]:g} bp a round trip, {c["model"]} model; each
fold is filtered by a model and threshold chosen before it on purged training signals;
intervals: 95 % block bootstrap over UTC days (docs/metalabel.md).</p>
<div class="scroll"><table><tr>{head}</tr>{body}</table></div>
<h2>Reliability</h2>{svg}
<h2>Folds</h2><div class="scroll"><table><tr><th>test from</th><th>train</th><th>purged</th>
<th>test</th><th>base rate</th><th>keep share</th><th>threshold</th><th>taken</th></tr>{folds}
</table></div></body></html>
"""


def metalabel(
    input: InputOption = None,
    coin: CoinOption = None,
    rule: Annotated[
        str | None,
        typer.Option(
            "--rule",
            help="Only this rule's signals (default: every BUY/SELL rule).",
            show_default=False,
        ),
    ] = None,
    model: Annotated[ModelKind, typer.Option(help="The P(profit first) model.")] = (
        ModelKind.logistic
    ),
    profit: Annotated[float, typer.Option(min=0.01, help="Profit barrier in sigma_1h.")] = 1.0,
    stop: Annotated[float, typer.Option(min=0.01, help="Stop barrier in sigma_1h.")] = 1.0,
    timeout_minutes: Annotated[int, typer.Option(min=5, help="Timeout in minutes.")] = 60,
    cost_bps: Annotated[float, typer.Option(min=0.0, help="Cost per side in bp.")] = 10.0,
    html: Annotated[
        Path | None,
        typer.Option(
            "--html", help="Also write a page: the table, reliability, folds.", show_default=False
        ),
    ] = None,
    format: Annotated[Format, typer.Option(help="Output format.")] = Format.table,
) -> None:
    """Judge a meta-label filter of the BUY/SELL rules walk-forward out of sample: per rule and
    pooled, hit rate and net return per trade without and with the filter, AUC and Brier
    against the base rate, with day-block bootstrap intervals (docs/metalabel.md)."""
    from dataclasses import asdict

    from cryptosignals.models.evaluation import default_windows
    from cryptosignals.models.metalabel import MetaConfig, evaluate_filter, signal_set

    coin = coin_of_file(input, coin)
    candles = _candles(input, coin)
    btc = read_candles(sample_path("bitcoin")) if input is None and coin != "bitcoin" else None
    config = MetaConfig(profit, stop, timeout_minutes * 60, cost_bps, model.value)
    try:
        with Progress(console=err, transient=True) as bar:
            task = bar.add_task(f"{coin}: engine and labels", total=None)
            data = signal_set(coin, candles, config, None if rule is None else [rule], btc)
            if rule is not None and len(data) == 0:
                raise ValueError(f"no labelled BUY/SELL signal of rule {rule!r} in the data")
            train, test = default_windows(data.t)
            config = MetaConfig(profit, stop, timeout_minutes * 60, cost_bps, model.value,
                                train, test)  # fmt: skip
            bar.update(task, description=f"{coin}: walk-forward folds ({model.value})")
            result = evaluate_filter(
                data, config, lambda done, total: bar.update(task, completed=done, total=total)
            )
    except ValueError as exc:
        raise BadInputError(str(exc)) from None
    report = {
        "coin": coin, "config": asdict(config), "signals": len(data),
        "dropped": data.dropped, "figures": result.figures,
        "folds": [asdict(f) for f in result.filters],
    }  # fmt: skip
    if html is not None:
        html.write_text(metalabel_html(coin, report, result), "utf-8")
        err.print(f"meta-label page written to {html}")
    if format is Format.json:
        sys.stdout.write(json.dumps(_plain(report), allow_nan=False) + "\n")
        return
    table = Table(
        title=f"{coin}: meta-label filter, walk-forward out of sample ({len(data):,} signals, "
        f"{len(result.filters)} folds; 95 % day-block intervals)",
        title_justify="left",
        box=box.SIMPLE,
    )
    for h in HEADERS:
        table.add_column(h, justify="left" if h in ("rule", "filter") else "right", no_wrap=True)
    for row in _rows(result.figures):
        table.add_row(*row)
    out = console()
    (out if out.is_terminal else Console(width=140)).print(table)
    err.print("hit: share of signals whose profit barrier came first; stop +/-: the change in the "
              "share stopped out (a filter raising both only dodges timeouts); net: bp per trade "
              "after the round trip; filter: from the net lift's interval")  # fmt: skip


def register(app: typer.Typer) -> None:
    app.command()(metalabel)
