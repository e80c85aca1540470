"""Benchmark: market context on real coins. How strongly does bitcoin drive each coin, how often
is a coin's hourly move mostly bitcoin's, how much of the market's variance is one factor, how
often does the market alert fire, and is the next hour after it any different from a random one?
What do the trackers cost the stream?

Run from the repository root (11 coins x 120 days: 7 minutes on a loaded 2-core machine, 55 s
before item 7 and its generated null markets were added):

    .venv/bin/python benchmarks/market.py
    .venv/bin/python benchmarks/market.py --quick --json /tmp/market.json   # smoke test, ~30 s

Data: every `<coin>_5m.csv[.gz]` in `--data` (default ../shared/data/market: 11 coins x 120 days
of Binance 5-minute candles), else the bundled three-week samples of 4 coins. The bars are the
engine's (`engine.closed_bars`), streamed through `models.market.market_history` (the stream's
`BetaTracker` per coin, half-life 288 bars = 1 day, and `MarketTracker`, half-life 24 bars, a day
at a time).

1. Beta and correlation to bitcoin per coin: median and 10-90 % range over time.
2. btc-driven hourly moves: the share of non-overlapping clock hours whose move was btc-driven
   (explained share >= 0.5 and correlation >= 0.5), all hours and the largest 10 %.
3. PC1 share (and mean pairwise correlation) distribution over the bars.
4. Market alerts: count by kind and per day; on generated independent coins (`--null-days` x
   `--seeds`, same number of coins, 0.2 % per bar) the rate that fires on no co-movement.
5. After an alert: the size of the next hour's moves (the mean over coins of |1h log move| from
   the alert's bar close) against (a) random timing: every bar, with the 95 % range of the mean
   of as many random bars as there were alerts, and (b) bars matched on the past hour's size
   (same decile of the mean |1h move| over coins), since volatility clusters and an alert follows
   a large hour. A 95 % bootstrap interval for the ratio after-alert / baseline (resampling the
   alerts). Direction: the share of next hours whose median move has the alert's sign
   (breadth_up -> up, breadth_down -> down) with a 95 % Wilson interval. The same on each half
   of the data apart (does it hold in both?), and the interval's null check: 400 sets of random
   bars in place of the alerts, how often the 95 % interval of the ratio holds 1. Descriptive and
   in sample: a first honest look, not a walk-forward test of a strategy.
6. Cost: microseconds per bar of `BetaTracker.update` and per bar time of `MarketTracker.update`
   fed one bar at a time (as the process function does), and the JSON state sizes (raw and
   zlib-compressed) for the real coins and for 20 generated coins.
7. The market alerts as signals (`market.MarketSignals`: ALERTs of the pseudo-coin "market",
   the equal-weighted index of the coins, claim: a bigger move than usual over the horizon),
   judged by the evidence layer: the batch scorecard on the index (`models.market.
   market_scorecard`: hit rate against the base rate, mean |move| with its interval against
   random timing, circular-shift p, Benjamini-Hochberg q; every rule and all alerts pooled, every
   horizon; on the whole data and on each half), the stream's own track record at the last alert
   (always-valid p; each signal judged only by outcomes that ended before it), the calibration of
   its confidence, and the index's next hour after an alert against bars whose past hour moved
   the index as much (same decile). Null check: the same scorecard on generated markets cut into
   3-day pieces, (a) independent random walks (6 coins, breadth alerts at 1 sigma so that each
   piece has some) and (b) coins moving as one with constant volatility (11 coins, the default
   alert): how often p <= 0.05 and how often a cell is flagged (q <= 0.10).
"""

from __future__ import annotations

