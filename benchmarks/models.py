"""Benchmark: do P(up) models beat the base rate out of sample on real coins?

Run from the repository root (nice it: it uses a core for minutes):

    nice .venv/bin/python benchmarks/models.py                       # every <coin>_5m file found
    nice .venv/bin/python benchmarks/models.py --targets up_1h --models logistic
    .venv/bin/python benchmarks/models.py --quick --json /tmp/models.json
    nice .venv/bin/python benchmarks/models.py --serving --json /tmp/serving.json   # serving only

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

`--serving` measures the stream's side instead: a logistic and a LightGBM artifact trained on a
coin's first `--serving-days`, their JSON size and load time, the numpy trees against LightGBM's
own calibrated P(up) on every later bar, and the engine's CPU per 5-minute bar fed one bar at a
time (as the process function sees them) with no model, the logistic one and the trees; and, if
onnxmltools and onnxruntime happen to be importable (no dependency), the same trees through ONNX.
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from _data import add_data_options, coin_files
from cryptosignals.candles import candles_to_ticks, read_candles
from cryptosignals.engine import Engine, EngineConfig
from cryptosignals.features import FEATURE_NAMES
from cryptosignals.models.evaluation import (
    MODELS,
    FittedBoosting,
    compare,
    dataset,
    default_windows,
    evaluate,
    train_artifact,
    with_target,
)
from cryptosignals.models.labels import target_seconds
from cryptosignals.predict import load_predictor
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
    parser.add_argument(
        "--serving",
        action="store_true",
        help="measure serving in the stream (artifacts, exactness, CPU per bar)",
    )
    parser.add_argument("--serving-coin", default="bitcoin", help="the coin --serving uses")
    parser.add_argument(
        "--serving-days",
        type=float,
        default=28,
        help="days of history the served models are trained on",
    )
    parser.add_argument(
        "--serving-bars",
        type=int,
        default=288,
        help="5-minute bars fed one at a time and timed, per model",
    )
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


def _feed_per_bar(ticks: Any, warm: int, bars: int, config: EngineConfig) -> dict[str, float]:
    """CPU seconds of the engine per bar, fed one 5-minute tick at a time after `warm` ticks;
    and of the predictor alone on one feature row."""
    engine = Engine(ticks.crypto_id, config)
    engine.feed(ticks[:warm])
    stop = min(len(ticks), warm + bars)
    t0 = time.process_time()
    for i in range(warm, stop):
        engine.feed(ticks[i : i + 1])
    per_bar = (time.process_time() - t0) / max(stop - warm, 1)
    predict = math.nan
    if config.predictor is not None:
        row = np.zeros((1, len(FEATURE_NAMES)))
        t0 = time.process_time()
        for _ in range(500):
            config.predictor.predict(row)
        predict = (time.process_time() - t0) / 500
    return {"engine_ms_per_bar": per_bar * 1e3, "predict_us_per_row": predict * 1e6}


def serving(args: argparse.Namespace, files: dict[str, Path]) -> dict[str, Any]:
    """Artifacts of both models on the first `--serving-days` of a coin; their size and load
    time; the numpy trees vs LightGBM on the later bars; CPU per bar in the engine."""
    import lightgbm

    coin = args.serving_coin if args.serving_coin in files else next(iter(files))
    candles = read_candles(files[coin])
    ticks = candles_to_ticks(coin, candles)
    data = dataset(coin, candles, "up_1h")
    cut = int(np.searchsorted(data.end, data.end[0] + args.serving_days * 86_400))
    train = replace(data, end=data.end[:cut], close=data.close[:cut], x=data.x[:cut],
                    y=data.y[:cut], label_end=data.label_end[:cut])  # fmt: skip
    found: dict[str, Any] = {"coin": coin, "train_bars": cut, "models": {}}
    configs = {"none": EngineConfig()}
    for model in MODELS:
        artifact = train_artifact(train, model)
        text = json.dumps(artifact)
        loads = []
        for _ in range(5):
            t0 = time.perf_counter()
            predictor = load_predictor(json.loads(text))
            loads.append(time.perf_counter() - t0)
        row: dict[str, Any] = {
            "artifact_bytes": len(text), "artifact_gzip_bytes": len(gzip.compress(text.encode())),
            "load_ms": min(loads) * 1e3,
        }  # fmt: skip
        if model == "lightgbm":
            params = artifact["params"]
            row["model_string_bytes"] = len(params["model_string"])
            row["trees"] = len(params["trees"])
            row["depth"] = predictor.params.ensemble.depth  # type: ignore[union-attr]
            later = data.x[cut:]
            booster = lightgbm.Booster(model_str=params["model_string"])
            raw = booster.predict(later, raw_score=True)
            ours = predictor.params.raw_score(later)  # type: ignore[union-attr]
            a, b = params["calibration"]
            fitted = FittedBoosting(_Proba(booster), (a, b))  # the training side's predict
            row["rows_compared"] = len(later)
            row["max_raw_difference"] = float(np.max(np.abs(raw - ours)))
            row["max_p_difference"] = float(
                np.max(np.abs(fitted.predict(later) - predictor.predict(later)))
            )
            # what a float32 runtime (ONNX's tree operator) would see: LightGBM on rounded rows
            rounded = booster.predict(later.astype(np.float32).astype(float))
            moved = np.abs(rounded - booster.predict(later))
            row["float32_rows"] = {"max_p_difference": float(moved.max()),
                                   "share_over_1e-6": float(np.mean(moved > 1e-6))}  # fmt: skip
            found["onnx"] = _onnx(booster, later)
        found["models"][model] = row
        configs[model] = EngineConfig(predictor=predictor)
    warm = int(np.searchsorted(ticks.timestamp, data.end[cut - 1], side="right"))
    found["bars_timed"] = min(args.serving_bars, len(ticks) - warm)
    rounds = [  # the models in turn, three times: the least of each (a shared machine's noise)
        {name: _feed_per_bar(ticks, warm, args.serving_bars, c) for name, c in configs.items()}
        for _ in range(3)
    ]
    found["cpu"] = {
        name: {key: min(r[name][key] for r in rounds) for key in rounds[0][name]}
        for name in configs
    }
    found["import_predict_s"] = min(_import_seconds("cryptosignals.predict") for _ in range(3))
    return found


def _onnx(booster: Any, rows: np.ndarray) -> dict[str, Any] | None:
    """The same trees through onnxmltools and onnxruntime, when both are importable (they are
    no dependency of this project): P against LightGBM's, time a row, size, import time."""
    try:
        import onnxmltools
        import onnxruntime
        from onnxmltools.convert.common.data_types import FloatTensorType
    except ImportError:
        return None
    shape = FloatTensorType([None, rows.shape[1]])  # the converter takes float32 rows only
    model = onnxmltools.convert_lightgbm(booster, initial_types=[("x", shape)], zipmap=False)
    blob = model.SerializeToString()
    session = onnxruntime.InferenceSession(blob, providers=["CPUExecutionProvider"])
    p = session.run(None, {"x": rows.astype(np.float32)})[1][:, 1]
    moved = np.abs(p - booster.predict(rows))
    one = rows[:1].astype(np.float32)
    t0 = time.process_time()
    for _ in range(500):
        session.run(None, {"x": one})
    return {
        "bytes": len(blob), "max_p_difference": float(moved.max()),
        "share_over_1e-6": float(np.mean(moved > 1e-6)),
        "predict_us_per_row": (time.process_time() - t0) / 500 * 1e6,
        "import_s": min(_import_seconds("onnxruntime") for _ in range(3)),
        "versions": [onnxmltools.__version__, onnxruntime.__version__],
    }  # fmt: skip


