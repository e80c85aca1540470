"""Benchmark: cryptosignals.indicators vs TA-Lib vs `ta`, on one long synthetic OHLC series.

Run from the repository root:

    .venv/bin/python benchmarks/indicators.py                  # 1,000,000 bars, best of 5
    .venv/bin/python benchmarks/indicators.py --bars 20000 --json /tmp/bench.json

What it does, in one run:

1. Builds a seeded synthetic OHLC random walk (`--seed`, default 20240601: numpy's PCG64 via
   `np.random.default_rng(seed)`; Gaussian log returns, sigma 0.1 % per bar, from 30,000, so
   the price stays positive and bitcoin-sized; open = previous close, high/low = max/min of
   open and close widened by |N(0, 0.05 %)|).
2. Warms up numba: every indicator once on a 1,000-bar slice, outside the timing. That first
   call's time is reported separately (it is a numba compile, or a load from numba's on-disk
   cache when the kernels were compiled before; `--cold` uses an empty cache to force a compile).
3. Times each library's full indicator set, best of N with `time.perf_counter`: ours and TA-Lib
   with `--repeat` (default 5), `ta` with `--ta-repeat` (default 2: it is slow). The total is
   the best wall time of one whole set; the per-indicator rows are the best of each indicator.
4. Checks, in the same run, that our outputs equal TA-Lib's (same warm-up NaNs, then the max
   relative error, scaled by max(|value|, mean |value|) for series that cross zero), so the
   comparison is like for like. A disagreement above 1e-9 makes the script exit 1.
5. Measures peak memory (tracemalloc, which sees numpy's allocations but not TA-Lib's internal C
   mallocs) of each indicator and of the full set with all outputs kept, ours vs TA-Lib.

The `ta` library lacks a rolling standard deviation, a linear-regression slope and rolling
min/max: those rows time the pandas rolling equivalent (`rolling(p).std(ddof=0)`, a rolling
covariance with the bar index divided by the index's variance, `rolling(p).min()/max()`).
`ta`'s EMA/RSI/ATR/ADX are not seeded like TA-Lib's, so only the timing is compared for `ta`.
"""

from __future__ import annotations

import argparse
import atexit
import gc
import json
import os
import platform
import shutil
import sys
import tempfile
import time
import tracemalloc
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

DEFAULT_BARS = 1_000_000
DEFAULT_SEED = 20240601
TOLERANCE = 1e-9
TARGET_VS_TALIB = 1.2  # ours / TA-Lib total must be <= this (issue 13)
TARGET_VS_TA = 10.0  # ta / ours total must be >= this
WARMUP_BARS = 1_000

Outputs = tuple[np.ndarray, ...]


@dataclass(frozen=True)
class Ohlc:
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray

    def head(self, n: int) -> Ohlc:
        return Ohlc(
            *(np.ascontiguousarray(a[:n]) for a in (self.open, self.high, self.low, self.close))
        )


def synthetic_ohlc(bars: int, seed: int = DEFAULT_SEED) -> Ohlc:
    """A seeded geometric random walk with consistent OHLC (low <= open, close <= high)."""
    rng = np.random.default_rng(seed)
    close = 30_000.0 * np.exp(np.cumsum(rng.normal(0.0, 0.001, bars)))
    open_ = np.empty(bars)
    open_[0] = 30_000.0
    open_[1:] = close[:-1]
    high = np.maximum(open_, close) * (1.0 + np.abs(rng.normal(0.0, 0.0005, bars)))
    low = np.minimum(open_, close) * (1.0 - np.abs(rng.normal(0.0, 0.0005, bars)))
    return Ohlc(open_, high, low, close)


@dataclass(frozen=True)
class Case:
    """One row of the benchmark: the same indicator and parameters in the three libraries."""

    name: str
    params: str
    ours: Callable[[Ohlc], Any]
    talib: Callable[[Ohlc], Any]
    ta: Callable[[Any], Any]  # takes a pandas DataFrame with high/low/close columns
    ta_note: str = ""