import argparse
import json
import math
import time
import warnings
import zlib
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from _data import DEFAULT_DATA, find_coins
from cryptosignals.backtest.scorecard import ScoreRow
from cryptosignals.candles import candles_to_ticks, read_candles
from cryptosignals.engine import closed_bars
from cryptosignals.evidence import calibration, entry_exit, realised_claims, realised_outcomes
from cryptosignals.market import BAR_SECONDS, BetaTracker, MarketSignals, MarketTracker
from cryptosignals.models.market import POOLED_RULE, MarketHistory, market_history, market_scorecard
from cryptosignals.synthetic import factor_bars

HOUR = 12  # bars


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder of 5m candles")
    parser.add_argument("--coins", help="comma-separated coin ids (default: all found)")
    parser.add_argument("--quick", action="store_true", help="the bundled samples, short null")
    parser.add_argument("--null-days", type=int, default=60, help="days per generated market")
    parser.add_argument("--seeds", type=int, default=5, help="generated null markets")
    parser.add_argument("--boot", type=int, default=2000, help="bootstrap resamples")
    parser.add_argument(
        "--null-markets", type=int, default=8, help="36-day generated markets per signals' null"
    )
    parser.add_argument("--json", type=Path, help="write the figures here")
    return parser.parse_args(argv)


def _q(values: np.ndarray, qs: Sequence[float]) -> list[float]:
    v = values[np.isfinite(values)]
    return [round(float(np.quantile(v, q)), 4) for q in qs] if len(v) else [math.nan] * len(qs)


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    if n == 0:
        return math.nan, math.nan
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def hourly_moves(history: MarketHistory) -> tuple[np.ndarray, np.ndarray]:
    """Per bar (rows of history.end): the mean over coins of |log move| over the previous hour
    and over the next hour (NaN where a bar an hour away is missing), and the median next move."""
    logc = np.log(history.closes)
    n = len(history.end)
    past = np.full(logc.shape, np.nan)
    ahead = np.full(logc.shape, np.nan)
    one_hour = history.end[HOUR:] - history.end[:-HOUR] == HOUR * BAR_SECONDS
    past[HOUR:] = np.where(one_hour[:, None], logc[HOUR:] - logc[:-HOUR], np.nan)
    ahead[: n - HOUR] = past[HOUR:]
    return past, ahead


