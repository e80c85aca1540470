"""Benchmark: do P(up) models beat the base rate out of sample on real coins?

Run from the repository root (nice it: it uses a core for minutes):

    nice .venv/bin/python benchmarks/models.py                       # every <coin>_5m file found
    nice .venv/bin/python benchmarks/models.py --targets up_1h --models logistic
    .venv/bin/python benchmarks/models.py --quick --json /tmp/models.json

Data: every `<coin>_5m.csv[.gz]` in `--data` (default ../shared/data/market: 11 coins x 120 days
of 5-minute candles), else the bundled three-week samples. Bitcoin's file gives the other coins
bitcoin's last hour as a feature. Each coin's features come from the engine's own bars
(cryptosignals.features); each target is judged walk-forward (cryptosignals.models.evaluation:
expanding window, first fold after 28 days, 7-day folds, training labels that reach into a fold
purged) for each model against the base rate (the training window's share of ups): AUC with a
day-block bootstrap interval, Brier and log-loss differences with theirs, and LightGBM against
the logistic model on the same bars. The wall time of each target over all coins is printed
(the issue's target: <= 10 minutes for one target on 2 cores), and the AUC on a generated random
walk (the null: anything beyond 0.5 +/- 0.03 would be a leak).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from _data import add_data_options, coin_files
from cryptosignals.candles import read_candles
from cryptosignals.features import FEATURE_NAMES
from cryptosignals.models.evaluation import (
    MODELS,
    compare,
    dataset,
    default_windows,
    evaluate,
    with_target,
)
from cryptosignals.models.labels import target_seconds
from cryptosignals.synthetic import generate_market

out = Console(width=160)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_data_options(parser)
    parser.add_argument("--targets", default="up_1h,up_5m", help="targets, comma-separated")
    parser.add_argument("--models", default=",".join(MODELS), help="logistic,lightgbm")
    parser.add_argument(
        "--features",
        help="comma-separated feature names to keep (an ablation; default: all of "
        "cryptosignals.features.FEATURE_NAMES)",
    )
    parser.add_argument(
        "--null-days",
        type=int,
        default=120,
        help="days of the generated random walk for the null AUC",
    )
    parser.add_argument(
        "--quick", action="store_true", help="2 coins, one target, a 30-day null (a smoke run)"
    )
    parser.add_argument("--json", type=Path, help="write the figures here")
    return parser.parse_args(argv)  # fmt: skip


def _row(result: Any) -> dict[str, Any]:
    j = result.to_json()
    v = j["verdict"]
    return {
        "model": result.model, "n_test": result.n_test, "folds": len(result.folds),
        "auc": result.auc.value, "auc_interval": [result.auc.low, result.auc.high],
        "brier": result.brier, "brier_base_rate": result.brier_base_rate,
        "brier_difference": v["brier_difference"],
        "brier_difference_interval": v["brier_difference_interval"],
        "log_loss": result.log_loss, "log_loss_base_rate": result.log_loss_base_rate,
        "log_loss_difference": v["log_loss_difference"],
        "log_loss_difference_interval": v["log_loss_difference_interval"],
        "verdict": v["summary"], "folds_beating_base_rate": v["folds_beating_base_rate"],
    }  # fmt: skip


def _judge(data: Any, models: list[str], train: float, test: float) -> list[dict[str, Any]]:
    results = {}
    for model in models:
        results[model] = evaluate(
            data.x, data.y, data.end, data.label_end, model, data.target, train_days=train,
            test_days=test, embargo_s=target_seconds(data.target), resamples=1000,
        )  # fmt: skip
    rows = []
    for model, result in results.items():
        row = _row(result)
        if model != "logistic" and "logistic" in results:
            d = compare(result, results["logistic"])
            row["versus_logistic"] = {
                "brier_difference": d.value, "interval": [d.low, d.high],
                "summary": "beats logistic" if d.high < 0 else "loses to logistic"
                if d.low > 0 else "no better than logistic",
            }  # fmt: skip
        rows.append(row)
    return rows


def _null(days: int, targets: list[str], models: list[str], keep: list[int]) -> dict[str, Any]:
    market = generate_market(("bitcoin",), days=days, seed=23, regimes=False, plant=False)
    base = dataset("bitcoin", market.candles["bitcoin"], targets[0])
    train, test = default_windows(base.end)
    found: dict[str, Any] = {}
    for target in targets:
        data = replace(with_target(base, target), x=base.x[:, keep])
        found[target] = {r["model"]: r for r in _judge(data, models, train, test)}
    return found


def _table(target: str, rows: dict[str, list[dict[str, Any]]], seconds: float) -> Table:
    table = Table(title=f"{target}: walk-forward out of sample vs the base rate "
                  f"({seconds:.0f} s for all coins)", title_justify="left")  # fmt: skip
    for column in ("coin", "model", "test bars", "AUC [95 %]", "Brier - base, 1e-4",
                   "log-loss - base, 1e-4", "vs base rate", "vs logistic"):  # fmt: skip
        table.add_column(
            column,
            justify="left"
            if column in ("coin", "model", "vs base rate", "vs logistic")
            else "right",
        )
    for coin, results in rows.items():
        for r in results:
            lo, hi = r["brier_difference_interval"]
            llo, lhi = r["log_loss_difference_interval"]
            table.add_row(
                coin, r["model"], f"{r['n_test']:,}",
                f"{r['auc']:.3f} [{r['auc_interval'][0]:.3f}, {r['auc_interval'][1]:.3f}]",
                f"{r['brier_difference'] * 1e4:+.1f} [{lo * 1e4:+.1f}, {hi * 1e4:+.1f}]",
                f"{r['log_loss_difference'] * 1e4:+.1f} [{llo * 1e4:+.1f}, {lhi * 1e4:+.1f}]",
                r["verdict"].replace(" the base rate", ""),
                r.get("versus_logistic", {}).get("summary", "").replace(" logistic", ""),
            )  # fmt: skip
    return table


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    files, source = coin_files(args)
    targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    null_days = args.null_days
    keep = list(range(len(FEATURE_NAMES)))
    if args.features:
        names = [n.strip() for n in args.features.split(",") if n.strip()]
        unknown = sorted(set(names) - set(FEATURE_NAMES))
        if unknown:
            raise SystemExit(f"unknown features {unknown}; known: {', '.join(FEATURE_NAMES)}")
        keep = [FEATURE_NAMES.index(n) for n in names]
    if args.quick:
        files = dict(list(files.items())[:2])
        targets, null_days = targets[:1], 30
    print(source)
    started = time.perf_counter()
    bitcoin = read_candles(files["bitcoin"]) if "bitcoin" in files else None
    datasets, build_s = {}, {}
    for coin, path in files.items():
        t0 = time.perf_counter()
        datasets[coin] = dataset(coin, read_candles(path), targets[0], bitcoin=bitcoin)
        build_s[coin] = time.perf_counter() - t0
    features_s = sum(build_s.values())
    figures: dict[str, Any] = {"data": {"source": source, "coins": list(files)},
                               "features": [FEATURE_NAMES[j] for j in keep],
                               "features_seconds": features_s, "targets": {}}  # fmt: skip
    for target in targets:
        t0 = time.perf_counter()
        rows = {}
        for coin, base in datasets.items():
            data = with_target(base, target)
            data = replace(data, x=data.x[:, keep])
            train, test = default_windows(data.end)
            rows[coin] = _judge(data, models, train, test)
        seconds = time.perf_counter() - t0 + features_s  # each target pays for the features
        out.print(_table(target, rows, seconds))
        verdicts = [r["verdict"] for rs in rows.values() for r in rs]
        out.print(
            f"{target}: {verdicts.count('beats the base rate')} of {len(verdicts)} "
            f"coin x model beat the base rate, {verdicts.count('loses to the base rate')} "
            f"lose to it (95 % intervals, not corrected for the {len(verdicts)} tests)"
        )
        figures["targets"][target] = {"seconds": seconds, "coins": rows}  # fmt: skip
    t0 = time.perf_counter()
    null = _null(null_days, targets, models, keep)
    figures["null"] = {"days": null_days, "seconds": time.perf_counter() - t0, "targets": null}
    for target, by_model in null.items():
        for model, r in by_model.items():
            out.print(f"random walk ({null_days} days) {target} {model}: AUC {r['auc']:.3f} "
                      f"[{r['auc_interval'][0]:.3f}, {r['auc_interval'][1]:.3f}], "
                      f"{r['verdict']}")  # fmt: skip
    figures["total_seconds"] = time.perf_counter() - started
    out.print(f"TOTAL wall time {figures['total_seconds']:.0f} s (features {features_s:.0f} s)")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