def build_cases() -> list[Case]:
    import talib
    from ta.momentum import ROCIndicator, RSIIndicator
    from ta.trend import MACD, ADXIndicator, EMAIndicator, SMAIndicator
    from ta.volatility import AverageTrueRange, BollingerBands

    from cryptosignals import indicators as ind

    def ta_bbands(df: Any, period: int) -> Any:
        bb = BollingerBands(df["close"], window=period, window_dev=2)
        return bb.bollinger_hband(), bb.bollinger_mavg(), bb.bollinger_lband()

    def pandas_slope(df: Any, period: int) -> Any:
        # least-squares slope = cov(y, t) / var(t); var of 0..p-1 with ddof=1 is p(p+1)/12
        return df["close"].rolling(period).cov(df["t"]) / (period * (period + 1) / 12.0)

    def ta_macd(df: Any) -> Any:
        m = MACD(df["close"], window_slow=26, window_fast=12, window_sign=9)
        return m.macd(), m.macd_signal(), m.macd_diff()

    pandas = "pandas rolling*"
    return [
        Case("sma", "30", lambda d: ind.sma(d.close), lambda d: talib.SMA(d.close, 30),
             lambda df: SMAIndicator(df["close"], 30).sma_indicator()),
        Case("ema", "30", lambda d: ind.ema(d.close), lambda d: talib.EMA(d.close, 30),
             lambda df: EMAIndicator(df["close"], 30).ema_indicator()),
        Case("rsi", "14", lambda d: ind.rsi(d.close), lambda d: talib.RSI(d.close, 14),
             lambda df: RSIIndicator(df["close"], 14).rsi()),
        Case("macd", "12,26,9", lambda d: ind.macd(d.close),
             lambda d: talib.MACD(d.close, 12, 26, 9), ta_macd),
        Case("bbands", "5,2,2", lambda d: ind.bbands(d.close),
             lambda d: talib.BBANDS(d.close, 5, 2.0, 2.0), lambda df: ta_bbands(df, 5)),
        Case("bbands", "20,2,2", lambda d: ind.bbands(d.close, 20),
             lambda d: talib.BBANDS(d.close, 20, 2.0, 2.0), lambda df: ta_bbands(df, 20)),
        Case("atr", "14", lambda d: ind.atr(d.high, d.low, d.close),
             lambda d: talib.ATR(d.high, d.low, d.close, 14),
             lambda df: AverageTrueRange(df["high"], df["low"], df["close"], 14)
             .average_true_range()),
        Case("adx", "14", lambda d: ind.adx(d.high, d.low, d.close),
             lambda d: talib.ADX(d.high, d.low, d.close, 14),
             lambda df: ADXIndicator(df["high"], df["low"], df["close"], 14).adx()),
        Case("roc", "10", lambda d: ind.roc(d.close), lambda d: talib.ROC(d.close, 10),
             lambda df: ROCIndicator(df["close"], 10).roc()),
        Case("stddev", "5,1", lambda d: ind.stddev(d.close),
             lambda d: talib.STDDEV(d.close, 5, 1.0),
             lambda df: df["close"].rolling(5).std(ddof=0), pandas),
        Case("linearreg_slope", "14", lambda d: ind.linearreg_slope(d.close),
             lambda d: talib.LINEARREG_SLOPE(d.close, 14), lambda df: pandas_slope(df, 14),
             pandas),
        Case("min", "30", lambda d: ind.rolling_min(d.close), lambda d: talib.MIN(d.close, 30),
             lambda df: df["close"].rolling(30).min(), pandas),
        Case("max", "30", lambda d: ind.rolling_max(d.close), lambda d: talib.MAX(d.close, 30),
             lambda df: df["close"].rolling(30).max(), pandas),
    ]  # fmt: skip


def as_tuple(result: Any) -> Outputs:
    if isinstance(result, tuple | list):
        return tuple(np.asarray(r, dtype=np.float64) for r in result)
    return (np.asarray(result, dtype=np.float64),)


def time_sets(
    fns: Sequence[Callable[[], Any]], repeat: int
) -> tuple[list[float], float, list[float]]:
    """Best-of-`repeat` per function, and best-of-`repeat` of the whole set run back to back."""
    best = [float("inf")] * len(fns)
    set_times = []
    for _ in range(repeat):
        gc.collect()
        set_start = time.perf_counter()
        for k, fn in enumerate(fns):
            start = time.perf_counter()
            fn()
            best[k] = min(best[k], time.perf_counter() - start)
        set_times.append(time.perf_counter() - set_start)
    return best, min(set_times), set_times


def peak_memory(fns: Sequence[Callable[[], Any]]) -> tuple[list[int], int]:
    """tracemalloc peak per function (output freed after each), and of the set keeping outputs."""
    gc.collect()
    tracemalloc.start()
    try:
        peaks = []
        for fn in fns:
            tracemalloc.reset_peak()
            base = tracemalloc.get_traced_memory()[0]
            result = fn()
            peaks.append(tracemalloc.get_traced_memory()[1] - base)
            del result
        gc.collect()
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        kept = [fn() for fn in fns]
        set_peak = tracemalloc.get_traced_memory()[1] - base
        del kept
    finally:
        tracemalloc.stop()
    return peaks, set_peak


