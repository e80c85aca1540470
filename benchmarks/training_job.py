"""Benchmark: what one run of the training function costs, coin by coin.

Run from the repository root (nice it: a coin of 120 days takes about a minute):

    nice .venv/bin/python benchmarks/training_job.py                     # every coin found
    nice .venv/bin/python benchmarks/training_job.py --coins ethereum,solana
    .venv/bin/python benchmarks/training_job.py --quick --json /tmp/training_job.json

Runs the training function's three jobs for each coin (cryptosignals.models.training: `train_coin`,
the walk-forward judgement of the logistic P(up_1h) model; `train_metalabel`, the meta-label
filter of the rules' signals; `refit_volatility`, the volatility refit judged against the
package's forecast; each with its gate, report and artifact if earned; `--jobs` to pick) on
every `<coin>_5m.csv[.gz]` in --data (default ../shared/data/market: 11 coins x 120
days; else the bundled three-week samples), with bitcoin's candles for the other coins. The
kernels run as plain Python, as in the training image, which has no numba (NUMBA_DISABLE_JIT;
--jit to compile them). Prints each coin's and job's wall time, verdict and whether it would be
served, the process's peak memory, and the Lambda cost of a run at the template's 2048 MB with
groups of 4 coins (x86 price, $0.0000166667 per GB-second; an estimate from this machine's
timing, not an AWS bill).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

if "--jit" not in sys.argv:  # before cryptosignals is imported: the image has no numba
    os.environ["NUMBA_DISABLE_JIT"] = "1"

from _data import add_data_options, coin_files
from cryptosignals.candles import Candles, read_candles
from cryptosignals.models.training import (
    JOBS,
    CoinOutcome,
    TrainingSettings,
    refit_volatility,
    train_coin,
    train_metalabel,
)
from cryptosignals.risk import model_for

MEMORY_GB = 2.0  # the template's TrainFunction MemorySize
GROUP = 4  # TrainCoinsPerGroup's default
PRICE_GB_S = 0.0000166667


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_data_options(parser)
    parser.add_argument("--quick", action="store_true", help="two coins, 300 bootstrap resamples")
    parser.add_argument("--jit", action="store_true", help="compile the kernels with numba")
    parser.add_argument("--json", type=Path, help="write the figures here too")
    parser.add_argument("--jobs", default=",".join(JOBS), help=f"of {', '.join(JOBS)}")
    return parser.parse_args(argv)


def _effect(job: str, report: dict[str, Any]) -> dict[str, Any] | None:
    """The judged difference with its interval: the Brier score's against the base rate
    (P(up)), the net bp a trade's with the filter (meta-label), the QLIKE's against the served
    forecast (volatility); None if the job could not judge."""
    if report["verdict"] == "not evaluated":
        return None
    if job == "metalabel":
        return dict(report["scorecard"]["all"]["net_bp_lift"])
    name = "qlike_difference" if job == "volatility" else "brier_difference"
    low, high = report[f"{name}_interval"]
    return {"value": report[name], "low": low, "high": high}


def run_job(
    job: str, coin: str, candles: Candles, settings: TrainingSettings, bitcoin: Candles | None
) -> CoinOutcome:
    """One job of the training function for one coin (its S3 side left out)."""
    other = None if coin == "bitcoin" else bitcoin
    if job == "metalabel":
        return train_metalabel(coin, candles, other)
    if job == "volatility":
        served = model_for(coin)
        assert served is not None, "the package has fitted models"
        return refit_volatility(coin, candles, served, "the package's fitted models")
    return train_coin(coin, candles, settings, other)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    files, source = coin_files(args)
    if args.quick:
        files = dict(list(files.items())[:2])
    print(source)
    settings = TrainingSettings(resamples=300 if args.quick else 1000)
    bitcoin = read_candles(files["bitcoin"]) if "bitcoin" in files else None
    jobs = [j for j in args.jobs.split(",") if j]
    if not set(jobs) <= set(JOBS):
        raise SystemExit(f"--jobs: of {', '.join(JOBS)}")
    rows, started = [], time.perf_counter()
    for coin, path in files.items():
        t0 = time.perf_counter()
        candles = read_candles(path)
        judged = {}
        for job in jobs:
            t1 = time.perf_counter()
            outcome = run_job(job, coin, candles, settings, bitcoin)
            seconds = time.perf_counter() - t1
            report = outcome.report
            judged[job] = {"seconds": seconds, "verdict": report["verdict"],
                           "served": outcome.earned, "effect": _effect(job, report)}  # fmt: skip
            served = "served" if outcome.earned else "not served"
            print(f"{coin:<14} {job:<10} {len(candles):>7,} bars {seconds:7.1f} s  "
                  f"{report['verdict']:<36} {served}")  # fmt: skip
        rows.append({"coin": coin, "seconds": time.perf_counter() - t0, "bars": len(candles),
                     "jobs": judged})  # fmt: skip
    total = time.perf_counter() - started
    per_coin = total / max(1, len(rows))
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    cost_per_coin = per_coin * MEMORY_GB * PRICE_GB_S
    print(
        f"TOTAL wall time {total:.1f} s for {len(rows)} coin(s), {per_coin:.1f} s a coin; "
        f"peak memory {peak_mb:.0f} MB; kernels {'compiled' if args.jit else 'plain Python'}"
    )
    print(f"Lambda at {MEMORY_GB * 1024:.0f} MB: ${cost_per_coin:.4f} a coin, a group of {GROUP} "
          f"{GROUP * per_coin:.0f} s of the 900 s timeout; 100 coins ${100 * cost_per_coin:.2f} "
          "a run")  # fmt: skip
    if args.json:
        figures = {"source": source, "coins": rows, "seconds": total, "seconds_per_coin": per_coin,
                   "peak_memory_mb": peak_mb, "cost_per_coin_usd": cost_per_coin,
                   "jit": bool(args.jit), "jobs": jobs}  # fmt: skip
        args.json.write_text(json.dumps(figures, indent=1) + "\n")


if __name__ == "__main__":
    main()
