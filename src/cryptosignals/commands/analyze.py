"""`cryptosignals analyze`: the engine over a candle file, signals out."""

from __future__ import annotations

import csv
import io
import json
import sys
from collections import Counter, defaultdict
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
import typer
from rich.console import Console
from rich.table import Table

from cryptosignals.candles import candles_to_ticks, coin_of_file, read_candles, sample_path
from cryptosignals.engine import analyze_ticks, closed_bars
from cryptosignals.errors import BadInputError
from cryptosignals.model import Signal

SIGNAL_COLUMNS = (
    "signal_id", "crypto_id", "timestamp", "signal_type", "rule", "timeframe", "price",
    "confidence_score", "details", "evaluation_horizon", "evidence", "actionable",
)  # fmt: skip


class OutputFormat(StrEnum):
    table = "table"
    jsonl = "jsonl"
    csv = "csv"


def utc(timestamp: int) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M")


def console(stderr: bool = False) -> Console:
    """A console that does not squeeze tables to 80 columns when writing to a pipe or file."""
    probe = Console(stderr=stderr)
    return probe if probe.is_terminal else Console(stderr=stderr, width=120)


#: The options every command over a candle file shares.
CoinOption = Annotated[
    str | None,
    typer.Option(
        "--coin",
        "-c",
        help="CoinGecko coin id of the file's instrument; default: from the file name "
        "(<coin>_<timeframe>.csv.gz), or bitcoin's sample without --input.",
        show_default=False,
    ),
]
InputOption = Annotated[
    Path | None,
    typer.Option(
        "--input",
        "-i",
        help="Candle CSV(.gz): timestamp,open,high,low,close,volume. "
        "Default: the bundled sample of --coin.",
        show_default=False,
    ),
]


def stream_bars(path: Path | None, coin: str, what: str) -> tuple[np.ndarray, np.ndarray]:
    """Close times (unix seconds) and closes of the stream's 5-minute bars built from a candle
    file (1- or 5-minute candles: coarser ones cannot make them; `what` says who needs them)."""
    candles = read_candles(path if path is not None else sample_path(coin))
    if candles.interval_ms > 300_000:
        raise BadInputError(
            f"{path}: candles every {candles.interval_ms // 60_000} minutes; {what} works on "
            "5-minute bars, so it needs 1- or 5-minute candles"
        )
    bars = closed_bars(candles_to_ticks(coin, candles))
    return bars["end"].astype(np.int64), np.asarray(bars["close"], dtype=float)


def signals_of_file(path: Path | None, coin: str) -> list[Signal]:
    """Signals of a candle file (the bundled sample of `coin` when no file is given)."""
    candles = read_candles(path if path is not None else sample_path(coin))
    return analyze_ticks(candles_to_ticks(coin, candles))


def render_jsonl(signals: list[Signal]) -> str:
    """One JSON object a line; the same input always gives byte-identical output."""
    return "".join(json.dumps(s.to_json(), separators=(",", ":")) + "\n" for s in signals)


def render_csv(signals: list[Signal]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(SIGNAL_COLUMNS)
    for s in signals:
        row = s.to_json()
        for name in ("details", "evidence"):
            row[name] = json.dumps(row[name], separators=(",", ":"))
        writer.writerow([row[c] for c in SIGNAL_COLUMNS])
    return buffer.getvalue()


def signals_table(signals: list[Signal], title: str) -> Table:
    table = Table(title=title, title_justify="left")
    for column in ("time (UTC)", "coin", "type", "rule", "tf", "price", "confidence", "record"):
        justify: Literal["left", "right"] = (
            "left" if column in ("coin", "type", "rule") else "right"
        )
        table.add_column(column, justify=justify, no_wrap=True)
    colour = {"BUY": "green", "SELL": "red", "ALERT": "yellow"}
    for s in signals:
        table.add_row(
            utc(s.timestamp), s.crypto_id, f"[{colour[s.signal_type]}]{s.signal_type}[/]",
            s.rule, s.timeframe, f"{s.price:,.6g}", f"{s.confidence_score:.2f}", _record(s),
        )  # fmt: skip
    return table


def _record(s: Signal) -> str:
    """The rule's track record when it fired: n, mean net bp, and whether it earned an alert."""
    n = int(s.evidence.get("n", 0))
    if not n:
        return "no record yet"
    mean = s.evidence.get("mean_net_bp", float("nan"))
    flag = " [bold green]actionable[/]" if s.actionable else ""
    return f"n={n} {mean:+.0f}bp{flag}"


def summary_table(signals: list[Signal], title: str = "Signals by rule") -> Table:
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    scores: dict[str, list[float]] = defaultdict(list)
    for s in signals:
        counts[s.rule][s.signal_type] += 1
        counts[s.rule]["actionable"] += int(s.actionable)
        scores[s.rule].append(s.confidence_score)
    table = Table(title=title, title_justify="left")
    for column in ("rule", "BUY", "SELL", "ALERT", "total", "actionable", "mean confidence"):
        table.add_column(column, justify="left" if column == "rule" else "right")
    for rule in sorted(counts):
        c = counts[rule]
        table.add_row(
            rule, str(c["BUY"]), str(c["SELL"]), str(c["ALERT"]),
            str(c["BUY"] + c["SELL"] + c["ALERT"]), str(c["actionable"]),
            f"{sum(scores[rule]) / len(scores[rule]):.2f}",
        )  # fmt: skip
    return table


def analyze(
    coin: CoinOption = None,
    input: InputOption = None,
    format: Annotated[OutputFormat, typer.Option(help="Output format of the signals.")] = (
        OutputFormat.table
    ),
    limit: Annotated[int, typer.Option(min=1, help="Rows shown in table format (latest).")] = 30,
    actionable_only: Annotated[
        bool,
        typer.Option(
            "--actionable-only",
            help="Only signals whose rule's track record earned an alert (docs/signals.md).",
        ),
    ] = False,
) -> None:
    """Run the signal engine over a candle file and print its signals (summary on stderr)."""
    coin = coin_of_file(input, coin)
    signals = signals_of_file(input, coin)
    if actionable_only:
        signals = [s for s in signals if s.actionable]
    if format is OutputFormat.jsonl:
        sys.stdout.write(render_jsonl(signals))
    elif format is OutputFormat.csv:
        sys.stdout.write(render_csv(signals))
    else:
        shown = signals[-limit:]
        title = f"Latest {len(shown)} of {len(signals)} signals for {coin}"
        console().print(signals_table(shown, title))
    console(stderr=True).print(summary_table(signals, f"Signals by rule ({coin})"))


def register(app: typer.Typer) -> None:
    app.command()(analyze)
