"""Benchmark: regimes. Does the forward-filtered HMM find planted volatility regimes, sooner and
with less flicker than ADX or Bollinger-width thresholds, what did it see in the April 2025
crash, and is the weekend calmer?

Run from the repository root (about 3-4 minutes on 2 cores with 11 coins x 120 days):

    .venv/bin/python benchmarks/regimes.py
    .venv/bin/python benchmarks/regimes.py --quick --json /tmp/regimes.json   # smoke test, ~40 s

1. Planted regimes (`synthetic.regime_market`, `--seeds`, `--days` days each): a random walk whose
   volatility follows a two-state Markov chain (calm 10 bp a bar for 3 days on average,
   turbulent 3x for 1 day; Student-t(5) shocks). `models.regimes.walk_forward_regimes`
   (first window `--train-days`, refit every `--refit-days`, 2-4 states by BIC) labels every
   later bar. A fitted state counts as "turbulent" when its fitted volatility exceeds the
   geometric mean of the two planted ones (17 bp; only the scoring knows the truth). Scored on
   the bars after the first window: accuracy, median delay to flag a calm -> turbulent switch
   (hours, from the planted switch to the first turbulent label while the spell lasts; spells
   never flagged are "missed"), label switches against the planted ones. Three labels: the
   hysteresis label (the stream's), the raw filtered argmax, and Viterbi over each fold with
   that fold's model (smoothing: it sees the fold's future, a reference, not a candidate).
   Targets (issue 10): accuracy >= 85 %, median delay <= 3 h, switches <= 2x the planted.
2. Against indicators, on the same markets: ADX(14) and Bollinger band width(20, 2)
   ((upper - lower) / middle) from `cryptosignals.indicators`, each flagging "turbulent" above a
   threshold chosen on the first window (the one the HMM trains on) as the one that labels the
   planted truth best there (supervised: generous to the indicators), then scored like the
   filter on the rest; bare, and with the same confirmation as the filter's hysteresis
   (`switch_bars` consecutive bars before a switch).
3. The April 2025 crash (US tariffs announced 2 April 20:00 UTC; sell-off to 7-9 April) on
   `--episode-coins`: walk-forward labels (30-day window), the window 2025-04-02 12:00 ..
   2025-04-10 00:00 UTC. When each method first flagged the top state ("turbulent") after the
   announcement, and the share of the window flagged. ADX and band-width thresholds here have no
   truth to learn from: each is set on the coin's first 30 days to flag the same share of bars as
   the first fit's turbulent state's long-run share (the same alarm rate).
4. Weekend vs weekday (all coins found): the share of bars in each regime by session (UTC
   Saturday and Sunday vs the rest) from the walk-forward labels; 95 % intervals of the share
   and of the weekend - weekday difference by a bootstrap of whole days (`--boot` resamples;
   the same days for every coin, so cross-coin dependence is kept), pooled over coins with the
   same number of states.
5. The stream's cost: CPU per `RegimeFilter.update` of one bar, and its JSON state size.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from cryptosignals.candles import Candles, read_candles
from cryptosignals.indicators import adx, bbands
from cryptosignals.regimes import RegimeFilter, RegimeModel, bar_ends, regime_features
from cryptosignals.synthetic import regime_market

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = Path("../shared/data/market")
DAY = 86_400
BARS_PER_DAY = DAY // 300
ANNOUNCEMENT = int(datetime(2025, 4, 2, 20, tzinfo=UTC).timestamp())
EPISODE = (int(datetime(2025, 4, 2, 12, tzinfo=UTC).timestamp()),
           int(datetime(2025, 4, 10, tzinfo=UTC).timestamp()))  # fmt: skip


# -- scoring -----------------------------------------------------------------------------------
def confirm(flag: np.ndarray, bars: int) -> np.ndarray:
    """A boolean label that switches only after `bars` consecutive bars of the other value."""
    out = np.empty_like(flag)
    current, run = bool(flag[0]), 0
    for i, f in enumerate(flag):
        run = run + 1 if f != current else 0
        if run >= bars:
            current, run = bool(f), 0
        out[i] = current
    return out


def score(flag: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """Accuracy, median delay (hours) to flag a calm -> turbulent switch, misses, switches."""
    delays, missed = [], 0
    for i in np.flatnonzero(truth[1:] & ~truth[:-1]) + 1:
        stop = i + int(np.argmin(truth[i:])) if not truth[i:].all() else len(truth)
        hit = np.flatnonzero(flag[i:stop])
        if len(hit):
            delays.append(hit[0] * 300 / 3600)
        else:
            missed += 1
    return {
        "accuracy": float(np.mean(flag == truth)),
        "median_delay_h": float(np.median(delays)) if delays else math.nan,
        "missed": missed,
        "onsets": len(delays) + missed,
        "switches": int(np.sum(flag[1:] != flag[:-1])),
        "true_switches": int(np.sum(truth[1:] != truth[:-1])),
    }


def best_threshold(values: np.ndarray, truth: np.ndarray) -> float:
    """The threshold whose `values > threshold` labels `truth` best (ties: the lowest)."""
    ok = np.isfinite(values)
    candidates = np.quantile(values[ok], np.linspace(0.02, 0.98, 97))
    accuracy = [np.mean((values[ok] > c) == truth[ok]) for c in candidates]
    return float(candidates[int(np.argmax(accuracy))])


def indicators(candles: Candles) -> dict[str, np.ndarray]:
    upper, middle, lower = bbands(candles.close, 20, 2.0, 2.0)
    return {
        "adx14": adx(candles.high, candles.low, candles.close, 14),
        "bbw20": (upper - lower) / middle,
    }


def viterbi(model: RegimeModel, features: np.ndarray) -> np.ndarray:
    from cryptosignals.models.regimes import hmm_class

    hmm = hmm_class()(n_components=model.n_states, covariance_type="diag")
    hmm.startprob_ = np.array(model.startprob)
    hmm.transmat_ = np.array(model.transmat)
    hmm.means_ = np.array(model.means)
    hmm.covars_ = np.array(model.variances)
    return np.asarray(hmm.predict(features))  # the whole fold: smoothing, a reference only


def planted_run(seed: int, days: int, train_days: float, refit_days: float) -> dict[str, Any]:
    from cryptosignals.models.regimes import walk_forward_regimes

    market = regime_market(days=days, seed=seed)
    end, close, truth = market.end, market.candles.close, market.turbulent
    started = time.perf_counter()
    wf = walk_forward_regimes(end, close, train_days=train_days, refit_days=refit_days)
    fit_s = time.perf_counter() - started
    threshold = math.log(math.sqrt(0.001 * 0.003) * 1e4)  # 17.3 bp, in log bp
    rows = np.flatnonzero(end >= wf.starts[0])
    features = regime_features(end, close, wf.models[0].half_life)
    smoothed = np.full(len(end), -1)
    for i, (model, start) in enumerate(zip(wf.models, wf.starts, strict=True)):
        stop = wf.starts[i + 1] if i + 1 < len(wf.starts) else end[-1] + 1
        fold = np.flatnonzero((end >= start) & (end < stop))
        smoothed[fold] = viterbi(model, features[fold])
    results: dict[str, Any] = {"seed": seed, "fit_s": fit_s,
                               "n_states": [m.n_states for m in wf.models]}  # fmt: skip
    hot_of = _hot_states(wf.models, threshold)
    fold_of = np.searchsorted(np.array(wf.starts), end, "right") - 1
    for name, labels in (("filter", wf.output.label), ("filter argmax", wf.output.raw),
                         ("viterbi", smoothed)):  # fmt: skip
        flag = np.array([labels[i] in hot_of[fold_of[i]] for i in rows])
        results[name] = score(flag, truth[rows])
    train = end < wf.starts[0]
    switch_bars = wf.models[0].switch_bars
    for name, values in indicators(market.candles).items():
        cut = best_threshold(values[train], truth[train])
        flag = values[rows] > cut
        results[name] = {**score(flag, truth[rows]), "threshold": cut}
        confirmed = score(confirm(flag, switch_bars), truth[rows])
        results[f"{name}, confirmed"] = {**confirmed, "threshold": cut}
    return results


def _hot_states(models: Sequence[RegimeModel], threshold: float) -> list[set[int]]:
    return [{k for k in range(m.n_states) if 0.5 * math.log(m.variances[k][0]) > threshold}
            for m in models]  # fmt: skip


# -- real coins --------------------------------------------------------------------------------
def coin_run(coin: str, path: str, train_days: float, refit_days: float,
             days: float | None = None) -> dict[str, Any]:  # fmt: skip
    """Walk-forward labels of one real coin, and its indicator flags at the same alarm rate."""
    from cryptosignals.models.regimes import walk_forward_regimes

    candles = read_candles(path)
    if days is not None:
        keep = candles.timestamp < candles.timestamp[0] + days * DAY * 1000
        candles = candles[: int(keep.sum())]
    end = bar_ends(candles.timestamp)
    started = time.perf_counter()
    wf = walk_forward_regimes(end, candles.close, train_days=train_days, refit_days=refit_days)
    first = wf.models[0]
    top = first.n_states - 1
    # the long-run share of the top state in the first fit: the indicators' alarm rate
    share = float(first.startprob[top])
    train = end < wf.starts[0]
    flags = {}
    for name, values in indicators(candles).items():
        ok = train & np.isfinite(values)
        cut = float(np.quantile(values[ok], 1.0 - share))
        flags[name] = (values > cut, cut)
    return {
        "coin": coin,
        "fit_s": time.perf_counter() - started,
        "end": end,
        "close": candles.close,
        "label": wf.output.label,
        "raw": wf.output.raw,
        "names": list(first.names),
        "n_states": [m.n_states for m in wf.models],
        "alarm_share": share,
        "switch_bars": first.switch_bars,
        "flags": flags,
        "means_bp": [[round(m.means[k][0], 3) for k in range(m.n_states)] for m in wf.models],
        "vol_bp": [
            [round(math.sqrt(m.variances[k][0]), 2) for k in range(m.n_states)] for m in wf.models
        ],
    }


def _utc(t: int | None) -> str:
    return "never" if t is None else datetime.fromtimestamp(t, UTC).strftime("%m-%d %H:%M")


def episode(run: dict[str, Any]) -> dict[str, Any]:
    """The April 2025 crash: when each method first flagged the top state after the tariff
    announcement, and the share of the window it flagged."""
    end, close = run["end"], run["close"]
    inside = (end > EPISODE[0]) & (end <= EPISODE[1])
    top = len(run["names"]) - 1
    hourly = np.log(close[12:] / close[:-12])  # 1-hour moves ending at each bar
    window = np.flatnonzero(inside[12:]) + 12
    worst = int(window[np.argmin(hourly[window - 12])])
    methods = {"filter": run["label"] == top, "filter argmax": run["raw"] == top}
    for name, (flag, _) in run["flags"].items():
        methods[name] = flag
        methods[f"{name}, confirmed"] = confirm(flag, run["switch_bars"])
    out: dict[str, Any] = {
        "coin": run["coin"],
        "worst_hour_end": int(end[worst]),
        "worst_hour_pct": float(np.expm1(hourly[worst - 12]) * 100),
        "low": int(end[inside][np.argmin(close[inside])]),
        "methods": {},
    }
    after = inside & (end >= ANNOUNCEMENT)
    for name, flag in methods.items():
        hits = np.flatnonzero(flag & after)
        onsets = np.flatnonzero(flag[1:] & ~flag[:-1] & after[1:]) + 1
        out["methods"][name] = {
            "first_flag": int(end[hits[0]]) if len(hits) else None,
            "flag_at_worst_hour_start": bool(flag[worst - 12]),
            "share_flagged": float(np.mean(flag[inside])),
            "onsets": len(onsets),
        }
    return out


def weekend(runs: list[dict[str, Any]], resamples: int, seed: int) -> dict[str, Any]:
    """Regime shares by session, pooled over the coins that chose the same number of states,
    with 95 % day-block bootstrap intervals (the same resampled days for every coin)."""
    ks = [len(r["names"]) for r in runs]
    k = max(set(ks), key=ks.count)
    chosen = [r for r in runs if len(r["names"]) == k]
    day0 = min(int(r["end"][0]) for r in chosen) // DAY
    days = max(int(r["end"][-1]) for r in chosen) // DAY - day0 + 1
    # counts[c, d, s]: bars of coin c on day d in state s (labelled bars only)
    counts = np.zeros((len(chosen), days, k))
    for c, r in enumerate(chosen):
        ok = r["label"] >= 0
        day = (r["end"][ok] - 1) // DAY - day0  # the bar belongs to the day it was open in
        np.add.at(counts[c], (day, r["label"][ok]), 1)
    per_day = counts.sum(axis=0)  # pooled over coins
    weekday_of = (np.arange(days) + day0 + 3) % 7  # 1970-01-01 was a Thursday: 0 = Monday
    is_weekend = weekday_of >= 5
    used = per_day.sum(axis=1) > 0
    wk, we = np.flatnonzero(used & ~is_weekend), np.flatnonzero(used & is_weekend)

    def shares(rows: np.ndarray) -> np.ndarray:
        total = per_day[rows].sum(axis=0)
        return total / total.sum()

    rng = np.random.default_rng(seed)
    boot_wk = np.array([shares(rng.choice(wk, len(wk))) for _ in range(resamples)])
    boot_we = np.array([shares(rng.choice(we, len(we))) for _ in range(resamples)])
    diff = boot_we - boot_wk

    return {
        "coins": [r["coin"] for r in chosen],
        "left_out": [r["coin"] for r in runs if len(r["names"]) != k],
        "names": chosen[0]["names"],
        "days": {"weekday": len(wk), "weekend": len(we)},
        "weekday": shares(wk).tolist(),
        "weekend": shares(we).tolist(),
        "weekday_ci": np.quantile(boot_wk, [0.025, 0.975], axis=0).T.tolist(),
        "weekend_ci": np.quantile(boot_we, [0.025, 0.975], axis=0).T.tolist(),
        "difference": (shares(we) - shares(wk)).tolist(),
        "difference_ci": np.quantile(diff, [0.025, 0.975], axis=0).T.tolist(),
    }


def stream_cost(model: RegimeModel, end: np.ndarray, close: np.ndarray) -> dict[str, float]:
    """CPU per one-bar `update`, with and without the JSON round trip of a cold container."""
    filt = RegimeFilter(model)
    filt.update(end[:500], close[:500])
    bars = min(3000, len(end) - 500)
    started = time.process_time()
    for i in range(500, 500 + bars):
        filt.update(end[i : i + 1], close[i : i + 1])
    plain = (time.process_time() - started) / bars
    state = json.dumps(filt.to_json())
    started = time.process_time()
    for i in range(500 + bars, 500 + 2 * bars):
        filt = RegimeFilter(model, json.loads(state))
        filt.update(end[i : i + 1], close[i : i + 1])
        state = json.dumps(filt.to_json())
    resumed = (time.process_time() - started) / bars
    return {"update_us": plain * 1e6, "resume_update_save_us": resumed * 1e6,
            "state_bytes": len(state), "model_bytes": len(json.dumps(model.to_json()))}  # fmt: skip


# -- report ------------------------------------------------------------------------------------
def _f(x: float | None, digits: int = 1) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def print_planted(runs: list[dict[str, Any]]) -> dict[str, Any]:
    methods = [k for k in runs[0] if isinstance(runs[0][k], dict)]
    print(
        "\n1-2. planted regimes: accuracy, median delay to flag calm -> turbulent, missed "
        "onsets, label switches / planted switches (bars after the first window)"
    )
    print(
        f"  {'method':<22} {'seed':>4} {'accuracy':>8} {'delay h':>8} {'missed':>7} "
        f"{'switches':>9} {'ratio':>6}"
    )
    pooled: dict[str, Any] = {}
    for name in methods:
        for r in runs:
            s = r[name]
            print(
                f"  {name:<22} {r['seed']:>4} {s['accuracy']:>8.1%} "
                f"{_f(s['median_delay_h'], 2):>8} {s['missed']:>3}/{s['onsets']:<3} "
                f"{s['switches']:>4}/{s['true_switches']:<4} "
                f"{s['switches'] / s['true_switches']:>6.2f}"
            )
        accuracy = float(np.mean([r[name]["accuracy"] for r in runs]))
        delay = float(np.median([r[name]["median_delay_h"] for r in runs]))
        ratio = sum(r[name]["switches"] for r in runs) / sum(r[name]["true_switches"] for r in runs)
        missed = sum(r[name]["missed"] for r in runs)
        onsets = sum(r[name]["onsets"] for r in runs)
        pooled[name] = {"accuracy": accuracy, "median_delay_h": delay, "switch_ratio": ratio,
                        "missed": missed, "onsets": onsets}  # fmt: skip
        print(
            f"  {name:<22} {'all':>4} {accuracy:>8.1%} {delay:>8.2f} {missed:>3}/{onsets:<3} "
            f"{'':>9} {ratio:>6.2f}"
        )
    f = pooled["filter"]
    verdict = f["accuracy"] >= 0.85 and f["median_delay_h"] <= 3 and f["switch_ratio"] <= 2
    print(
        f"  targets (accuracy >= 85 %, delay <= 3 h, switches <= 2x): "
        f"{'met' if verdict else 'NOT met'} by the filter; states chosen: "
        f"{sorted({k for r in runs for k in r['n_states']})}"
    )
    pooled["targets_met"] = verdict
    return pooled


def print_episodes(episodes: list[dict[str, Any]]) -> None:
    print(
        "\n3. the April 2025 crash (tariffs announced 04-02 20:00 UTC; window 04-02 12:00 .. "
        "04-10 00:00): first flag of the top state after the announcement, whether it was "
        "on at the start of the worst hour, share of the window flagged, onsets"
    )
    for e in episodes:
        print(
            f"  {e['coin']}: worst hour {e['worst_hour_pct']:+.1f} % ending "
            f"{_utc(e['worst_hour_end'])}, low at {_utc(e['low'])}"
        )
        for name, m in e["methods"].items():
            print(
                f"    {name:<22} first {_utc(m['first_flag']):<12} at worst hour "
                f"{'yes' if m['flag_at_worst_hour_start'] else 'no ':<4} "
                f"flagged {m['share_flagged']:>5.0%}  onsets {m['onsets']}"
            )


def print_weekend(w: dict[str, Any]) -> None:
    print(
        f"\n4. weekend vs weekday: share of bars in each regime, {len(w['coins'])} coins "
        f"with {len(w['names'])} states pooled ({w['days']['weekday']} weekdays, "
        f"{w['days']['weekend']} weekend days; 95 % day-block bootstrap)"
        + (f"; left out (other K): {', '.join(w['left_out'])}" if w["left_out"] else "")
    )
    for k, name in enumerate(w["names"]):
        lo, hi = w["difference_ci"][k]
        print(
            f"  {name:<10} weekday {w['weekday'][k]:>5.1%} [{w['weekday_ci'][k][0]:.1%}, "
            f"{w['weekday_ci'][k][1]:.1%}]  weekend {w['weekend'][k]:>5.1%} "
            f"[{w['weekend_ci'][k][0]:.1%}, {w['weekend_ci'][k][1]:.1%}]  difference "
            f"{w['difference'][k]:+.1%} [{lo:+.1%}, {hi:+.1%}]"
            + ("  *" if lo > 0 or hi < 0 else "")
        )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--data",
        type=Path,
        default=DEFAULT_DATA,
        help="folder of <coin>_5m.csv[.gz] (default ../shared/data/market)",
    )
    parser.add_argument("--coins", help="comma-separated coin ids (default: all found)")
    parser.add_argument("--episode-coins", default="bitcoin,ethereum,solana,dogecoin")
    parser.add_argument("--seeds", default="1,2,3,4", help="planted markets' seeds")
    parser.add_argument("--days", type=int, default=60, help="days of each planted market")
    parser.add_argument("--train-days", type=float, default=30.0)
    parser.add_argument("--refit-days", type=float, default=7.0)
    parser.add_argument("--real-days", type=float, help="keep only the first N days of each coin")
    parser.add_argument("--boot", type=int, default=2000, help="bootstrap resamples")
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--json", type=Path, help="write the figures to this file")
    parser.add_argument(
        "--quick", action="store_true", help="2 planted markets of 40 days, 3 coins, 20-day windows"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.seeds, args.days, args.train_days = "1,2", 40, 20.0
        args.coins = args.coins or "bitcoin,ethereum"
        args.real_days = 55.0
        args.episode_coins = "bitcoin"
        args.boot = 300
    return args  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    data = args.data if args.data.is_absolute() else ROOT / args.data
    files = {p.name.split("_5m.csv")[0]: p for p in sorted(data.glob("*_5m.csv*"))}
    if args.coins:
        files = {c: files[c] for c in args.coins.split(",") if c in files}
    print(
        f"data: {len(files)} coin(s) of 5m candles in {data}; planted: seeds {seeds}, "
        f"{args.days} days each; walk-forward: {args.train_days:g}-day window, refit every "
        f"{args.refit_days:g} days, 2-4 states by BIC on the first window"
    )
    print(
        f"machine: Python {platform.python_version()}, numpy {np.__version__}, "
        f"{platform.machine()}, {os.cpu_count()} cpus, {args.jobs} worker(s)"
    )
    with ProcessPoolExecutor(args.jobs) as pool:
        planted_jobs = [pool.submit(planted_run, s, args.days, args.train_days, args.refit_days)
                        for s in seeds]  # fmt: skip
        window = (args.train_days, args.refit_days, args.real_days)
        coin_jobs = [pool.submit(coin_run, c, str(p), *window) for c, p in files.items()]
        planted = [j.result() for j in planted_jobs]
        runs = [j.result() for j in coin_jobs]
    figures: dict[str, Any] = {"planted": {"runs": planted, "pooled": print_planted(planted)}}
    wanted = [c for c in args.episode_coins.split(",") if c]
    episodes = [episode(r) for r in runs if r["coin"] in wanted
                and r["end"][0] < EPISODE[0] and r["end"][-1] > EPISODE[1]]  # fmt: skip
    if episodes:
        print_episodes(episodes)
    figures["episodes"] = episodes
    if runs:
        print(
            "\n   states on real coins (first fit): "
            + ", ".join(f"{r['coin']} {r['n_states'][0]}" for r in runs)
        )
        w = weekend(runs, args.boot, seed=0)
        print_weekend(w)
        figures["weekend"] = w
        figures["real"] = [{k: r[k] for k in ("coin", "fit_s", "names", "n_states",
                                              "means_bp", "vol_bp", "alarm_share")}
                           for r in runs]  # fmt: skip
    market = regime_market(days=20, seed=seeds[0])
    from cryptosignals.models.regimes import fit_regimes

    model = fit_regimes(market.end[:2880], market.candles.close[:2880], n_states=(4,), restarts=1)
    cost = stream_cost(model, market.end, market.candles.close)
    print(
        f"\n5. the stream: {cost['update_us']:.0f} us of CPU per one-bar update "
        f"({cost['resume_update_save_us']:.0f} us with the state read from and written to "
        f"JSON each bar), state {cost['state_bytes']} bytes of JSON, a 4-state model "
        f"{cost['model_bytes']} bytes"
    )
    figures["stream"] = cost
    elapsed = time.perf_counter() - started
    print(f"\ntotal {elapsed:.0f} s")
    figures["seconds"] = elapsed
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1, default=_plain) + "\n")
    return 0


def _plain(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return None  # per-bar arrays stay out of the figures
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(type(value))


if __name__ == "__main__":
    sys.exit(main())
