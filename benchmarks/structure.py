"""Benchmark: chart structure. Are planted double tops, double bottoms and (inverse) head and
shoulders found in time, how often does noise fire them, what does the tracker cost, and what
happens after them on real coins?

Run from the repository root (about a minute on 2 cores with 11 coins x 120 days):

    .venv/bin/python benchmarks/structure.py
    .venv/bin/python benchmarks/structure.py --quick --json /tmp/structure.json   # smoke test

Every run feeds 1-hour bars (`structure.aggregate_bars` of 5-minute candles) to a
`StructureTracker` with the default parameters.

1. Planted (`patterns_market.pattern_market`, `--seeds` markets of `--days` days): a calm random
   walk (0.1 % per 5 minutes) with one pattern every 3 days, the four kinds in turn, 4 % high
   (the head 6.4 %), legs of 8 hours. A planted pattern is found when its kind fires within 6
   hours after its last peak (the second top or bottom, the right shoulder). Target (issue): >=
   80 % found. Firings of a kind anywhere else in those markets are counted too (per 30 days).
   The same at 3 % and 2 % heights: how the hit rate falls as a pattern nears the noise.
2. Noise (the same walks, nothing planted; `--noise-seeds` x `--days` days, at 0.1 %, 0.2 % and
   0.3 % per 5 minutes: a calm coin to a volatile one): firings of each pattern per 30 days.
   Target: <= 1 per 30 days each. Breakouts per 30 days and their false
   share, for the record.
3. Cost: microseconds per bar fed one at a time (the stream's way) and in one batch, and the
   state as zlib-compressed JSON after 120 days (target <= 1.5 KB). And what all of question
   13-16's parts cost the engine (target: <= 2 KB of state, <= 1 ms a tick): the engine fed two
   days of real 1-minute bitcoin ticks (benchmarks/data), the second day one tick at a time
   through a JSON round trip as the process function does, with its default configuration and
   with structure, the zones of other timeframes and the trends other than 1h removed; the state
   as the store writes it (zlib with the frozen dictionary).
4. Real coins (`--data`, 5-minute candles; the bundled samples when absent): firings per pattern
   per coin per 30 days, breakouts and their false share, and, as a first honest look, the mean
   forward 1h return after each pattern (close of the firing bar to the close of the next
   1-hour bar, in %, signed so that the pattern's claim is positive: x -1 for the SELL patterns)
   with a 95 % bootstrap interval, against random timing: the 2.5-97.5 % range of the same mean
   over `--draws` sets of as many bars drawn at random from the same coins. The volume ratio is
   the 24h volume (sum of the last 288 candles) over its mean over the 288 bars before. The
   firing rate is set against that of a Gaussian random walk with each coin's own 5-minute
   volatility ("walk"): do real charts hold more of these shapes than noise of the same size?
"""

from __future__ import annotations

import argparse
import json
import platform
import time
import zlib
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np

from _data import DEFAULT_DATA, ROOT, find_coins
from cryptosignals.aws.store import _dump_state
from cryptosignals.candles import Candles, candles_to_ticks, read_candles
from cryptosignals.engine import Engine, EngineConfig
from cryptosignals.patterns_market import pattern_market
from cryptosignals.regimes import bar_ends
from cryptosignals.structure import (
    PATTERNS,
    StructureParams,
    StructureTracker,
    aggregate_bars,
    breakout_history,
)

HOUR = 3600
WITHIN_H = 6.0
SELLS = ("double_top", "head_shoulders")


def hourly(candles: Candles, volume_ratio: np.ndarray | None = None) -> dict[str, np.ndarray]:
    end = bar_ends(candles.timestamp)
    ratio = np.ones(len(end)) if volume_ratio is None else volume_ratio
    return aggregate_bars(end, candles.high, candles.low, candles.close, ratio, HOUR)


