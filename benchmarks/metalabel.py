"""Benchmark: can a meta-label model filter the rules' false signals out of sample on real coins?

Run from the repository root (nice it: it uses a core for minutes):

    nice .venv/bin/python benchmarks/metalabel.py                  # every <coin>_5m file found
    nice .venv/bin/python benchmarks/metalabel.py --models logistic --coins bitcoin,solana
    .venv/bin/python benchmarks/metalabel.py --quick --json /tmp/metalabel.json

Data: every `<coin>_5m.csv[.gz]` in `--data` (default ../shared/data/market: 11 coins x 120 days
of 5-minute candles), else the bundled three-week samples. Each coin's BUY/SELL signals come from
the engine; each is labelled with the triple barrier (1 sigma_1h profit and stop, 1 h timeout,
2 x 10 bp round trip) and described by the model features of its bar, signed by its direction,
its rule and direction (cryptosignals.models.metalabel). The filter (P(profit first) >= a
threshold chosen inside each training window) is judged walk-forward (first fold after 28 days,
7-day folds, purged): per coin, per rule over all coins and pooled, the hit rate, stop-out rate
and net bp per trade without and with it, the net lift with its 95 % day-block interval, AUC and
Brier against the base rate. Then the null: the same on generated random walks, where the net
lift's interval should hold 0 in about 95 % of them. Wall time of each part is printed.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from _data import add_data_options, coin_files
from cryptosignals.candles import read_candles
from cryptosignals.models.evaluation import MODELS, default_windows
from cryptosignals.models.metalabel import (
    MetaConfig,
    MetaEvaluation,
    evaluate_filter,
    pooled,
    signal_set,
    verdict,
)
from cryptosignals.synthetic import predictable_candles

out = Console(width=180)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_data_options(parser)
    parser.add_argument("--models", default=",".join(MODELS), help="logistic,lightgbm")
    parser.add_argument("--null-walks", type=int, default=20,
                        help="generated 30-day random walks for the null check")  # fmt: skip
    parser.add_argument("--quick", action="store_true",
                        help="2 coins, the logistic model, 3 null walks (a smoke run)")  # fmt: skip
    parser.add_argument("--json", type=Path, help="write the figures here")
    return parser.parse_args(argv)


def _cell(f: dict[str, float], spec: str) -> str:
    return f"{f['value']:{spec}} [{f['low']:{spec}}, {f['high']:{spec}}]"


def _summary(f: dict[str, Any]) -> dict[str, Any]:
    keys = ("n", "n_taken", "days", "hit_rate", "hit_rate_filtered", "hit_rate_lift",
            "stop_rate", "stop_rate_filtered", "stop_rate_lift", "net_bp", "net_bp_filtered",
            "net_bp_lift", "auc", "brier", "brier_base_rate", "brier_difference")  # fmt: skip
    return {**{k: f[k] for k in keys}, "filter": verdict(f["net_bp_lift"])}


def _table(title: str, rows: dict[str, dict[str, Any]]) -> Table:
    table = Table(title=title, title_justify="left")
    for column in ("", "signals", "kept", "hit", "hit kept", "stop +/-", "net bp",
                   "net bp kept", "net lift bp [95 %]", "filter", "AUC [95 %]",
                   "Brier - base"):  # fmt: skip
        table.add_column(column, justify="left" if column in ("", "filter") else "right")
    for name, f in rows.items():
        table.add_row(
            name, f"{f['n']:,}", f"{f['n_taken']:,}", f"{f['hit_rate']['value']:.3f}",
            f"{f['hit_rate_filtered']['value']:.3f}", f"{f['stop_rate_lift']['value']:+.3f}",
            f"{f['net_bp']['value']:+.1f}", f"{f['net_bp_filtered']['value']:+.1f}",
            _cell(f["net_bp_lift"], "+.1f"), f["filter"], _cell(f["auc"], ".3f"),
            f"{f['brier'] - f['brier_base_rate']:+.5f}",
        )  # fmt: skip
    return table


def _null(walks: int, model: str) -> dict[str, Any]:
    config = MetaConfig(model=model, train_days=12, test_days=3, resamples=500)
    rows = []
    for seed in range(walks):
        data = signal_set("bitcoin", predictable_candles(days=30, seed=100 + seed, strength=0.0),
                          config)  # fmt: skip
        f = evaluate_filter(data, config).figures["all"]
        rows.append({"seed": 100 + seed, "net_bp_lift": f["net_bp_lift"],
                     "hit_rate_lift": f["hit_rate_lift"], "stop_rate_lift": f["stop_rate_lift"],
                     "auc": f["auc"]["value"], "n": f["n"], "n_taken": f["n_taken"]})  # fmt: skip
    held = sum(r["net_bp_lift"]["low"] <= 0 <= r["net_bp_lift"]["high"] for r in rows)
    hit_held = sum(r["hit_rate_lift"]["low"] <= 0 <= r["hit_rate_lift"]["high"] for r in rows)
    return {"walks": walks, "days": 30, "model": model, "net_lift_interval_holds_0": held / walks,
            "hit_lift_interval_holds_0": hit_held / walks, "rows": rows}  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    files, source = coin_files(args)
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    walks = args.null_walks
    if args.quick:
        files, models, walks = dict(list(files.items())[:2]), ["logistic"], 3
    print(source)
    started = time.perf_counter()
    bitcoin = read_candles(files["bitcoin"]) if "bitcoin" in files else None
    t0 = time.perf_counter()
    sets = {coin: signal_set(coin, read_candles(path), bitcoin=bitcoin)
            for coin, path in files.items()}  # fmt: skip
    engine_s = time.perf_counter() - t0
    figures: dict[str, Any] = {"data": {"source": source, "coins": list(files)},
                               "config": MetaConfig().__dict__, "engine_seconds": engine_s,
                               "models": {}}  # fmt: skip
    for model in models:
        t0 = time.perf_counter()
        results: dict[str, MetaEvaluation] = {}
        for coin, data in sets.items():
            train, test = default_windows(data.t)
            results[coin] = evaluate_filter(data, MetaConfig(model=model, train_days=train,
                                                             test_days=test))  # fmt: skip
        per_coin = {c: _summary(r.figures["all"]) for c, r in results.items()}
        per_coin["pooled"] = _summary(pooled(list(results.values())))
        rules = sorted({name for r in results.values() for name in r.data.rules})
        per_rule = {name: _summary(pooled(list(results.values()), name)) for name in rules
                    if any(name in r.rule for r in results.values())}  # fmt: skip
        seconds = time.perf_counter() - t0
        out.print(_table(f"{model}: per coin (all BUY/SELL rules), walk-forward out of sample",
                         per_coin))  # fmt: skip
        out.print(_table(f"{model}: per rule over all coins", per_rule))
        shares = [f.keep_share for r in results.values() for f in r.filters]
        out.print(f"{model}: the filter kept every signal in {shares.count(1.0)} of "
                  f"{len(shares)} folds; {seconds:.0f} s")  # fmt: skip
        figures["models"][model] = {
            "seconds": seconds, "coins": per_coin, "rules": per_rule,
            "keep_shares": shares,
            "signals": {c: {"labelled": len(d), "dropped": d.dropped} for c, d in sets.items()},
        }  # fmt: skip
    t0 = time.perf_counter()
    null = _null(walks, "logistic")
    null["seconds"] = time.perf_counter() - t0
    figures["null"] = null
    out.print(f"random walks ({walks} x 30 days, logistic): the net lift's 95 % interval held 0 "
              f"in {null['net_lift_interval_holds_0']:.0%}, the hit-rate lift's in "
              f"{null['hit_lift_interval_holds_0']:.0%}; {null['seconds']:.0f} s")  # fmt: skip
    figures["total_seconds"] = time.perf_counter() - started
    out.print(f"TOTAL wall time {figures['total_seconds']:.0f} s (engine {engine_s:.0f} s)")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
