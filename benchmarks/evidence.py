"""Benchmark: does the evidence behind each signal hold up? Scorecard, placebo, calibration of
the confidence, and how often signals are actionable, on real coins and on generated markets.

Run from the repository root (about 3 minutes on 2 cores with 11 coins x 120 days):

    .venv/bin/python benchmarks/evidence.py                         # every <coin>_5m file found
    .venv/bin/python benchmarks/evidence.py --coins bitcoin,ethereum --days 60 --placebo 20
    .venv/bin/python benchmarks/evidence.py --quick --json /tmp/evidence.json
    .venv/bin/python benchmarks/evidence.py --plot docs/evidence_reliability.svg

The real data: every `<coin>_5m.csv[.gz]` in `--data` (default ../shared/data/market from the
repository root: 11 coins x 120 days of Binance 5-minute candles, see its README). A fresh clone
has no such folder: then the bundled three-week samples of bitcoin, ethereum, solana and cardano
(`candles.sample_path`) are used, and the first line printed says so. Each coin runs through the
engine as deployed (`Engine(coin).feed(candles_to_ticks(...))`, default `EngineConfig`: 1h
horizon, 2 x 10 bps, Bonferroni over 10 coins), once, with ticks at the candles' close times.

What it measures, in one run:

1. Scorecard per coin (`backtest.scorecard.Scorecard`, `--shifts` circular shifts per p-value,
   cells with at least `--min-n` signals are tested): tested cells, edges and againsts at
   Benjamini-Hochberg q <= 0.10, BUY/SELL apart from ALERT. Placebo: the same table on
   `--placebo` random circular shifts of each coin's signals; the share of cells at p <= 0.05,
   pooled over coins, is the measured false-positive rate (nominal 5 %).
2. Calibration of `confidence_score`, out of sample by construction: the stream computes each
   confidence from outcomes that matured before the signal. For every signal whose horizon
   ended inside the data, the realised claim (`evidence.realised_outcomes` > 0: `entry_exit` +
   `claim_outcome`, an ALERT against the typical move its evidence carried, the
   exponentially weighted mean |1h return| of the bars before it) against its confidence, with
   `evidence.calibration`: expected calibration error (10 equal-count bins), Brier score next
   to the Brier score of the base-rate forecast each signal carried (`evidence.base_rate`, the
   same claim for an arbitrary bar, known at the time) and of the overall hit rate (known only
   in hindsight), the skill 1 - Brier / Brier(base rate), and the Spearman rank correlation of
   confidence and outcome. BUY/SELL and ALERT apart; pooled over coins and per coin. A
   reliability diagram goes to `--plot` (SVG, `backtest.report.reliability_svg`, zoomed to the
   confidences seen).
   Check: the outcomes of the signals the stream scores (the first of each rule and type while
   none is open) reproduce every track record the engine kept (n, hits, sum of outcomes,
   overlapping), so the outcome measured here is the stream's; the script exits 1 if not.
3. Actionable signals: per real coin, how many (BUY/SELL, ALERT), per 30 days, and their
   realised mean outcome (bp: net of costs for BUY/SELL, excess move for ALERT) and hit rate;
   on zero-drift random walks with clustered volatility (`synthetic.generate_market`,
   `--walk-seeds`, `--walk-days` days each) the actionable BUY/SELL rate per coin per 30 days
   (target <= 1); on the market with a planted overreaction effect
   (`synthetic.overreacting_candles`, `--overreacting-seeds`, 30 days) the day the first
   `rsi_reversal` signal became actionable and what the actionable signals earned net of costs.

`--quick`: 30 days at most per coin, 3 placebo runs of 199 shifts, 2 random walks, 1
overreacting market (a smoke test: about 25 s on the 11 coins, 15 s on the bundled samples,
which is what the test suite runs).
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.progress import Progress

from _data import ROOT, add_data_options, coin_files
from cryptosignals.backtest.report import reliability_svg
from cryptosignals.backtest.scorecard import Q_EDGE, Scorecard, ScoreRow
from cryptosignals.candles import Candles, candles_to_ticks, read_candles
from cryptosignals.engine import Engine, EngineConfig
from cryptosignals.evidence import (
    EvidenceConfig,
    calibration,
    entry_exit,
    realised_outcomes,
)
from cryptosignals.model import Signal, SignalType, TickSeries
from cryptosignals.synthetic import generate_market, overreacting_candles

DEFAULT_PLOT = Path("benchmarks/out/evidence_reliability.svg")
BINS = 10
DAY = 86_400
BUY, SELL, ALERT = SignalType.BUY, SignalType.SELL, SignalType.ALERT

err = Console(stderr=True)


# -- outcomes ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Outcomes:
    """Every signal of one series with its realised claim. `x` is NaN where the horizon did not
    end inside the data; x > 0 exactly when the claim held (evidence.claim_outcome)."""

    signals: list[Signal]
    time: np.ndarray
    kind: np.ndarray  # "BUY", "SELL", "ALERT"
    key: np.ndarray  # rule|timeframe|type, the track record's key
    confidence: np.ndarray
    base_rate: np.ndarray
    actionable: np.ndarray
    x: np.ndarray
    held: np.ndarray  # 1.0 / 0.0 (x > 0), NaN where the data ends first
    exit_time: np.ndarray  # the exit tick's time, -1 where there is none
    start: int  # first tick
    days: float  # span of the ticks

    @property
    def done(self) -> np.ndarray:
        return np.isfinite(self.x)

    @property
    def directional(self) -> np.ndarray:
        return self.kind != str(ALERT)


def outcomes(ticks: TickSeries, signals: list[Signal], config: EngineConfig) -> Outcomes:
    """Realised claims of `signals` on `ticks`: the entry, exit and outcome the stream uses (an
    ALERT against the typical move its evidence carried, `typical_move_bp`)."""
    ev = config.evidence
    times, price = ticks.timestamp, ticks.price
    at = np.array([s.timestamp for s in signals], dtype=np.int64)
    kind = np.array([str(s.signal_type) for s in signals], dtype=object)
    legs = entry_exit(times, at, ev.seconds)
    done = legs[:, 1] >= 0
    x = realised_outcomes(signals, times, price, ev.cost)
    return Outcomes(
        signals=signals,
        time=at,
        kind=kind,
        key=np.array([f"{s.rule}|{s.timeframe}|{s.signal_type}" for s in signals], dtype=object),
        confidence=np.array([s.confidence_score for s in signals], dtype=float),
        base_rate=np.array([s.evidence.get("base_rate", np.nan) for s in signals], dtype=float),
        actionable=np.array([s.actionable for s in signals], dtype=bool),
        x=x,
        held=np.where(np.isnan(x), np.nan, (x > 0).astype(float)),
        exit_time=np.where(done, times[np.maximum(legs[:, 1], 0)], -1),
        start=int(times[0]),
        days=float(times[-1] - times[0]) / DAY,
    )


def record_mismatches(engine: Engine, out: Outcomes) -> list[str]:
    """Replay which signals the stream scores (the first of a key while none of it is open; an
    open one closes at its exit tick) and compare their outcomes with the engine's records."""
    problems = []
    keys = sorted(set(out.key.tolist()) | set(engine.track.records))
    for key in keys:
        n = hits = overlapping = 0
        total = 0.0
        free_at: float = -math.inf
        for i in np.flatnonzero(out.key == key):
            if out.time[i] < free_at:
                overlapping += 1
                continue
            free_at = float(out.exit_time[i]) if out.exit_time[i] >= 0 else math.inf
            if math.isfinite(out.x[i]):
                n, hits, total = n + 1, hits + int(out.x[i] > 0), total + float(out.x[i])
        record = engine.track.records.get(key)
        theirs = (
            (record.n, record.hits, record.total, record.overlapping) if record else (0, 0, 0.0, 0)
        )
        same = (n, hits, overlapping) == (theirs[0], theirs[1], theirs[3])
        if not same or abs(total - theirs[2]) > 1e-9 * max(1, n):
            problems.append(
                f"{key}: measured n={n} hits={hits} sum={total:.6f} "
                f"overlapping={overlapping}, engine {theirs}"
            )
    return problems


