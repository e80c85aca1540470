"""Benchmark: when does each coin move, and is the weekend different (questions 19 and 20)?

Run from the repository root (a few seconds for 11 coins x 120 days):

    .venv/bin/python benchmarks/profile.py                       # every <coin>_5m file found
    .venv/bin/python benchmarks/profile.py --coins bitcoin,solana --json /tmp/profile.json
    .venv/bin/python benchmarks/profile.py --svg docs/profile_heatmap.svg   # bitcoin's heatmap

The data: every `<coin>_5m.csv[.gz]` in `--data` (default ../shared/data/market: 11 coins x 120
days of 5-minute candles); without it, the bundled three-week samples (too short for much: the
first line says which). Per coin, with `profile.profile_candles` (defaults: 95 % intervals,
Benjamini-Hochberg at 10 %):

- the busiest and calmest hours of the day (UTC): volatility factor (mean |5m log return| of
  the hour against the typical hour) with its interval over weeks;
- how many of the 168 hours of the week differ from the rest (BH q <= 0.10), for volatility,
  volume and return;
- weekend (Sat+Sun UTC) / weekday ratios of volatility and volume with block-bootstrap
  intervals, and the weekend - weekday difference of the mean return (bp per 5m);
- stability: the volatility factors of the first and the second half of the days computed
  apart; the correlation of their logs, and the share of second-half factors inside the
  first half's intervals (82-86 % on generated markets whose profile stands still: both
  halves are noisy; less means the profile moved).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from _data import add_data_options, coin_files
from cryptosignals.candles import Candles, read_candles
from cryptosignals.commands.profile import heatmap_svg
from cryptosignals.errors import BadInputError
from cryptosignals.profile import (
    CoinProfile,
    Grid,
    Measure,
    candle_measures,
    profile_candles,
    seasonal_profile,
)


def _factor(result: CoinProfile, grid: Grid, measure: Measure, k: int) -> str:
    p = result.profiles[grid, measure]
    star = "*" if p.flagged[k] else " "
    return f"{p.labels[k]} {p.estimate[k]:.2f} ({p.low[k]:.2f}-{p.high[k]:.2f}){star}"


def _ratio(result: CoinProfile, measure: Measure) -> str:
    s = result.sessions[measure]
    star = "*" if s.excludes_null else " "
    return f"{s.estimate:.2f} ({s.low:.2f}-{s.high:.2f}){star}"


def halves(candles: Candles, grid: Grid) -> tuple[float, float]:
    """(correlation of the log volatility factors of the two halves of the days, share of the
    second half's factors inside the first half's intervals)."""
    t, values = candle_measures(candles)
    first = t < t[0] + (t[-1] - t[0]) // 2
    a, b = (
        seasonal_profile(t[part], values[Measure.volatility][part], grid, Measure.volatility)
        for part in (first, ~first)
    )  # fmt: skip
    correlation = float(np.corrcoef(np.log(a.estimate), np.log(b.estimate))[0, 1])
    return correlation, float(np.mean((a.low <= b.estimate) & (b.estimate <= a.high)))


def summary(result: CoinProfile) -> dict[str, object]:
    """The figures of one coin, JSON-ready."""
    hours = result.profiles[Grid.hour_of_day, Measure.volatility]
    busiest, calmest = int(np.nanargmax(hours.estimate)), int(np.nanargmin(hours.estimate))

    def cell(k: int) -> dict[str, object]:
        return {"hour": k, "factor": float(hours.estimate[k]), "low": float(hours.low[k]),
                "high": float(hours.high[k]), "q": float(hours.q_value[k])}  # fmt: skip

    return {
        "coin": result.coin,
        "weeks": result.weeks,
        "busiest_hour": cell(busiest),
        "calmest_hour": cell(calmest),
        "hour_of_day_flagged": int(hours.flagged.sum()),
        "hour_of_week_flagged": {
            m.value: int(result.profiles[Grid.hour_of_week, m].flagged.sum()) for m in Measure
        },
        "weekend_vs_weekday": {m.value: result.sessions[m].to_json() for m in Measure},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_data_options(parser)
    parser.add_argument("--json", type=Path, help="also write the figures as JSON")
    parser.add_argument("--svg", type=Path, help="write the hour-of-week heatmap of --svg-coin")
    parser.add_argument("--svg-coin", default="bitcoin")
    args = parser.parse_args()
    files, source = coin_files(args)
    print(source)
    started = time.perf_counter()
    candles = {coin: read_candles(path) for coin, path in files.items()}
    results = {coin: profile_candles(coin, c) for coin, c in candles.items()}
    elapsed = time.perf_counter() - started

    print("\nVolatility by hour of day (UTC): factor against the typical hour, 95 % interval "
          "over weeks, * = differs from the rest (BH q <= 0.10)")  # fmt: skip
    print(f"{'coin':<12} {'weeks':>5}  {'busiest hour':<26} {'calmest hour':<26} "
          f"{'hours differ':>12}")  # fmt: skip
    for coin, r in results.items():
        hours = r.profiles[Grid.hour_of_day, Measure.volatility]
        busiest, calmest = int(np.nanargmax(hours.estimate)), int(np.nanargmin(hours.estimate))
        high, low = (
            _factor(r, Grid.hour_of_day, Measure.volatility, k) for k in (busiest, calmest)
        )
        print(f"{coin:<12} {r.weeks:>5}  {high:<26} {low:<26} {int(hours.flagged.sum()):>9}/24")

    print("\nHours of the week (of 168) that differ from the rest, BH q <= 0.10")
    print(f"{'coin':<12} {'volatility':>10} {'volume':>8} {'return':>8}")
    for coin, r in results.items():
        n = [int(r.profiles[Grid.hour_of_week, m].flagged.sum()) for m in Measure]
        print(f"{coin:<12} {n[0]:>10} {n[1]:>8} {n[2]:>8}")

    print("\nWeekend (Sat+Sun UTC) vs weekdays: ratio (95 % interval, circular block bootstrap of "
          "days in weeks), * = excludes 1 (0 for the return difference)")  # fmt: skip
    print(f"{'coin':<12} {'volatility ratio':<20} {'volume ratio':<20} {'return diff bp/5m':<22}")
    for coin, r in results.items():
        s = r.sessions[Measure.returns]
        star = "*" if s.excludes_null else " "
        print(
            f"{coin:<12} {_ratio(r, Measure.volatility):<20} {_ratio(r, Measure.volume):<20} "
            f"{s.estimate:+.2f} ({s.low:+.2f}..{s.high:+.2f}){star}"
        )

    print("\nStability: volatility factors of the first and second half of the days apart: "
          "correlation of their logs; 2nd-half factors in the 1st half's intervals")  # fmt: skip
    print(f"{'coin':<12} {'hour of day':>18} {'hour of week':>18}")
    for coin, c in candles.items():
        try:
            (rd, sd), (rw, sw) = (halves(c, grid) for grid in (Grid.hour_of_day, Grid.hour_of_week))
        except BadInputError as exc:
            print(f"{coin:<12} {exc}")
            continue
        print(f"{coin:<12} {rd:>8.2f} {sd:>8.0%} {rw:>9.2f} {sw:>8.0%}")

    busiest = [int(np.nanargmax(r.profiles[Grid.hour_of_day, Measure.volatility].estimate))
               for r in results.values()]  # fmt: skip
    hours, counts = np.unique(busiest, return_counts=True)
    print(
        "\nbusiest hour of day across coins: "
        + ", ".join(f"{h:02d}h UTC x{c}" for h, c in zip(hours, counts, strict=True))
        + f"; {len(results)} coin(s) profiled in {elapsed:.1f} s"
    )
    if args.json:
        args.json.write_text(json.dumps([summary(r) for r in results.values()], indent=1))
    if args.svg:
        if args.svg_coin not in results:
            raise SystemExit(f"--svg-coin {args.svg_coin}: not among {', '.join(results)}")
        r = results[args.svg_coin]
        vol = r.profiles[Grid.hour_of_week, Measure.volatility]
        args.svg.write_text(
            heatmap_svg(vol, f"{r.coin}: volatility factor by hour of week (UTC), {r.weeks} weeks")
            + "\n"
        )
        print(f"heatmap of {r.coin} written to {args.svg}", file=sys.stderr)


if __name__ == "__main__":
    main()