def volume_ratio(volume: np.ndarray, window: int = 288) -> np.ndarray:
    """24h volume (the last `window` candles) over its mean over the `window` bars before."""
    c = np.r_[0.0, np.cumsum(np.asarray(volume, float))]
    day = np.full(len(volume), np.nan)
    day[window - 1 :] = c[window:] - c[:-window]
    d = np.r_[0.0, np.cumsum(np.nan_to_num(day))]
    out = np.full(len(volume), np.nan)
    i = np.arange(2 * window - 1, len(volume))
    out[i] = day[i] / ((d[i] - d[i - window]) / window)
    return out


def planted(seeds: int, days: int, height: float) -> dict[str, Any]:
    found = {k: 0 for k in PATTERNS}
    count = {k: 0 for k in PATTERNS}
    other = {k: 0 for k in PATTERNS}
    delays: list[float] = []
    for seed in range(seeds):
        candles, patterns = pattern_market(days=days, seed=seed, height=height)
        bars = hourly(candles)
        out = StructureTracker().update(bars)
        end5 = bar_ends(candles.timestamp)
        for kind in PATTERNS:
            fired = bars["end"][out[kind] > 0]
            peaks = np.array([end5[p.last_peak] for p in patterns if p.kind == kind])
            count[kind] += len(peaks)
            for t in peaks:
                hit = fired[(fired >= t) & (fired <= t + WITHIN_H * HOUR)]
                if len(hit):
                    found[kind] += 1
                    delays.append(float(hit[0] - t) / HOUR)
            near = [np.any((f >= peaks) & (f <= peaks + WITHIN_H * HOUR)) for f in fired]
            other[kind] += int(len(fired) - np.sum(near))
    total_days = seeds * days
    return {
        "height": height,
        "found": {k: found[k] for k in PATTERNS},
        "planted": {k: count[k] for k in PATTERNS},
        "found_share": {k: found[k] / max(count[k], 1) for k in PATTERNS},
        "median_delay_h": float(np.median(delays)) if delays else None,
        "other_firings_per_30d": {k: other[k] / total_days * 30 for k in PATTERNS},
    }


def noise(seeds: int, days: int, vol: float = 0.001) -> dict[str, Any]:
    fired = {k: 0 for k in PATTERNS}
    breakouts, false = 0, 0
    for seed in range(seeds):
        candles, _ = pattern_market(days=days, seed=1000 + seed, plant=False, vol=vol)
        ratio = volume_ratio(candles.volume)
        out = StructureTracker().update(hourly(candles, ratio))
        for k in PATTERNS:
            fired[k] += int((out[k] > 0).sum())
        history = breakout_history(out)
        breakouts += len(history)
        false += sum(not h.held for h in history)
    total_days = seeds * days
    return {
        "vol_5m": vol,
        "days": total_days,
        "firings": fired,
        "per_30d": {k: fired[k] / total_days * 30 for k in PATTERNS},
        "breakouts_per_30d": breakouts / total_days * 30,
        "false_breakout_share": false / breakouts if breakouts else None,
    }


def cost(days: int = 120) -> dict[str, Any]:
    candles, _ = pattern_market(days=days, seed=7)
    bars = hourly(candles, volume_ratio(candles.volume))
    n = len(bars["end"])
    t0 = time.perf_counter()
    batch = StructureTracker()
    batch.update(bars)
    batch_us = (time.perf_counter() - t0) / n * 1e6
    one = StructureTracker()
    t0 = time.perf_counter()
    for i in range(n):
        one.update({c: v[i : i + 1] for c, v in bars.items()})
    one_us = (time.perf_counter() - t0) / n * 1e6
    text = json.dumps(one.to_json())
    return {
        "bars": n,
        "us_per_bar_one_at_a_time": one_us,
        "us_per_bar_batch": batch_us,
        "state_json_bytes": len(text),
        "state_zlib_bytes": len(zlib.compress(text.encode())),
    }