# -- calibration -------------------------------------------------------------------------------
def calibration_figures(p: np.ndarray, y: np.ndarray, base: np.ndarray) -> dict[str, Any]:
    """`evidence.calibration` of the confidence `p` against outcomes `y` (1: the claim held),
    next to the base-rate forecast each signal carried (`evidence.base_rate`, known then) and
    the overall hit rate (known only in hindsight)."""
    c, b = calibration(p, y, BINS), calibration(base, y, BINS)
    if c.n == 0:
        return {"n": 0}
    return {
        "n": c.n,
        "mean_confidence": float(p.mean()),
        "hit_rate": float(y.mean()),
        "ece": c.ece,
        "ece_base_rate": b.ece,
        "brier": c.brier,
        "brier_base_rate": b.brier,
        "brier_hindsight": c.brier_hindsight,
        "brier_skill": 1.0 - c.brier / b.brier if b.brier > 0 else math.nan,
        "spearman": c.spearman,
        "spearman_base_rate": b.spearman,
        "bins": [{"confidence": m, "observed": o, "n": n} for m, o, n in c.bins],
    }


def calibration_of(parts: Sequence[Outcomes], which: str) -> dict[str, Any]:
    """Pooled calibration of one kind of claim ("BUY", "SELL", "directional" or "ALERT"), over
    every signal whose horizon ended inside the data."""
    chosen = [o.done & (o.directional if which == "directional" else o.kind == which)
              for o in parts]  # fmt: skip
    return calibration_figures(
        *(np.concatenate([getattr(o, f)[c] for o, c in zip(parts, chosen, strict=True)])
          for f in ("confidence", "held", "base_rate"))
    )  # fmt: skip