def max_relative_error(ours: Outputs, reference: Outputs) -> tuple[float, bool]:
    """Worst relative error over all outputs after the warm-up, and whether the NaN masks match."""
    worst, masks_equal = 0.0, True
    for mine, theirs in zip(ours, reference, strict=True):
        if not np.array_equal(np.isnan(mine), np.isnan(theirs)):
            masks_equal = False
        known = ~np.isnan(theirs) & ~np.isnan(mine)
        if not known.any():
            continue
        ref = theirs[known]
        scale = np.maximum(np.abs(ref), np.mean(np.abs(ref)))
        scale = np.where(scale == 0.0, 1.0, scale)
        worst = max(worst, float(np.max(np.abs(mine[known] - ref) / scale)))
    return worst, masks_equal


def numba_cache_stats() -> tuple[int, int]:
    """(cache hits, compiles) summed over the indicator kernels, if numba compiled them."""
    from cryptosignals import indicators as ind

    hits = misses = 0
    for name in dir(ind):
        stats = getattr(getattr(ind, name), "stats", None)
        if stats is not None and hasattr(stats, "cache_hits"):
            hits += sum(stats.cache_hits.values())
            misses += sum(stats.cache_misses.values())
    return hits, misses


def fmt_ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1e3:,.2f}"


def fmt_ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:,.2f}x"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bars", type=int, default=DEFAULT_BARS, help="series length")
    parser.add_argument("--repeat", type=int, default=5, help="best of N for ours and TA-Lib")
    parser.add_argument("--ta-repeat", type=int, default=None, help="best of N for ta (2)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="random-walk seed")
    parser.add_argument("--json", type=Path, default=None, metavar="PATH", help="write figures")
    parser.add_argument("--skip-ta", action="store_true", help="do not time the ta library")
    parser.add_argument(
        "--cold", action="store_true", help="compile numba kernels from scratch (empty cache)"
    )
    args = parser.parse_args(argv)
    if args.bars < WARMUP_BARS or args.repeat < 1:
        parser.error(f"--bars must be >= {WARMUP_BARS} and --repeat >= 1")
    if args.ta_repeat is None:
        args.ta_repeat = min(args.repeat, 2)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.cold:  # numba reads its cache directory when it is first imported
        cache_dir = tempfile.mkdtemp(prefix="numba-cold-")
        atexit.register(shutil.rmtree, cache_dir, ignore_errors=True)
        os.environ["NUMBA_CACHE_DIR"] = cache_dir

    import pandas as pd
    import talib
    from rich.console import Console
    from rich.table import Table

    from cryptosignals._jit import COMPILED

    console = Console(width=None if sys.stdout.isatty() else 160)
    data = synthetic_ohlc(args.bars, args.seed)
    cases = build_cases()

    # 1. warm-up: compile (or load) every kernel outside the timing
    small = data.head(WARMUP_BARS)
    start = time.perf_counter()
    for case in cases:
        case.ours(small)
    first_call = time.perf_counter() - start
    cache_hits, compiles = numba_cache_stats()
    for case in cases:  # TA-Lib warm-up too (first-call page-ins), for fairness
        case.talib(small)

    # 2. timing
    ours_fns = [lambda c=c: c.ours(data) for c in cases]
    talib_fns = [lambda c=c: c.talib(data) for c in cases]
    ours_best, ours_total, ours_sets = time_sets(ours_fns, args.repeat)
    talib_best, talib_total, talib_sets = time_sets(talib_fns, args.repeat)
    ta_best: list[float | None] = [None] * len(cases)
    ta_total: float | None = None
    ta_sets: list[float] = []
    if not args.skip_ta:
        frame = pd.DataFrame(
            {"high": data.high, "low": data.low, "close": data.close, "t": np.arange(args.bars)}
        )
        ta_fns = [lambda c=c: c.ta(frame) for c in cases]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            best, ta_total, ta_sets = time_sets(ta_fns, args.ta_repeat)
        ta_best = list(best)

    # 3. agreement with TA-Lib
    errors = []
    for case in cases:
        errors.append(max_relative_error(as_tuple(case.ours(data)), as_tuple(case.talib(data))))
    agree = all(masks and err <= TOLERANCE for err, masks in errors)

    # 4. memory
    ours_peaks, ours_set_peak = peak_memory(ours_fns)
    talib_peaks, talib_set_peak = peak_memory(talib_fns)

    # 5. report
    mib = 1024.0 * 1024.0
    table = Table(
        title=f"Indicators over {args.bars:,} bars (seed {args.seed}); best of "
        f"{args.repeat} (ours, TA-Lib) / {args.ta_repeat} (ta), milliseconds",
        caption=f"first call of ours on {WARMUP_BARS:,} bars (numba, outside timing): "
        f"{first_call * 1e3:,.0f} ms ({compiles} compiled, {cache_hits} from numba's cache). "
        "* ta has no such indicator: pandas rolling equivalent timed instead.",
    )
    for header in ("indicator", "params", "ours", "TA-Lib", "ta", "ours/TA-Lib", "ta/ours"):
        table.add_column(header, justify="left" if header in ("indicator", "params") else "right")
    table.add_column("max rel err vs TA-Lib", justify="right")
    table.add_column("peak MiB ours / TA-Lib", justify="right")
    table.add_column("ta note")
    rows = []
    for k, case in enumerate(cases):
        err, masks = errors[k]
        ta_time = ta_best[k]
        row = {
            "indicator": case.name,
            "params": case.params,
            "ours_s": ours_best[k],
            "talib_s": talib_best[k],
            "ta_s": ta_time,
            "ours_over_talib": ours_best[k] / talib_best[k],
            "ta_over_ours": None if ta_time is None else ta_time / ours_best[k],
            "max_rel_err_vs_talib": err,
            "nan_masks_equal": masks,
            "ours_peak_bytes": ours_peaks[k],
            "talib_peak_bytes": talib_peaks[k],
            "ta_note": case.ta_note,
        }
        rows.append(row)
        table.add_row(
            case.name,
            case.params,
            fmt_ms(ours_best[k]),
            fmt_ms(talib_best[k]),
            fmt_ms(ta_time),
            fmt_ratio(row["ours_over_talib"]),
            fmt_ratio(row["ta_over_ours"]),
            f"{err:.1e}" + ("" if masks else " [red]NaN mask differs[/red]"),
            f"{ours_peaks[k] / mib:,.1f} / {talib_peaks[k] / mib:,.1f}",
            case.ta_note,
        )
    vs_talib = ours_total / talib_total
    vs_ta = None if ta_total is None else ta_total / ours_total
    table.add_section()
    table.add_row(
        "[bold]TOTAL (best full set)[/bold]",
        "",
        fmt_ms(ours_total),
        fmt_ms(talib_total),
        fmt_ms(ta_total),
        fmt_ratio(vs_talib),
        fmt_ratio(vs_ta),
        "ok" if agree else "[red]DISAGREE[/red]",
        f"{ours_set_peak / mib:,.1f} / {talib_set_peak / mib:,.1f}",
        "all outputs kept",
    )
    console.print(table)

    talib_ok = vs_talib <= TARGET_VS_TALIB
    ta_ok = None if vs_ta is None else vs_ta >= TARGET_VS_TA
    verdict = {True: "met", False: "MISSED", None: "not measured"}
    console.print(
        f"TOTAL ours {fmt_ms(ours_total)} ms | TA-Lib {fmt_ms(talib_total)} ms | "
        f"ta {fmt_ms(ta_total)} ms | ours/TA-Lib {fmt_ratio(vs_talib)} "
        f"(target <= {TARGET_VS_TALIB:g}x: {verdict[talib_ok]}) | ta/ours {fmt_ratio(vs_ta)} "
        f"(target >= {TARGET_VS_TA:g}x: {verdict[ta_ok]})",
        highlight=False,
        markup=False,
        soft_wrap=True,
    )
    machine = (
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} logical CPUs, "
        f"load average {os.getloadavg()[0]:.2f}; Python {platform.python_version()}, "
        f"numpy {np.__version__}, TA-Lib {talib.__version__}, pandas {pd.__version__}; "
        f"numba {'on' if COMPILED else 'OFF (kernels interpreted)'}"
    )
    console.print(f"machine: {machine}", highlight=False, markup=False, soft_wrap=True)
    if not agree:
        console.print("[red]our outputs disagree with TA-Lib: the comparison is not like for like")

    if args.json is not None:
        figures = {
            "bars": args.bars,
            "seed": args.seed,
            "repeat": args.repeat,
            "ta_repeat": None if args.skip_ta else args.ta_repeat,
            "first_call_s": first_call,
            "first_call_bars": WARMUP_BARS,
            "numba_compiled_kernels": compiles,
            "numba_cache_hits": cache_hits,
            "numba": COMPILED,
            "rows": rows,
            "totals": {
                "ours_s": ours_total,
                "talib_s": talib_total,
                "ta_s": ta_total,
                "ours_set_runs_s": ours_sets,
                "talib_set_runs_s": talib_sets,
                "ta_set_runs_s": ta_sets,
                "ours_over_talib": vs_talib,
                "ta_over_ours": vs_ta,
                "ours_set_peak_bytes": ours_set_peak,
                "talib_set_peak_bytes": talib_set_peak,
            },
            "targets": {
                "ours_over_talib_max": TARGET_VS_TALIB,
                "ta_over_ours_min": TARGET_VS_TA,
                "vs_talib_met": talib_ok,
                "vs_ta_met": ta_ok,
            },
            "agrees_with_talib": agree,
            "tolerance": TOLERANCE,
            "machine": machine,
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
        console.print(f"figures written to {args.json}", highlight=False, markup=False)
    return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main())
