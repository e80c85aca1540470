"""Benchmark: does the VaR cover what it claims, out of sample, on real coins? And what does the
forecast cost the stream?

Run from the repository root (about 5 minutes on 2 cores with 11 coins x 120 days, 2 kinds):

    .venv/bin/python benchmarks/risk.py                      # every <coin>_5m file found
    .venv/bin/python benchmarks/risk.py --coins bitcoin --kinds garch,ewma
    .venv/bin/python benchmarks/risk.py --quick --json /tmp/risk.json

Data: every `<coin>_5m.csv[.gz]` in `--data` (default ../shared/data/market: 11 coins x 120 days
of Binance 5-minute candles, the early-April 2025 crash included), else the bundled three-week
samples. Each coin is forecast walk-forward (`models.volatility.walk_forward`: refit every 7
days on the trailing 30, first forecast after 14 days) by GARCH(1,1)-t on deseasonalised
returns and by EWMA (`--kinds`), with each tail method beside the normal VaR (trailing
30-day standard deviation, square root of time) and historical simulation (trailing 30-day
quantiles of matured losses). Each horizon is scored on non-overlapping periods: the share of
VaR95/VaR99 hits, Kupiec's test at 5 %, Christoffersen's independence (Monte Carlo p) and
conditional coverage, and the ES ratio (realised mean loss beyond VaR97.5 / forecast ES).

The stream's cost: CPU per bar of `RiskForecaster.update` fed one bar at a time (as the process
function does) and the size of its state as JSON.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from _data import add_data_options, coin_files
from cryptosignals.candles import candles_to_ticks, read_candles
from cryptosignals.engine import closed_bars
from cryptosignals.models.volatility import walk_forward
from cryptosignals.risk import BAR_SECONDS, HORIZONS, RiskForecaster, backtest_var

out = Console(width=140)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_data_options(parser)
    parser.add_argument("--kinds", default="ewma,garch", help="variance recursions: ewma,garch")
    parser.add_argument("--quick", action="store_true", help="the first 30 days of 2 coins")
    parser.add_argument("--json", type=Path, help="write the figures here")
    return parser.parse_args(argv)  # fmt: skip


def stream_cost(model: Any, end: np.ndarray, close: np.ndarray) -> dict[str, float]:
    """CPU per bar fed one at a time, and the state's JSON size."""
    forecaster = RiskForecaster(model)
    n = min(len(end), 2000)
    started = time.process_time()
    for i in range(n):
        forecaster.update(end[i : i + 1], close[i : i + 1])
    return {"cpu_ms_per_bar": (time.process_time() - started) / n * 1e3,
            "state_bytes": len(json.dumps(forecaster.to_json()))}  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    files, source = coin_files(args)
    if args.quick:
        files = dict(list(files.items())[:2])
    print(source)
    kinds = [k.strip() for k in args.kinds.split(",")]
    figures: dict[str, Any] = {"coins": list(files), "kinds": kinds, "results": {}}
    cost: dict[str, float] = {}
    started = time.perf_counter()
    with Progress(console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("walk-forward VaR", total=len(files) * len(kinds))
        for coin, path in files.items():
            candles = read_candles(path)
            if args.quick:
                candles = candles[: 30 * 288]
            bars = closed_bars(candles_to_ticks(coin, candles))
            end, close = bars["end"].astype(np.int64), bars["close"]
            for kind in kinds:
                wf = walk_forward(end, close, kind=kind)
                for h, seconds in HORIZONS.items():
                    for method in wf.var:
                        result = backtest_var(wf.var[method][h], wf.loss[h], seconds // BAR_SECONDS)
                        figures["results"].setdefault(kind, {}).setdefault(h, {}).setdefault(
                            method, {}
                        )[coin] = {
                            name: {"n": b.n, "rate": b.rate, "kupiec_p": b.pof.p_value,
                                   "independence_p": b.independence.p_value,
                                   "cc_p": b.conditional.p_value, "es_ratio": b.es_ratio}
                            for name, b in result.items()
                        }  # fmt: skip
                if not cost:
                    cost = stream_cost(wf.models[-1], end, close)
                bar.advance(task)
    figures["stream"] = cost
    figures["seconds"] = time.perf_counter() - started
    for kind in kinds:
        table = Table(title=f"{kind}: share of {len(files)} coins whose VaR passes Kupiec at 5 % "
                      "(median hit rate; mean ES ratio)", title_justify="left")  # fmt: skip
        table.add_column("method")
        for h in HORIZONS:
            table.add_column(f"{h} VaR95", justify="right")
            table.add_column(f"{h} VaR99", justify="right")
        summary: dict[str, Any] = {}
        for method in figures["results"][kind]["1h"]:
            cells = []
            for h in HORIZONS:
                by_coin = figures["results"][kind][h][method]
                for name in ("var_95", "var_99"):
                    rows = [r[name] for r in by_coin.values()]
                    share = np.mean([r["kupiec_p"] > 0.05 for r in rows])
                    rate = float(np.median([r["rate"] for r in rows]))
                    es = float(np.nanmean([r["es_ratio"] for r in rows]))
                    summary.setdefault(method, {})[f"{h}_{name}"] = {
                        "pass_share": float(share),
                        "median_rate": rate,
                        "mean_es_ratio": es,
                    }
                    cells.append(f"{share:.0%} ({rate:.2%}; {es:.2f})")
            table.add_row(method, *cells)
        figures.setdefault("summary", {})[kind] = summary
        out.print(table)
    print(f"stream: {cost['cpu_ms_per_bar']:.3f} ms CPU a bar fed one at a time, state "
          f"{cost['state_bytes']} B as JSON; {figures['seconds']:.0f} s in all")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
