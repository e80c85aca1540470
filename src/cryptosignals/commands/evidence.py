"""`cryptosignals evidence`: track records built from history, the pipeline's warm start."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from cryptosignals.candles import candles_to_ticks, coin_of_file, read_candles
from cryptosignals.engine import TIMEFRAMES, Engine
from cryptosignals.errors import BadInputError
from cryptosignals.evidence import history_document

err = Console(stderr=True)


def evidence(
    input: Annotated[
        list[Path],
        typer.Option(
            "--input", "-i", help="Candle files named <coin>_<timeframe>.csv[.gz] (repeatable)."
        ),
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Where to write the history (JSON).")],
) -> None:
    """Build every rule's track record per coin from candle files (e.g. a backfill); deploy the
    file with the stack (EVIDENCE_HISTORY) so new coins start from it instead of from nothing."""
    coins = [coin_of_file(path, None) for path in input]
    if len(set(coins)) != len(coins):
        raise BadInputError("one file per coin: " + ", ".join(sorted(coins)))
    records, spans, engines = {}, {}, {}
    with Progress(console=err) as bar:
        task = bar.add_task("track records", total=len(input))
        for path, coin in zip(input, coins, strict=True):
            candles = read_candles(path)
            engine = Engine(coin)
            seconds = TIMEFRAMES[engine.config.timeframe]
            if candles.interval_ms > seconds * 1000:
                raise BadInputError(
                    f"{path}: candles every {candles.interval_ms // 60_000} minutes; the stream "
                    f"builds {seconds // 60}-minute bars, so records from these would not "
                    "describe it"
                )
            ticks = candles_to_ticks(coin, candles)
            engine.feed(ticks)
            records[coin] = engine.state()["evidence"]
            spans[coin] = (int(ticks.timestamp[0]), int(ticks.timestamp[-1]))
            engines[coin] = engine
            bar.advance(task)
    config = next(iter(engines.values())).config.evidence
    out.write_text(json.dumps(history_document(records, spans, config)), encoding="utf-8")
    table = Table(title=f"Track records at {config.horizon}, net of {2 * config.cost_bps:g} bp",
                  title_justify="left")  # fmt: skip
    for column in ("coin", "rule", "type", "n", "hit rate", "mean net bp", "p (always valid)"):
        table.add_column(column, justify="left" if column in ("coin", "rule", "type") else "right")
    for coin, engine in engines.items():
        for key, record in sorted(engine.track.records.items()):
            rule, _, kind = key.split("|")
            if record.n:
                table.add_row(
                    coin, rule, kind, str(record.n), f"{record.hits / record.n:.0%}",
                    f"{record.total / record.n * 1e4:+.1f}", f"{record.p_value:.3f}",
                )  # fmt: skip
    err.print(table)
    err.print(f"history of {len(records)} coin(s) written to {out}")


def register(app: typer.Typer) -> None:
    app.command()(evidence)
