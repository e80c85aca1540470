"""`cryptosignals risk`: volatility, value at risk, expected shortfall and position size per bar,
walk-forward out of sample, with the coverage backtests beside the normal and historical VaR."""

from __future__ import annotations

import csv
import io
import json
import math
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
from cryptosignals.fitted import add_fitted
from cryptosignals.risk import (
    BAR_SECONDS,
    HORIZONS,
    MEASURES,
    TAIL_METHODS,
    RiskForecaster,
    VarBacktest,
    backtest_var,
    model_for,
    position_size,
)

err = Console(stderr=True, soft_wrap=True)
COLUMNS = ("timestamp", "sigma", "var_95", "var_99", "es_975", "position_size")


class Format(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"


class Kind(StrEnum):
    garch = "garch"
    ewma = "ewma"


def _rows(
    end: np.ndarray, sigma: np.ndarray, tail: np.ndarray, budget: float
) -> list[dict[str, Any]]:
    names = [name for name, _ in MEASURES]
    size = position_size(tail[:, names.index("var_99")], budget)
    rows = []
    for i in np.flatnonzero(np.isfinite(sigma)):
        row: dict[str, Any] = {"timestamp": int(end[i]), "sigma": float(sigma[i])}
        for name in ("var_95", "var_99", "es_975"):
            row[name] = float(tail[i, names.index(name)])
        row["position_size"] = float(size[i])
        rows.append(row)
    return rows


def _backtest_table(results: dict[str, dict[str, VarBacktest]], horizon: str) -> Table:
    table = Table(
        title=f"VaR backtests at {horizon}, non-overlapping periods (walk-forward, out of sample)",
        title_justify="left",
    )
    for column in ("method", "n", "VaR95 hits", "p Kupiec", "VaR99 hits", "p Kupiec",
                   "p indep.", "p cond.", "ES ratio", "VaR99"):  # fmt: skip
        table.add_column(column, justify="left" if column == "method" else "right")
    for method, r in results.items():
        v95, v99 = r["var_95"], r["var_99"]
        verdict = "[green]holds[/]" if v99.passes() else "[red]rejected[/]"
        table.add_row(
            method, str(v99.n), f"{v95.rate:.2%}", f"{v95.pof.p_value:.3f}", f"{v99.rate:.2%}",
            f"{v99.pof.p_value:.3f}", f"{v99.independence.p_value:.3f}",
            f"{v99.conditional.p_value:.3f}", f"{v99.es_ratio:.2f}", verdict,
        )  # fmt: skip
    return table


def _backtest_json(results: dict[str, dict[str, VarBacktest]]) -> dict[str, Any]:
    return {
        method: {
            name: {
                "n": b.n,
                "hits": b.hits,
                "rate": b.rate,
                "expected_rate": 1 - b.level,
                "kupiec_p": b.pof.p_value,
                "independence_p": b.independence.p_value,
                "conditional_coverage_p": b.conditional.p_value,
                "es_ratio": b.es_ratio,
                "passes": b.passes(),
            }
            for name, b in by_level.items()
        }
        for method, by_level in results.items()
    }


def risk_html(coin: str, horizon: str, method: str, end: np.ndarray, close: np.ndarray,
              tail: np.ndarray, loss: np.ndarray | None,
              results: dict[str, dict[str, VarBacktest]]) -> str:  # fmt: skip
    """A page: the price with the level its VaR99 says it stays above over the horizon (drawn
    at the horizon's end), the breaches marked; the VaR and size per bar; the backtests."""
    from cryptosignals.backtest.report import BLUE, GREY, PAGE_CSS, RED, TimePanel

    names = [name for name, _ in MEASURES]
    var99 = tail[:, names.index("var_99")]
    known = np.isfinite(var99)
    ahead = end + HORIZONS[horizon]
    floor = close * np.exp(-var99)
    x0, x1 = float(end[known][0]), float(ahead[known][-1])
    price = TimePanel(x0, x1, [close[known], floor[known]])
    price.line(end[known].astype(float), close[known], GREY)
    price.line(ahead[known].astype(float), floor[known], RED)
    if loss is not None:
        breach = np.flatnonzero(known & (loss > var99))
        price.markers([float(ahead[i]) for i in breach], [float(close[i] * np.exp(-loss[i]))
                      for i in breach], "x", "#333",
                      [f"{utc(int(ahead[i]))}: lost {loss[i]:.2%}, VaR99 {var99[i]:.2%}"
                       for i in breach])  # fmt: skip
    level = TimePanel(x0, x1, [var99[known], np.array([0.0])], fmt="{:.1%}", h=180)
    level.area(end[known].astype(float), var99[known], BLUE)
    rows = "".join(
        f"<tr><td>{m}</td><td>{r['var_99'].n}</td><td>{r['var_95'].rate:.2%}</td>"
        f"<td>{r['var_95'].pof.p_value:.3f}</td><td>{r['var_99'].rate:.2%}</td>"
        f"<td>{r['var_99'].pof.p_value:.3f}</td><td>{r['var_99'].independence.p_value:.3f}</td>"
        f"<td>{r['var_99'].es_ratio:.2f}</td></tr>"
        for m, r in results.items()
    )
    table = (
        "<h2>Backtests (non-overlapping horizons, out of sample)</h2><table><tr><th>method</th>"
        "<th>n</th><th>VaR95 hits</th><th>p Kupiec</th><th>VaR99 hits</th><th>p Kupiec</th>"
        f"<th>p indep.</th><th>ES ratio</th></tr>{rows}</table>"
        if results else ""
    )  # fmt: skip
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>Risk: {coin}</title>
<style>{PAGE_CSS}</style></head><body><h1>Risk: {coin}, next {horizon} ({method})</h1>
<p class="small">{utc(int(end[known][0]))} to {utc(int(end[-1]))} UTC, 5-minute bars; each
forecast made at a bar's close from what was known then (docs/risk.md).</p>
<h2>Price and the level its 1 % VaR says it stays above, {horizon} later (× = breach)</h2>
{price.svg([("price", GREY), ("close x exp(-VaR99), at the horizon's end", RED)])}
<h2>VaR99 over the next {horizon}</h2>{level.svg()}{table}</body></html>
"""


def risk(
    input: InputOption = None,
    coin: CoinOption = None,
    horizon: Annotated[str, typer.Option(help=f"One of {', '.join(HORIZONS)}.")] = "1h",
    budget: Annotated[
        float, typer.Option(help="Risk budget: the share of equity the VaR99 may lose.")
    ] = 0.01,
    method: Annotated[
        str | None,
        typer.Option(
            help=f"Tail method: {', '.join(TAIL_METHODS)}, or normal/historical "
            "(the baselines; walk-forward only). Default: the model's.",
            show_default=False,
        ),
    ] = None,
    kind: Annotated[
        Kind, typer.Option(help="Variance recursion to fit (EWMA covers best: docs/risk.md).")
    ] = Kind.ewma,
    model_file: Annotated[
        Path | None,
        typer.Option(
            "--models",
            help="A models file (from --fit-out): forecast the whole file with the coin's "
            "model (or the file's default) instead of refitting walk-forward.",
            show_default=False,
        ),
    ] = None,
    fit_out: Annotated[
        Path | None,
        typer.Option(
            "--fit-out",
            help="Also fit on the whole file and add the coin's model to this models file "
            "(created if missing; its first coin serves coins without a model): deploy it as "
            "FITTED_MODELS.",
            show_default=False,
        ),
    ] = None,
    train_days: Annotated[int, typer.Option(min=3, help="Walk-forward training window.")] = 30,
    refit_days: Annotated[int, typer.Option(min=1, help="Days between refits.")] = 7,
    backtest: Annotated[
        bool, typer.Option("--backtest", help="Print the coverage tests of every method.")
    ] = False,
    format: Annotated[Format, typer.Option(help="Output format of the forecasts.")] = (
        Format.table
    ),
    limit: Annotated[int, typer.Option(min=1, help="Rows shown in table format (latest).")] = 12,
    html: Annotated[
        Path | None,
        typer.Option(
            "--html",
            help="Also write a page: price, VaR level, breaches, backtests.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Volatility, VaR95/99 and ES97.5 over a horizon, and the position size whose VaR99 spends
    the risk budget, per 5-minute bar; walk-forward (each bar forecast by a model fitted before
    it) unless --model is given."""
    if horizon not in HORIZONS:
        raise BadInputError(f"unknown horizon {horizon!r}; one of {', '.join(HORIZONS)}")
    coin = coin_of_file(input, coin)
    end, close = stream_bars(input, coin, "the volatility forecast")
    step = HORIZONS[horizon] // BAR_SECONDS
    results: dict[str, dict[str, VarBacktest]] = {}
    loss = None
    if model_file is not None:
        try:
            model = model_for(coin, model_file)
        except ValueError as exc:
            raise BadInputError(str(exc)) from None
        if model is None:
            raise BadInputError(f"{model_file} has no volatility model for {coin} nor a default")
        chosen = method or model.default_method
        if chosen not in model.tails:
            raise BadInputError(
                f"method {chosen!r} is not in {model_file}: {', '.join(model.tails)}"
            )
        forecast = RiskForecaster(model).update(end, close)
        sigma = forecast.sigma[horizon]
        tail = np.column_stack(list(forecast.tail(model, horizon, chosen).values()))
        if backtest or html:
            from cryptosignals.models.volatility import realised_losses

            loss = realised_losses(end, close, horizon)
            results[chosen] = backtest_var(tail, loss, step)
    else:
        from cryptosignals.models.volatility import walk_forward

        with Progress(console=err, transient=True) as bar:
            task = bar.add_task("walk-forward refits", total=None)
            wf = walk_forward(
                end, close, kind=kind.value, train_days=train_days, refit_days=refit_days,
                progress=lambda done, total: bar.update(task, completed=done, total=total),
            )  # fmt: skip
        chosen = method or wf.models[-1].default_method
        if chosen not in wf.var:
            raise BadInputError(f"unknown method {chosen!r}; one of {', '.join(wf.var)}")
        sigma = np.where(np.isfinite(wf.var[chosen][horizon][:, 0]), wf.sigma[horizon], np.nan)
        tail = wf.var[chosen][horizon]
        loss = wf.loss[horizon]
        if backtest or html:
            results = {m: backtest_var(wf.var[m][horizon], loss, step) for m in wf.var}
    if fit_out is not None:
        from cryptosignals.models.volatility import fit_volatility

        try:
            add_fitted(
                fit_out, coin, "volatility", fit_volatility(end, close, kind.value).to_json()
            )
        except ValueError as exc:
            raise BadInputError(str(exc)) from None
        err.print(f"{coin}'s model, fitted on {len(end)} bars, written to {fit_out}")
    rows = _rows(end, sigma, tail, budget)
    if html is not None:
        html.write_text(risk_html(coin, horizon, chosen, end, close, tail, loss, results), "utf-8")
        err.print(f"risk page written to {html}")
    if format is Format.json:
        output: dict[str, Any] = {"coin": coin, "horizon": horizon, "method": chosen,
                                    "budget": budget, "rows": rows}  # fmt: skip
        if backtest:
            output["backtest"] = _backtest_json(results)
        sys.stdout.write(json.dumps(output, allow_nan=False) + "\n")
        return
    if format is Format.csv:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        sys.stdout.write(buffer.getvalue())
    else:
        out = console()
        table = Table(title=f"{coin}: risk over the next {horizon} ({chosen})",
                      title_justify="left")  # fmt: skip
        for column in ("bar close (UTC)", "sigma", "VaR95", "VaR99", "ES97.5",
                       f"size @{budget:.1%}"):  # fmt: skip
            table.add_column(column, justify="right")
        for row in rows[-limit:]:
            table.add_row(
                utc(row["timestamp"]), *(f"{row[k]:.2%}" for k in COLUMNS[1:5]),
                "-" if math.isnan(row["position_size"]) else f"{row['position_size']:.0%}",
            )  # fmt: skip
        out.print(table)
    if backtest:
        (console() if format is Format.table else err).print(_backtest_table(results, horizon))


def register(app: typer.Typer) -> None:
    app.command()(risk)
