"""`cryptosignals rules` and `indicators`: the catalogues, made from the registries."""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Mapping

import typer
from rich.table import Table

from cryptosignals.commands.analyze import console
from cryptosignals.indicators import INDICATORS
from cryptosignals.rules import RULES


def _params(values: Mapping[str, object]) -> str:
    return ", ".join(f"{k}={v}" for k, v in values.items())


def rules() -> None:
    """List the signal rules: what each answers, its parameters and defaults."""
    table = Table(title="Signal rules", title_justify="left", show_lines=True)
    for column in ("rule", "question", "parameters", "what fires it"):
        table.add_column(column)
    for name, cls in RULES.items():
        defaults = {f.name: f.default for f in dataclasses.fields(cls)}
        summary = " ".join(inspect.getdoc(cls).split("\n\n")[0].split())  # type: ignore[union-attr]
        table.add_row(name, cls.question, _params(defaults), summary)
    console().print(table)


def indicators() -> None:
    """List the indicators: inputs, parameters with TA-Lib's defaults, outputs, warm-up."""
    table = Table(title="Indicators (TA-Lib semantics, resumable)", title_justify="left")
    for column in ("name", "what", "inputs", "parameters", "outputs", "warm-up (bars)"):
        table.add_column(column)
    for ind in INDICATORS.values():
        table.add_row(
            ind.name, ind.summary, ", ".join(ind.inputs), _params(ind.params),
            ", ".join(ind.outputs), str(ind.lookback(**ind.params)),
        )  # fmt: skip
    console().print(table)


def register(app: typer.Typer) -> None:
    app.command()(rules)
    app.command()(indicators)
