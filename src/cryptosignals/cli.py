"""The `cryptosignals` command: thin wrappers that parse options and call the core.

Each feature area keeps its commands in its own module with a `register(app)` function: every
module of `cryptosignals.commands` (found, not listed, so adding a command touches no shared
file) and the local stack's `cryptosignals.local.command`.
"""

from __future__ import annotations

import importlib
import pkgutil

import typer
from rich.console import Console
from rich.markup import escape

from cryptosignals import commands
from cryptosignals.errors import CryptoSignalsError

app = typer.Typer(
    name="cryptosignals",
    help="Trading signals for cryptocurrencies: indicators, rules, pipeline and dashboard.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
err = Console(stderr=True, soft_wrap=True)  # one error, one line, whatever the width

#: Modules outside `cryptosignals.commands` that add commands.
_OTHER_COMMAND_MODULES = ("cryptosignals.local.command",)


def _register_commands() -> None:
    names = [f"{commands.__name__}.{m.name}" for m in pkgutil.iter_modules(commands.__path__)]
    for name in sorted(names) + list(_OTHER_COMMAND_MODULES):
        importlib.import_module(name).register(app)


def main() -> None:
    """Entry point. Usage errors exit 2 (click's own message); a known error becomes one clear
    line on stderr and exit status 2, never a traceback."""
    _register_commands()
    try:
        app(prog_name="cryptosignals")
    except CryptoSignalsError as exc:
        err.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
        raise SystemExit(2) from None
