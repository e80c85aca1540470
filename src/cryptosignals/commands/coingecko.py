"""CoinGecko commands: `prices`, `backfill`, `replay-server`, `quota`."""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from cryptosignals.candles import SAMPLE_COINS
from cryptosignals.errors import BadInputError

if TYPE_CHECKING:
    from cryptosignals.coingecko.client import CoinGeckoClient

out = Console()


def _coin_list(arguments: list[str] | None, option: list[str] | None) -> list[str]:
    coins = [c.strip() for part in (arguments or []) + (option or []) for c in part.split(",")]
    return [c for c in coins if c] or list(SAMPLE_COINS)


def _client(api_url: str | None, rate_limit: float | None = None) -> CoinGeckoClient:
    from cryptosignals.coingecko.client import CoinGeckoClient

    overrides: dict[str, Any] = {"base_url": api_url} if api_url else {}
    if rate_limit:
        overrides["rate_limit_per_min"] = rate_limit
    return CoinGeckoClient.from_settings(**overrides)


def _fmt(value: float | None, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:,.{digits}f}"


def prices(
    coins: Annotated[list[str] | None, typer.Argument(help="CoinGecko ids.")] = None,
    api_url: Annotated[str | None, typer.Option(help="Base URL (a replay server).")] = None,
    top: Annotated[int | None, typer.Option(help="The top N by market cap instead.")] = None,
) -> None:
    """The latest quotes as a table (default: the sample's four coins)."""
    with _client(api_url) as client:
        quotes = client.markets(top=top) if top else client.simple_price(_coin_list(coins, None))
        table = Table(title="CoinGecko quotes (USD)")
        for name in ("coin", "price", "24h change %", "24h volume", "market cap", "updated (UTC)"):
            table.add_column(name, justify="left" if name == "coin" else "right")
        for coin, tick in quotes.ticks.items():
            updated = datetime.fromtimestamp(tick.timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S")
            digits = 2 if tick.price >= 1 else 6
            table.add_row(
                coin,
                _fmt(tick.price, digits),
                _fmt(tick.change_24h),
                _fmt(tick.volume_24h, 0),
                _fmt(tick.market_cap, 0),
                updated,
            )
        out.print(table)
        for coin, reason in quotes.rejected.items():
            out.print(f"[yellow]rejected[/] {coin}: {reason}", highlight=False)
        remaining = client.calls_remaining
        if remaining is not None:
            out.print(f"calls left this month (this counter): {remaining:,}", highlight=False)


def backfill(
    coin_args: Annotated[list[str] | None, typer.Argument(metavar="[COINS]...")] = None,
    coins: Annotated[
        list[str] | None, typer.Option("--coins", help="Coin ids (comma-separated or repeated).")
    ] = None,
    days: Annotated[int, typer.Option(help="Days of history (1 gives 5-minute points).")] = 30,
    out_dir: Annotated[Path, typer.Option("--out", help="Directory for the candle files.")] = Path(
        "backfill"
    ),
    api_url: Annotated[str | None, typer.Option(help="Base URL (a replay server).")] = None,
    end: Annotated[int | None, typer.Option(help="End, unix seconds (default: now).")] = None,
    rate_limit: Annotated[
        float | None, typer.Option(help="Calls a minute (default: the plan's).")
    ] = None,
) -> None:
    """History into candle files (shared format), resumable, inside the rate limit."""
    from cryptosignals.coingecko.backfill import plan_backfill, run_backfill

    wanted = _coin_list(coin_args, coins)
    started = time.monotonic()
    with _client(api_url, rate_limit) as client:
        plan = plan_backfill(client, wanted, days, out_dir, end)
        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
        )
        with Progress(*columns, console=out) as bar:
            task = bar.add_task("backfill", total=plan.calls)

            def step(coin: str) -> None:
                bar.update(task, advance=1, description=coin)

            written = run_backfill(client, plan, out_dir, progress=step)
        elapsed = time.monotonic() - started
        out.print(
            f"{len(written)} files in {out_dir} ({plan.label} candles, {days} days, "
            f"{plan.calls} range calls, {client.counter.used} requests counted) "
            f"in {elapsed:.1f} s",
            highlight=False,
        )