def _import_seconds(module: str) -> float:
    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(run.stdout)


class _Proba:
    """A Booster as the fitted classifier FittedBoosting expects (predict_proba)."""

    def __init__(self, booster: Any) -> None:
        self.booster = booster

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        p = self.booster.predict(x)
        return np.column_stack([1 - p, p])


def _print_serving(found: dict[str, Any]) -> None:
    table = Table(title=f"serving in the stream ({found['coin']}, trained on "
                  f"{found['train_bars']:,} bars)", title_justify="left")  # fmt: skip
    for column in ("model", "artifact KB", "gzip KB", "load ms", "engine ms/bar",
                   "predict us/row", "max |p - LightGBM|"):  # fmt: skip
        table.add_column(column, justify="left" if column == "model" else "right")
    for name, cpu in found["cpu"].items():
        m = found["models"].get(name, {})
        table.add_row(
            name, f"{m['artifact_bytes'] / 1e3:.0f}" if m else "",
            f"{m['artifact_gzip_bytes'] / 1e3:.0f}" if m else "",
            f"{m['load_ms']:.1f}" if m else "", f"{cpu['engine_ms_per_bar']:.2f}",
            "" if math.isnan(cpu["predict_us_per_row"]) else f"{cpu['predict_us_per_row']:.0f}",
            f"{m['max_p_difference']:.1e} on {m['rows_compared']:,} bars"
            if "max_p_difference" in m else "",
        )  # fmt: skip
    out.print(table)
    trees = found["models"]["lightgbm"]
    out.print(
        f"trees: {trees['trees']}, depth <= {trees['depth']}, model string "
        f"{trees['model_string_bytes'] / 1e3:.0f} KB of the artifact; max |raw score - LightGBM| "
        f"{trees['max_raw_difference']:.1e}; import cryptosignals.predict "
        f"{found['import_predict_s'] * 1e3:.0f} ms; {found['bars_timed']} bars timed"
    )
    f32 = trees["float32_rows"]
    out.print(
        f"LightGBM on the rows rounded to float32 (as ONNX's tree operator takes them): "
        f"{f32['share_over_1e-6']:.0%} of the bars' P move by more than 1e-6, at most "
        f"{f32['max_p_difference']:.3f}"
    )
    onnx = found.get("onnx")
    if onnx is None:
        out.print("onnxmltools / onnxruntime not installed: the ONNX comparison is skipped")
    else:
        out.print(
            f"ONNX (onnxmltools {onnx['versions'][0]}, onnxruntime {onnx['versions'][1]}): P "
            f"up to {onnx['max_p_difference']:.3f} from LightGBM's, {onnx['share_over_1e-6']:.0%}"
            f" of the bars beyond 1e-6; {onnx['predict_us_per_row']:.0f} us a row, "
            f"{onnx['bytes'] / 1e3:.0f} KB, import {onnx['import_s'] * 1e3:.0f} ms"
        )


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    files, source = coin_files(args)
    if args.serving:
        print(source)
        found = serving(args, files)
        _print_serving(found)
        if args.json:
            args.json.write_text(json.dumps({"serving": found}, indent=1) + "\n")
        return 0
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
