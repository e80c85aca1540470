"""Benchmark: does the price fan's 10-90 % band cover 80 % out of sample on real coins, and does
anything beat its random-walk centre?

Run from the repository root (under a minute on 2 cores with 11 coins x 120 days):

    .venv/bin/python benchmarks/forecast.py                  # every <coin>_5m file found
    .venv/bin/python benchmarks/forecast.py --coins bitcoin,dogecoin --json /tmp/forecast.json
    .venv/bin/python benchmarks/forecast.py --quick          # the first 30 days of 2 coins
    nice .venv/bin/python benchmarks/forecast.py --stream    # + the streamed fan (~2.5 min)

Data: every `<coin>_5m.csv[.gz]` in `--data` (default ../shared/data/market: 11 coins x 120 days
of Binance 5-minute candles, 2025-02-18 to 2025-06-17), else the bundled three-week samples.
Each coin's candles become the stream's 5-minute bars (ticks -> `engine.closed_bars`) and the
stream's forecaster (`forecast.PriceForecaster`) runs over them once, walk-forward: every fan is
made from the bars up to its own, the trackers learn each outcome h later. The sigma comes from
the coin's model in the package's models file (fitted on the bundled three-week samples of
bitcoin, ethereum, solana and cardano; the other seven coins get bitcoin's, as in the stream),
and, beside it, from the EWMA fallback (no fitted model).

Per coin and horizon:

- coverage of the calibrated 10-90 % band over every matured row (what the tracker controls),
  and over non-overlapping rows (every h-th) with its binomial tolerance (3 standard errors);
- the uncalibrated fan (normal quantiles of the same sigma) beside it, and the mean widths;
- coverage in calm and turbulent hours: the rows in the lowest and the highest third of the
  coin's forecast sigma (what was known at the forecast); the range of coverage over the 24
  hours of the UTC day, and the worst UTC day's coverage;
- the centre: mean absolute log error of the random walk (q50 = the last close) against a
  trailing drift (the mean 5-minute log return of the last day, times h): < 1 means the drift
  helps;
- p_up: Brier score of the trailing base rate against a constant 0.5 (< 1 means it helps).

The stream's cost: CPU per bar fed one bar at a time, and the state's JSON size.

`--stream` adds the fan as the engine would stream it: `Engine(coin, EngineConfig.for_coin(coin))`
over the coin's ticks; beside it a `RiskForecaster` of the engine's own model on the engine's bars
(its 1h sigma must equal the engine's `sigma_1h` bit for bit, else the run stops), whose 5m and
30m sigmas and 15m (`fan_sigma`: the same recursion over 3 bars) feed a `ConformalFan` a day of
bars at a time, its state through compact JSON in between. Per coin: the same coverage figures,
the calm / turbulent thirds also with the engine's regime rank as the groups (calmest state calm,
most volatile turbulent), the largest zlib-compressed state, and the largest gap to the batch fan
of the same model (0: the same fan).
"""

from __future__ import annotations

import argparse
import json
import time
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from _data import add_data_options, coin_files
from cryptosignals.candles import candles_to_ticks, read_candles
from cryptosignals.engine import Engine, EngineConfig, closed_bars
from cryptosignals.forecast import (
    HORIZONS,
    ConformalFan,
    Fan,
    PriceForecaster,
    binomial_tolerance,
    coverage,
    fan_sigma,
    forecast_fan,
    outcomes,
)
from cryptosignals.risk import BAR_SECONDS, RiskForecaster, model_for

out = Console(width=200)
TARGET = (0.77, 0.83)  # the band for the 30-minute coverage on every coin


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_data_options(parser)
    parser.add_argument("--quick", action="store_true", help="the first 30 days of 2 coins")
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument(
        "--stream",
        action="store_true",
        help="also the streamed fan: the engine run over each coin's ticks, its own volatility "
        "forecast fed to a ConformalFan a day of bars at a time (state saved in between)",
    )
    return parser.parse_args(argv)


def stream_cost(model: Any, end: np.ndarray, close: np.ndarray) -> dict[str, float]:
    """CPU per bar fed one at a time, and the state's JSON size."""
    forecaster = PriceForecaster(model)
    n = min(len(end), 2000)
    started = time.process_time()
    for i in range(n):
        forecaster.update(end[i : i + 1], close[i : i + 1])
    cpu = (time.process_time() - started) / n * 1e3
    # the engine's part: the ConformalFan alone, one bar a time, its state through JSON
    sigma = {h: s[:n] for h, s in forecast_fan(end[:n], close[:n], model).sigma.items()}
    state, started = None, time.process_time()
    for i in range(n):
        fan = ConformalFan(state)
        fan.update(end[i : i + 1], close[i : i + 1], {h: s[i : i + 1] for h, s in sigma.items()})
        state = json.loads(json.dumps(fan.to_json()))
    return {"cpu_ms_per_bar": cpu, "state_bytes": len(json.dumps(forecaster.to_json())),
            "fan_cpu_ms_per_bar": (time.process_time() - started) / n * 1e3}  # fmt: skip


