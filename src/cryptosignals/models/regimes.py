"""Fitting regime models on history (hmmlearn), and the walk-forward that labels history with
models that never saw the bars they label.

- `fit_regimes`: Gaussian HMMs (`covariance_type="diag"`) on `regimes.regime_features` for each
  candidate number of states, several random restarts each (EM finds local optima), the number
  of states chosen by BIC; the states are then ordered by their mean log volatility, so state 0
  is always the calmest and a refit never swaps the labels, and named by that rank
  (`regimes.STATE_NAMES`).
- `walk_forward_regimes`: refit every `refit_days` on the trailing `train_days` only, filter the
  following bars with `regimes.RegimeFilter`, carried across refits (`with_model`). The number
  of states is chosen by BIC on the first window and kept, so a label means the same across the
  run; later refits start from the previous fit (plus `refit_restarts - 1` random starts), and
  a refit that degenerates (every EM run failed) leaves the previous fit in use.

Only fitting happens here. hmmlearn's `predict`/`predict_proba`/`decode` are never used to
label a bar: they use the whole sequence (look-ahead); the stream's forward filter does.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from cryptosignals.regimes import (
    STATE_NAMES,
    RegimeFilter,
    RegimeModel,
    RegimeOutput,
    regime_features,
    warmup_bars,
)

DAY = 86_400


def hmm_class() -> Any:
    """hmmlearn's GaussianHMM, or an ImportError that says how to install it."""
    try:
        from hmmlearn.hmm import GaussianHMM
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError(
            "fitting regimes needs hmmlearn: pip install 'cryptosignals[models]'"
        ) from error
    return GaussianHMM


def _fit_one(x: np.ndarray, k: int, seed: int, n_iter: int, start: RegimeModel | None) -> Any:
    hmm = hmm_class()(
        n_components=k, covariance_type="diag", n_iter=n_iter, tol=1e-3, random_state=seed,
        min_covar=1e-4, init_params="" if start is not None else "stmc",
        implementation="scaling",  # the same fit as "log" here, about 4x faster
    )  # fmt: skip
    if start is not None:
        hmm.startprob_ = np.array(start.startprob)
        hmm.transmat_ = np.array(start.transmat)
        hmm.means_ = np.array(start.means)
        hmm.covars_ = np.array(start.variances)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence chatter; a bad fit is caught below
        hmm.fit(x)
    return hmm


def _stationary(transmat: np.ndarray) -> np.ndarray:
    """The chain's long-run share of each state: the filter starts at an arbitrary bar, not at
    the start of the training sequence (hmmlearn's `startprob_` describes only that one)."""
    k = len(transmat)
    a = np.vstack([transmat.T - np.eye(k), np.ones(k)])
    b = np.concatenate([np.zeros(k), [1.0]])
    p = np.clip(np.linalg.lstsq(a, b, rcond=None)[0], 0.0, None)
    return p / p.sum()


def _to_model(hmm: Any, x: np.ndarray, span: tuple[int, int], **config: Any) -> RegimeModel:
    k = hmm.n_components
    order = np.argsort(hmm.means_[:, 1], kind="stable")  # by mean log volatility
    variances = np.array([np.diag(c) for c in hmm.covars_]) if hmm.covars_.ndim == 3 else None
    if variances is None:  # pragma: no cover - hmmlearn returns full matrices for "diag"
        variances = np.asarray(hmm.covars_)
    transmat = hmm.transmat_[np.ix_(order, order)]
    transmat = transmat / transmat.sum(axis=1, keepdims=True)
    startprob = _stationary(transmat)
    return RegimeModel(
        names=STATE_NAMES[k],
        startprob=startprob.tolist(),
        transmat=transmat.tolist(),
        means=hmm.means_[order].tolist(),
        variances=variances[order].tolist(),
        fitted_on=span,
        bic=float(hmm.bic(x)),
        **config,
    )