# -- actionable --------------------------------------------------------------------------------
def actionable_figures(o: Outcomes, directional: bool) -> dict[str, Any]:
    chosen = o.actionable & (o.directional if directional else ~o.directional)
    done = chosen & o.done
    return {
        "n": int(chosen.sum()),
        "per_30_days": float(chosen.sum()) / o.days * 30.0 if o.days > 0 else math.nan,
        "scored": int(done.sum()),
        "mean_bp": float(o.x[done].mean() * 1e4) if done.any() else math.nan,
        "hit_rate": float((o.x[done] > 0).mean()) if done.any() else math.nan,
        "sum_pct": float(o.x[done].sum() * 100),
    }


def first_actionable(o: Outcomes) -> dict[str, float]:
    """Per track-record key, the day (since the first tick) of its first actionable signal."""
    firsts: dict[str, float] = {}
    for i in np.flatnonzero(o.actionable):
        firsts.setdefault(str(o.key[i]), (int(o.time[i]) - o.start) / DAY)
    return firsts


def closest_to_actionable(o: Outcomes, min_n: int) -> dict[str, Any] | None:
    """The signal whose record came nearest to actionable (the smallest always-valid p once the
    record had min_n outcomes): which key, its p and p_adjusted, n, mean outcome and day."""
    best = None
    for i, s in enumerate(o.signals):
        p = s.evidence.get("p_value", 1.0)
        if s.evidence.get("n", 0) >= min_n and (best is None or p < best["p_value"]):
            best = {"key": str(o.key[i]), "p_value": p,
                    "p_adjusted": s.evidence.get("p_adjusted", 1.0), "n": int(s.evidence["n"]),
                    "mean_bp": s.evidence.get("mean_net_bp", math.nan),
                    "day": (int(o.time[i]) - o.start) / DAY}  # fmt: skip
    return best