def _trailing_drift(close: np.ndarray, bars: int = 288) -> np.ndarray:
    """The mean 5-minute log return of the last `bars` bars, known at each bar's close."""
    r = np.diff(np.log(close), prepend=np.nan)
    r[0] = 0.0
    c = np.cumsum(r)
    out = np.full(len(close), np.nan)
    out[bars:] = (c[bars:] - c[:-bars]) / bars
    return out


def judge(end: np.ndarray, close: np.ndarray, model: Any) -> dict[str, Any]:
    """The figures of one coin's fan (calibrated, uncalibrated; calm and turbulent thirds)."""
    return judge_fan(end, close, forecast_fan(end, close, model))


def judge_fan(end: np.ndarray, close: np.ndarray, fan: Fan) -> dict[str, Any]:
    """The figures of a fan made over these bars (`judge`'s)."""
    drift = _trailing_drift(close)
    figures: dict[str, Any] = {}
    for h, bars in HORIZONS.items():
        y = outcomes(end, close, h)
        low, _, high = fan.quantiles(h)
        raw_low, raw_high = fan.raw(h)
        sigma = fan.sigma[h]
        scored = np.isfinite(sigma) & np.isfinite(y)
        calm_cut, storm_cut = np.nanquantile(sigma[scored], [1 / 3, 2 / 3])
        calm = np.where(sigma <= calm_cut, low, np.nan)
        storm = np.where(sigma >= storm_cut, low, np.nan)
        move = np.log(y / close)
        usable = scored & np.isfinite(drift)
        centre_ratio = float(
            np.mean(np.abs(move[usable] - drift[usable] * bars)) / np.mean(np.abs(move[usable]))
        )
        up = (y > close)[scored]
        p = fan.p_up[h][scored]
        brier = float(np.mean((p - up) ** 2) / np.mean((0.5 - up) ** 2))
        sparse = coverage(close, low, high, y, bars)
        inside = ((y >= low) & (y <= high))[scored]
        hour = (end[scored] // 3600) % 24
        day = end[scored] // 86_400
        daily = [inside[day == d].mean() for d in np.unique(day) if (day == d).sum() >= 200]
        figures[h] = {
            "calibrated": coverage(close, low, high, y).to_json(),
            "calibrated_non_overlapping": {**sparse.to_json(),
                                           "tolerance": binomial_tolerance(sparse.n)},
            "uncalibrated": coverage(close, raw_low, raw_high, y).to_json(),
            "calm_third": coverage(close, calm, high, y).to_json(),
            "turbulent_third": coverage(close, storm, high, y).to_json(),
            "centre_drift_over_random_walk": centre_ratio,
            "p_up_brier_over_half": brier,
            "up_share": float(up.mean()),
            "by_hour_utc": [float(inside[hour == k].mean()) for k in range(24)],
            "daily": {"worst": float(min(daily)), "best": float(max(daily)),
                      "below_70": float(np.mean(np.array(daily) < 0.7))},
        }  # fmt: skip
    return figures


def _regime_groups(rank: np.ndarray, states: int) -> np.ndarray:
    """The engine's regime rank as the fan's groups: the calmest state calm, the most volatile
    turbulent, the others (and the warm-up) usual."""
    group = np.ones(len(rank), dtype=np.int64)
    group[rank == 0] = 0
    group[rank == states - 1] = 2
    return group


def streamed(coin: str, candles: Any, chunk: int = 288) -> dict[str, Any]:
    """The engine over the coin's ticks (`EngineResult.bars`: end, close, sigma_1h,
    regime_rank); beside it the engine's own `RiskForecaster` on the same bars, whose 1h sigma
    must be the engine's bit for bit, gives the 5m and 30m sigma (and 15m through `fan_sigma`);
    a `ConformalFan` takes them a day of bars at a time, its state through JSON in between."""
    config = EngineConfig.for_coin(coin)
    if config.volatility is None:
        raise SystemExit(f"{coin}: the engine has no volatility model: no sigma to stream")
    bars = Engine(coin, config).feed(candles_to_ticks(coin, candles)).bars
    end, close = bars["end"].astype(np.int64), np.asarray(bars["close"], float)
    forecast = RiskForecaster(config.volatility).update(end, close)
    if not np.array_equal(forecast.sigma["1h"], bars["sigma_1h"], equal_nan=True):
        raise SystemExit(f"{coin}: the RiskForecaster beside the engine is not the engine's")
    sigma = fan_sigma(config.volatility, forecast)
    parts, state, sizes, cpu = [], None, [], 0.0
    for start in range(0, len(end), chunk):
        rows = slice(start, start + chunk)
        streamer = ConformalFan(state)
        started = time.process_time()
        chunk_sigma = {h: s[rows] for h, s in sigma.items()}
        parts.append(streamer.update(end[rows], close[rows], chunk_sigma))
        cpu += time.process_time() - started
        text = json.dumps(streamer.to_json(), separators=(",", ":"))
        sizes.append(len(zlib.compress(text.encode())))
        state = json.loads(text)
    fan = Fan.concatenate(parts)
    batch = forecast_fan(end, close, config.volatility)
    gap = max(float(np.nanmax(np.abs(a - b) / close))
              for h in HORIZONS for a, b in zip(fan.quantiles(h), batch.quantiles(h),
                                                strict=True))  # fmt: skip
    figures = judge_fan(end, close, fan)
    states = len(config.regimes.names) if config.regimes is not None else 0
    by_regime = ConformalFan().update(
        end, close, sigma, _regime_groups(np.nan_to_num(bars["regime_rank"], nan=-1), states)
    )
    low, _, high = by_regime.quantiles("30m")
    y = outcomes(end, close, "30m")
    figures["30m"]["regime_groups"] = coverage(close, low, high, y).to_json()
    sigma30 = fan.sigma["30m"]
    scored = np.isfinite(sigma30) & np.isfinite(y)
    calm_cut, storm_cut = np.nanquantile(sigma30[scored], [1 / 3, 2 / 3])
    for name, rows in (("calm_third", sigma30 <= calm_cut), ("turbulent_third",
                                                             sigma30 >= storm_cut)):  # fmt: skip
        figures["30m"][f"regime_groups_{name}"] = coverage(
            close, np.where(rows, low, np.nan), high, y
        ).to_json()
    figures["engine"] = {
        "bars": len(end), "state_zlib_bytes_max": max(sizes),
        "cpu_ms_per_bar": cpu / max(1, len(end)) * 1e3, "max_gap_to_batch_fan": gap,
        "regime_states": states,
    }  # fmt: skip
    return figures


def stream_table(results: dict[str, Any]) -> Table:
    title = ("The streamed fan (engine's own sigma, ConformalFan fed a day at a time): 10-90 % "
             "coverage out of sample, every matured row")  # fmt: skip
    table = Table(title=title, title_justify="left")
    table.add_column("coin")
    for h in HORIZONS:
        table.add_column(h, justify="right")
    for column in ("30m width", "30m non-overl. (+-tol)", "30m calm / turbulent",
                   "30m regime groups (calm / turb.)", "state (zlib)", "= batch fan"):  # fmt: skip
        table.add_column(column, justify="right")
    for coin, by_h in results.items():
        thirty, engine = by_h["30m"], by_h["engine"]
        sparse = thirty["calibrated_non_overlapping"]
        table.add_row(
            coin,
            *(f"{by_h[h]['calibrated']['coverage']:.1%}" for h in HORIZONS),
            f"{thirty['calibrated']['mean_width']:.2%}",
            f"{sparse['coverage']:.1%} (+-{sparse['tolerance']:.1%})",
            f"{thirty['calm_third']['coverage']:.1%} / {thirty['turbulent_third']['coverage']:.1%}",
            f"{thirty['regime_groups']['coverage']:.1%} "
            f"({thirty['regime_groups_calm_third']['coverage']:.1%} / "
            f"{thirty['regime_groups_turbulent_third']['coverage']:.1%})",
            f"{engine['state_zlib_bytes_max']} B",
            f"{engine['max_gap_to_batch_fan']:.0e}",
        )
    return table


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    files, source = coin_files(args)
    if args.quick:
        files = dict(list(files.items())[:2])
    print(source)
    figures: dict[str, Any] = {"coins": list(files), "results": {}, "fallback": {},
                               "streamed": {}}  # fmt: skip
    started = time.perf_counter()
    cost: dict[str, float] = {}
    with Progress(console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("walk-forward fans", total=len(files))
        for coin, path in files.items():
            candles = read_candles(path)
            if args.quick:
                candles = candles[: 30 * 288]
            bars = closed_bars(candles_to_ticks(coin, candles))
            end, close = bars["end"].astype(np.int64), np.asarray(bars["close"], float)
            model = model_for(coin)
            figures["results"][coin] = judge(end, close, model)
            figures["fallback"][coin] = judge(end, close, None)
            if not cost:
                cost = stream_cost(model, end, close)
            if args.stream:
                figures["streamed"][coin] = streamed(coin, candles)
            bar.advance(task)
    figures["stream"] = cost
    figures["seconds"] = time.perf_counter() - started
    results = figures["results"]

    table = Table(title="10-90 % band coverage out of sample, every matured row: calibrated "
                  "(uncalibrated); mean width", title_justify="left")  # fmt: skip
    table.add_column("coin")
    for h in HORIZONS:
        table.add_column(f"{h}", justify="right")
        table.add_column(f"{h} width", justify="right")
    table.add_column("30m non-overl. (+-tol)", justify="right")
    table.add_column("30m calm / turbulent", justify="right")
    table.add_column("30m hours", justify="right")
    table.add_column("30m worst day", justify="right")
    table.add_column("30m fallback", justify="right")
    for coin, by_h in results.items():
        cells = []
        for h in HORIZONS:
            c, r = by_h[h]["calibrated"], by_h[h]["uncalibrated"]
            cells += [f"{c['coverage']:.1%} ({r['coverage']:.1%})", f"{c['mean_width']:.2%}"]
        sparse = by_h["30m"]["calibrated_non_overlapping"]
        cells.append(f"{sparse['coverage']:.1%} (+-{sparse['tolerance']:.1%})")
        cells.append(f"{by_h['30m']['calm_third']['coverage']:.1%} / "
                     f"{by_h['30m']['turbulent_third']['coverage']:.1%}")  # fmt: skip
        hours = by_h["30m"]["by_hour_utc"]
        cells.append(f"{min(hours):.0%}-{max(hours):.0%}")
        cells.append(f"{by_h['30m']['daily']['worst']:.0%}")
        cells.append(f"{figures['fallback'][coin]['30m']['calibrated']['coverage']:.1%}")
        table.add_row(coin, *cells)
    out.print(table)

    summary: dict[str, Any] = {}
    for h in HORIZONS:
        cal = [r[h]["calibrated"]["coverage"] for r in results.values()]
        raw = [r[h]["uncalibrated"]["coverage"] for r in results.values()]
        summary[h] = {
            "calibrated_min": min(cal), "calibrated_max": max(cal),
            "uncalibrated_min": min(raw), "uncalibrated_max": max(raw),
            "in_target": sum(TARGET[0] <= c <= TARGET[1] for c in cal),
            "uncalibrated_in_target": sum(TARGET[0] <= c <= TARGET[1] for c in raw),
            "centre_drift_over_random_walk": float(np.median(
                [r[h]["centre_drift_over_random_walk"] for r in results.values()])),
            "p_up_brier_over_half": float(np.median(
                [r[h]["p_up_brier_over_half"] for r in results.values()])),
        }  # fmt: skip
        print(
            f"{h}: calibrated {min(cal):.1%}-{max(cal):.1%} ({summary[h]['in_target']} of "
            f"{len(cal)} coins in {TARGET[0]:.0%}-{TARGET[1]:.0%}); uncalibrated "
            f"{min(raw):.1%}-{max(raw):.1%} ({summary[h]['uncalibrated_in_target']} in); "
            f"median MAE of a trailing-drift centre / random walk "
            f"{summary[h]['centre_drift_over_random_walk']:.3f}; Brier of p_up / 0.5 "
            f"{summary[h]['p_up_brier_over_half']:.3f}"
        )
    figures["summary"] = summary
    if args.stream:
        out.print(stream_table(figures["streamed"]))
        by_coin = figures["streamed"].values()
        cal = [r["30m"]["calibrated"]["coverage"] for r in by_coin]
        sizes = [r["engine"]["state_zlib_bytes_max"] for r in by_coin]
        figures["summary"]["streamed_30m"] = {
            "calibrated_min": min(cal), "calibrated_max": max(cal),
            "in_target": sum(TARGET[0] <= c <= TARGET[1] for c in cal),
            "state_zlib_bytes_max": max(sizes),
        }  # fmt: skip
        print(
            f"streamed 30m (engine's sigma): {min(cal):.1%}-{max(cal):.1%} "
            f"({figures['summary']['streamed_30m']['in_target']} of {len(cal)} coins in "
            f"{TARGET[0]:.0%}-{TARGET[1]:.0%}); ConformalFan state at most {max(sizes)} B zlib"
        )
    print(f"stream: {cost['cpu_ms_per_bar']:.3f} ms CPU a bar fed one at a time, state "
          f"{cost['state_bytes']} B as JSON (the ConformalFan alone, as in the engine: "
          f"{cost['fan_cpu_ms_per_bar']:.3f} ms with its state through JSON); "
          f"{figures['seconds']:.0f} s in all; a bar is {BAR_SECONDS} s")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
