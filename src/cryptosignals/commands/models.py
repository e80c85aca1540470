"""`cryptosignals evaluate` and `cryptosignals train`: P(up) models judged walk-forward out of
sample against the base rate (docs/models.md), and fitted artifacts for serving."""

from __future__ import annotations

import html as html_lib
import json
import sys
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from cryptosignals.candles import Candles, coin_of_file, read_candles, sample_path
from cryptosignals.commands.analyze import CoinOption, InputOption, console, utc
from cryptosignals.errors import BadInputError

err = Console(stderr=True, soft_wrap=True)
DAY = 86_400


class Format(StrEnum):
    table = "table"
    json = "json"


class ModelKind(StrEnum):
    logistic = "logistic"
    lightgbm = "lightgbm"


TargetOption = Annotated[
    str, typer.Option(help="up_<horizon>: the close <horizon> later is above this bar's close "
                      "by more than --cost-bps (up_5m, up_30m, up_1h, ...).")
]  # fmt: skip
ModelOption = Annotated[ModelKind, typer.Option(help="The P(up) model.")]
CostOption = Annotated[
    float, typer.Option(min=0.0, help="Cost in basis points the move must beat to count as up.")
]


def _plain(value: Any) -> Any:
    """JSON has no NaN: unknown numbers become null."""
    if isinstance(value, float):
        return value if np.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _candles(path: Path | None, coin: str) -> Candles:
    candles = read_candles(path if path is not None else sample_path(coin))
    if candles.interval_ms > 300_000:
        raise BadInputError(
            f"{path}: candles every {candles.interval_ms // 60_000} minutes; the models work on "
            "5-minute bars, so they need 1- or 5-minute candles"
        )
    return candles


def _dataset(coin: str, candles: Candles, target: str, cost_bps: float,
             bitcoin: Candles | None) -> Any:  # fmt: skip
    from cryptosignals.models.evaluation import dataset

    try:
        return dataset(coin, candles, target, cost_bps / 1e4, bitcoin)
    except ValueError as exc:
        raise BadInputError(str(exc)) from None


def _windows(end: np.ndarray, train_days: float | None, test_days: float | None
             ) -> tuple[float, float]:  # fmt: skip
    from cryptosignals.models.evaluation import default_windows

    train, test = default_windows(end)
    return train if train_days is None else train_days, test if test_days is None else test_days


def _walk_forward(data: Any, model: str, target: str, train_days: float, test_days: float,
                  label: str) -> Any:  # fmt: skip
    from cryptosignals.models.evaluation import evaluate as run
    from cryptosignals.models.labels import target_seconds

    with Progress(console=err, transient=True) as bar:
        task = bar.add_task(f"{label}: walk-forward folds ({model})", total=None)
        try:
            return run(
                data.x, data.y, data.end, data.label_end, model, target, train_days=train_days,
                test_days=test_days, embargo_s=target_seconds(target),
                progress=lambda done, total: bar.update(task, completed=done, total=total),
            )  # fmt: skip
        except ValueError as exc:
            raise BadInputError(f"{label}: {exc}") from None


def _versus(a: Any, b: Any) -> dict[str, Any]:
    from cryptosignals.models.evaluation import compare

    d = compare(a, b)
    summary = (f"beats {b.model}" if d.high < 0 else f"loses to {b.model}" if d.low > 0
               else f"no better than {b.model}")  # fmt: skip
    return {"model": b.model, "brier": b.brier, "auc": b.auc.value,
            "brier_difference": d.value, "brier_difference_interval": [d.low, d.high],
            "summary": summary}  # fmt: skip


