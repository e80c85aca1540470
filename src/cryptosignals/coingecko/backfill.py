"""Backfill: history from `/coins/{id}/market_chart/range` into candle files, resumably.

On Demo, history comes hourly (windows of 2-90 days), or 5-minutely for one day ending now,
so `days=1` gives `<coin>_5m.csv.gz` and longer backfills `<coin>_1h.csv.gz`, in the candle-file
format of `candles.py`. What a chart point can tell is less than a candle, so (assumptions,
also in docs/coingecko.md):

- timestamp: the point time rounded to the grid, minus one interval (the file holds open times);
  a point far off the grid (CoinGecko's extra "now" point) is left out;
- close = the point's price; open = the previous close (the first candle: its own close);
  high/low = the larger/smaller of open and close: intra-interval extremes are unknown;
- volume: CoinGecko gives 24h volumes, and per-interval volume cannot be recovered from them;
  the file holds the interval's even share of the 24h volume, V(t) x interval / 24h.

Resuming: every window fetched is kept under `OUT/.partial/<coin>/` and the plan (coins, start,
end) in `OUT/.backfill.json`; a rerun with the same coins and days skips what is there and uses
the same end time, so an interrupted backfill costs no call twice.
"""

from __future__ import annotations

import gzip
import json
import math
import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cryptosignals.candles import COLUMNS, DAY_SECONDS
from cryptosignals.coingecko.client import CoinGeckoClient, range_windows
from cryptosignals.errors import BadInputError

_STATE = ".backfill.json"
_PARTIAL = ".partial"


@dataclass(frozen=True)
class BackfillPlan:
    coins: tuple[str, ...]
    days: int
    start: int
    end: int

    @property
    def interval_s(self) -> int:
        return 300 if self.days == 1 else 3600

    @property
    def label(self) -> str:
        return "5m" if self.days == 1 else "1h"

    def windows(self) -> list[tuple[int, int]]:
        return range_windows(self.start, self.end)

    @property
    def calls(self) -> int:
        return len(self.coins) * len(self.windows())


def plan_backfill(
    client: CoinGeckoClient, coins: Sequence[str], days: int, out: Path, end: int | None = None
) -> BackfillPlan:
    """The plan of an earlier run in `out` with the same coins and days, else a new one ending
    at `end` (default: the server's "now", from one `/ping`)."""
    if days < 1:
        raise BadInputError(f"days must be at least 1, got {days}")
    state_path = out / _STATE
    if end is None and state_path.exists():
        try:
            state = json.loads(state_path.read_text())
            if state["coins"] == list(coins) and state["days"] == days:
                return BackfillPlan(tuple(coins), days, int(state["start"]), int(state["end"]))
        except (ValueError, KeyError, TypeError):
            pass
    if end is None:
        client.ping()
        end = client.server_time
        if end is None:
            raise BadInputError("the server sent no Date header; give the end time (--end)")
    plan = BackfillPlan(tuple(coins), days, int(end) - days * DAY_SECONDS, int(end))
    out.mkdir(parents=True, exist_ok=True)
    state = {"coins": list(coins), "days": days, "start": plan.start, "end": plan.end}
    state_path.write_text(json.dumps(state))
    return plan


def output_path(out: Path, coin: str, plan: BackfillPlan) -> Path:
    return out / f"{coin}_{plan.label}.csv.gz"


def run_backfill(
    client: CoinGeckoClient,
    plan: BackfillPlan,
    out: Path,
    *,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Path]:
    """Fetch every missing window of the plan and write one candle file per coin.
    `progress(coin)` is called once per window (fetched or already there)."""
    written: dict[str, Path] = {}
    for coin in plan.coins:
        target = output_path(out, coin, plan)
        partial = out / _PARTIAL / coin
        if target.exists() and coin in _finished(out, plan):
            for _ in plan.windows():
                if progress:
                    progress(coin)
            written[coin] = target
            continue
        partial.mkdir(parents=True, exist_ok=True)
        points: dict[int, tuple[float, float]] = {}
        for lo, hi in plan.windows():
            piece = partial / f"{lo}-{hi}.json"
            if not piece.exists():
                chart = client.market_chart_range(coin, lo, hi).series
                rows = [
                    [int(chart.timestamp[i]), float(chart.price[i]), _json_num(chart.volume_24h[i])]
                    for i in range(len(chart))
                ]
                _atomic_write(piece, json.dumps(rows).encode())
            for stamp, price, volume in json.loads(piece.read_text()):
                points[stamp] = (price, math.nan if volume is None else volume)
            if progress:
                progress(coin)
        _atomic_write(target, gzip.compress(_candle_csv(points, plan.interval_s).encode()))
        _mark_finished(out, plan, coin)
        shutil.rmtree(partial, ignore_errors=True)
        written[coin] = target
    if all(output_path(out, c, plan).exists() for c in plan.coins):
        shutil.rmtree(out / _PARTIAL, ignore_errors=True)
        (out / _STATE).unlink(missing_ok=True)
    return written


def _finished(out: Path, plan: BackfillPlan) -> set[str]:
    """The coins this plan has written (a file left by another run, shorter or older, is not
    one of them: it is fetched again)."""
    try:
        state = json.loads((out / _STATE).read_text())
    except (OSError, ValueError):
        return set()
    if not isinstance(state, dict) or (state.get("start"), state.get("end")) != (
        plan.start,
        plan.end,
    ):
        return set()
    return set(state.get("finished", []))


def _mark_finished(out: Path, plan: BackfillPlan, coin: str) -> None:
    state = {"coins": list(plan.coins), "days": plan.days, "start": plan.start, "end": plan.end}
    state["finished"] = sorted(_finished(out, plan) | {coin})
    _atomic_write(out / _STATE, json.dumps(state).encode())


def _json_num(value: float) -> float | None:
    return None if math.isnan(value) else float(value)


def _atomic_write(path: Path, data: bytes) -> None:
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_bytes(data)
    os.replace(temporary, path)


def _candle_csv(points: dict[int, tuple[float, float]], interval: int) -> str:
    """Chart points -> candle rows (see the module docstring for what each column means)."""
    grid: dict[int, tuple[float, float]] = {}
    for stamp in sorted(points):
        snapped = round(stamp / interval) * interval
        if abs(stamp - snapped) <= interval / 10:
            grid[snapped] = points[stamp]
    lines = [",".join(COLUMNS)]
    previous: float | None = None
    for close_time in sorted(grid):
        price, volume_24h = grid[close_time]
        open_ = price if previous is None else previous
        share = 0.0 if np.isnan(volume_24h) else volume_24h * interval / DAY_SECONDS
        lines.append(
            f"{(close_time - interval) * 1000},{open_!r},{max(open_, price)!r},"
            f"{min(open_, price)!r},{price!r},{round(share, 2)!r}"
        )
        previous = price
    return "\n".join(lines) + "\n"
