"""Does retraining on a drift alarm help? A prequential comparison (training side).

Every learner forecasts each bar before its outcome is known and learns it only once it is
(prequential: predict, score, then learn; labels arrive when their window ends). Time moves in
blocks of an hour: within a block the models are fixed. Three ways of keeping a model fresh,
each scored against the same base forecast:

- `scheduled`: refitted every `every_days` on the trailing `train_days`.
- `on_alarm`: fitted once, then refitted on the last `recent_days` whenever a drift monitor
  (cryptosignals.drift) on its own errors alarms; the monitor starts afresh after a refit.
- `online`: learns from every label as it arrives (a logistic regression by stochastic gradient
  steps, scikit-learn's `SGDClassifier.partial_fit`); for volatility the variance recursion
  itself, fitted once and never refitted (it already adapts its level bar by bar).

Targets:

- `up_1h` (direction): P(up) by the logistic regression of models/evaluation.py on the
  features; the base is the trailing share of ups. The monitor watches each row's log-loss
  minus the base's, scaled by its trailing root mean square.
- `volatility`: the next bar's sigma from the volatility forecast (models/volatility.py, EWMA by
  default); the base is the trailing standard deviation. The score is the Gaussian negative log
  likelihood of the return; the monitor watches the standardised moves |r| / sigma.

Figures: mean loss difference against the base per learner (negative = better than the base)
with a day-block bootstrap interval, refit counts and alarm times.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cryptosignals.drift import Alarms, DriftMonitor, standardised_moves
from cryptosignals.errors import BadInputError
from cryptosignals.models.evaluation import DAY, Dataset, Interval, _log_losses, day_bootstrap

TARGETS = ("up_1h", "volatility")
LEARNERS = ("scheduled", "on_alarm", "online")
BLOCK = 12  # bars per prequential step: an hour of 5-minute bars
_EPS = 1e-12


@dataclass(frozen=True)
class LearnerScore:
    """One learner's out-of-sample figures against the base forecast."""

    name: str
    loss: float  # mean loss (log-loss or Gaussian NLL)
    loss_vs_base: Interval  # mean (learner - base) per scored row, day-block bootstrap
    brier_vs_base: Interval | None  # direction only
    refits: int
    alarms: list[int] = field(default_factory=list)  # unix seconds


@dataclass(frozen=True)
class Prequential:
    """A comparison on one series: every learner's score, the base's mean loss, what was
    scored, and the per-row losses (for pages and pooled figures)."""

    coin: str
    target: str
    start: int
    stop: int
    rows: int
    base_loss: float
    learners: list[LearnerScore]
    times: np.ndarray  # per scored row: when it was forecast
    losses: dict[str, np.ndarray]  # "base" and each learner, per scored row
    watched: tuple[np.ndarray, np.ndarray]  # when, and what the on-alarm monitor saw

    def beats_base(self, name: str) -> bool:
        """True only if the whole 95 % interval of the loss difference is below zero."""
        score = next(s for s in self.learners if s.name == name)
        return score.loss_vs_base.high < 0

    def to_json(self) -> dict[str, Any]:
        def interval(i: Interval | None) -> dict[str, float] | None:
            return None if i is None else {"mean": i.value, "low": i.low, "high": i.high}

        return {
            "coin": self.coin, "target": self.target, "start": self.start, "stop": self.stop,
            "rows": self.rows, "base_loss": self.base_loss,
            "learners": [
                {"name": s.name, "loss": s.loss, "loss_vs_base": interval(s.loss_vs_base),
                 "brier_vs_base": interval(s.brier_vs_base), "refits": s.refits,
                 "alarms": s.alarms, "beats_base": self.beats_base(s.name)}
                for s in self.learners
            ],
        }  # fmt: skip


def _joined(found: list[Alarms]) -> tuple[np.ndarray, np.ndarray]:
    if not found:
        return np.zeros(0, np.int64), np.zeros(0)
    return np.concatenate([f.times for f in found]), np.concatenate([f.values for f in found])


def _first_block(t: np.ndarray, train_days: float) -> int:
    first = int(np.searchsorted(t, t[0] + train_days * DAY))
    if first >= len(t) - BLOCK:
        raise BadInputError(
            f"{(t[-1] - t[0]) / DAY:.1f} days of bars: the prequential comparison needs more "
            f"than {train_days:g} days (its first training window)"
        )
    return first


# -- direction ----------------------------------------------------------------------------------
def _online_direction(x0: np.ndarray, y0: np.ndarray, seed: int) -> tuple[Any, Any]:
    from sklearn.linear_model import SGDClassifier

    from cryptosignals.models.evaluation import fit_logistic

    prep = fit_logistic(x0, y0)  # the input preparation (fill, indicators, scaling) only
    model = SGDClassifier(loss="log_loss", alpha=1e-3, learning_rate="constant", eta0=0.002,
                          random_state=seed)  # fmt: skip
    z0 = (prep.design(x0) - prep.mean) / prep.scale
    model.partial_fit(z0, y0.astype(int), classes=[0, 1])
    return prep, model


