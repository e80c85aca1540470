"""`cryptosignals regimes`: the market regime of every 5-minute bar (calm ... turbulent), forward
filtered by a Gaussian HMM fitted walk-forward (each bar labelled by a fit that never saw it)."""

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
from cryptosignals.regimes import RegimeModel, RegimeOutput, filter_regimes, model_for

err = Console(stderr=True, soft_wrap=True)
BAR_SECONDS = 300


class Format(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"


def regime_rows(names: tuple[str, ...], output: RegimeOutput) -> list[dict[str, Any]]:
    """One row per labelled bar: timestamp, regime, regime_vol_rank, n_regimes, p_<name>."""
    rows = []
    for i in np.flatnonzero(output.label >= 0):
        rank = int(output.label[i])
        row: dict[str, Any] = {
            "timestamp": int(output.end[i]), "regime": names[rank], "regime_vol_rank": rank,
            "n_regimes": len(names),
        }  # fmt: skip
        row.update({f"p_{name}": float(output.probabilities[i, k]) for k, name in
                    enumerate(names)})  # fmt: skip
        rows.append(row)
    return rows


def _load_model(path: Path, coin: str) -> RegimeModel:
    try:
        model = model_for(coin, path)
    except ValueError as exc:
        raise BadInputError(str(exc)) from None
    if model is None:
        raise BadInputError(f"{path} has no regime model for {coin} nor a default")
    return model


def _training() -> Any:
    from cryptosignals.models import regimes as training

    try:
        training.hmm_class()
    except ImportError:
        raise BadInputError(
            "fitting regimes needs hmmlearn: pip install 'cryptosignals[models]' "
            "(or give a models file with --models FILE.json)"
        ) from None
    return training


def _spans(names: tuple[str, ...], rows: list[dict[str, Any]]) -> list[tuple[int, int, str]]:
    """Consecutive bars with the same label: (first bar close, last bar close, name)."""
    spans: list[tuple[int, int, str]] = []
    for row in rows:
        if spans and spans[-1][2] == row["regime"]:
            spans[-1] = (spans[-1][0], row["timestamp"], row["regime"])
        else:
            spans.append((row["timestamp"], row["timestamp"], row["regime"]))
    return spans


def regimes(
    input: InputOption = None,
    coin: CoinOption = None,
    format: Annotated[Format, typer.Option(help="Output format.")] = Format.table,
    model_file: Annotated[
        Path | None,
        typer.Option(
            "--models",
            help="A models file (from --fit-out): filter the whole file with the coin's "
            "regime model (or the file's default) instead of refitting walk-forward.",
            show_default=False,
        ),
    ] = None,
    fit_out: Annotated[
        Path | None,
        typer.Option(
            "--fit-out",
            help="Add the latest walk-forward fit (the one that would label the next bar) to "
            "this models file (created if missing), for the stream: FITTED_MODELS.",
            show_default=False,
        ),
    ] = None,
    train_days: Annotated[float, typer.Option(min=2, help="Walk-forward training window.")] = 30,
    refit_days: Annotated[float, typer.Option(min=0.5, help="Days between refits.")] = 7,
    states: Annotated[
        str, typer.Option(help="Numbers of states to choose from by BIC (first fit), e.g. 2,3,4.")
    ] = "2,3,4",
    seed: Annotated[int, typer.Option(help="Seed of the EM restarts.")] = 0,
    limit: Annotated[int, typer.Option(min=1, help="Regime spans shown in table format.")] = 15,
) -> None:
    """The regime of each 5-minute bar (calm ... turbulent, ordered by volatility), with the
    forward-filtered probability of every state; walk-forward (each bar labelled by a model
    fitted on the days before it) unless --model is given."""
    if fit_out is not None and model_file is not None:
        raise BadInputError("--fit-out writes a walk-forward fit; it makes no sense with --models")
    coin = coin_of_file(input, coin)
    end, close = stream_bars(input, coin, "the regime filter")
    if model_file is not None:
        model = _load_model(model_file, coin)
        output = filter_regimes(model, end, close)
        names, source = model.names, f"model {model_file}"
    else:
        try:
            n_states = tuple(int(k) for k in states.split(","))
        except ValueError:
            raise BadInputError(f"--states must be numbers like 2,3,4, not {states!r}") from None
        training = _training()
        with Progress(console=err, transient=True) as bar:
            task = bar.add_task("walk-forward refits", total=None)
            try:
                wf = training.walk_forward_regimes(
                    end, close, train_days=train_days, refit_days=refit_days,
                    n_states=n_states, seed=seed,
                    progress=lambda done, total: bar.update(task, completed=done, total=total),
                )  # fmt: skip
            except ValueError as exc:
                raise BadInputError(f"{input or coin}: {exc}") from None
        output, model, names = wf.output, wf.models[-1], wf.names
        source = f"walk-forward: {len(wf.models)} fits, {train_days:g}-day window"
        if fit_out is not None:
            try:
                add_fitted(fit_out, coin, "regimes", model.to_json())
            except ValueError as exc:
                raise BadInputError(str(exc)) from None
            err.print(f"{coin}'s latest fit ({model.n_states} states) written to {fit_out}")
    rows = regime_rows(names, output)
    if not rows:
        raise BadInputError(f"{input or coin}: too few bars to label any (warm-up)")
    first = rows[0]["timestamp"]
    err.print(f"{len(rows)} of {len(end)} bars labelled, from {utc(first)} UTC ({source})")
    if format is Format.json:
        document = {"coin": coin, "regimes": list(names), "model": model.to_json(), "rows": rows}
        sys.stdout.write(json.dumps(document, allow_nan=False) + "\n")
    elif format is Format.csv:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        sys.stdout.write(buffer.getvalue())
    else:
        _print_table(coin, names, model, rows, limit)


def _print_table(coin: str, names: tuple[str, ...], model: RegimeModel,
                 rows: list[dict[str, Any]], limit: int) -> None:  # fmt: skip
    out = console()
    states = Table(title=f"{coin}: {len(names)} regimes (latest fit)", title_justify="left")
    for column in ("rank", "regime", "vol bp/5m", "mean bp/5m", "mean stay", "share of bars"):
        states.add_column(column, justify="left" if column == "regime" else "right")
    labels = np.array([row["regime_vol_rank"] for row in rows])
    for k, name in enumerate(names):
        stay = 1.0 / max(1e-12, 1.0 - model.transmat[k][k]) * BAR_SECONDS / 3600
        states.add_row(
            str(k), name, f"{math.sqrt(model.variances[k][0]):.1f}", f"{model.means[k][0]:+.2f}",
            f"{stay:.1f} h", f"{np.mean(labels == k):.0%}",
        )  # fmt: skip
    out.print(states)
    spans = _spans(names, rows)
    table = Table(title=f"Latest regime spans (of {len(spans)})", title_justify="left")
    for column in ("from (UTC)", "to (UTC)", "regime", "hours"):
        table.add_column(column, justify="left" if column == "regime" else "right")
    for start, stop, name in spans[-limit:]:
        hours = (stop - start + BAR_SECONDS) / 3600
        table.add_row(utc(start - BAR_SECONDS), utc(stop), name, f"{hours:.1f}")
    out.print(table)


def register(app: typer.Typer) -> None:
    app.command()(regimes)