def fit_regimes(
    end: Any,
    close: Any,
    n_states: Sequence[int] = (2, 3, 4),
    restarts: int = 3,
    seed: int = 0,
    half_life: float = 12.0,
    switch_prob: float = 0.8,
    switch_bars: int = 12,
    n_iter: int = 100,
    start: RegimeModel | None = None,
) -> RegimeModel:
    """The best Gaussian HMM by BIC over `n_states`, `restarts` EM runs each (the highest
    log-likelihood kept); `start` adds a run started from that model's parameters (same K)."""
    end = np.asarray(end, dtype=np.int64)
    x = regime_features(end, close, half_life)
    ready = ~np.isnan(x[:, 0])
    x = x[ready]
    if any(int(k) < 1 or int(k) not in STATE_NAMES for k in n_states):
        raise ValueError(f"n_states must be within {min(STATE_NAMES)}..{max(STATE_NAMES)}")
    if restarts < 1 and start is None:
        raise ValueError("restarts must be >= 1 (or give a start model)")
    most = max(n_states)
    if len(x) < 20 * most * (most + 4):
        raise ValueError(
            f"{len(x)} bars of features are too few to fit {most} states; give more history"
        )
    span = (int(end[ready][0]), int(end[ready][-1]))
    config = {"half_life": half_life, "switch_prob": switch_prob, "switch_bars": switch_bars}
    best: RegimeModel | None = None
    for k in sorted({int(k) for k in n_states}):
        fits = []
        starts: list[RegimeModel | None] = [None] * restarts
        if start is not None and start.n_states == k:
            starts.insert(0, start)
        for r, init in enumerate(starts):
            try:
                hmm = _fit_one(x, k, seed * 1000 + 10 * k + r, n_iter, init)
                score = float(hmm.score(x))
            except (ValueError, np.linalg.LinAlgError):
                continue  # a degenerate run (a state collapsed); the other restarts decide
            if math.isfinite(score):
                fits.append((score, r, hmm))
        if not fits and restarts == 0:  # the warm start degenerated: one random start
            try:
                hmm = _fit_one(x, k, seed * 1000 + 10 * k, n_iter, None)
                fits.append((float(hmm.score(x)), 0, hmm))
            except (ValueError, np.linalg.LinAlgError):
                pass
        if not fits:
            continue
        score, _, hmm = max(fits, key=lambda f: (f[0], -f[1]))
        try:
            model = _to_model(hmm, x, span, **config)
        except ValueError:
            continue
        if best is None or (model.bic is not None and best.bic is not None
                            and model.bic < best.bic):  # fmt: skip
            best = model
    if best is None:
        raise ValueError("no regime model could be fitted: every EM run degenerated")
    return best


@dataclass(frozen=True)
class WalkForward:
    """Walk-forward regimes: the filter's output for every bar (NaN / -1 for the bars of the
    first training window and the warm-up), and each fit with the first bar close time it
    labels (`starts[i]`: bars with end >= starts[i] and < starts[i + 1] are model i's)."""

    output: RegimeOutput
    models: tuple[RegimeModel, ...]
    starts: tuple[int, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return self.models[0].names


def walk_forward_regimes(
    end: Any,
    close: Any,
    train_days: float = 30.0,
    refit_days: float = 7.0,
    n_states: Sequence[int] = (2, 3, 4),
    restarts: int = 3,
    refit_restarts: int = 1,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
    **fit_options: Any,
) -> WalkForward:
    """Label every bar after the first `train_days` with a model fitted on the `train_days`
    before its fold only (folds of `refit_days`), filtered forward without a break."""
    e = np.asarray(end, dtype=np.int64)
    c = np.asarray(close, dtype=float)
    if len(e) == 0:
        raise ValueError("no bars")
    if train_days <= 0 or refit_days <= 0:
        raise ValueError("train_days and refit_days must be positive")
    first = int(e[0]) + round(train_days * DAY)
    if int(e[-1]) < first:
        raise ValueError(f"less than train_days={train_days:g} days of bars: nothing to label")
    starts = list(range(first, int(e[-1]) + 1, round(refit_days * DAY)))
    models: list[RegimeModel] = []
    parts: list[RegimeOutput] = []
    filt: RegimeFilter | None = None
    position = 0
    for i, start in enumerate(starts):
        stop = starts[i + 1] if i + 1 < len(starts) else int(e[-1]) + 1
        lo = int(np.searchsorted(e, start - round(train_days * DAY), "left"))
        hi = int(np.searchsorted(e, start, "left"))  # the fit sees bars closed before `start`
        previous = models[-1] if models else None
        try:
            model = fit_regimes(
                e[lo:hi], c[lo:hi],
                n_states=(previous.n_states,) if previous else n_states,
                restarts=restarts if previous is None else max(0, refit_restarts - 1),
                seed=seed + i, start=previous, **fit_options,
            )  # fmt: skip
        except ValueError:
            if previous is None:
                raise
            model = previous  # a refit that degenerates leaves the previous fit in use
        models.append(model)
        if filt is None:  # the first window: run the filter through it (past data), unreported
            filt = RegimeFilter(model)
            burn = filt.update(e[:hi], c[:hi])
            k, none = model.n_states, np.full(hi, -1, np.int64)
            parts.append(RegimeOutput(burn.end, np.full((hi, k), np.nan), none, none.copy()))
        else:
            filt = filt.with_model(model)
        position = hi
        j = int(np.searchsorted(e, stop, "left"))
        parts.append(filt.update(e[position:j], c[position:j]))
        position = j
        if progress is not None:
            progress(i + 1, len(starts))
    assert position == len(e)
    return WalkForward(RegimeOutput.concat(parts, models[0].n_states), tuple(models),
                       tuple(starts))  # fmt: skip


__all__ = ["WalkForward", "fit_regimes", "walk_forward_regimes", "warmup_bars"]
