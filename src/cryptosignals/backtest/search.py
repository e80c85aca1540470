"""Parameter search over a strategy's parameters: grid or Bayesian (optuna), walk-forward.

Walk-forward: choose the parameters that score best on a training window, score them on the
window that follows (never seen by the choice), roll forward by the test length, repeat. The
in-sample and out-of-sample figures of each fold sit side by side, so overfitting shows as a
gap between them.

Indicators are computed once over the whole series per parameter set and sliced: they are
causal, so a test window's first bars see warmed-up indicators made only from earlier prices.
Each window is simulated on its own, starting flat with fresh cash.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from cryptosignals.backtest.core import (
    BacktestConfig,
    engine_bars,
    frame_directions,
    make_rule,
    orders_from_directions,
    quick_metrics,
    rule_parameters,
    warmup_bars,
)
from cryptosignals.backtest.metrics import Metrics
from cryptosignals.candles import Candles
from cryptosignals.errors import BadInputError

#: Figures a search can maximise.
OBJECTIVES = ("sharpe", "sortino", "total_return", "cagr", "calmar", "profit_factor")
Params = dict[str, Any]
Progress = Callable[[int], None]  # called with the number of evaluations just done


@dataclass(frozen=True)
class Evaluation:
    params: Params
    metrics: Metrics
    score: float


@dataclass(frozen=True)
class Fold:
    """One walk-forward step: bars [train_start, train_end) fit, [train_end, test_end) score."""

    index: int
    train_start: int
    train_end: int
    test_end: int
    params: Params
    in_sample: Metrics
    out_of_sample: Metrics
    in_score: float
    out_score: float


@dataclass
class SearchResult:
    """Ranked evaluations (single window) or folds (walk-forward)."""

    method: str
    objective: str
    ranking: list[Evaluation] = field(default_factory=list)
    folds: list[Fold] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """Plain JSON: the best parameters or, walk-forward, each fold and the compounded
        out-of-sample return."""
        out: dict[str, Any] = {"method": self.method, "objective": self.objective}
        if self.ranking:
            out["best"] = {"params": self.ranking[0].params, **self.ranking[0].metrics.to_json()}
            out["ranking"] = [
                {"params": e.params, "score": _finite(e.score), **e.metrics.to_json()}
                for e in self.ranking
            ]
        if self.folds:
            out["folds"] = [
                {
                    "fold": f.index,
                    "train": [f.train_start, f.train_end],
                    "test": [f.train_end, f.test_end],
                    "params": f.params,
                    "in_sample_score": _finite(f.in_score),
                    "out_of_sample_score": _finite(f.out_score),
                    "in_sample_return": f.in_sample.total_return,
                    "out_of_sample_return": f.out_of_sample.total_return,
                }
                for f in self.folds
            ]
            growth = np.prod([1 + f.out_of_sample.total_return for f in self.folds])
            out["out_of_sample_return"] = float(growth - 1)
            out["mean_in_sample_score"] = _finite(
                float(np.nanmean([_nan(f.in_score) for f in self.folds]))
            )
            out["mean_out_of_sample_score"] = _finite(
                float(np.nanmean([_nan(f.out_score) for f in self.folds]))
            )
        return out


def _nan(x: float) -> float:
    return x if math.isfinite(x) else math.nan


def _finite(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def parse_duration(text: str, interval_seconds: int) -> int:
    """'7d', '12h', '90m', '2w' or a bare number of days -> bars."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([mhdw]?)\s*", text)
    if not match:
        raise BadInputError(f"bad duration {text!r}: use e.g. 7d, 12h, 90m, 2w")
    unit = {"m": 60, "h": 3600, "d": 86_400, "w": 604_800, "": 86_400}[match[2]]
    bars = int(float(match[1]) * unit // interval_seconds)
    if bars < 1:
        raise BadInputError(f"duration {text!r} is shorter than one bar")
    return bars


def parse_walk_forward(text: str, interval_seconds: int) -> tuple[int, int]:
    """'TRAIN:TEST' (e.g. '7d:2d') -> (train bars, test bars)."""
    parts = text.split(":")
    if len(parts) != 2:
        raise BadInputError(f"bad --walk-forward {text!r}: expected TRAIN:TEST, e.g. 7d:2d")
    train, test = (parse_duration(p, interval_seconds) for p in parts)
    return train, test


class Search:
    """Which parameters of a strategy score best on candles; in and out of sample."""

    def __init__(
        self,
        candles: Candles,
        strategy: str,
        space: Mapping[str, Sequence[float]],
        config: BacktestConfig | None = None,
        objective: str = "sharpe",
        method: Literal["grid", "bayes"] = "grid",
        n_trials: int = 40,
        seed: int = 7,
    ) -> None:
        if objective not in OBJECTIVES:
            raise BadInputError(f"unknown objective {objective!r}; known: {', '.join(OBJECTIVES)}")
        if method not in ("grid", "bayes"):
            raise BadInputError(f"unknown method {method!r}; known: grid, bayes")
        if not space:
            raise BadInputError("nothing to search: give at least one --grid NAME=V1,V2,...")
        self.candles = candles
        self.strategy = strategy
        self.space = {k: list(v) for k, v in space.items()}
        for name, values in self.space.items():
            if not values:
                raise BadInputError(f"--grid {name}: no values")
        known = rule_parameters(strategy)
        unknown = sorted(set(self.space) - set(known))
        if unknown:
            raise BadInputError(
                f"{strategy}: unknown parameter(s) {', '.join(unknown)}; known: {', '.join(known)}"
            )
        self.config = config or BacktestConfig()
        self.objective = objective
        self.method = method
        self.n_trials = n_trials
        self.seed = seed
        self.interval = candles.interval_ms // 1000
        self._ohlc = [
            np.ascontiguousarray(a, dtype=float)
            for a in (candles.open, candles.high, candles.low, candles.close)
        ]
        self._fractions = self.config.fractions(candles)
        self._orders: dict[tuple[tuple[str, Any], ...], np.ndarray] = {}
        self._bars = engine_bars(candles)

    # -- evaluation ------------------------------------------------------------------------
    def candidates(self) -> list[Params]:
        """The grid's valid parameter sets (e.g. fast < slow), in grid order."""
        names = list(self.space)
        valid = []
        for values in itertools.product(*(self.space[n] for n in names)):
            params = dict(zip(names, values, strict=True))
            try:
                make_rule(self.strategy, params)
            except BadInputError:
                continue
            valid.append(params)
        if not valid:
            raise BadInputError(
                f"no valid parameter set in the grid {self.space} (e.g. fast must be < slow)"
            )
        return valid

    def orders(self, params: Params) -> np.ndarray:
        key = tuple(sorted(params.items()))
        if key not in self._orders:
            rule = make_rule(self.strategy, params)
            directions = frame_directions(self.candles, [rule], self._bars)
            self._orders[key] = orders_from_directions(directions, self.config.long_only)
        return self._orders[key]

    def evaluate(self, params: Params, start: int = 0, end: int | None = None) -> Evaluation:
        """Figures of one parameter set on bars [start, end)."""
        end = len(self.candles) if end is None else end
        metrics = quick_metrics(
            [a[start:end] for a in self._ohlc],
            self.orders(params)[start:end],
            self._fractions[start:end],
            self.config,
            self.interval,
        )
        score = float(getattr(metrics, self.objective))
        if math.isnan(score) or metrics.n_trades == 0:
            score = -math.inf
        return Evaluation(params, metrics, score)

    def rank(
        self, start: int = 0, end: int | None = None, progress: Progress | None = None
    ) -> list[Evaluation]:
        """All evaluations of the search on bars [start, end), best first."""
        if self.method == "grid":
            done = []
            for params in self.candidates():
                done.append(self.evaluate(params, start, end))
                if progress:
                    progress(1)
        else:
            done = self._bayes(start, end, progress)
        if not done:
            raise BadInputError("the search evaluated nothing")
        return sorted(done, key=lambda e: e.score, reverse=True)

    def _bayes(self, start: int, end: int | None, progress: Progress | None) -> list[Evaluation]:
        try:
            import optuna
        except ImportError:  # pragma: no cover - depends on the environment
            raise BadInputError(
                "--method bayes needs optuna: pip install 'cryptosignals[research]'"
            ) from None
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        seen: dict[tuple[tuple[str, Any], ...], Evaluation] = {}

        def objective(trial: Any) -> float:
            params: Params = {}
            for name, values in self.space.items():
                low, high = min(values), max(values)
                if low == high:
                    params[name] = low
                elif all(float(v).is_integer() for v in values):
                    params[name] = trial.suggest_int(name, int(low), int(high))
                else:
                    params[name] = trial.suggest_float(name, float(low), float(high))
            if progress:
                progress(1)
            try:
                make_rule(self.strategy, params)
            except BadInputError:
                raise optuna.TrialPruned() from None
            key = tuple(sorted(params.items()))
            if key not in seen:
                seen[key] = self.evaluate(params, start, end)
            score = seen[key].score
            return score if math.isfinite(score) else -1e9

        sampler = optuna.samplers.TPESampler(seed=self.seed)
        study = optuna.create_study(direction="maximize", sampler=sampler)
        study.optimize(objective, n_trials=self.n_trials)
        return list(seen.values())

    # -- runs ------------------------------------------------------------------------------
    def steps(self, walk_forward: tuple[int, int] | None = None) -> int:
        """How many evaluations `run` makes (for a progress bar)."""
        per_window = len(self.candidates()) if self.method == "grid" else self.n_trials
        if walk_forward is None:
            return per_window
        return per_window * len(self.folds(*walk_forward))

    def folds(self, train: int, test: int) -> list[tuple[int, int, int]]:
        """(train start, train end = test start, test end) of each walk-forward step."""
        start = warmup_bars([make_rule(self.strategy, p) for p in self.candidates()])
        n = len(self.candles)
        if start + train + test > n:
            raise BadInputError(
                f"too little data for walk-forward {train}:{test} bars: {n} candles, of which "
                f"{start} are indicator warm-up; need at least {start + train + test}"
            )
        out = []
        while start + train + test <= n:
            out.append((start, start + train, start + train + test))
            start += test
        return out

    def run(
        self, walk_forward: tuple[int, int] | None = None, progress: Progress | None = None
    ) -> SearchResult:
        result = SearchResult(self.method, self.objective)
        if walk_forward is None:
            result.ranking = self.rank(progress=progress)
            return result
        for i, (a, b, c) in enumerate(self.folds(*walk_forward)):
            best = self.rank(a, b, progress)[0]
            out = self.evaluate(best.params, b, c)
            result.folds.append(
                Fold(i, a, b, c, best.params, best.metrics, out.metrics, best.score, out.score)
            )
        return result