def replay_server(
    data: Annotated[
        Path | None, typer.Option(help="Directory of <coin>_5m.csv.gz files (default: sample).")
    ] = None,
    coins: Annotated[list[str] | None, typer.Option(help="Only these coins.")] = None,
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1 (0: any free port).")] = 8000,
    speed: Annotated[float, typer.Option(help="Replay seconds per wall second (0: frozen).")] = 1.0,
    start: Annotated[int | None, typer.Option(help="Replay start, unix seconds.")] = None,
    rate_limit: Annotated[int | None, typer.Option(help="Calls per window (per key).")] = None,
    rate_window: Annotated[float, typer.Option(help="Rate-limit window, seconds.")] = 60.0,
    monthly_limit: Annotated[int | None, typer.Option(help="Calls per key in total.")] = None,
    require_key: Annotated[str | None, typer.Option(help="Accept only this key.")] = None,
    key_mode: Annotated[str, typer.Option(help="demo or pro (which key header).")] = "demo",
    retry_after: Annotated[bool, typer.Option(help="Send Retry-After on 429.")] = False,
    faults: Annotated[
        str | None, typer.Option(help="e.g. 429=0.1,5xx=0.05,slow=0.02,truncated=0.02,seed=7")
    ] = None,
) -> None:
    """A CoinGecko-compatible server on 127.0.0.1 replaying candle files under /api/v3."""
    from cryptosignals.coingecko.replay import FaultPlan, ReplayServer

    server = ReplayServer(
        data,
        coins=_coin_list(None, coins) if coins else None,
        port=port,
        speed=speed,
        start=start,
        rate_limit=rate_limit,
        rate_window_s=rate_window,
        monthly_limit=monthly_limit,
        require_key=require_key,
        key_mode=key_mode,
        retry_after=retry_after,
        faults=FaultPlan.parse(faults) if faults else None,
    )
    now = datetime.fromtimestamp(server.clock.now(), UTC).isoformat()
    out.print(
        f"replaying {', '.join(server.coins)} at {server.url} (clock {now}, speed {speed:g}x); "
        "control under /_replay/. Ctrl-C stops.",
        highlight=False,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        out.print("stopped")


def quota(
    coins: Annotated[int | None, typer.Option(help="Coins tracked.")] = None,
    cadence: Annotated[float, typer.Option(help="Minutes between polls.")] = 5.0,
    budget: Annotated[int, typer.Option(min=1, help="Calls a month.")] = 10_000,
    backfill_coins: Annotated[int, typer.Option(help="Coins backfilled a month.")] = 0,
    backfill_days: Annotated[int, typer.Option(help="Days each backfill covers.")] = 30,
) -> None:
    """The monthly call arithmetic for a coin count and cadence (or the reference table)."""
    from cryptosignals.coingecko import quota as q

    if coins is None:
        table = Table(title=f"/coins/markets polling, 30-day month, budget {budget:,} calls")
        for name in ("coins", "cadence", "calls/poll", "calls/month", "of budget", "fits"):
            table.add_column(name, justify="right")
        for row in q.quota_table(budget=budget):
            table.add_row(
                f"{row.coins:,}",
                f"{row.cadence_min:g} min",
                str(row.calls_per_poll),
                f"{row.calls_per_month:,}",
                f"{row.share:.0%}",
                "yes" if row.fits else "no",
            )
        out.print(table)
        return
    if coins < 1 or cadence <= 0:
        raise BadInputError("coins must be at least 1 and cadence positive")
    per_poll = q.calls_per_poll(coins)
    polls = math.ceil(q.MONTH_MINUTES / cadence)
    monthly = q.calls_per_month(coins, cadence)
    extra = q.backfill_calls(backfill_coins, backfill_days) if backfill_coins else 0
    total = monthly + extra
    lines = [
        f"{coins:,} coins -> {per_poll} call(s) a poll (/coins/markets, 250 coins a page)",
        f"every {cadence:g} min -> {polls:,} polls a 30-day month -> {monthly:,} calls",
    ]
    if extra:
        lines.append(f"backfill {backfill_coins} coins x {backfill_days} days -> {extra:,} calls")
    lines.append(f"total {total:,} of {budget:,} ({total / budget:.0%}); left {budget - total:,}")
    if extra < budget:
        shortest = q.min_cadence_min(coins, budget, extra)
        lines.append(f"shortest cadence inside the budget: {shortest:.1f} min")
    else:
        lines.append("the backfill alone uses the whole budget: no cadence fits")
    for line in lines:
        out.print(line, highlight=False)
    if total > budget:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command()(prices)
    app.command()(backfill)
    app.command("replay-server")(replay_server)
    app.command()(quota)
