"""`cryptosignals demo`: the main job on the embedded default data.

Until the AWS pipeline runs locally, the demo is the signal engine over the bundled sample of
the four seed coins: a progress bar per coin, the signals by rule, and the latest signals.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.progress import Progress

from cryptosignals.candles import SAMPLE_COINS
from cryptosignals.commands.analyze import console as make_console
from cryptosignals.commands.analyze import signals_of_file, signals_table, summary_table


def demo(
    serve: Annotated[bool, typer.Option(help="Reserved: serve the dashboard after the run.")] = (
        True
    ),
    latest: Annotated[int, typer.Option(help="Latest signals shown.")] = 20,
) -> None:
    """Analyse the bundled three weeks of BTC, ETH, SOL and ADA and show what fired."""
    console = make_console()
    signals = []
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("analysing", total=len(SAMPLE_COINS))
        for coin in SAMPLE_COINS:
            progress.update(task, description=f"analysing {coin}")
            signals += signals_of_file(None, coin)
            progress.advance(task)
    signals.sort(key=lambda s: (s.timestamp, s.crypto_id, s.rule))
    console.print(summary_table(signals, f"{len(signals)} signals on {len(SAMPLE_COINS)} coins"))
    strong = [s for s in signals if s.confidence_score >= 0.8]
    console.print(signals_table(strong[-latest:], "Latest strong signals (confidence >= 0.8)"))


def register(app: typer.Typer) -> None:
    app.command()(demo)