def _day_boot(x: np.ndarray, days: np.ndarray, rng: np.random.Generator, draws: int
              ) -> tuple[float, float]:  # fmt: skip
    """95 % interval of the mean of `x` by a bootstrap of whole UTC days (the coins fire
    together on big days: the events of one day are not independent)."""
    unique = np.unique(days)
    if len(unique) < 2:
        return (float("nan"), float("nan"))
    groups = [x[days == d] for d in unique]
    sums = np.array([g.sum() for g in groups])
    sizes = np.array([len(g) for g in groups])
    pick = rng.integers(0, len(unique), (draws, len(unique)))
    means = sums[pick].sum(axis=1) / sizes[pick].sum(axis=1)
    return float(np.quantile(means, 0.025)), float(np.quantile(means, 0.975))


def real(data: Path, coins: list[str] | None, draws: int,
         params: StructureParams | None = None) -> dict[str, Any]:  # fmt: skip
    found, source = find_coins(data, coins)
    rng = np.random.default_rng(0)
    per_coin: dict[str, Any] = {}
    events: dict[str, list[tuple[str, int]]] = {k: [] for k in PATTERNS}
    forward: dict[str, np.ndarray] = {}
    ends: dict[str, np.ndarray] = {}
    days_total = 0.0
    for coin, path in found.items():
        candles = read_candles(path)
        bars = hourly(candles, volume_ratio(candles.volume))
        out = StructureTracker(params).update(bars)
        close = bars["close"]
        fwd = np.full(len(close), np.nan)
        fwd[:-1] = (close[1:] / close[:-1] - 1.0) * 100.0
        fwd[:-1][np.diff(bars["end"]) != HOUR] = np.nan  # a gap: no next hour
        forward[coin], ends[coin] = fwd, bars["end"]
        days = len(close) / 24
        days_total += days
        history = breakout_history(out)
        # the same count on a Gaussian random walk with the coin's own 5-minute volatility
        r5 = np.diff(np.log(candles.close))
        walk = candles.close[0] * np.exp(np.r_[0.0, np.cumsum(rng.normal(0, r5.std(), len(r5)))])
        wick = np.abs(rng.normal(0.0, 0.3 * r5.std(), (2, len(walk))))
        shuffled = Candles(candles.timestamp, walk, walk * (1 + wick[0]), walk * (1 - wick[1]),
                           walk, candles.volume)  # fmt: skip
        null_out = StructureTracker(params).update(hourly(shuffled, volume_ratio(candles.volume)))
        per_coin[coin] = {
            "days": round(days, 1),
            "sigma_5m_pct": float(r5.std() * 100),
            "per_30d": {k: int((out[k] > 0).sum()) / days * 30 for k in PATTERNS},
            "walk_per_30d": {k: int((null_out[k] > 0).sum()) / days * 30 for k in PATTERNS},
            "breakouts": len(history),
            "false_breakouts": sum(not h.held for h in history),
        }
        for k in PATTERNS:
            events[k] += [(coin, int(i)) for i in np.flatnonzero(out[k] > 0)]
    after: dict[str, Any] = {}
    for k in PATTERNS:
        sign = -1.0 if k in SELLS else 1.0
        pairs = [(c, i) for c, i in events[k] if np.isfinite(forward[c][i])]
        if not pairs:
            after[k] = {"n": 0}
            continue
        x = np.array([sign * forward[c][i] for c, i in pairs])
        day = np.array([ends[c][i] // 86_400 for c, i in pairs])
        lo, hi = _day_boot(x, day, rng, draws)
        # random timing: every firing moved by the same random number of hours (circularly, in
        # its coin's series), so the firings' clustering across coins and in time is kept
        null = np.empty(draws)
        for d in range(draws):
            shift = int(rng.integers(1, min(len(forward[c]) for c, _ in pairs)))
            moved = np.array([forward[c][(i + shift) % len(forward[c])] for c, i in pairs])
            moved = moved[np.isfinite(moved)]
            null[d] = sign * moved.mean() if len(moved) else np.nan
        null = null[np.isfinite(null)]
        nlo, nhi = float(np.quantile(null, 0.025)), float(np.quantile(null, 0.975))
        after[k] = {
            "n": len(pairs), "days": len(np.unique(day)), "mean_pct": float(x.mean()),
            "ci95_pct": [lo, hi], "random_timing_95_pct": [nlo, nhi],
            "p_random_timing": float((np.sum(np.abs(null) >= abs(x.mean())) + 1) / (draws + 1)),
            "outside_random_range": bool(not nlo <= x.mean() <= nhi),
        }  # fmt: skip
    return {
        "params": asdict(params or StructureParams()),
        "source": source,
        "coins": list(found),
        "days": round(days_total, 1),
        "per_coin": per_coin,
        "per_30d_mean": {
            k: float(np.mean([v["per_30d"][k] for v in per_coin.values()])) for k in PATTERNS
        },
        "walk_per_30d_mean": {
            k: float(np.mean([v["walk_per_30d"][k] for v in per_coin.values()])) for k in PATTERNS
        },
        "forward_1h": after,
    }


def engine_cost(ticks_per_run: int | None = None, rounds: int = 3) -> dict[str, Any]:
    """The engine's state and CPU a tick with and without the structure and timeframe parts
    (the two alternate for `rounds` rounds; the least CPU of each is kept: a loaded machine
    only adds)."""
    ticks = candles_to_ticks("bitcoin", read_candles(ROOT / "benchmarks/data/bitcoin_1m.csv.gz"))
    day = len(ticks) // 2
    stop = len(ticks) if ticks_per_run is None else day + ticks_per_run
    full = EngineConfig.for_coin("bitcoin")
    bare = replace(full, structure=None, level_timeframes=(), level_pivots=(),
                   trend_timeframes=("1h",))  # fmt: skip
    out: dict[str, Any] = {"ticks_one_at_a_time": stop - day}
    for _ in range(rounds):
        for name, config in (("with", full), ("without", bare)):
            engine = Engine("bitcoin", config)
            engine.feed(ticks[:day])
            seconds = 0.0
            for i in range(day, stop):
                t0 = time.process_time()
                engine = Engine.from_state(json.loads(json.dumps(engine.state())), config)
                engine.feed(ticks[i : i + 1])
                seconds += time.process_time() - t0
            ms = seconds / (stop - day) * 1e3
            out[name] = {
                "ms_per_tick": min(ms, out.get(name, {}).get("ms_per_tick", ms)),
                "state_bytes": len(_dump_state(json.loads(json.dumps(engine.state())))),
            }
    out["added_bytes"] = out["with"]["state_bytes"] - out["without"]["state_bytes"]
    out["added_ms_per_tick"] = out["with"]["ms_per_tick"] - out["without"]["ms_per_tick"]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--coins", nargs="*")
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--noise-seeds", type=int, default=10)
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--draws", type=int, default=2000)
    parser.add_argument("--quick", action="store_true", help="small runs, for the smoke test")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    if args.quick:
        args.seeds, args.noise_seeds, args.days, args.draws = 2, 2, 30, 200
    heights = (0.04,) if args.quick else (0.04, 0.03, 0.02)
    result: dict[str, Any] = {"python": platform.python_version(), "quick": args.quick}
    started = time.perf_counter()
    result["real"] = real(args.data, args.coins, args.draws)
    result["real_percent_only"] = real(args.data, args.coins, args.draws,
                                       StructureParams(min_depth_atr=0.0))  # fmt: skip
    print(result["real"]["source"])

    result["planted"] = [planted(args.seeds, args.days, h) for h in heights]
    for p in result["planted"]:
        print(f"planted {p['height']:.0%} high ({args.seeds} x {args.days} days), found within "
              f"{WITHIN_H:.0f} h of the last peak (median delay "
              f"{p['median_delay_h']:.1f} h):")  # fmt: skip
        for k in PATTERNS:
            print(f"  {k:24s} {p['found'][k]:3d}/{p['planted'][k]:<3d} "
                  f"{p['found_share'][k]:6.1%}   elsewhere "
                  f"{p['other_firings_per_30d'][k]:.2f} per 30 days")  # fmt: skip
    vols = (0.001, 0.003) if args.quick else (0.001, 0.002, 0.003)
    result["noise"] = [noise(args.noise_seeds, args.days, v) for v in vols]
    for nz in result["noise"]:
        print(f"noise ({nz['days']} days of random walk, {nz['vol_5m']:.1%} per 5 minutes), "
              "firings per 30 days:")  # fmt: skip
        for k in PATTERNS:
            print(f"  {k:24s} {nz['per_30d'][k]:.2f}  ({nz['firings'][k]} in all)")
        share = nz["false_breakout_share"]
        print(f"  breakouts {nz['breakouts_per_30d']:.1f} per 30 days, "
              f"false {share:.0%}" if share is not None else "  no breakouts")  # fmt: skip

    result["cost"] = cost(30 if args.quick else 120)
    c = result["cost"]
    print(f"cost: {c['us_per_bar_one_at_a_time']:.0f} us per bar one at a time, "
          f"{c['us_per_bar_batch']:.0f} us in a batch; state {c['state_zlib_bytes']} B zlib "
          f"({c['state_json_bytes']} B JSON) after {c['bars']} 1h bars")  # fmt: skip

    e = result["engine"] = engine_cost(60 if args.quick else None)
    print(f"in the engine (real 1-minute bitcoin, {e['ticks_one_at_a_time']} ticks one at a "
          f"time): state {e['with']['state_bytes']:,} B with structure, zones and trends, "
          f"{e['without']['state_bytes']:,} B without (+{e['added_bytes']:,} B); "
          f"{e['with']['ms_per_tick']:.2f} vs {e['without']['ms_per_tick']:.2f} ms a tick "
          f"(+{e['added_ms_per_tick']:.2f} ms)")  # fmt: skip

    for label in ("real", "real_percent_only"):
        _print_real(label, result[label])
    result["seconds"] = round(time.perf_counter() - started, 1)
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    return 0


def _print_real(label: str, r: dict[str, Any]) -> None:
    floor = r["params"]["min_depth_atr"]
    print(f"{label}: {len(r['coins'])} coins, {r['days']:.0f} coin-days, depth floor {floor} ATR; "
          f"firings per coin per 30 days (a walk of the same volatility), and the forward 1h "
          f"return (%, signed by the claim) after each:")  # fmt: skip
    for k in PATTERNS:
        a = r["forward_1h"][k]
        if a["n"] == 0:
            print(f"  {k:24s} {r['per_30d_mean'][k]:.2f}/30d (walk {r['walk_per_30d_mean'][k]:.2f})"
                  "  no firing")  # fmt: skip
            continue
        lo, hi = a["ci95_pct"]
        nlo, nhi = a["random_timing_95_pct"]
        print(f"  {k:24s} {r['per_30d_mean'][k]:.2f}/30d (walk {r['walk_per_30d_mean'][k]:.2f})  "
              f"n={a['n']:3d} ({a['days']} days)  "
              f"mean {a['mean_pct']:+.3f} [{lo:+.3f}, {hi:+.3f}]  random timing "
              f"[{nlo:+.3f}, {nhi:+.3f}] p={a['p_random_timing']:.3f}")  # fmt: skip
    b = sum(v["breakouts"] for v in r["per_coin"].values())
    fb = sum(v["false_breakouts"] for v in r["per_coin"].values())
    print(f"  breakouts {b} ({b / r['days'] * 30:.1f} per coin per 30 days), false "
          f"{fb / b:.0%}" if b else "  no breakouts")  # fmt: skip


if __name__ == "__main__":
    raise SystemExit(main())