# -- the reliability diagram -------------------------------------------------------------------
def write_plot(path: Path, series: dict[str, dict[str, Any]], title: str, note: str) -> Path:
    """The reliability diagram (report.reliability_svg), its legend this benchmark's figures."""
    curves = {
        name: (
            [(b["confidence"], b["observed"], b["n"]) for b in figures.get("bins", [])],
            [
                f"{name}: {figures.get('n', 0):,} signals",
                f"ECE {_fmt(figures.get('ece'), 3)} "
                f"(base-rate forecast {_fmt(figures.get('ece_base_rate'), 3)})",
                f"Brier skill vs base rate {_fmt(figures.get('brier_skill'), 4, '+')}",
                f"Spearman {_fmt(figures.get('spearman'), 3, '+')}",
            ],
        )
        for name, figures in series.items()
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(reliability_svg(curves, title, note), encoding="utf-8")
    return path


# -- data --------------------------------------------------------------------------------------
def last_days(candles: Candles, days: float | None) -> Candles:
    if days is None:
        return candles
    first = candles.timestamp[-1] - int(days * DAY * 1000) + candles.interval_ms
    return candles[int(np.searchsorted(candles.timestamp, first)) :]


# -- measuring ---------------------------------------------------------------------------------
def cell_counts(rows: list[ScoreRow]) -> dict[str, dict[str, int]]:
    """Tested cells (n >= min_n), edges and againsts; BUY/SELL apart from ALERT."""
    tested = [r for r in rows if math.isfinite(r.p_value)]
    out = {}
    for name, alert in (("directional", False), ("alert", True)):
        chosen = [r for r in tested if (r.signal_type == str(ALERT)) == alert]
        out[name] = {
            "cells": len(chosen),
            "edge": sum(r.edge for r in chosen),
            "against": sum(r.against for r in chosen),
        }
    return out


def measure_coin(
    coin: str, candles: Candles, args: argparse.Namespace, config: EngineConfig, bar: Progress
) -> tuple[dict[str, Any], Outcomes, list[str]]:
    """One coin: the engine once, its scorecard and placebo, calibration and actionable
    figures, and any disagreement between the outcomes measured here and its track records."""
    card = Scorecard(candles, coin, config, shifts=args.shifts, seed=args.seed,
                     cost_bps=config.evidence.cost_bps, min_n=args.min_n)  # fmt: skip
    engine = Engine(coin, config)
    signals = engine.feed(card.ticks).signals  # what card.signals() runs, with the engine kept
    rows = card.run(signals)
    o = outcomes(card.ticks, signals, config)
    placebo = None
    if args.placebo:
        task = bar.add_task(f"{coin}: placebo", total=args.placebo)
        placebo = card.placebo(
            args.placebo, signals, progress=lambda done: bar.update(task, completed=done)
        )
        bar.remove_task(task)
    flagged = [
        {"rule": r.rule, "type": r.signal_type, "horizon": r.horizon, "edge": r.edge,
         "q": r.q_value, "mean_net_bp": r.mean_net * 1e4}
        for r in rows
        if r.edge or r.against
    ]  # fmt: skip
    figures = {
        "days": o.days,
        "signals": len(signals),
        "scorecard": {**cell_counts(rows), "flagged": flagged},
        "placebo": None if placebo is None else placebo.to_json(),
        "calibration": {
            "directional": calibration_of([o], "directional"),
            "alert": calibration_of([o], str(ALERT)),
        },
        "actionable": {
            "directional": actionable_figures(o, True),
            "alert": actionable_figures(o, False),
            "first_day": first_actionable(o),
            "closest": closest_to_actionable(o, config.evidence.min_n),
        },
    }
    return figures, o, record_mismatches(engine, o)


def pooled_scorecard(coins: dict[str, dict[str, Any]]) -> dict[str, Any]:
    totals = {
        name: {k: sum(c["scorecard"][name][k] for c in coins.values())
               for k in ("cells", "edge", "against")}
        for name in ("directional", "alert")
    }  # fmt: skip
    placebos = [c["placebo"] for c in coins.values() if c["placebo"]]
    cells = sum(p["cells"] for p in placebos)
    rejected = sum(p["rejected"] for p in placebos)
    return {
        **totals,
        "placebo": {
            "runs": placebos[0]["runs"] if placebos else 0,
            "cells": cells,
            "rejected": rejected,
            "flagged": sum(p["flagged"] for p in placebos),
            "false_positive_rate": rejected / cells if cells else math.nan,
            "nominal": 0.05,
        },
    }


def pooled_actionable(parts: Sequence[Outcomes]) -> dict[str, Any]:
    days = sum(o.days for o in parts)
    out = {}
    for name, directional in (("directional", True), ("alert", False)):
        kind = [o.directional if directional else ~o.directional for o in parts]
        n = sum(int((o.actionable & k).sum()) for o, k in zip(parts, kind, strict=True))
        chosen = [o.x[o.actionable & o.done & k] for o, k in zip(parts, kind, strict=True)]
        xs = np.concatenate(chosen)
        out[name] = {
            "n": n,
            "per_coin_per_30_days": n / days * 30.0 if days else math.nan,
            "scored": len(xs),
            "mean_bp": float(xs.mean() * 1e4) if len(xs) else math.nan,
            "hit_rate": float((xs > 0).mean()) if len(xs) else math.nan,
        }
    return out


def random_walks(
    seeds: Sequence[int], days: int, config: EngineConfig, bar: Progress
) -> dict[str, Any]:
    """Zero-drift walks with clustered volatility: any actionable BUY/SELL is a false alarm."""
    rows, parts = [], []
    task = bar.add_task("random walks", total=len(seeds))
    for seed in seeds:
        market = generate_market(("bitcoin",), days=days, seed=seed, plant=False)
        ticks = candles_to_ticks("bitcoin", market.candles["bitcoin"])
        o = outcomes(ticks, Engine("bitcoin", config).feed(ticks).signals, config)
        parts.append(o)
        keys = sorted({str(o.key[i]) for i in np.flatnonzero(o.actionable & o.directional)})
        rows.append({"seed": seed, "days": o.days, "signals": len(o.signals),
                     "directional": actionable_figures(o, True),
                     "alert": actionable_figures(o, False), "directional_keys": keys})  # fmt: skip
        bar.advance(task)
    pooled = pooled_actionable(parts)
    return {
        "seeds": rows,
        "days": sum(o.days for o in parts),
        "directional": pooled["directional"],
        "alert": pooled["alert"],
        "worst_seed_per_30_days": max(r["directional"]["per_30_days"] for r in rows),
    }


def overreacting_markets(seeds: Sequence[int], config: EngineConfig, bar: Progress) -> list[Any]:
    """A planted, real effect: when `rsi_reversal` earns actionable and what it then pays."""
    rows = []
    task = bar.add_task("overreacting markets", total=len(seeds))
    for seed in seeds:
        ticks = candles_to_ticks("bitcoin", overreacting_candles(days=30, seed=seed))
        o = outcomes(ticks, Engine("bitcoin", config).feed(ticks).signals, config)
        firsts = first_actionable(o)
        rsi = {k.split("|")[2]: v for k, v in firsts.items() if k.startswith("rsi_reversal|")}
        rows.append({
            "seed": seed,
            "first_rsi_reversal_day": min(rsi.values(), default=math.nan),
            "rsi_reversal_days": rsi,
            "directional": actionable_figures(o, True),
            "alert": actionable_figures(o, False),
            "other_actionable": sorted(
                f"{k.split('|')[0]} {k.split('|')[2]}" for k in firsts
                if not k.startswith("rsi_reversal|")
            ),
        })  # fmt: skip
        bar.advance(task)
    return rows


# -- printing ----------------------------------------------------------------------------------
def _fmt(value: Any, digits: int = 1, sign: str = "") -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    return f"{value:{sign},.{digits}f}"


def _clean(value: Any) -> Any:
    """JSON has no NaN: None instead."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def print_scorecard(section: dict[str, Any], min_n: int) -> None:
    print(f"\n1. Scorecard per coin: cells (rule x type x horizon 5m..24h) with n >= {min_n} "
          f"tested; edge / against = Benjamini-Hochberg q <= {Q_EDGE:g} on / against the "
          "claimed side (an edge beats random timing of the same signals; a BUY/SELL edge can "
          "still lose after costs: net bp shown)")  # fmt: skip
    print(f"{'coin':<13} {'days':>5} {'signals':>8} | {'BUY/SELL cells':>14} {'edge':>5} "
          f"{'against':>7} | {'ALERT cells':>11} {'edge':>5} {'against':>7} | "
          f"{'placebo p <= 0.05':>18}")  # fmt: skip

    def line(name: str, days: str, signals: int, d: dict[str, int], a: dict[str, int],
             placebo: dict[str, Any] | None) -> None:  # fmt: skip
        p = "-"
        if placebo and placebo["cells"]:
            p = f"{placebo['rejected']}/{placebo['cells']} = {placebo['false_positive_rate']:.1%}"
        print(f"{name:<13} {days:>5} {signals:>8,} | {d['cells']:>14} {d['edge']:>5} "
              f"{d['against']:>7} | {a['cells']:>11} {a['edge']:>5} {a['against']:>7} | "
              f"{p:>18}")  # fmt: skip

    coins = section["coins"]
    for coin, c in coins.items():
        sc = c["scorecard"]
        line(coin, f"{c['days']:.0f}", c["signals"], sc["directional"], sc["alert"], c["placebo"])
    total = section["pooled"]
    signals = sum(c["signals"] for c in coins.values())
    line("all", "", signals, total["directional"], total["alert"], total["placebo"])
    p = total["placebo"]
    if p["cells"]:
        print(f"placebo: {p['runs']} random circular time shift(s) of each coin's signals: "
              f"{p['rejected']} of {p['cells']} cells at p <= 0.05, a false-positive rate of "
              f"{p['false_positive_rate']:.1%} (nominal 5 %); {p['flagged']} flagged at "
              f"q <= {Q_EDGE:g}")  # fmt: skip
    where: dict[tuple[str, str, str], list[str]] = {}
    for coin, c in coins.items():
        for f in c["scorecard"]["flagged"]:
            word = "edge" if f["edge"] else "against"
            net = f" {f['mean_net_bp']:+.1f} bp net" if math.isfinite(f["mean_net_bp"]) else ""
            where.setdefault((f["rule"], f["type"], f["horizon"]), []).append(f"{coin} {word}{net}")
    if where:
        print("flagged cells (rule type horizon: coin verdict):")
        for (rule, kind, horizon), found in sorted(where.items()):
            print(f"  {rule} {kind} {horizon}: {', '.join(found)}")


def print_calibration(section: dict[str, Any], horizon: str) -> None:
    print(f"\n2. Confidence calibration at {horizon}, out of sample (each confidence_score from "
          f"outcomes matured before its signal): every signal whose horizon ended, "
          f"{section['coin_days']:,.0f} coin-days; evidence.calibration, {BINS} equal-count "
          "bins; base = the base-rate forecast each signal carried (evidence.base_rate); "
          "hindsight = always the overall hit rate (known only afterwards); skill = 1 - Brier / "
          "Brier base")  # fmt: skip
    print(f"{'claims':<10} {'n':>8} {'mean conf':>9} {'held':>6} {'ECE':>6} {'ECE base':>8} "
          f"{'Brier':>7} {'Brier base':>10} {'hindsight':>9} {'skill':>8} "
          f"{'Spearman':>8}")  # fmt: skip
    for label, key in (("BUY", "buy"), ("SELL", "sell"), ("BUY/SELL", "directional"),
                       ("ALERT", "alert")):  # fmt: skip
        c = section[key]
        if not c.get("n"):
            print(f"{label:<10} {0:>8}")
            continue
        print(f"{label:<10} {c['n']:>8,} {c['mean_confidence']:>9.3f} {c['hit_rate']:>6.3f} "
              f"{c['ece']:>6.3f} {c['ece_base_rate']:>8.3f} {c['brier']:>7.4f} "
              f"{c['brier_base_rate']:>10.4f} {c['brier_hindsight']:>9.4f} "
              f"{_fmt(c['brier_skill'], 4, '+'):>8} "
              f"{_fmt(c['spearman'], 3, '+'):>8}")  # fmt: skip
    print(f"per coin: {'BUY/SELL':>8} ECE  skill  Spearman | ALERT ECE  skill  Spearman")
    for coin, c in section["coins"].items():
        d, a = c["directional"], c["alert"]
        cells = [
            f"{_fmt(k.get('ece'), 3):>9} {_fmt(k.get('brier_skill'), 4, '+'):>8} "
            f"{_fmt(k.get('spearman'), 3, '+'):>7}"
            for k in (d, a)
        ]
        print(f"  {coin:<13} {cells[0]} | {cells[1]}")


def print_actionable(section: dict[str, Any], walk_days: int, ev: EvidenceConfig) -> None:
    print(f"\n3. Actionable signals; realised mean outcome in bp (BUY/SELL: net of 2 x "
          f"{ev.cost_bps:g} bps; ALERT: the move beyond the typical one) and hit rate "
          "(claim held)")  # fmt: skip
    print(f"{'coin':<13} {'BUY/SELL':>8} {'/30d':>6} {'mean bp':>8} {'hit':>5} | {'ALERT':>6} "
          f"{'/30d':>6} {'mean bp':>8} {'hit':>5} | first actionable (rule type: day), or the "
          f"closest record (smallest always-valid p at n >= {ev.min_n})")  # fmt: skip

    def line(name: str, d: dict[str, Any], a: dict[str, Any], rate: str, tail: str) -> None:
        print(f"{name:<13} {d['n']:>8} {d[rate]:>6.1f} {_fmt(d['mean_bp']):>8} "
              f"{_fmt(d['hit_rate'], 2):>5} | {a['n']:>6} {a[rate]:>6.1f} "
              f"{_fmt(a['mean_bp']):>8} {_fmt(a['hit_rate'], 2):>5} | {tail}")  # fmt: skip

    for coin, c in section["coins"].items():
        firsts = sorted(c["first_day"].items(), key=lambda kv: kv[1])
        tail = ", ".join(f"{k.split('|')[0]} {k.split('|')[2]}: {v:.0f}" for k, v in firsts)
        near = c["closest"]
        if not tail and near:
            rule, _, kind = near["key"].split("|")
            tail = (f"closest: {rule} {kind} p {near['p_value']:.2g} (adjusted "
                    f"{near['p_adjusted']:.2g}) at n {near['n']}, {near['mean_bp']:+.1f} bp, "
                    f"day {near['day']:.0f}")  # fmt: skip
        line(coin, c["directional"], c["alert"], "per_30_days", tail or "-")
    totals = section["totals"]
    line("all", totals["directional"], totals["alert"], "per_coin_per_30_days", "(/30d: a coin)")

    w = section["random_walk"]
    d, a = w["directional"], w["alert"]
    verdict = "met" if d["per_coin_per_30_days"] <= 1 else "MISSED"
    print(f"\nrandom walks (zero drift, clustered regime-switching volatility, "
          f"synthetic.generate_market): {len(w['seeds'])} seed(s) x {walk_days} days")  # fmt: skip
    print(f"  actionable BUY/SELL: {d['n']} in {w['days']:,.0f} days = "
          f"{d['per_coin_per_30_days']:.2f} per coin per 30 days (target <= 1: {verdict}); "
          f"worst seed {w['worst_seed_per_30_days']:.2f}; realised "
          f"{_fmt(d['mean_bp'])} bp")  # fmt: skip
    keys = sorted({k for r in w["seeds"] for k in r["directional_keys"]})
    if keys:
        print(f"  rules with an actionable BUY/SELL: {', '.join(keys)}")
    print(f"  actionable ALERT: {a['n']} = {a['per_coin_per_30_days']:.1f} per coin per 30 days, "
          f"realised mean move beyond the typical one {_fmt(a['mean_bp'])} bp, hit "
          f"{_fmt(a['hit_rate'], 2)} (volatility clusters on this walk too: a real "
          "effect)")  # fmt: skip

    print("\noverreacting market (synthetic.overreacting_candles: 2 % lurches that revert within "
          "the hour), 30 days each:")  # fmt: skip
    print(f"  {'seed':>4}  {'rsi_reversal actionable from':<34} {'BUY/SELL':>8} {'mean bp':>8} "
          f"{'hit':>5} {'sum %':>7}  other rules actionable")  # fmt: skip
    for r in section["overreacting"]:
        rsi = r["rsi_reversal_days"]
        when = ", ".join(f"{k} day {v:.1f}" for k, v in sorted(rsi.items())) or "never"
        d = r["directional"]
        print(f"  {r['seed']:>4}  {when:<34} {d['n']:>8} {_fmt(d['mean_bp']):>8} "
              f"{_fmt(d['hit_rate'], 2):>5} {_fmt(d['sum_pct']):>7}  "
              f"{', '.join(r['other_actionable']) or '-'}")  # fmt: skip


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    def seeds(text: str) -> list[int]:
        return [int(s) for s in text.split(",") if s.strip()]

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_data_options(parser)
    parser.add_argument("--days", type=float, help="keep only the last N days of each coin")
    parser.add_argument("--placebo", type=int, help="placebo runs per coin (10; quick 3)")
    parser.add_argument("--shifts", type=int, help="circular shifts per p-value (999; quick 199)")
    parser.add_argument("--min-n", type=int, default=20, help="fewest signals for a tested cell")
    parser.add_argument("--seed", type=int, default=7, help="seed of the scorecard's shifts")
    parser.add_argument("--walk-seeds", type=seeds, help="random-walk seeds (1..10; quick 1,2)")
    parser.add_argument("--walk-days", type=int, default=60, help="days of each random walk")
    parser.add_argument(
        "--overreacting-seeds", type=seeds, help="overreacting-market seeds (1..5; quick 3)"
    )
    parser.add_argument(
        "--plot", type=Path, default=DEFAULT_PLOT,
        help=f"where to write the reliability diagram (SVG); {DEFAULT_PLOT}",
    )  # fmt: skip
    parser.add_argument("--json", type=Path, help="write the figures to this file")
    parser.add_argument("--quick", action="store_true", help="a small run (smoke test)")
    args = parser.parse_args(argv)
    quick = args.quick
    if args.days is None and quick:
        args.days = 30.0
    args.placebo = (3 if quick else 10) if args.placebo is None else args.placebo
    args.shifts = (199 if quick else 999) if args.shifts is None else args.shifts
    if args.walk_seeds is None:
        args.walk_seeds = [1, 2] if quick else list(range(1, 11))
    if args.overreacting_seeds is None:
        args.overreacting_seeds = [3] if quick else [1, 2, 3, 4, 5]
    if args.placebo < 0 or args.shifts < 19 or args.min_n < 2 or args.walk_days < 3:
        parser.error("--placebo >= 0, --shifts >= 19, --min-n >= 2 and --walk-days >= 3")
    if not args.walk_seeds or not args.overreacting_seeds:
        parser.error("--walk-seeds and --overreacting-seeds need at least one seed")
    if args.days is not None and args.days < 3:
        parser.error("--days must be at least 3 (the placebo needs over two days)")
    return args


# -- the run -----------------------------------------------------------------------------------
def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    config = EngineConfig()
    ev = config.evidence
    files, source = coin_files(args)
    print(source)
    print(f"engine: default EngineConfig: horizon {ev.horizon}, cost 2 x {ev.cost_bps:g} bps, "
          f"actionable at n >= {ev.min_n} and always-valid p x family <= {ev.alpha:g} (family "
          f"= rules x types x {ev.coins} coins); scorecard: {args.shifts} shifts a p-value, "
          f"min n {args.min_n}; placebo: {args.placebo} run(s) a coin")  # fmt: skip
    print(f"machine: Python {platform.python_version()}, numpy {np.__version__}, "
          f"{platform.machine()}, {os.cpu_count()} cpus")  # fmt: skip

    coins: dict[str, dict[str, Any]] = {}
    parts: list[Outcomes] = []
    problems: list[str] = []
    with Progress(console=err, transient=True) as bar:
        task = bar.add_task("coins", total=len(files))
        for coin, path in files.items():
            bar.update(task, description=f"{coin}: engine and scorecard")
            candles = last_days(read_candles(path), args.days)
            coins[coin], o, mismatches = measure_coin(coin, candles, args, config, bar)
            parts.append(o)
            problems += [f"{coin} {line}" for line in mismatches]
            bar.advance(task)
        walks = random_walks(args.walk_seeds, args.walk_days, config, bar)
        overreacting = overreacting_markets(args.overreacting_seeds, config, bar)

    coin_days = sum(o.days for o in parts)
    calibration_section = {
        "buy": calibration_of(parts, str(BUY)),
        "sell": calibration_of(parts, str(SELL)),
        "directional": calibration_of(parts, "directional"),
        "alert": calibration_of(parts, str(ALERT)),
        "coin_days": coin_days,
        "coins": {coin: c["calibration"] for coin, c in coins.items()},
    }
    figures: dict[str, Any] = {
        "argv": list(sys.argv[1:] if argv is None else argv),
        "data": {"source": source, "coins": list(files), "days": args.days},
        "config": {
            "horizon": ev.horizon,
            "cost_bps": ev.cost_bps,
            "min_n": args.min_n,
            "shifts": args.shifts,
            "placebo_runs": args.placebo,
            "q_edge": Q_EDGE,
            "bins": BINS,
            "walk_days": args.walk_days,
        },
        "scorecard": {
            "coins": {
                coin: {
                    "days": c["days"],
                    "signals": c["signals"],
                    **c["scorecard"],
                    "placebo": c["placebo"],
                }
                for coin, c in coins.items()
            },
            "pooled": pooled_scorecard(coins),
        },
        "calibration": calibration_section,
        "actionable": {
            "coins": {coin: c["actionable"] for coin, c in coins.items()},
            "totals": pooled_actionable(parts),
            "random_walk": walks,
            "overreacting": overreacting,
        },
        "records_reproduced": not problems,
    }
    print_scorecard({"coins": coins, "pooled": figures["scorecard"]["pooled"]}, args.min_n)
    print_calibration(calibration_section, ev.horizon)
    note = (f"{len(parts)} coin(s) x {coin_days / len(parts):.0f} days of 5m candles, horizon "
            f"{ev.horizon}, cost 2 x {ev.cost_bps:g} bps; {BINS} equal-count bins")  # fmt: skip
    plot = args.plot if args.plot.is_absolute() else ROOT / args.plot
    series = {"BUY/SELL": calibration_section["directional"], "ALERT": calibration_section["alert"]}
    plot = write_plot(plot, series, "Is confidence_score calibrated? (out of sample)", note)
    figures["calibration"]["plot"] = str(plot)
    print(f"reliability diagram: {plot}")
    print_actionable(figures["actionable"], args.walk_days, ev)

    if problems:
        print("\nMISMATCH: the outcomes measured here do not reproduce the engine's records:")
        for line in problems[:20]:
            print(f"  {line}")
    else:
        print(f"\ncheck: the outcomes measured here reproduce every track record of the engine "
              f"(n, hits, sum of outcomes, overlapping) on {len(parts)} coin(s)")  # fmt: skip
    figures["seconds"] = time.perf_counter() - started
    print(f"wall time {figures['seconds']:.0f} s")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(_clean(figures), indent=2), encoding="utf-8")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