def sizes(history: MarketHistory) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per market row: the next hour's size, the past hour's size, the next hour's median move,
    and whether both sizes are known."""
    m = history.market
    past, ahead = hourly_moves(history)
    row = np.searchsorted(history.end, m["end"])  # market rows -> bar rows
    with warnings.catch_warnings():  # all-NaN rows (the last hour) are expected
        warnings.simplefilter("ignore", RuntimeWarning)
        size_next = np.nanmean(np.abs(ahead), axis=1)[row]
        size_past = np.nanmean(np.abs(past), axis=1)[row]
        median_next = np.nanmedian(ahead, axis=1)[row]
    return size_next, size_past, median_next, np.isfinite(size_next) & np.isfinite(size_past)


def placebo_coverage(history: MarketHistory, n: int, boot: int, trials: int) -> dict[str, Any]:
    """The interval's null check: `trials` sets of n random bars in place of the alerts (no
    effect by construction); how often the 95 % bootstrap interval of the ratio to random timing
    holds 1."""
    size_next, _, _, ok = sizes(history)
    everyone = np.flatnonzero(ok)
    base = size_next[everyone].mean()
    rng = np.random.default_rng(7)
    covered = 0
    for _ in range(trials):
        after = size_next[rng.choice(everyone, n, replace=False)]
        ratio = after[rng.integers(0, n, (boot, n))].mean(axis=1) / base
        lo, hi = np.quantile(ratio, [0.025, 0.975])
        covered += bool(lo <= 1.0 <= hi)
    return {"trials": trials, "n": n, "coverage_of_95ci": round(covered / trials, 3)}


def after_alerts(history: MarketHistory, boot: int, within: np.ndarray | None = None,
                 seed: int = 0) -> dict[str, Any]:  # fmt: skip
    m = history.market
    size_next, size_past, median_next, ok = sizes(history)
    if within is not None:
        ok = ok & within
    alerts = np.flatnonzero((m["alert"] != "") & ok)
    rng = np.random.default_rng(seed)
    out: dict[str, Any] = {"alerts_scored": len(alerts)}
    if len(alerts) < 2:
        return out
    everyone = np.flatnonzero(ok)
    base_all = float(size_next[everyone].mean())
    random_means = np.array([size_next[rng.choice(everyone, len(alerts))].mean()
                             for _ in range(boot)])  # fmt: skip
    deciles = np.quantile(size_past[everyone], np.linspace(0, 1, 11))
    bucket = np.clip(np.searchsorted(deciles, size_past, side="right") - 1, 0, 9)
    matched = np.array([size_next[everyone][bucket[everyone] == bucket[i]].mean()
                        for i in alerts])  # fmt: skip
    after = size_next[alerts]
    idx = rng.integers(0, len(alerts), (boot, len(alerts)))
    ratio_all = after[idx].mean(axis=1) / base_all
    ratio_matched = after[idx].mean(axis=1) / matched[idx].mean(axis=1)
    out.update({
        "next_hour_size_after_alert_bp": round(float(after.mean()) * 1e4, 1),
        "next_hour_size_random_bp": round(base_all * 1e4, 1),
        "random_timing_95_range_bp": [round(float(v) * 1e4, 1)
                                      for v in np.quantile(random_means, [0.025, 0.975])],
        "ratio_vs_random": round(float(after.mean() / base_all), 3),
        "ratio_vs_random_95ci": [round(float(v), 3) for v in np.quantile(ratio_all, [.025, .975])],
        "next_hour_size_matched_bp": round(float(matched.mean()) * 1e4, 1),
        "ratio_vs_matched": round(float(after.mean() / matched.mean()), 3),
        "ratio_vs_matched_95ci": [round(float(v), 3)
                                  for v in np.quantile(ratio_matched, [.025, .975])],
    })  # fmt: skip
    directional = [i for i in alerts if m["alert"][i] in ("breadth_up", "breadth_down")]
    if directional:
        sign = np.array([1.0 if m["alert"][i] == "breadth_up" else -1.0 for i in directional])
        hits = int((np.sign(median_next[directional]) == sign).sum())
        out["direction"] = {
            "n": len(directional), "same_sign": hits,
            "share": round(hits / len(directional), 3),
            "wilson_95": [round(v, 3) for v in wilson(hits, len(directional))],
        }  # fmt: skip
    return out


def per_coin(history: MarketHistory) -> dict[str, Any]:
    rows = {}
    for coin, out in history.beta.items():
        hours = (out["end"] % (HOUR * BAR_SECONDS) == 0) & np.isfinite(out["explained_share"])
        size = np.abs(out["coin_move"])
        big = hours & (size >= np.quantile(size[hours], 0.9))
        rows[coin] = {
            "beta_p10_p50_p90": _q(out["beta"], (0.1, 0.5, 0.9)),
            "corr_p10_p50_p90": _q(out["corr"], (0.1, 0.5, 0.9)),
            "hours": int(hours.sum()),
            "btc_driven_share": round(float(out["btc_driven"][hours].mean()), 3),
            "big_hours_btc_driven_share": round(float(out["btc_driven"][big].mean()), 3),
        }
    return rows


def null_rate(coins: int, days: int, seeds: int) -> dict[str, Any]:
    """Alerts a day on independent random walks (no co-movement at all)."""
    rates, kinds = [], Counter[str]()
    for seed in range(seeds):
        rng = np.random.default_rng(1000 + seed)
        n = days * 288
        end = 1_740_000_000 + BAR_SECONDS * np.arange(n)
        bars = {f"c{j}": (end, 10 * np.exp(np.cumsum(rng.normal(0, 0.002, n))))
                for j in range(coins)}  # fmt: skip
        alert = MarketTracker(list(bars)).update(bars)["alert"]
        kinds.update(str(a) for a in alert if a)
        rates.append(float((alert != "").sum()) / days)
    return {"coins": coins, "days": days * seeds, "alerts_per_day": round(float(np.mean(rates)), 3),
            "per_seed": [round(r, 3) for r in rates], "kinds": dict(kinds)}  # fmt: skip


def cost(bars: dict[str, tuple[np.ndarray, np.ndarray]], history: MarketHistory) -> dict[str, Any]:
    """Per-bar CPU of each tracker fed one bar at a time, and its state size."""
    n = min(2000, len(history.end))
    coins = list(bars)
    tracker = MarketTracker(coins)
    started = time.perf_counter()
    for i in range(n):
        tracker.update(
            {
                c: (history.end[i : i + 1], history.closes[i : i + 1, j])
                for j, c in enumerate(coins)
                if np.isfinite(history.closes[i, j])
            }
        )
    market_us = (time.perf_counter() - started) / n * 1e6
    text = json.dumps(tracker.to_json(), separators=(",", ":"))
    coin = next(iter(history.beta))
    j, b = coins.index(coin), coins.index("bitcoin")
    beta = BetaTracker()
    started = time.perf_counter()
    for i in range(n):
        beta.update(history.end[i], history.closes[i, j], history.closes[i, b])
    beta_us = (time.perf_counter() - started) / n * 1e6
    beta_text = json.dumps(beta.to_json(), separators=(",", ":"))
    # 20 generated coins (returns of ~0.3 % a bar, a common factor)
    twenty = factor_bars(2000, 20, common=0.002, own=0.002, seed=3)
    t20 = MarketTracker(list(twenty))
    settled = []
    started = time.perf_counter()
    for i in range(2000):
        one = {c: (e[i : i + 1], p[i : i + 1]) for c, (e, p) in twenty.items()}
        settled.append(t20.update(one))
    t20_us = (time.perf_counter() - started) / 2000 * 1e6
    text20 = json.dumps(t20.to_json(), separators=(",", ":"))
    # the market's signals beside it (MarketSignals: the index and the alerts' track records)
    signals = MarketSignals(list(twenty))
    started = time.perf_counter()
    fired = sum(len(signals.update(one)) for one in settled)
    signals_us = (time.perf_counter() - started) / 2000 * 1e6
    signals_text = json.dumps(signals.to_json(), separators=(",", ":"))
    return {
        "signals20_us_per_bar": round(signals_us, 1), "signals20_fired": fired,
        "signals20_state_bytes": len(signals_text),
        "signals20_state_zlib_bytes": len(zlib.compress(signals_text.encode(), 9)),
        "market_us_per_bar": round(market_us, 1), "market_coins": len(coins),
        "market_state_bytes": len(text), "market_state_zlib_bytes": len(zlib.compress(
            text.encode(), 9)),
        "market20_us_per_bar": round(t20_us, 1), "market20_state_bytes": len(text20),
        "market20_state_zlib_bytes": len(zlib.compress(text20.encode(), 9)),
        "beta_us_per_bar": round(beta_us, 1), "beta_state_bytes": len(beta_text),
    }  # fmt: skip


def _bp(value: float) -> float | None:
    return round(value * 1e4, 1) if math.isfinite(value) else None


def _score(row: ScoreRow) -> dict[str, Any]:
    def r(v: float) -> float | None:
        return round(v, 4) if math.isfinite(v) else None

    return {
        "rule": row.rule, "horizon": row.horizon, "n": row.n, "hit_rate": r(row.hit_rate),
        "base_rate": r(row.baseline_hit_rate), "mean_move_bp": _bp(row.mean_return),
        "interval_bp": [_bp(row.mean_low), _bp(row.mean_high)],
        "random_timing_bp": _bp(row.baseline_mean),
        "random_band_bp": [_bp(row.baseline_low), _bp(row.baseline_high)],
        "p": r(row.p_value), "q": r(row.q_value), "edge": row.edge, "against": row.against,
    }  # fmt: skip


def index_matched(history: MarketHistory, boot: int, seed: int = 0) -> dict[str, Any]:
    """The index's next-hour |move| (entry the next bar, exit an hour after, as the claim
    scores it) after an alert, against every bar and against bars whose past hour moved the
    index as much (same decile of |past hour's move|), with 95 % bootstrap intervals over the
    alerts."""
    m = history.market
    end, index = m["end"], m["index"]
    legs = entry_exit(end, end, HOUR * BAR_SECONDS)
    ok = legs[:, 1] >= 0
    nxt = np.full(len(end), np.nan)
    nxt[ok] = np.abs(np.log(index[legs[ok, 1]] / index[legs[ok, 0]]))
    past = np.full(len(end), np.nan)
    hour = end[HOUR:] - end[:-HOUR] == HOUR * BAR_SECONDS
    past[HOUR:] = np.where(hour, np.abs(np.log(index[HOUR:] / index[:-HOUR])), np.nan)
    valid = np.isfinite(nxt) & np.isfinite(past)
    alerts = np.flatnonzero((m["alert"] != "") & valid)
    if len(alerts) < 2:
        return {"alerts": len(alerts)}
    everyone = np.flatnonzero(valid)
    deciles = np.quantile(past[everyone], np.linspace(0, 1, 11))
    bucket = np.clip(np.searchsorted(deciles, past, side="right") - 1, 0, 9)
    bucket_mean = np.array([nxt[everyone][bucket[everyone] == b].mean() for b in range(10)])
    matched = bucket_mean[bucket[alerts]]
    after = nxt[alerts]
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(alerts), (boot, len(alerts)))
    base = float(nxt[everyone].mean())
    ratio_all = after[idx].mean(axis=1) / base
    ratio_matched = after[idx].mean(axis=1) / matched[idx].mean(axis=1)
    return {
        "alerts": len(alerts), "next_hour_after_alert_bp": _bp(float(after.mean())),
        "next_hour_every_bar_bp": _bp(base), "next_hour_matched_bp": _bp(float(matched.mean())),
        "ratio_vs_every_bar": round(float(after.mean()) / base, 3),
        "ratio_vs_every_bar_95ci": [round(float(v), 3)
                                    for v in np.quantile(ratio_all, [0.025, 0.975])],
        "ratio_vs_matched": round(float(after.mean() / matched.mean()), 3),
        "ratio_vs_matched_95ci": [round(float(v), 3)
                                  for v in np.quantile(ratio_matched, [0.025, 0.975])],
    }  # fmt: skip


def alert_signals(history: MarketHistory, boot: int, shifts: int) -> dict[str, Any]:
    """Item 7 of the module docstring on the real coins."""
    m, signals = history.market, history.signals
    mid = int(np.median(m["end"]))
    held = realised_claims(signals, m["end"], m["index"], 0.0)
    x = realised_outcomes(signals, m["end"], m["index"], 0.0)
    probability = np.array([s.confidence_score for s in signals], dtype=float)
    base = np.array([s.evidence.get("base_rate", np.nan) for s in signals], dtype=float)
    cal = calibration(probability, held, reference=base) if signals else None
    last = {s.rule: s for s in signals}
    return {
        "signals": len(signals), "kinds": dict(Counter(s.rule for s in signals)),
        "scorecard": [_score(r) for r in market_scorecard(history, shifts=shifts)],
        "scorecard_1h_by_half": [
            [_score(r) for r in market_scorecard(history, lo, hi, shifts=shifts)
             if r.horizon == "1h"]
            for lo, hi in ((None, mid), (mid, None))
        ],
        "stream_record_at_last_alert": {
            rule: {**s.evidence, "confidence": s.confidence_score, "actionable": s.actionable}
            for rule, s in sorted(last.items())
        },
        "actionable_signals": sum(s.actionable for s in signals),
        "outcome_1h_mean_excess_bp": _bp(float(np.nanmean(x))) if np.isfinite(x).any() else None,
        "claim_held_share": round(float(np.nanmean(held)), 4) if np.isfinite(held).any() else None,
        "calibration": None if cal is None else {
            "n": cal.n, "brier": round(cal.brier, 4), "brier_base_rate": round(
                cal.brier_reference, 4), "skill": round(cal.skill, 4),
        },
        "index_next_hour": index_matched(history, boot),
    }  # fmt: skip


def alert_null(kind: str, seeds: int, days: int, shifts: int) -> dict[str, Any]:
    """Item 7's null check: generated markets with no effect, cut into 3-day pieces, each
    scored by `market_scorecard` (every rule and the pool, every horizon)."""
    pooled_p, all_p, flagged, cells, signals = [], [], 0, 0, 0
    n = days * 288
    end = 1_740_000_000 + BAR_SECONDS * np.arange(n)
    for seed in range(seeds):
        rng = np.random.default_rng(5000 + seed)
        if kind == "independent":
            options = {"move_sigmas": 1.0}
            bars = {f"c{j}": (end, 10 * np.exp(np.cumsum(rng.normal(0, 0.002, n))))
                    for j in range(6)}  # fmt: skip
        else:
            options = {}
            bars = factor_bars(n, 11, common=0.002, own=0.0015, seed=5000 + seed)
        history = market_history(bars, **options)
        signals += len(history.signals)
        for start in range(0, n - 288, 3 * 288):
            stop = int(end[min(start + 3 * 288, n - 1)])
            rows = market_scorecard(history, int(end[start]), stop, shifts=shifts, min_n=3)
            ok = [r for r in rows if math.isfinite(r.p_value)]
            all_p += [r.p_value for r in ok]
            pooled_p += [r.p_value for r in ok if r.rule == POOLED_RULE and r.horizon == "1h"]
            flagged += sum(r.edge or r.against for r in ok)
            cells += len(ok)
    pooled, every = np.array(pooled_p), np.array(all_p)
    return {
        "kind": kind, "markets": seeds, "days": days * seeds, "signals": signals,
        "pooled_1h_tests": len(pooled),
        "pooled_1h_rejected_at_5pct": round(float((pooled <= 0.05).mean()), 4) if len(pooled)
        else None,
        "cells": cells,
        "cells_rejected_at_5pct": round(float((every <= 0.05).mean()), 4) if cells else None,
        "cells_flagged_q10": round(flagged / cells, 4) if cells else None,
    }  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    data = args.data if not args.quick else Path("no-such-folder")
    found, source = find_coins(data, args.coins.split(",") if args.coins else None)
    print(source)
    if "bitcoin" not in found:
        raise SystemExit("bitcoin's candles are needed (beta is measured against bitcoin)")
    started = time.perf_counter()
    bars = {}
    for coin, path in found.items():
        built = closed_bars(candles_to_ticks(coin, read_candles(path)))
        bars[coin] = (built["end"].astype(np.int64), np.asarray(built["close"], float))
    history = market_history(bars)
    m = history.market
    days = len(m["end"]) * BAR_SECONDS / 86_400
    kinds = Counter(str(a) for a in m["alert"] if a)
    figures: dict[str, Any] = {
        "data": {"coins": list(found), "days": round(days, 1), "bars": len(m["end"])},
        "coins": per_coin(history),
        "pc1_share_p5_p25_p50_p75_p95": _q(m["pc1_share"], (0.05, 0.25, 0.5, 0.75, 0.95)),
        "mean_corr_p5_p50_p95": _q(m["mean_corr"], (0.05, 0.5, 0.95)),
        "breadth_up_p5_p50_p95": _q(m["breadth_up"], (0.05, 0.5, 0.95)),
        "alerts": {"kinds": dict(kinds), "per_day": round(sum(kinds.values()) / days, 3)},
        "after_alert": after_alerts(history, args.boot),
        "after_alert_by_half": [
            after_alerts(history, args.boot, half)
            for half in (m["end"] < np.median(m["end"]), m["end"] >= np.median(m["end"]))
        ],
    }
    figures["null"] = null_rate(len(found), 10 if args.quick else args.null_days,
                                1 if args.quick else args.seeds)  # fmt: skip
    scored = max(figures["after_alert"]["alerts_scored"], 20)
    figures["placebo"] = placebo_coverage(history, scored, min(args.boot, 1000),
                                          50 if args.quick else 400)  # fmt: skip
    figures["cost"] = cost(bars, history)
    figures["alert_signals"] = alert_signals(history, args.boot, 199 if args.quick else 999)
    null_days, null_seeds = (9, 1) if args.quick else (36, args.null_markets)
    figures["alert_signals_null"] = [alert_null(kind, null_seeds, null_days, 199)
                                     for kind in ("independent", "one_factor")]  # fmt: skip
    figures["seconds"] = round(time.perf_counter() - started, 1)

    print(f"{len(found)} coins x {days:.1f} days ({len(m['end'])} bar times)")
    print("coin          beta p10/p50/p90      corr p10/p50/p90   hours  btc-driven  big hours")
    for coin, r in figures["coins"].items():
        b, c = r["beta_p10_p50_p90"], r["corr_p10_p50_p90"]
        print(f"{coin:13s} {b[0]:5.2f} {b[1]:5.2f} {b[2]:5.2f}     {c[0]:5.2f} {c[1]:5.2f} "
              f"{c[2]:5.2f}  {r['hours']:5d}  {r['btc_driven_share']:9.1%}  "
              f"{r['big_hours_btc_driven_share']:8.1%}")  # fmt: skip
    print(f"PC1 share p5/p25/p50/p75/p95: {figures['pc1_share_p5_p25_p50_p75_p95']}; "
          f"mean corr p5/p50/p95: {figures['mean_corr_p5_p50_p95']}")  # fmt: skip
    print(f"alerts: {figures['alerts']}; on independent noise: {figures['null']}")
    print(f"after an alert: {json.dumps(figures['after_alert'])}")
    for name, half in zip(("first", "second"), figures["after_alert_by_half"], strict=True):
        print(f"  {name} half: {json.dumps(half)}")
    print(f"the interval on random timings (placebo): {json.dumps(figures['placebo'])}")
    print(f"cost: {json.dumps(figures['cost'])}")
    signals = figures["alert_signals"]
    print(f"market alerts as signals: {signals['signals']} {signals['kinds']}")
    print("rule                 horizon    n  hit  base   |move| bp (interval)   random    p     q")
    for r in signals["scorecard"]:
        low, high = r["interval_bp"]
        print(f"{r['rule']:20s} {r['horizon']:>5s} {r['n']:5d} {r['hit_rate']:.2f} "
              f"{r['base_rate']:.2f} {r['mean_move_bp']:7.1f} ({low} to {high}) "
              f"{r['random_timing_bp']:7.1f} {r['p']} {r['q']}")  # fmt: skip
    for name, half in zip(("first", "second"), signals["scorecard_1h_by_half"], strict=True):
        print(f"  {name} half, 1h: " + "; ".join(
            f"{r['rule']} n={r['n']} hit {r['hit_rate']} vs {r['base_rate']} p={r['p']}"
            for r in half))  # fmt: skip
    for key in ("stream_record_at_last_alert", "calibration", "index_next_hour"):
        print(f"  {key}: {json.dumps(signals[key])}")
    for null in figures["alert_signals_null"]:
        print(f"  null: {json.dumps(null)}")
    print(f"{figures['seconds']} s")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
