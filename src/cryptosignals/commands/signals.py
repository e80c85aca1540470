"""`cryptosignals signals`: the signals stored by the pipeline, read from trading_signals.

Reads through the GSI `crypto_id-timestamp-index` (`Store.signals_for`), newest first, at the
endpoint the environment names: AWS_ENDPOINT_URL for the local stack (`cryptosignals local up`
prints it), real AWS otherwise (AWS_REGION, credentials, SIGNALS_TABLE if not the default).
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated

import typer

from cryptosignals.commands.analyze import console, render_jsonl, signals_table
from cryptosignals.errors import BadInputError, PermanentError
from cryptosignals.model import Signal


class ListFormat(StrEnum):
    table = "table"
    jsonl = "jsonl"


def parse_since(text: str | None, now: float | None = None) -> int:
    """`2026-01-31`, `2026-01-31T12:00`, unix seconds, or a duration back from now: `90m`,
    `6h`, `3d`, `2w`. None: the beginning."""
    if text is None or not text.strip():
        return 0
    value = text.strip()
    units = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}
    if value[-1] in units and value[:-1].replace(".", "", 1).isdigit():
        current = datetime.now(UTC).timestamp() if now is None else now
        return int(current - float(value[:-1]) * units[value[-1]])
    if value.isdigit():
        return int(value)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise BadInputError(
            f"--since {text!r}: expected a date (2026-01-31[T12:00]), unix seconds, or a "
            "duration back from now (90m, 6h, 3d, 2w)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())


def read_signals(coins: list[str], since: int, limit: int) -> list[Signal]:
    """The newest `limit` signals of the coins since `since`, oldest first."""
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    from cryptosignals.aws import AwsSettings, Store

    settings = AwsSettings.from_env()
    where = settings.endpoint_url or f"AWS ({settings.region})"
    store = Store(settings)
    found: list[Signal] = []
    try:
        for coin in coins:
            found += store.signals_for(coin, since=since, limit=limit)
    except NoCredentialsError:
        raise PermanentError(
            f"no AWS credentials for {where}: configure them, or set AWS_ENDPOINT_URL to the "
            "local stack (cryptosignals local up prints it)"
        ) from None
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code == "ResourceNotFoundException":
            raise PermanentError(
                f"table {settings.signals_table!r} (or its index crypto_id-timestamp-index) "
                f"does not exist at {where}: deploy the stack (sam deploy, or cryptosignals "
                "local up) or set SIGNALS_TABLE"
            ) from None
        raise PermanentError(f"reading {settings.signals_table} at {where}: {code}") from None
    except BotoCoreError as exc:
        raise PermanentError(
            f"cannot reach {where}: {exc}. Is the local stack running (cryptosignals local up), "
            "or is AWS_ENDPOINT_URL stale?"
        ) from None
    found.sort(key=lambda s: (s.timestamp, s.crypto_id, s.rule, s.timeframe))
    return found[-limit:]


def signals(
    coin: Annotated[
        list[str] | None,
        typer.Option(help="CoinGecko id (repeatable). Default: the tracked coins (TRACKED_COINS)."),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(help="From: a date (2026-01-31[T12:00]), unix seconds, or 90m/6h/3d/2w ago."),
    ] = None,
    limit: Annotated[int, typer.Option(help="Newest signals shown.", min=1)] = 50,
    format: Annotated[ListFormat, typer.Option(help="Output format.")] = ListFormat.table,
) -> None:
    """List the signals stored by the pipeline (AWS_ENDPOINT_URL: the local stack; else AWS)."""
    try:
        from cryptosignals.aws import AwsSettings
    except ImportError as exc:
        raise PermanentError(
            f"reading the tables needs the 'aws' extra ({exc.name} is missing): "
            "pip install 'cryptosignals[aws]'"
        ) from None
    coins = list(coin) if coin else list(AwsSettings.from_env().tracked_coins)
    found = read_signals(coins, parse_since(since), limit)
    if format is ListFormat.jsonl:
        sys.stdout.write(render_jsonl(found))
        return
    title = f"{len(found)} signals ({', '.join(coins)})"
    console().print(signals_table(found, title))


def register(app: typer.Typer) -> None:
    app.command()(signals)