def models_html(coin: str, result: Any, extra: dict[str, Any]) -> str:
    """A page: the reliability diagram of the model and of the base rate, the verdict and the
    per-fold table."""
    from cryptosignals.backtest.report import PAGE_CSS, reliability_svg
    from cryptosignals.evidence import calibration

    out = result.to_json()
    verdict = out["verdict"]
    base = calibration(result.base, result.y, 10)
    curves = {
        result.model: (result.bins, [
            f"{result.model}: {result.n_test:,} test bars",
            f"AUC {result.auc.value:.3f} [{result.auc.low:.3f}, {result.auc.high:.3f}]",
            f"Brier {result.brier:.5f}", f"log-loss {result.log_loss:.5f}",
        ]),
        "base rate": (base.bins, [
            "base rate (training window's share of ups)",
            f"Brier {result.brier_base_rate:.5f}", f"log-loss {result.log_loss_base_rate:.5f}",
        ]),
    }  # fmt: skip
    svg = reliability_svg(curves, f"{coin}: P({result.target}) out of sample",
                          "walk-forward folds; each bin holds the same number of bars")  # fmt: skip
    svg = svg.replace("confidence_score (mean per bin of equal count)", "P(up) (mean per bin)")
    svg = svg.replace("share of claims that held", "share of bars that went up")
    rows = "".join(
        f"<tr><td>{utc(f['start'])}</td><td>{utc(f['stop'])}</td><td>{f['n_train']:,}</td>"
        f"<td>{f['n_purged']}</td><td>{f['n_test']:,}</td><td>{f['base_rate']:.3f}</td>"
        f"<td>{f['test_rate']:.3f}</td><td>{f['auc']:.3f}</td><td>{f['brier']:.5f}</td>"
        f"<td>{f['brier_base_rate']:.5f}</td><td>{f['log_loss']:.5f}</td>"
        f"<td>{f['log_loss_base_rate']:.5f}</td></tr>"
        for f in out["folds"]
    )
    lo, hi = verdict["brier_difference_interval"]
    versus = extra.get("versus_logistic")
    versus_line = (
        f"<p>Against the logistic model on the same bars: Brier difference "
        f"{versus['brier_difference']:+.5f} [{versus['brier_difference_interval'][0]:+.5f}, "
        f"{versus['brier_difference_interval'][1]:+.5f}]: <b>{versus['summary']}</b>.</p>"
        if versus else ""
    )  # fmt: skip
    return f"""<!doctype html><html><head><meta charset="utf-8">
<title>P(up) model: {html_lib.escape(coin)}</title><style>{PAGE_CSS}</style></head><body>
<h1>{html_lib.escape(coin)}: {result.model} P({result.target}), walk-forward out of sample</h1>
<p class="small">Each fold is predicted by a model fitted before it on purged training data
(no label window reaching into the fold); the baseline is the training window's share of
ups (docs/models.md).</p>
<p>Brier {result.brier:.5f} vs the base rate's {result.brier_base_rate:.5f}: difference
{verdict["brier_difference"]:+.5f}, 95 % day-block bootstrap [{lo:+.5f}, {hi:+.5f}]:
<b>{verdict["summary"]}</b>. Folds where the model's Brier beat the base rate's:
{verdict["folds_beating_base_rate"]} of {verdict["folds"]} (sign test p =
{verdict["sign_test_p"]:.2f}).</p>{versus_line}
<h2>Reliability</h2>{svg}
<h2>Folds</h2><div class="scroll"><table><tr><th>test from</th><th>to</th><th>train</th>
<th>purged</th><th>test</th><th>base rate</th><th>share up</th><th>AUC</th><th>Brier</th>
<th>Brier base</th><th>log-loss</th><th>log-loss base</th></tr>{rows}</table></div>
</body></html>
"""


def _report_table(coin: str, result: Any, extra: dict[str, Any]) -> None:
    out = console()
    summary = Table(title=f"{coin}: {result.model} P({result.target}), walk-forward out of "
                    f"sample ({result.n_test:,} bars, {len(result.folds)} folds)",
                    title_justify="left")  # fmt: skip
    for column in ("", result.model, "base rate", "model - base [95 %]"):
        summary.add_column(column, justify="left" if not column else "right")
    d, ll = result.brier_difference, result.log_loss_difference
    summary.add_row("AUC", f"{result.auc.value:.4f} [{result.auc.low:.3f}, {result.auc.high:.3f}]",
                    "0.5", "")  # fmt: skip
    summary.add_row("Brier", f"{result.brier:.5f}", f"{result.brier_base_rate:.5f}",
                    f"{d.value:+.5f} [{d.low:+.5f}, {d.high:+.5f}]")  # fmt: skip
    summary.add_row("log-loss", f"{result.log_loss:.5f}", f"{result.log_loss_base_rate:.5f}",
                    f"{ll.value:+.5f} [{ll.low:+.5f}, {ll.high:+.5f}]")  # fmt: skip
    out.print(summary)
    colour = "green" if result.verdict == "beats the base rate" else "red"
    out.print(f"verdict: [{colour}]{result.verdict}[/] (Brier, 95 % block bootstrap over days); "
              f"{result.folds_beating_base_rate} of {len(result.folds)} folds beat it")  # fmt: skip
    if "versus_logistic" in extra:
        v = extra["versus_logistic"]
        out.print(f"against logistic: Brier {v['brier_difference']:+.5f} "
                  f"[{v['brier_difference_interval'][0]:+.5f}, "
                  f"{v['brier_difference_interval'][1]:+.5f}]: {v['summary']}")  # fmt: skip
    folds = Table(title="Folds", title_justify="left")
    for column in ("test from", "test bars", "purged", "base rate", "share up", "AUC", "Brier",
                   "Brier base"):  # fmt: skip
        folds.add_column(column, justify="right")
    for f in result.folds:
        folds.add_row(utc(f.start), f"{f.n_test:,}", str(f.n_purged), f"{f.base_rate:.3f}",
                      f"{f.test_rate:.3f}", f"{f.auc:.3f}", f"{f.brier:.5f}",
                      f"{f.brier_base_rate:.5f}")  # fmt: skip
    out.print(folds)


