"""`cryptosignals drift`: when did the model's errors change, and does retraining on an alarm
beat retraining on a schedule or learning online? A prequential comparison on one candle file."""

from __future__ import annotations

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

from cryptosignals.candles import coin_of_file, read_candles, sample_path
from cryptosignals.commands.analyze import CoinOption, InputOption, console, stream_bars, utc
from cryptosignals.errors import BadInputError

err = Console(stderr=True, soft_wrap=True)
DAY = 86_400


class Format(StrEnum):
    table = "table"
    json = "json"


class Detector(StrEnum):
    page_hinkley = "page-hinkley"
    adwin = "adwin"


class Target(StrEnum):
    up_1h = "up_1h"
    volatility = "volatility"


def _windows(span_days: float, train_days: float, every_days: float) -> tuple[float, float]:
    """The training window and refit interval, shrunk for files shorter than twice the window
    (the bundled three-week samples): half the span, and a third of that."""
    if span_days >= 2 * train_days:
        return train_days, every_days
    train = max(3.0, span_days // 2)
    return train, max(1.0, min(every_days, train // 3))


def _interval(i: Any) -> str:
    return f"{i.value:+.4f} [{i.low:+.4f}, {i.high:+.4f}]"


def drift_html(result: Any, loss_name: str) -> str:
    """A page: each learner's cumulative loss minus the base's over time (below zero = better
    than the base), the alarms marked, and the comparison table."""
    from cryptosignals.backtest.report import BLUE, GREEN, GREY, PAGE_CSS, RED, TimePanel

    t = result.times.astype(float)
    colours = {"scheduled": BLUE, "on_alarm": RED, "online": GREEN}
    curves = {n: np.cumsum(result.losses[n] - result.losses["base"]) for n in colours}
    panel = TimePanel(float(t[0]), float(t[-1]), [*curves.values(), np.array([0.0])], fmt="{:.1f}")
    panel.line(t, np.zeros(len(t)), GREY)
    for name, curve in curves.items():
        panel.line(t, curve, colours[name])
    on_alarm = next(s for s in result.learners if s.name == "on_alarm")
    if on_alarm.alarms:
        at = np.searchsorted(t, np.array(on_alarm.alarms, float)).clip(0, len(t) - 1)
        tips = [f"alarm {utc(a)} UTC" for a in on_alarm.alarms]
        heights = [float(curves["on_alarm"][i]) for i in at]
        panel.markers([float(a) for a in on_alarm.alarms], heights, "x", "#333", tips)
    rows = "".join(
        f"<tr><td>{s.name}</td><td>{s.refits}</td><td>{s.loss:.5f}</td>"
        f"<td>{_interval(s.loss_vs_base)}</td>"
        f"<td>{'-' if s.brier_vs_base is None else _interval(s.brier_vs_base)}</td>"
        f"<td>{'better' if result.beats_base(s.name) else 'not better'}</td></tr>"
        for s in result.learners
    )
    return f"""<!doctype html><html><head><meta charset="utf-8">
<title>Drift: {result.coin}</title><style>{PAGE_CSS}</style></head><body>
<h1>Drift: {result.coin}, {result.target}</h1>
<p class="small">{utc(result.start)} to {utc(result.stop)} UTC, {result.rows} rows forecast before
their outcome was known (prequential); {len(on_alarm.alarms)} drift alarms (docs/drift.md).</p>
<h2>Cumulative {loss_name} minus the base's (below 0 = better than the base; × = alarm)</h2>
{panel.svg([("scheduled", BLUE), ("on alarm", RED), ("online", GREEN)])}
<table><tr><th>learner</th><th>refits</th><th>{loss_name}</th><th>vs base (95 %)</th>
<th>Brier vs base</th><th>verdict</th></tr>{rows}</table></body></html>
"""


def drift(
    input: InputOption = None,
    coin: CoinOption = None,
    target: Annotated[
        Target, typer.Option(help="up_1h: P(up) over the next hour; volatility: next bar's sigma.")
    ] = Target.up_1h,
    train_days: Annotated[
        float, typer.Option(min=3, help="Training window (shrunk for short files).")
    ] = 30,
    every_days: Annotated[float, typer.Option(min=1, help="Days between scheduled refits.")] = 7,
    recent_days: Annotated[
        float, typer.Option(min=2, help="Days an on-alarm refit trains on (the recent past).")
    ] = 7,
    detector: Annotated[
        Detector, typer.Option(help="The drift test on the errors (docs/drift.md).")
    ] = Detector.page_hinkley,
    format: Annotated[Format, typer.Option(help="Output format.")] = Format.table,
    html: Annotated[
        Path | None,
        typer.Option(
            "--html", help="Also write a page: losses over time, alarms, table.", show_default=False
        ),
    ] = None,
) -> None:
    """Drift alarms on a model's errors (Page-Hinkley) over time, and a prequential comparison
    of a model refitted on a schedule, one refitted on each alarm and an online learner, each
    against the base forecast (day-block bootstrap intervals)."""
    coin = coin_of_file(input, coin)
    from cryptosignals.drift import Adwin, DriftMonitor
    from cryptosignals.models.drift import prequential_direction, prequential_volatility

    kind = "moves" if target is Target.volatility else "scaled"

    def monitor() -> DriftMonitor:
        return DriftMonitor(kind, Adwin() if detector is Detector.adwin else None)

    with Progress(console=err, transient=True) as bar:
        task = bar.add_task("prequential, hour by hour", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        try:
            if target is Target.volatility:
                end, close = stream_bars(input, coin, "the volatility drift")
                train, every = _windows((end[-1] - end[0]) / DAY, train_days, every_days)
                result = prequential_volatility(
                    coin,
                    end,
                    close,
                    train,
                    every,
                    min(recent_days, train),
                    monitor=monitor,
                    progress=progress,
                )
            else:
                from cryptosignals.models.evaluation import dataset

                candles = read_candles(input if input is not None else sample_path(coin))
                if candles.interval_ms > 300_000:
                    raise BadInputError(
                        f"{input}: candles every {candles.interval_ms // 60_000} minutes; the "
                        "up_1h drift works on 5-minute bars, so it needs 1- or 5-minute candles"
                    )
                data = dataset(coin, candles, target.value)
                train, every = _windows((data.end[-1] - data.end[0]) / DAY, train_days,
                                        every_days)  # fmt: skip
                result = prequential_direction(
                    data, train, every, min(recent_days, train), monitor, progress=progress
                )
        except ValueError as exc:
            raise BadInputError(str(exc)) from None
    loss_name = "Gaussian NLL" if target is Target.volatility else "log-loss"
    alarms = next(s for s in result.learners if s.name == "on_alarm").alarms
    span = (result.stop - result.start) / DAY
    if html is not None:
        html.write_text(drift_html(result, loss_name), "utf-8")
        err.print(f"drift page written to {html}")
    if format is Format.json:
        output: dict[str, Any] = {
            **result.to_json(), "train_days": train, "every_days": every,
            "detector": detector.value,
            "alarms_per_30_days": len(alarms) / span * 30 if span > 0 else math.nan,
        }  # fmt: skip
        sys.stdout.write(json.dumps(output, allow_nan=False) + "\n")
        return
    out = console()
    base = "the base rate" if target is Target.up_1h else "the trailing sd"
    table = Table(
        title=f"{coin}: {target.value}, prequential {utc(result.start)} to {utc(result.stop)} "
        f"UTC ({result.rows} rows; {base}: {loss_name} {result.base_loss:.5f})",
        title_justify="left",
    )
    for column in ("learner", "refits", loss_name, "minus the base's (95 %)", "Brier vs base",
                   "verdict"):  # fmt: skip
        table.add_column(column, justify="left" if column == "learner" else "right")
    for s in result.learners:
        verdict = "[green]better[/]" if result.beats_base(s.name) else "not better"
        table.add_row(
            s.name, str(s.refits), f"{s.loss:.5f}", _interval(s.loss_vs_base),
            "-" if s.brier_vs_base is None else _interval(s.brier_vs_base), verdict,
        )  # fmt: skip
    out.print(table)
    when = ", ".join(utc(a) for a in alarms[:20]) + (" ..." if len(alarms) > 20 else "")
    out.print(
        f"{len(alarms)} drift alarms in {span:.1f} days ({len(alarms) / max(span, 1e-9) * 30:.1f} "
        f"per 30 days){': ' + when if alarms else ''}. Training window {train:g} days, scheduled "
        f"refits every {every:g} days."
    )
    if target is Target.up_1h and not any(result.beats_base(s.name) for s in result.learners):
        out.print("No learner beats the base rate: the direction of the next hour is not "
                  "predictable here, whichever way the model is kept fresh.")  # fmt: skip


def register(app: typer.Typer) -> None:
    app.command()(drift)
