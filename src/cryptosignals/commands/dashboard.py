"""`cryptosignals dashboard`: serve the browser dashboard over the pipeline's tables."""

from __future__ import annotations

from typing import Annotated

import typer

from cryptosignals.errors import PermanentError


def dashboard(
    port: Annotated[int, typer.Option(help="Port to listen on.", min=1, max=65535)] = 8050,
    host: Annotated[
        str, typer.Option(help="Address to bind; the default keeps it on this machine.")
    ] = "127.0.0.1",
    refresh: Annotated[
        float, typer.Option(help="Seconds between automatic refreshes of the page.", min=0.5)
    ] = 5.0,
) -> None:
    """Serve the dashboard at http://HOST:PORT over the pipeline's DynamoDB tables.

    AWS_ENDPOINT_URL points it at the local emulator (unset: AWS).

    AWS_REGION, RAW_TABLE, AGGREGATED_TABLE, SIGNALS_TABLE: as for the pipeline.

    The page refreshes itself; empty tables or a dead endpoint show a message.
    """
    try:
        from cryptosignals.dashboard.app import serve
        from cryptosignals.dashboard.reader import DashboardReader
    except ImportError as exc:
        raise PermanentError(
            f"the dashboard needs the 'dashboard' and 'aws' extras ({exc.name} is missing): "
            "pip install 'cryptosignals[dashboard,aws]'"
        ) from None
    typer.echo(f"dashboard on http://{host}:{port} (Ctrl-C stops it)")
    serve(DashboardReader(), host=host, port=port, refresh=refresh)


def register(app: typer.Typer) -> None:
    app.command()(dashboard)