def evaluate(
    input: InputOption = None,
    coin: CoinOption = None,
    target: TargetOption = "up_1h",
    model: ModelOption = ModelKind.logistic,
    cost_bps: CostOption = 0.0,
    bitcoin: Annotated[
        Path | None,
        typer.Option(
            help="Bitcoin's candle file, for bitcoin's last hour as a feature of "
            "another coin (the bundled sample's with the bundled samples).",
            show_default=False,
        ),
    ] = None,
    train_days: Annotated[
        float | None,
        typer.Option(
            min=1,
            help="Days before the first test fold (then an expanding window). "
            "Default: 28, or half the data when it spans under six weeks.",
            show_default=False,
        ),
    ] = None,
    test_days: Annotated[
        float | None,
        typer.Option(
            min=1,
            help="Days per test fold. Default: 7, or a sixth of short data.",
            show_default=False,
        ),
    ] = None,
    html: Annotated[
        Path | None,
        typer.Option(
            "--html",
            help="Also write a page: reliability diagram, verdict, folds.",
            show_default=False,
        ),
    ] = None,
    format: Annotated[Format, typer.Option(help="Output format.")] = Format.table,
) -> None:
    """Judge a P(up) model walk-forward out of sample: AUC, Brier and log-loss beside the base
    rate, with a day-block bootstrap interval and a verdict (docs/models.md)."""
    coin = coin_of_file(input, coin)
    candles = _candles(input, coin)
    btc = None
    if coin != "bitcoin":
        if bitcoin is not None:
            btc = _candles(bitcoin, "bitcoin")
        elif input is None:
            btc = read_candles(sample_path("bitcoin"))
    data = _dataset(coin, candles, target, cost_bps, btc)
    train, test = _windows(data.end, train_days, test_days)
    result = _walk_forward(data, model.value, target, train, test, coin)
    from cryptosignals.models.evaluation import leaking_features

    extra: dict[str, Any] = {"suspicious_features": dict(leaking_features(data.x, data.y))}
    if extra["suspicious_features"]:
        err.print(f"[red]features that look like they saw the future:[/] "
                  f"{extra['suspicious_features']}")  # fmt: skip
    if model is not ModelKind.logistic:
        simple = _walk_forward(data, "logistic", target, train, test, coin)
        extra["versus_logistic"] = _versus(result, simple)
    if html is not None:
        html.write_text(models_html(coin, result, extra), "utf-8")
        err.print(f"model page written to {html}")
    if format is Format.json:
        output = {"coin": coin, "cost_bps": cost_bps, "train_days": train, "test_days": test,
                  **result.to_json(), **extra}  # fmt: skip
        sys.stdout.write(json.dumps(_plain(output), allow_nan=False) + "\n")
        return
    _report_table(coin, result, extra)


def train(
    input: Annotated[
        list[Path],
        typer.Option(
            "--input",
            "-i",
            help="Candle files (<coin>_<timeframe>.csv[.gz]); more "
            "may follow as arguments. A bitcoin file among them gives the other coins "
            "bitcoin's last hour as a feature.",
        ),
    ],
    out: Annotated[Path, typer.Option("--out", help="Folder for the artifacts (created).")],
    files: Annotated[
        list[Path] | None, typer.Argument(help="More candle files.", show_default=False)
    ] = None,
    target: TargetOption = "up_1h",
    model: ModelOption = ModelKind.logistic,
    cost_bps: CostOption = 0.0,
    train_days: Annotated[
        float | None,
        typer.Option(
            min=1,
            help="Walk-forward training minimum for the out-of-sample figures "
            "stored with the model (default as in evaluate).",
            show_default=False,
        ),
    ] = None,
    test_days: Annotated[
        float | None,
        typer.Option(
            min=1, help="Walk-forward fold length (default as in evaluate).", show_default=False
        ),
    ] = None,
) -> None:
    """Fit a P(up) model on all of each file and write one versioned JSON artifact per coin:
    fitted parameters, features, target, training window, walk-forward out-of-sample figures,
    code version (cryptosignals.predict serves both kinds in the stream)."""
    from cryptosignals.models.evaluation import train_artifact

    paths = [*input, *(files or [])]
    coins = {coin_of_file(p, None): p for p in paths}
    if len(coins) != len(paths):
        raise BadInputError("two files hold the same coin: give one file per coin")
    candles = {c: _candles(p, c) for c, p in coins.items()}
    out.mkdir(parents=True, exist_ok=True)
    for coin, series in candles.items():
        data = _dataset(coin, series, target, cost_bps, candles.get("bitcoin"))
        train_window, test = _windows(data.end, train_days, test_days)
        result = _walk_forward(data, model.value, target, train_window, test, coin)
        try:
            artifact = train_artifact(data, model.value, cost_bps / 1e4, result)
        except ValueError as exc:
            raise BadInputError(str(exc)) from None
        until = datetime.fromtimestamp(artifact["training"]["end"], UTC).strftime("%Y%m%d")
        path = out / f"{coin}_{target}_{model.value}_{until}.json"
        path.write_text(json.dumps(_plain(artifact), allow_nan=False, indent=1) + "\n", "utf-8")
        err.print(f"{coin}: {model.value} P({target}) fitted on {artifact['training']['n']:,} "
                  f"bars; out of sample {result.verdict} (AUC {result.auc.value:.3f}, Brier "
                  f"{result.brier:.5f} vs {result.brier_base_rate:.5f}) -> {path}")  # fmt: skip


def register(app: typer.Typer) -> None:
    app.command()(evaluate)
    app.command()(train)
