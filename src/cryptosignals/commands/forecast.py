"""`cryptosignals forecast`: where the price may be 5, 15 or 30 minutes after each bar, as a fan
of quantiles (q10, q50, q90) calibrated walk-forward, with the share of up-moves so far."""

from __future__ import annotations

import csv
import io
import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from cryptosignals.candles import coin_of_file
from cryptosignals.commands.analyze import CoinOption, InputOption, console, stream_bars, utc
from cryptosignals.errors import BadInputError
from cryptosignals.fitted import bundled_path, read_fitted
from cryptosignals.forecast import (
    HORIZONS,
    WARMUP_BARS,
    Coverage,
    Fan,
    PriceForecaster,
    coverage,
    forecast_fan,
    outcomes,
)
from cryptosignals.risk import BAR_SECONDS, model_for

err = Console(stderr=True, soft_wrap=True)
COLUMNS = ("timestamp", "q10", "q50", "q90", "p_up")
_CHUNK = 2016  # bars fed at a time (a week): the progress bar's step; chunked == whole


class Format(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"


def _rows(fan: Fan, horizon: str) -> list[dict[str, Any]]:
    low, centre, high = fan.quantiles(horizon)
    p_up = fan.p_up[horizon]
    return [
        {"timestamp": int(fan.end[i]), "q10": float(low[i]), "q50": float(centre[i]),
         "q90": float(high[i]), "p_up": float(p_up[i])}
        for i in np.flatnonzero(np.isfinite(fan.sigma[horizon]))
    ]  # fmt: skip


def _running(inside: np.ndarray) -> np.ndarray:
    return np.cumsum(inside) / np.arange(1, len(inside) + 1)


def forecast_html(coin: str, horizon: str, method: str, fan: Fan, outcome: np.ndarray,
                  calibrated: Coverage, raw: Coverage) -> str:  # fmt: skip
    """A page: the price with the fan drawn where it points (h after each forecast), and the
    running coverage of the calibrated and the uncalibrated fan against the 80 % they claim."""
    from cryptosignals.backtest.report import BLUE, GREY, PAGE_CSS, RED, TimePanel

    low, _, high = fan.quantiles(horizon)
    raw_low, raw_high = fan.raw(horizon)
    known = np.isfinite(low)
    at = fan.end[known] + HORIZONS[horizon] * BAR_SECONDS
    x0, x1 = float(fan.end[known][0]), float(at[-1])
    price = TimePanel(x0, x1, [fan.close[known], low[known], high[known]])
    price.line(at.astype(float), high[known], BLUE, 0.8)
    price.line(at.astype(float), low[known], BLUE, 0.8)
    price.line(fan.end[known].astype(float), fan.close[known], GREY)
    scored = known & np.isfinite(outcome)
    y = outcome[scored]
    hit = (y >= low[scored]) & (y <= high[scored])
    hit_raw = (y >= raw_low[scored]) & (y <= raw_high[scored])
    when = (fan.end[scored] + HORIZONS[horizon] * BAR_SECONDS).astype(float)
    day = min(288, len(hit))
    rolling = np.convolve(hit, np.ones(day) / day, "valid")
    # from the first full day of outcomes on (before it, a running share is mostly noise)
    run, run_raw, when = _running(hit)[day - 1 :], _running(hit_raw)[day - 1 :], when[day - 1 :]
    share = TimePanel(x0, x1, [run, run_raw, rolling, np.array([0.7, 0.9])], fmt="{:.0%}", h=200)
    share.line(np.array([x0, x1]), np.array([0.8, 0.8]), "#333", 0.6)
    share.line(when, rolling, "#bbbbbb", 0.8)
    share.line(when, run_raw, RED)
    share.line(when, run, BLUE, 1.6)
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>Forecast: {coin}</title>
<style>{PAGE_CSS}</style></head><body><h1>Forecast: {coin}, price {horizon} ahead</h1>
<p class="small">{utc(int(fan.end[known][0]))} to {utc(int(fan.end[-1]))} UTC, 5-minute bars;
each fan made at a bar's close from what was known then (sigma: {method}); centre = the last
close (a random walk); 10-90 % band calibrated on matured outcomes only (docs/forecast.md).</p>
<table><tr><th>fan</th><th>matured rows</th><th>10-90 % coverage</th><th>below q10</th>
<th>above q90</th><th>mean width</th></tr>
<tr><td>calibrated (conformal)</td><td>{calibrated.n}</td><td>{calibrated.inside:.1%}</td>
<td>{calibrated.below:.1%}</td><td>{calibrated.above:.1%}</td><td>{calibrated.width:.2%}</td></tr>
<tr><td>uncalibrated (normal quantiles)</td><td>{raw.n}</td><td>{raw.inside:.1%}</td>
<td>{raw.below:.1%}</td><td>{raw.above:.1%}</td><td>{raw.width:.2%}</td></tr></table>
<h2>Price and its 10-90 % fan, drawn {horizon} after each forecast, where it points</h2>
{price.svg([("price", GREY), ("q10 and q90", BLUE)])}
<h2>Share of outcomes inside the band: running coverage (the last day's in grey)</h2>
{share.svg([("calibrated", BLUE), ("uncalibrated", RED), ("last 24 h", "#bbbbbb")])}
</body></html>
"""


def forecast(
    input: InputOption = None,
    coin: CoinOption = None,
    horizon: Annotated[str, typer.Option(help=f"One of {', '.join(HORIZONS)}.")] = "30m",
    format: Annotated[Format, typer.Option(help="Output format of the fan.")] = Format.table,
    limit: Annotated[int, typer.Option(min=1, help="Rows shown in table format (latest).")] = 12,
    model_file: Annotated[
        Path | None,
        typer.Option(
            "--models",
            help="A models file (cryptosignals risk --fit-out): the coin's volatility model, or "
            "the file's default. Default: the bundled one.",
            show_default=False,
        ),
    ] = None,
    html: Annotated[
        Path | None,
        typer.Option(
            "--html", help="Also write a page: price, fan, running coverage.", show_default=False
        ),
    ] = None,
) -> None:
    """Quantiles q10/q50/q90 of the price HORIZON after each 5-minute bar, and p_up (the share
    of up-moves so far), walk-forward: every row uses only bars up to its timestamp. The centre
    is the last close (nothing beats the random walk's centre here); the width is the coin's
    volatility forecast, calibrated so that the 10-90 % band covers 80 % (docs/forecast.md)."""
    if horizon not in HORIZONS:
        raise BadInputError(f"unknown horizon {horizon!r}; one of {', '.join(HORIZONS)}")
    coin = coin_of_file(input, coin)
    end, close = stream_bars(input, coin, "the price forecast")
    needed = WARMUP_BARS + HORIZONS[horizon] + 1
    if len(end) < needed:
        raise BadInputError(
            f"{input or coin}: too short: {len(end)} 5-minute bars; the {horizon} forecast needs "
            f"at least {needed} (6 hours of warm-up, then one outcome to judge)"
        )
    try:
        model = model_for(coin, model_file)
        coins, default = read_fitted(model_file or bundled_path())
    except ValueError as exc:
        raise BadInputError(str(exc)) from None
    method = PriceForecaster(model).method
    if model is not None and "volatility" not in coins.get(coin, {}):
        method += f" ({default}'s: {coin} has no model of its own)"
    with Progress(console=err, transient=True) as bar:
        task = bar.add_task("forecasting", total=len(end))
        fan = forecast_fan(end, close, model, chunk=_CHUNK,
                           progress=lambda done, _: bar.update(task, completed=done))  # fmt: skip
    outcome = outcomes(end, close, horizon)
    low, _, high = fan.quantiles(horizon)
    calibrated = coverage(close, low, high, outcome)
    raw = coverage(close, *fan.raw(horizon), outcome)
    err.print(
        f"{coin} {horizon}: 10-90 % coverage {calibrated.inside:.1%} over {calibrated.n} matured "
        f"rows, mean width {calibrated.width:.2%}; uncalibrated (normal quantiles of the same "
        f"sigma) {raw.inside:.1%}, width {raw.width:.2%}; sigma: {method}",
        highlight=False,
    )
    rows = _rows(fan, horizon)
    if html is not None:
        html.write_text(
            forecast_html(coin, horizon, method, fan, outcome, calibrated, raw), "utf-8"
        )
        err.print(f"forecast page written to {html}")
    if format is Format.json:
        output = {
            "coin": coin, "horizon": horizon, "method": method, "rows": rows,
            "coverage": {"calibrated": calibrated.to_json(), "uncalibrated": raw.to_json()},
        }  # fmt: skip
        sys.stdout.write(json.dumps(output, allow_nan=False) + "\n")
    elif format is Format.csv:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        sys.stdout.write(buffer.getvalue())
    else:
        table = Table(title=f"{coin}: price {horizon} after each bar (sigma: {method})",
                      title_justify="left")  # fmt: skip
        for column in ("bar close (UTC)", "q10", "q50 (last close)", "q90", "p_up"):
            table.add_column(column, justify="right")
        for row in rows[-limit:]:
            table.add_row(utc(row["timestamp"]), f"{row['q10']:,.6g}", f"{row['q50']:,.6g}",
                          f"{row['q90']:,.6g}", f"{row['p_up']:.0%}")  # fmt: skip
        console().print(table)


def register(app: typer.Typer) -> None:
    app.command()(forecast)
