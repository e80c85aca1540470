"""Benchmark: an MA-crossover grid of 100 parameter pairs over one year of 5-minute bars,
cryptosignals.backtest vs vectorbt vs backtesting.py, on the same data, in one run.

Run from the repository root (vectorbt is in the `bench` extra):

    .venv/bin/python benchmarks/backtest.py                      # 105,120 bars, 100 pairs
    .venv/bin/python benchmarks/backtest.py --bt-pairs 10        # time backtesting.py on 10
    .venv/bin/python benchmarks/backtest.py --json /tmp/bt.json

The data: one year (365 days, 105,120 bars) made from the bundled three weeks of real BTC/USDT
5-minute candles by a seeded day-block bootstrap (`--seed`, default 20250324): whole days of
real candles drawn with replacement and chained, each candle's open/high/low/close kept as
ratios to the previous close, starting at 84,000. So the bars have real intraday shape and
volatility; the year's path itself is synthetic.

The grid: fast in 5, 10, ..., 50 and slow in 60, 80, ..., 240 (10 x 10 = 100 pairs), long/short,
fee 10 bps per fill, a signal filled at the next bar's open. Each library runs its own
pipeline: its own moving averages and crossovers, its own simulation, the figures of every pair:

- cryptosignals: `Search(...).rank()`, the library's grid search: the signal engine's feature
  streams and `MACrossover.fire` over the whole series (the `frame` path, proven equal to the
  engine-driven path in tests/backtest), then the numba simulation kernel and the metrics;
- vectorbt: `vbt.MA.run` for both windows (100 columns each), `ma_crossed_above/below`, shifted
  one bar, and one `Portfolio.from_signals(price=open, fees=0.001, direction both)` for all 100
  columns at once (its fastest, vectorised form), then total returns;
- backtesting.py: `Backtest.run` for each pair, one process, with 1e13 cash (it trades whole
  units) and `commission=0.001`. (Its `Backtest.optimize` runs the same loop in a process pool;
  here it crashed with a segmentation fault in the forked workers once numba had run in the
  parent, so the plain loop is timed: on 2 cores a pool could at best halve the time.)

Before timing, each library runs once on a 2,000-bar slice (numba compilation, caches): that
first call is reported separately. Times are wall clock, best of `--repeat` (backtesting.py:
one run). The script checks that the three agree on the total return of a few pairs and
exits 1 if they do not.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from cryptosignals.backtest import Backtest, BacktestConfig
from cryptosignals.backtest.search import Search
from cryptosignals.candles import Candles, read_candles, sample_path
from cryptosignals.rules import MACrossover

FASTS = list(range(5, 51, 5))
SLOWS = list(range(60, 241, 20))
FEE = 0.001
YEAR_BARS = 365 * 288


def make_year(seed: int, bars: int = YEAR_BARS) -> Candles:
    """A year of 5-minute candles: real days of the BTC sample, drawn with replacement."""
    real = read_candles(sample_path("bitcoin"))
    prev = np.concatenate([[real.open[0]], real.close[:-1]])
    ratios = np.stack([real.open / prev, real.high / prev, real.low / prev, real.close / prev])
    days = len(real) // 288
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, days, size=-(-bars // 288))
    idx = (picks[:, None] * 288 + np.arange(288)[None, :]).ravel()[:bars]
    r = ratios[:, idx]
    close = 84_000.0 * np.cumprod(r[3])
    previous = np.concatenate([[84_000.0], close[:-1]])
    open_ = previous * r[0]
    # Ratios times a new base can round a low a hair above the open: keep the OHLC invariant.
    high = np.maximum(previous * r[1], np.maximum(open_, close))
    low = np.minimum(previous * r[2], np.minimum(open_, close))
    start = int(real.timestamp[0])
    return Candles(
        start + 300_000 * np.arange(bars, dtype=np.int64), open_, high, low, close, real.volume[idx]
    )


def _best(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def ours(candles: Candles) -> dict[tuple[int, int], float]:
    search = Search(candles, "ma_cross", {"fast": FASTS, "slow": SLOWS},
                    BacktestConfig(fee_bps=FEE * 1e4), objective="total_return")  # fmt: skip
    return {(e.params["fast"], e.params["slow"]): e.metrics.total_return for e in search.rank()}


def _frame(candles: Candles) -> Any:
    import pandas as pd

    index = pd.to_datetime(candles.timestamp, unit="ms")
    return pd.DataFrame(
        {"Open": candles.open, "High": candles.high, "Low": candles.low, "Close": candles.close,
         "Volume": candles.volume},
        index=index,
    )  # fmt: skip


def vectorbt_grid(candles: Candles) -> dict[tuple[int, int], float]:
    import vectorbt as vbt

    df = _frame(candles)
    fast = [f for f in FASTS for _ in SLOWS]
    slow = [s for _ in FASTS for s in SLOWS]
    fast_ma = vbt.MA.run(df["Close"], fast, short_name="fast")
    slow_ma = vbt.MA.run(df["Close"], slow, short_name="slow")
    up = fast_ma.ma_crossed_above(slow_ma).shift(1, fill_value=False)
    down = fast_ma.ma_crossed_below(slow_ma).shift(1, fill_value=False)
    pf = vbt.Portfolio.from_signals(
        df["Close"], entries=up, exits=down, short_entries=down, short_exits=up,
        price=df["Open"], fees=FEE, init_cash=10_000.0, freq="5min",
    )  # fmt: skip
    returns = pf.total_return()
    return {(int(f), int(s)): float(v) for (f, s), v in returns.items()}


def backtesting_grid(candles: Candles, pairs: int) -> dict[tuple[int, int], float]:
    import backtesting
    from backtesting.lib import crossover
    from backtesting.test import SMA

    class MACross(backtesting.Strategy):
        n1, n2 = 5, 60

        def init(self) -> None:
            self.fast = self.I(SMA, self.data.Close, self.n1)
            self.slow = self.I(SMA, self.data.Close, self.n2)

        def next(self) -> None:
            if crossover(self.fast, self.slow):
                self.position.close()
                self.buy(size=0.999999)
            elif crossover(self.slow, self.fast):
                self.position.close()
                self.sell(size=0.999999)

    chosen = [(f, s) for f in FASTS for s in SLOWS][:pairs]
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bt = backtesting.Backtest(_frame(candles), MACross, cash=1e13, commission=FEE)
        for f, s in chosen:
            out[(f, s)] = float(bt.run(n1=f, n2=s)["Return [%]"]) / 100
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bars", type=int, default=YEAR_BARS)
    parser.add_argument("--seed", type=int, default=20250324)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--bt-pairs", type=int, default=100, help="pairs for backtesting.py")
    parser.add_argument("--json", help="write the figures to this file")
    parser.add_argument(
        "--skip",
        action="append",
        default=[],
        choices=["vectorbt", "backtesting.py"],
        help="leave a library out",
    )
    args = parser.parse_args(argv)

    candles = make_year(args.seed, args.bars)
    small = candles[:2000]
    print(f"data: {len(candles):,} 5m bars ({len(candles) / 288:.0f} days), block bootstrap of "
          f"the real BTC sample, seed {args.seed}; grid {len(FASTS)}x{len(SLOWS)} = "
          f"{len(FASTS) * len(SLOWS)} pairs; fee {FEE * 1e4:.0f} bps, next-open fills")  # fmt: skip
    print(f"machine: {platform.python_version()}, {platform.machine()}, {os.cpu_count()} cpus")
    rows: list[dict[str, Any]] = []

    t0 = time.perf_counter()
    ours(small)
    first = time.perf_counter() - t0
    seconds, mine = _best(lambda: ours(candles), args.repeat)
    rows.append({"library": "cryptosignals", "pairs": len(mine), "seconds": seconds,
                 "first_call": first})  # fmt: skip

    t0 = time.perf_counter()
    engine = Backtest(candles, [MACrossover(5, 60)], BacktestConfig(fee_bps=FEE * 1e4))
    via_engine = engine.run("engine")
    engine_seconds = time.perf_counter() - t0
    rows.append({"library": "cryptosignals (engine path, 1 pair)", "pairs": 1,
                 "seconds": engine_seconds, "first_call": None})  # fmt: skip

    theirs: dict[str, dict[tuple[int, int], float]] = {}
    try:
        if "vectorbt" in args.skip:
            raise ImportError("--skip vectorbt")
        import vectorbt

        t0 = time.perf_counter()
        vectorbt_grid(small)
        first = time.perf_counter() - t0
        seconds, theirs["vectorbt"] = _best(lambda: vectorbt_grid(candles), args.repeat)
        rows.append({"library": f"vectorbt {vectorbt.__version__}", "pairs": 100,
                     "seconds": seconds, "first_call": first})  # fmt: skip
    except ImportError as exc:
        print(f"vectorbt left out ({exc}); to include it: pip install 'cryptosignals[bench]'")
    try:
        if "backtesting.py" in args.skip:
            raise ImportError("--skip backtesting.py")
        import backtesting

        pairs = max(1, min(100, args.bt_pairs))
        t0 = time.perf_counter()
        theirs["backtesting.py"] = backtesting_grid(candles, pairs)
        seconds = time.perf_counter() - t0
        rows.append({"library": f"backtesting.py {backtesting.__version__}", "pairs": pairs,
                     "seconds": seconds, "first_call": None})  # fmt: skip
    except ImportError as exc:
        print(f"backtesting.py left out ({exc})")

    print()
    print(f"{'library':<40} {'pairs':>5} {'seconds':>9} {'ms/pair':>9} {'first call':>11}")
    for row in rows:
        first_call = "" if row["first_call"] is None else f"{row['first_call']:.2f} s"
        print(f"{row['library']:<40} {row['pairs']:>5} {row['seconds']:>9.3f} "
              f"{row['seconds'] / row['pairs'] * 1e3:>9.1f} {first_call:>11}")  # fmt: skip
    base = rows[0]["seconds"] / rows[0]["pairs"]
    for row in rows[2:]:
        print(f"cryptosignals is {row['seconds'] / row['pairs'] / base:,.1f}x faster per pair "
              f"than {row['library']}")  # fmt: skip

    ok = True
    print("\nagreement on total return (same data, same conventions):")
    assert abs(via_engine.metrics.total_return - mine[(5, 60)]) < 1e-12, "engine != frame path"
    print(f"  engine path == frame path for (5, 60): {mine[(5, 60)]:+.6f}")
    for name, values in theirs.items():
        worst = max(abs(values[k] - mine[k]) for k in values)
        # backtesting.py buys whole units (1e13 cash: ~1e8 units) and sizes with 0.999999
        tolerance = 1e-9 if name == "vectorbt" else 1e-5
        ok &= worst < tolerance
        print(
            f"  {name}: {len(values)} pairs, max |difference| {worst:.2e}"
            f" ({'ok' if worst < tolerance else 'MISMATCH'})"
        )
    best = max(mine, key=lambda k: mine[k])
    print(f"best pair by total return: fast={best[0]}, slow={best[1]}: {mine[best]:+.2%}")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"bars": len(candles), "seed": args.seed, "rows": rows}, handle, indent=2)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