def prequential_direction(
    data: Dataset, train_days: float = 30, every_days: float = 7, recent_days: float = 7,
    monitor: Callable[[], DriftMonitor] | None = None, seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> Prequential:  # fmt: skip
    """The three learners and the base rate on a dataset's P(up) target, hour by hour."""
    from cryptosignals.models.evaluation import fit_logistic

    t, y, label_end = data.end.astype(float), data.y, data.label_end
    known_y = np.isfinite(y)
    first = _first_block(t, train_days)
    make_monitor = monitor or (lambda: DriftMonitor("scaled"))
    drift = make_monitor()
    n = len(t)
    p = {name: np.full(n, np.nan) for name in ("base", *LEARNERS)}
    refits = {name: 0 for name in LEARNERS}
    alarms: list[int] = []
    watched: list[Alarms] = []

    def window(now: float, days: float) -> np.ndarray:
        return np.flatnonzero(known_y & (label_end <= now) & (t >= now - days * DAY))

    def fit(now: float, days: float) -> Any:
        rows = window(now, days)
        if len(rows) < 100 or len(np.unique(y[rows])) < 2:
            return None
        return fit_logistic(data.x[rows], y[rows])

    now0 = t[first]
    scheduled = on_alarm = fit(now0, train_days)
    if scheduled is None:
        raise BadInputError(f"{data.coin}: too few labelled rows in the first training window")
    last_fit = now0
    rows0 = window(now0, train_days)
    prep, sgd = _online_direction(data.x[rows0], y[rows0], seed)
    fed_online = int(np.searchsorted(label_end, now0, side="right"))  # learnt in the first fit
    fed_monitor = first  # the monitor watches the on-alarm model's errors from its first forecast
    refit_pending = False
    blocks = list(range(first, n, BLOCK))
    for k, b in enumerate(blocks):
        now, stop = t[b], min(b + BLOCK, n)
        # learn what arrived by now
        arrived = int(np.searchsorted(label_end, now, side="right"))  # label_end is increasing
        new = np.arange(fed_online, arrived)
        new = new[known_y[new]]
        if len(new):
            z = (prep.design(data.x[new]) - prep.mean) / prep.scale
            sgd.partial_fit(z, y[new].astype(int))
        fed_online = max(fed_online, arrived)
        seen = np.arange(fed_monitor, arrived)
        if len(seen):
            errors = (_log_losses(p["on_alarm"][seen], y[seen])
                      - _log_losses(p["base"][seen], y[seen]))  # fmt: skip
            errors = np.where(known_y[seen] & np.isfinite(p["on_alarm"][seen]), errors, np.nan)
            found = drift.update(label_end[seen].astype(np.int64), errors)
            watched.append(found)
            if found.alarm.any():
                alarms.extend(int(a) for a in found.alarm_times)
                refit_pending = True
            fed_monitor = arrived
        if now - last_fit >= every_days * DAY - 1:
            scheduled = fit(now, train_days) or scheduled
            refits["scheduled"] += 1
            last_fit = now
        if refit_pending:
            refreshed = fit(now, recent_days)
            if refreshed is not None:
                on_alarm = refreshed
                refits["on_alarm"] += 1
                drift.restart()
                refit_pending = False
        # forecast this block
        rows = window(now, train_days)
        p["base"][b:stop] = float(np.mean(y[rows])) if len(rows) else 0.5
        p["scheduled"][b:stop] = scheduled.predict(data.x[b:stop])
        p["on_alarm"][b:stop] = on_alarm.predict(data.x[b:stop])
        z = (prep.design(data.x[b:stop]) - prep.mean) / prep.scale
        p["online"][b:stop] = sgd.predict_proba(z)[:, 1]
        if progress:
            progress(k + 1, len(blocks))
    scored = np.flatnonzero(known_y & np.isfinite(p["base"]))
    ys, ts = y[scored], t[scored]
    losses = {name: _log_losses(np.clip(v[scored], _EPS, 1 - _EPS), ys) for name, v in p.items()}
    base_brier = (p["base"][scored] - ys) ** 2
    learners = []
    for name in LEARNERS:
        brier = (p[name][scored] - ys) ** 2
        learners.append(LearnerScore(
            name, float(losses[name].mean()), day_bootstrap(ts, losses[name] - losses["base"]),
            day_bootstrap(ts, brier - base_brier), refits[name],
            alarms if name == "on_alarm" else [],
        ))  # fmt: skip
    return Prequential(data.coin, data.target, int(ts[0]), int(ts[-1]), len(scored),
                       float(losses["base"].mean()), learners, ts, losses,
                       _joined(watched))  # fmt: skip


# -- volatility ---------------------------------------------------------------------------------
def _gaussian_nll(r: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    return np.asarray(0.5 * np.log(2 * math.pi * sigma**2) + 0.5 * (r / sigma) ** 2)


def prequential_volatility(
    coin: str, end: np.ndarray, close: np.ndarray, train_days: float = 30,
    every_days: float = 7, recent_days: float = 7, kind: str = "ewma",
    monitor: Callable[[], DriftMonitor] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Prequential:  # fmt: skip
    """The three learners and the trailing standard deviation on the next bar's sigma."""
    from cryptosignals.models.volatility import fit_volatility
    from cryptosignals.risk import RiskForecaster

    end = np.asarray(end, dtype=np.int64)
    close = np.asarray(close, dtype=float)
    t = end.astype(float)
    first = _first_block(t, train_days)
    n = len(end)
    r = np.r_[np.nan, np.diff(np.log(close))]  # r[i]: the return of the bar closing at end[i]
    make_monitor = monitor or (lambda: DriftMonitor("moves"))
    drift = make_monitor()
    sigma = {name: np.full(n, np.nan) for name in ("base", *LEARNERS)}  # for bar i, known at i-1
    refits = {name: 0 for name in LEARNERS}
    alarms: list[int] = []
    watched: list[Alarms] = []

    def start(at: int, days: float) -> RiskForecaster | None:
        lo = int(np.searchsorted(t, t[at] - days * DAY))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                model = fit_volatility(end[lo : at + 1], close[lo : at + 1], kind)
            except BadInputError:
                return None
        forecaster = RiskForecaster(model)
        forecaster.update(end[lo : at + 1], close[lo : at + 1])
        return forecaster

    f_sched = start(first, train_days)
    if f_sched is None:
        raise BadInputError(f"{coin}: too few bars in the first training window")
    f_alarm, f_online = start(first, train_days), start(first, train_days)
    assert f_alarm is not None and f_online is not None
    last_fit, refit_pending = t[first], False
    next_sigma = {
        name: float(f.sigma_as_of(end[first : first + 1], "5m")[0])
        for name, f in (("scheduled", f_sched), ("on_alarm", f_alarm), ("online", f_online))
    }
    sq = np.nan_to_num(r) ** 2
    csum = np.r_[0.0, np.cumsum(sq)]
    blocks = list(range(first + 1, n, BLOCK))
    for k, b in enumerate(blocks):
        stop = min(b + BLOCK, n)
        now = b - 1  # the last bar closed before this block
        if t[now] - last_fit >= every_days * DAY - 1:
            f_sched = start(now, train_days) or f_sched
            refits["scheduled"] += 1
            last_fit = t[now]
            next_sigma["scheduled"] = float(f_sched.sigma_as_of(end[now : now + 1], "5m")[0])
        if refit_pending:
            refreshed = start(now, recent_days)
            if refreshed is not None:
                f_alarm = refreshed
                refits["on_alarm"] += 1
                next_sigma["on_alarm"] = float(f_alarm.sigma_as_of(end[now : now + 1], "5m")[0])
                drift.restart()
            refit_pending = False
        lo = int(np.searchsorted(t, t[now] - train_days * DAY))
        count = max(now - lo, 1)
        sigma["base"][b:stop] = math.sqrt(max((csum[now + 1] - csum[lo + 1]) / count, _EPS))
        for name, f in (("scheduled", f_sched), ("on_alarm", f_alarm), ("online", f_online)):
            s5 = f.update(end[b:stop], close[b:stop]).sigma["5m"]
            sigma[name][b:stop] = np.r_[next_sigma[name], s5[:-1]]
            next_sigma[name] = float(s5[-1])
        moves = standardised_moves(r[b:stop], sigma["on_alarm"][b:stop])
        found = drift.update(end[b:stop], moves)
        watched.append(found)
        if found.alarm.any():
            alarms.extend(int(a) for a in found.alarm_times)
            refit_pending = True
        if progress:
            progress(k + 1, len(blocks))
    scored = np.flatnonzero(np.isfinite(r) & np.isfinite(sigma["base"]) & (sigma["base"] > 0))
    ts, rs = t[scored], r[scored]
    losses = {name: _gaussian_nll(rs, s[scored]) for name, s in sigma.items()}
    learners = [
        LearnerScore(name, float(losses[name].mean()),
                     day_bootstrap(ts, losses[name] - losses["base"]), None, refits[name],
                     alarms if name == "on_alarm" else [])
        for name in LEARNERS
    ]  # fmt: skip
    return Prequential(coin, "volatility", int(ts[0]), int(ts[-1]), len(scored),
                       float(losses["base"].mean()), learners, ts, losses,
                       _joined(watched))  # fmt: skip
