"""Benchmark: how often does the drift monitor cry wolf, how late does it catch a real change,
and does retraining on its alarms beat a schedule or an online learner on real coins?

Run from the repository root (about 5 minutes on 2 cores with 11 coins x 120 days):

    .venv/bin/python benchmarks/drift.py                       # every <coin>_5m file found
    .venv/bin/python benchmarks/drift.py --coins bitcoin,solana --seeds 4
    .venv/bin/python benchmarks/drift.py --quick --json /tmp/drift.json

1. False alarms on stationary generated data (the budget the thresholds were set by: at most one
   per 30 days of 5-minute bars): the move monitor on Student-t(4) moves over a right sigma,
   then both monitors through the whole prequential pipeline on generated markets with no
   change (a GARCH-t market for volatility, a random walk for up_1h); with a threshold scan
   of what the monitor saw (the scan that set the defaults).
2. Detection delay on planted changes: volatility doubling against a stale sigma (the
   detector alone) and against the refitted EWMA forecast (which absorbs it in hours), and a
   momentum relation that turns into reversal (through the up_1h pipeline).
3. Real coins (`--data`, default ../shared/data/market, else the bundled samples): alarms per 30
   days and each learner's loss against the base with day-block intervals, per target.
4. The stream's cost (CPU per value fed one at a time, state size) and river's PageHinkley on
   the same values (alarm for alarm, and its time), when river is installed.
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
from cryptosignals.drift import (
    MOVE_DELTA,
    SCALED_DELTA,
    Adwin,
    DriftMonitor,
    PageHinkley,
    standardised_moves,
)
from cryptosignals.engine import closed_bars
from cryptosignals.models.drift import prequential_direction, prequential_volatility
from cryptosignals.models.evaluation import dataset
from cryptosignals.synthetic import flipping_candles, volatility_shift_market

out = Console(width=150)
DAY, MONTH = 86_400, 30 * 288
SCAN = {"moves": (20.0, 30.0, 40.0, 60.0), "scaled": (10.0, 20.0, 30.0, 40.0)}


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_data_options(parser)
    parser.add_argument("--seeds", type=int, default=8, help="generated markets per experiment")
    parser.add_argument("--quick", action="store_true", help="2 seeds, 2 coins, short markets")
    parser.add_argument("--json", type=Path, help="write the figures here")
    return parser.parse_args(argv)  # fmt: skip


def _never(kind: str) -> DriftMonitor:
    return DriftMonitor(kind, PageHinkley(1e12, MOVE_DELTA if kind == "moves" else SCALED_DELTA,
                                          "both" if kind == "moves" else "up"))  # fmt: skip


def _alarms(result: Any) -> list[int]:
    return list(next(s for s in result.learners if s.name == "on_alarm").alarms)


def null_rates(seeds: int, days: int) -> dict[str, Any]:
    """Alarms per 30 days where nothing changes."""
    iid = sum(int(DriftMonitor("moves").update(np.arange(MONTH), _t_moves(MONTH, s)).alarm.sum())
              for s in range(seeds * 4))  # fmt: skip
    iid_adwin = sum(int(Adwin().update(_t_moves(MONTH, s)).sum()) for s in range(seeds * 4))
    figures: dict[str, Any] = {"iid_moves": {"months": seeds * 4, "alarms": iid,
                                             "adwin_alarms": iid_adwin}}  # fmt: skip
    for kind in ("moves", "scaled"):
        alarms, scored_days, seen = 0, 0.0, []
        for seed in range(seeds):
            result, watched = _pipeline_null(kind, seed, days, default=True)
            alarms += len(_alarms(result))
            scored_days += (result.stop - result.start) / DAY
            seen.append(watched)
        scan = {}
        for threshold in SCAN[kind]:
            mode = "both" if kind == "moves" else "up"
            delta = MOVE_DELTA if kind == "moves" else SCALED_DELTA
            count = sum(int(PageHinkley(threshold, delta, mode).update(v).sum()) for v in seen)
            scan[str(threshold)] = count / scored_days * 30
        adwin = sum(int(Adwin().update(v).sum()) for v in seen)
        figures[kind] = {"days": scored_days, "alarms": alarms,
                         "per_30_days": alarms / scored_days * 30,
                         "adwin_per_30_days": adwin / scored_days * 30,
                         "scan_per_30_days": scan}  # fmt: skip
    return figures


def _t_moves(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return standardised_moves(rng.standard_t(4.0, n) / np.sqrt(2.0), np.ones(n))


def _pipeline_null(kind: str, seed: int, days: int, default: bool) -> tuple[Any, np.ndarray]:
    """The pipeline on a market without change: with the default monitor (its alarms), and
    with a silent one (what the monitor sees when no refit interrupts it)."""
    if kind == "moves":
        market = volatility_shift_market(days, change_day=days, factor=1.0, seed=seed)
        bars = closed_bars(candles_to_ticks("x", market.candles))
        result = prequential_volatility("x", bars["end"], bars["close"])
        silent = prequential_volatility("x", bars["end"], bars["close"],
                                        monitor=lambda: _never("moves"))  # fmt: skip
    else:
        data = dataset("x", flipping_candles(days, flip_day=days, strength=0.0, seed=seed))
        result = prequential_direction(data)
        silent = prequential_direction(data, monitor=lambda: _never("scaled"))
    return result, silent.watched[1]


def planted_delays(seeds: int, days: int, change: int) -> dict[str, Any]:
    """Delays after planted changes (None where never caught)."""
    stale, refitted, flips, stale_adwin, flips_adwin = [], [], [], [], []
    before = {"stale": 0, "refitted": 0, "flip": 0, "stale_adwin": 0, "flip_adwin": 0}
    for seed in range(seeds):
        market = volatility_shift_market(days, change_day=change, factor=2.0, seed=100 + seed)
        r = np.diff(np.log(np.r_[100.0, market.candles.close]))
        cut = change * 288
        old = market.sigma / np.where(np.arange(len(r)) >= cut, 2.0, 1.0)
        moves = standardised_moves(r, old)
        hit = np.flatnonzero(DriftMonitor("moves").update(np.arange(len(r)), moves).alarm)
        before["stale"] += int((hit < cut).sum())
        after = hit[hit >= cut]
        stale.append(int(after[0] - cut) if len(after) else None)
        hit = np.flatnonzero(Adwin().update(moves))
        before["stale_adwin"] += int((hit < cut).sum())
        after = hit[hit >= cut]
        stale_adwin.append(int(after[0] - cut) if len(after) else None)
        bars = closed_bars(candles_to_ticks("x", market.candles))
        result = prequential_volatility("x", bars["end"], bars["close"])
        at = np.array(_alarms(result), dtype=float)
        moment = float(market.end[cut])  # the close of the first bar at double volatility
        before["refitted"] += int((at < moment).sum())
        later = at[at >= moment]
        refitted.append(float((later[0] - moment) / 300) if len(later) else None)
        data = dataset("x", flipping_candles(days, flip_day=change, strength=0.3, seed=seed))
        result = prequential_direction(data)
        at = np.array(_alarms(result), dtype=float)
        flip = data.end[0] + change * DAY
        before["flip"] += int((at < flip).sum())
        later = at[at >= flip]
        flips.append(float((later[0] - flip) / 3600) if len(later) else None)
        result = prequential_direction(data, monitor=lambda: DriftMonitor("scaled", Adwin()))
        at = np.array(_alarms(result), dtype=float)
        before["flip_adwin"] += int((at < flip).sum())
        later = at[at >= flip]
        flips_adwin.append(float((later[0] - flip) / 3600) if len(later) else None)
    return {"volatility_doubling_stale_sigma_bars": stale,
            "volatility_doubling_refitted_ewma_bars": refitted,
            "relation_flip_up_1h_hours": flips, "adwin_stale_sigma_bars": stale_adwin,
            "adwin_relation_flip_hours": flips_adwin,
            "alarms_before_the_change": before}  # fmt: skip


def _score(result: Any) -> dict[str, Any]:
    span = (result.stop - result.start) / DAY
    adwin = int(Adwin().update(result.watched[1]).sum())  # what the monitor saw, to ADWIN
    return {**result.to_json(), "days": span,
            "alarms_per_30_days": len(_alarms(result)) / span * 30,
            "adwin_alarms_per_30_days": adwin / span * 30}  # fmt: skip


def real_coins(files: dict[str, Path], quick: bool) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    with Progress(console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("prequential on real coins", total=len(files))
        for coin, path in files.items():
            candles = read_candles(path)
            if quick:
                candles = candles[: 21 * 288]
            span = (candles.timestamp[-1] - candles.timestamp[0]) / 1000 / DAY
            train = 30.0 if span >= 60 else max(3.0, span // 2)
            every = 7.0 if span >= 60 else max(1.0, train // 3)
            started = time.perf_counter()
            bars = closed_bars(candles_to_ticks(coin, candles))
            vol = prequential_volatility(coin, bars["end"], bars["close"], train, every,
                                         min(7.0, train))  # fmt: skip
            direction = prequential_direction(dataset(coin, candles), train, every,
                                              min(7.0, train))  # fmt: skip
            figures[coin] = {"volatility": _score(vol), "up_1h": _score(direction),
                             "stale_sigma_alarms_per_30_days": _stale_alarms(bars, train),
                             "seconds": time.perf_counter() - started}  # fmt: skip
            bar.advance(task)
    return figures


def _stale_alarms(bars: dict[str, np.ndarray], train_days: float) -> float:
    """How often the market's volatility level moves away from a month-old estimate: the move
    monitor on |r| over the trailing `train_days` standard deviation (known before the bar)."""
    r = np.r_[np.nan, np.diff(np.log(np.asarray(bars["close"], float)))]
    window = int(train_days * 288)
    sd = np.sqrt(np.convolve(np.nan_to_num(r) ** 2, np.ones(window), "full")[: len(r)] / window)
    sigma = np.r_[np.nan, sd[:-1]]
    sigma[: window + 1] = np.nan
    found = DriftMonitor("moves").update(np.asarray(bars["end"]), standardised_moves(r, sigma))
    days = (len(r) - window) / 288
    return float(found.alarm.sum() / days * 30) if days > 0 else float("nan")


def stream_cost(seed: int = 0) -> dict[str, Any]:
    moves = _t_moves(MONTH, seed)
    monitor = DriftMonitor("moves")
    started = time.process_time()
    for i in range(2000):
        monitor.update(np.array([i]), moves[i : i + 1])
    per_value = (time.process_time() - started) / 2000 * 1e3
    started = time.perf_counter()
    ours = PageHinkley(40.0, MOVE_DELTA, "both").update(moves)
    ours_s = time.perf_counter() - started
    started = time.perf_counter()
    Adwin().update(moves)
    adwin_s = time.perf_counter() - started
    figures: dict[str, Any] = {"cpu_ms_per_value": per_value,
                               "adwin_batch_us_per_value": adwin_s / len(moves) * 1e6,
                               "state_bytes": len(json.dumps(monitor.to_json())),
                               "batch_us_per_value": ours_s / len(moves) * 1e6}  # fmt: skip
    try:
        from river import drift
    except ImportError:
        return figures
    theirs = drift.PageHinkley(threshold=40.0, delta=MOVE_DELTA, alpha=1.0, mode="both")
    found = []
    started = time.perf_counter()
    for i, v in enumerate(moves.tolist()):
        theirs.update(v)
        if theirs.drift_detected:
            found.append(i)
    figures["river_us_per_value"] = (time.perf_counter() - started) / len(moves) * 1e6
    figures["river_agrees"] = found == np.flatnonzero(ours).tolist()
    return figures


def _fmt_interval(i: dict[str, float] | None) -> str:
    return "-" if i is None else f"{i['mean']:+.4f} [{i['low']:+.4f}, {i['high']:+.4f}]"


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    files, source = coin_files(args)
    seeds = 2 if args.quick else args.seeds
    days, change = (45, 35) if args.quick else (60, 40)
    if args.quick:
        files = dict(list(files.items())[:2])
    print(source)
    started = time.perf_counter()
    figures: dict[str, Any] = {"coins": list(files), "seeds": seeds}
    figures["null"] = null_rates(seeds, days)
    figures["planted"] = planted_delays(seeds, days, change)
    figures["real"] = real_coins(files, args.quick)
    figures["stream"] = stream_cost()
    figures["seconds"] = time.perf_counter() - started

    null = figures["null"]
    iid = null["iid_moves"]
    out.print(f"False alarms where nothing changes: Student-t(4) moves {iid['alarms']} "
              f"in {iid['months']} x 30 days; volatility pipeline "
              f"{null['moves']['per_30_days']:.2f} and up_1h pipeline "
              f"{null['scaled']['per_30_days']:.2f} per 30 days "
              f"({null['moves']['days']:.0f} and {null['scaled']['days']:.0f} "
              "days scored)")  # fmt: skip
    out.print(f"  ADWIN (delta 0.002) on the same: {iid['adwin_alarms']}, "
              f"{null['moves']['adwin_per_30_days']:.2f} and "
              f"{null['scaled']['adwin_per_30_days']:.2f}")  # fmt: skip
    for kind in ("moves", "scaled"):
        scan = ", ".join(f"{h}: {v:.2f}" for h, v in null[kind]["scan_per_30_days"].items())
        out.print(f"  threshold scan ({kind}, alarms per 30 days): {scan}")
    planted = figures["planted"]
    out.print(f"Planted (change at day {change}): volatility doubling against a stale sigma caught "
              f"after {planted['volatility_doubling_stale_sigma_bars']} bars; against the refitted "
              f"EWMA {planted['volatility_doubling_refitted_ewma_bars']} bars; relation flip "
              f"(up_1h) after {planted['relation_flip_up_1h_hours']} hours; alarms before the "
              f"change: {planted['alarms_before_the_change']}; ADWIN: doubling after "
              f"{planted['adwin_stale_sigma_bars']} bars, flip after "
              f"{planted['adwin_relation_flip_hours']} hours")  # fmt: skip
    for target in ("up_1h", "volatility"):
        table = Table(title=f"{target}: prequential loss minus the base's (95 % day-block "
                      "interval; refits) and alarms per 30 days", title_justify="left")  # fmt: skip
        stale = target == "volatility"
        columns = ["coin", "days", "alarms/30d", "ADWIN", *(["vs stale sd"] if stale else []),
                   "scheduled", "on_alarm", "online"]  # fmt: skip
        for column in columns:
            table.add_column(column, justify="left" if column == "coin" else "right")
        for coin, by_target in figures["real"].items():
            r = by_target[target]
            cells = [f"{_fmt_interval(s['loss_vs_base'])} ({s['refits']})"
                     + (" *" if s["beats_base"] else "") for s in r["learners"]]  # fmt: skip
            extra = [f"{by_target['stale_sigma_alarms_per_30_days']:.1f}"] if stale else []
            table.add_row(coin, f"{r['days']:.0f}", f"{r['alarms_per_30_days']:.1f}",
                          f"{r['adwin_alarms_per_30_days']:.1f}", *extra, *cells)  # fmt: skip
        out.print(table)
    out.print("* = the whole interval below zero (better than the base); ADWIN: alarms per 30 "
              "days of ADWIN on what the Page-Hinkley monitor saw; vs stale sd: the move "
              "monitor against the trailing 30-day sd (how often the volatility level drifts "
              "away from a month-old estimate)")  # fmt: skip
    s = figures["stream"]
    river = (f"; river {s['river_us_per_value']:.1f} us a value, same alarms: {s['river_agrees']}"
             if "river_us_per_value" in s else "")  # fmt: skip
    out.print(f"stream: {s['cpu_ms_per_value']:.4f} ms CPU a value fed one at a time, state "
              f"{s['state_bytes']} B as JSON; batch {s['batch_us_per_value']:.2f} us a value "
              f"(ADWIN {s['adwin_batch_us_per_value']:.2f})"
              f"{river}; "
              f"{figures['seconds']:.0f} s in all")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
