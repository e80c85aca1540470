"""Regimes: which volatility state a coin is in now, from fitted HMM parameters, filtered forward.

The stream side of the regime model (numpy and the standard library only: the process Lambda
evaluates it; fitting lives in `cryptosignals.models.regimes`, with hmmlearn).

- Features, per 5-minute bar, from closes only (`regime_features`):
  `return_bp`, the log return in basis points (divided by the square root of the number of bar
  intervals it spans, so a gap does not look like a shock), and `log_vol_bp`, the log of the
  realised volatility: the exponentially weighted root mean square of `return_bp` with a
  half-life of `half_life` bars (bias-corrected, so it is an average from the first return on).
  The first `warmup` bars (`ceil(3 * half_life) + 1`) have no features.
- `RegimeModel`: a Gaussian HMM with diagonal covariances on those two features, as plain data
  (`to_json` / `from_json`), states ordered by volatility (index 0 = the calmest), with the
  hysteresis that turns probabilities into a label that does not flicker.
- `RegimeFilter`: the Hamilton forward filter. The probability of each state at bar t uses the
  bars up to t only (never hmmlearn's `predict` / `predict_proba`, which smooth over the whole
  sequence: look-ahead). Resumable: `update(end, close)` on any chunking of a series gives the
  same output as on the whole series, and `to_json()` is the whole state (a few floats).

Warm-up: during the first `warmup` bars the probabilities are NaN and the labels -1. After it
the filter starts from the model's start probabilities and the label is the first bar's most
probable state; from then on the label switches to state j only when j is the most probable
state with probability >= `switch_prob` on `switch_bars` consecutive bars.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cryptosignals.fitted import fitted_for

FEATURES = ("return_bp", "log_vol_bp")
#: Names of the states by volatility rank, for each number of states the fit may choose.
STATE_NAMES: dict[int, tuple[str, ...]] = {
    1: ("normal",),
    2: ("calm", "turbulent"),
    3: ("calm", "normal", "turbulent"),
    4: ("calm", "normal", "volatile", "turbulent"),
    5: ("quiet", "calm", "normal", "volatile", "turbulent"),
}
_VOL_FLOOR_BP2 = 1e-4  # a flat price (0 bp RMS) would have log volatility -inf
_STATE_VERSION = 1


def warmup_bars(half_life: float) -> int:
    """Bars before the first feature: the first return needs two closes, then 3 half-lives."""
    return math.ceil(3.0 * half_life) + 1


def _matrix(name: str, values: Any, rows: int, cols: int) -> tuple[tuple[float, ...], ...]:
    array = np.asarray(values, dtype=float)
    if array.shape != (rows, cols):
        raise ValueError(f"{name} must be {rows} x {cols}, got shape {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} must be finite")
    return tuple(tuple(float(v) for v in row) for row in array)


def _probabilities(name: str, values: Any) -> tuple[float, ...]:
    array = np.asarray(values, dtype=float)
    if array.ndim != 1 or not np.isfinite(array).all() or (array < 0).any():
        raise ValueError(f"{name} must be finite non-negative probabilities")
    if abs(array.sum() - 1.0) > 1e-6:
        raise ValueError(f"{name} must sum to 1, sums to {array.sum():.6g}")
    return tuple(float(v) for v in array)


@dataclass(frozen=True)
class RegimeModel:
    """A fitted Gaussian HMM (diagonal covariances) on `FEATURES`, states by volatility.

    `means` and `variances` are K x 2 (state x feature); `names[k]` names state k, k = 0 the
    calmest. `half_life` (bars) and `interval_s` describe the features; `switch_prob` and
    `switch_bars` the hysteresis. `fitted_on` is the (first, last) bar close time of the
    training data and `bic` its Bayesian information criterion, when known.
    """

    names: tuple[str, ...]
    startprob: tuple[float, ...]
    transmat: tuple[tuple[float, ...], ...]
    means: tuple[tuple[float, ...], ...]
    variances: tuple[tuple[float, ...], ...]
    half_life: float = 12.0
    interval_s: int = 300
    switch_prob: float = 0.8
    switch_bars: int = 12
    fitted_on: tuple[int, int] | None = None
    bic: float | None = None
    features: tuple[str, ...] = FEATURES
    _arrays: dict[str, Any] = field(default_factory=dict, init=False, repr=False,
                                           compare=False)  # fmt: skip

    def __post_init__(self) -> None:
        k = len(self.names)
        if k < 1 or len(set(self.names)) != k or not all(isinstance(n, str) for n in self.names):
            raise ValueError("names must be distinct strings, one per state")
        if tuple(self.features) != FEATURES:
            raise ValueError(f"features must be {FEATURES}, got {tuple(self.features)}")
        f = len(FEATURES)
        set_ = object.__setattr__
        set_(self, "names", tuple(self.names))
        set_(self, "features", tuple(self.features))
        set_(self, "startprob", _probabilities("startprob", self.startprob))
        if len(self.startprob) != k:
            raise ValueError(f"startprob must have {k} entries (one per state)")
        set_(self, "transmat", _matrix("transmat", self.transmat, k, k))
        for i, row in enumerate(self.transmat):
            _probabilities(f"transmat row {i}", row)
        set_(self, "means", _matrix("means", self.means, k, f))
        set_(self, "variances", _matrix("variances", self.variances, k, f))
        if min(min(row) for row in self.variances) <= 0:
            raise ValueError("variances must be positive")
        if not (math.isfinite(self.half_life) and self.half_life > 0):
            raise ValueError("half_life must be a positive number of bars")
        if int(self.interval_s) != self.interval_s or self.interval_s <= 0:
            raise ValueError("interval_s must be a positive whole number of seconds")
        if not 0.0 <= self.switch_prob <= 1.0:
            raise ValueError("switch_prob must be within [0, 1]")
        if int(self.switch_bars) != self.switch_bars or self.switch_bars < 1:
            raise ValueError("switch_bars must be an integer >= 1")
        set_(self, "half_life", float(self.half_life))
        set_(self, "interval_s", int(self.interval_s))
        set_(self, "switch_prob", float(self.switch_prob))
        set_(self, "switch_bars", int(self.switch_bars))
        if self.fitted_on is not None:
            set_(self, "fitted_on", (int(self.fitted_on[0]), int(self.fitted_on[1])))
        if self.bic is not None:
            set_(self, "bic", float(self.bic))
        const = [-0.5 * sum(math.log(2.0 * math.pi * v) for v in row) for row in self.variances]
        inv_var = [[1.0 / v for v in row] for row in self.variances]
        self._arrays["emission"] = (const, [list(r) for r in self.means], inv_var)

    @property
    def n_states(self) -> int:
        return len(self.names)

    @property
    def warmup(self) -> int:
        return warmup_bars(self.half_life)

    @property
    def _emission(self) -> tuple[list[float], list[list[float]], list[list[float]]]:
        """Per state: the log density's constant, the means and the inverse variances."""
        return self._arrays["emission"]

    def log_emissions(self, features: np.ndarray) -> np.ndarray:
        """log density of each row of `features` (n x 2) under each state: n x K."""
        x = np.asarray(features, dtype=float)
        const, means, inv_var = (np.array(v) for v in self._emission)
        d = x[:, None, :] - means[None, :, :]
        return const[None, :] - 0.5 * (d * d * inv_var[None, :, :]).sum(axis=2)

    def to_json(self) -> dict[str, Any]:
        return {
            "names": list(self.names),
            "features": list(self.features),
            "startprob": list(self.startprob),
            "transmat": [list(r) for r in self.transmat],
            "means": [list(r) for r in self.means],
            "variances": [list(r) for r in self.variances],
            "half_life": self.half_life,
            "interval_s": self.interval_s,
            "switch_prob": self.switch_prob,
            "switch_bars": self.switch_bars,
            "fitted_on": None if self.fitted_on is None else list(self.fitted_on),
            "bic": self.bic,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RegimeModel:
        required = ("names", "startprob", "transmat", "means", "variances")
        missing = [key for key in required if key not in data]
        if missing:
            raise ValueError(f"regime model: missing {', '.join(missing)}")
        known = {*required, "features", "half_life", "interval_s", "switch_prob",
                 "switch_bars", "fitted_on", "bic"}  # fmt: skip
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"regime model: unknown field(s) {', '.join(unknown)}")
        kwargs = {key: data[key] for key in known if key in data and data[key] is not None}
        for key in ("names", "features", "fitted_on"):
            if key in kwargs:
                kwargs[key] = tuple(kwargs[key])
        return cls(**kwargs)


@dataclass(frozen=True)
class RegimeOutput:
    """Per bar: close time, filtered probabilities (n x K, NaN in warm-up), the most probable
    state (`raw`, -1 in warm-up) and the hysteresis label (`label`, -1 in warm-up)."""

    end: np.ndarray
    probabilities: np.ndarray
    raw: np.ndarray
    label: np.ndarray

    def __len__(self) -> int:
        return len(self.end)

    @staticmethod
    def concat(parts: Sequence[RegimeOutput], n_states: int) -> RegimeOutput:
        if not parts:
            return RegimeOutput(
                np.zeros(0, np.int64), np.zeros((0, n_states)), np.zeros(0, np.int64),
                np.zeros(0, np.int64),
            )  # fmt: skip
        return RegimeOutput(*(np.concatenate([getattr(p, c) for p in parts]) for c in
                              ("end", "probabilities", "raw", "label")))  # fmt: skip


def _feature_step(
    state: dict[str, Any], end: int, close: float, interval_s: int, decay: float
) -> tuple[float, float] | None:
    """Advance the feature state by one bar; the bar's features once warm, else None."""
    last_end, last_close = state["last_end"], state["last_close"]
    state["last_end"], state["last_close"] = end, close
    state["seen"] += 1
    if last_close is None:
        return None
    gaps = max(1.0, (end - last_end) / interval_s)
    r = math.log(close / last_close) * 1e4 / math.sqrt(gaps)
    state["s"] = decay * state["s"] + (1.0 - decay) * r * r
    state["w"] = decay * state["w"] + (1.0 - decay)
    return r, 0.5 * math.log(state["s"] / state["w"] + _VOL_FLOOR_BP2)


def _check_bars(end: Any, close: Any, last_end: int | None) -> tuple[list[int], list[float]]:
    """The bars as Python lists, checked: same length, whole increasing times, positive prices."""
    e = np.asarray(end)
    c = np.asarray(close, dtype=float)
    if e.ndim != 1 or c.shape != e.shape:
        raise ValueError("end and close must be 1-D arrays of the same length")
    whole = np.issubdtype(e.dtype, np.integer) or not len(e)
    if not whole and (not np.all(np.isfinite(e)) or np.any(e != np.floor(e))):
        raise ValueError("end must be whole unix seconds")
    ends = [int(v) for v in e.tolist()]
    closes = c.tolist()
    previous = last_end
    for t, price in zip(ends, closes, strict=True):
        if previous is not None and t <= previous:
            raise ValueError("bar close times must increase strictly (one update per bar)")
        if not (math.isfinite(price) and price > 0):
            raise ValueError("close must be finite and positive")
        previous = t
    return ends, closes


def _fresh_features() -> dict[str, Any]:
    return {"last_end": None, "last_close": None, "s": 0.0, "w": 0.0, "seen": 0}


def regime_features(end: Any, close: Any, half_life: float = 12.0,
                    interval_s: int = 300) -> np.ndarray:  # fmt: skip
    """The n x 2 features of every bar (`FEATURES`); NaN rows during the warm-up."""
    e, c = _check_bars(end, close, None)
    state = _fresh_features()
    decay = 0.5 ** (1.0 / half_life)
    warm = warmup_bars(half_life)
    out = np.full((len(e), len(FEATURES)), np.nan)
    for i in range(len(e)):
        x = _feature_step(state, e[i], c[i], interval_s, decay)
        if x is not None and state["seen"] > warm:
            out[i] = x
    return out


class RegimeFilter:
    """The forward (Hamilton) filter of a `RegimeModel` over bars, resumable.

    `update(end, close)` takes the next bars (close times strictly after the last one seen) and
    returns their `RegimeOutput`; `to_json()` is the state to resume from
    (`RegimeFilter(model, state)`).
    """

    def __init__(self, model: RegimeModel, state: Mapping[str, Any] | None = None) -> None:
        self.model = model
        if state is None:
            self._features = _fresh_features()
            self._p: list[float] | None = None
            self._label, self._candidate, self._count = -1, -1, 0
            return
        if state.get("version") != _STATE_VERSION:
            raise ValueError(f"regime filter state: version must be {_STATE_VERSION}")
        try:
            self._features = {key: state[key] for key in ("last_end", "last_close", "s", "w",
                                                          "seen")}  # fmt: skip
            p = state["p"]
            self._label, self._candidate, self._count = (
                int(state["label"]), int(state["candidate"]), int(state["count"]),
            )  # fmt: skip
        except KeyError as missing:
            raise ValueError(f"regime filter state: missing {missing}") from None
        if p is not None and len(p) != model.n_states:
            raise ValueError(
                f"regime filter state has {len(p)} probabilities, the model {model.n_states} "
                "states; use RegimeFilter.with_model to change models"
            )
        if not -1 <= self._label < model.n_states or not -1 <= self._candidate < model.n_states:
            raise ValueError("regime filter state: label out of range for this model")
        self._p = None if p is None else [float(v) for v in p]

    def to_json(self) -> dict[str, Any]:
        return {
            "version": _STATE_VERSION,
            **self._features,
            "p": self._p,
            "label": self._label,
            "candidate": self._candidate,
            "count": self._count,
        }

    def latest(self) -> dict[str, Any] | None:
        """The regime after the last bar, as stored with the coin's aggregates: its name, its
        volatility rank, and the filtered probability of every state (None in warm-up)."""
        if self._label < 0 or self._p is None:
            return None
        names = self.model.names
        return {
            "timestamp": self._features["last_end"], "name": names[self._label],
            "rank": self._label, "n_regimes": len(names),
            "probabilities": dict(zip(names, self._p, strict=True)),
        }  # fmt: skip

    def with_model(self, model: RegimeModel) -> RegimeFilter:
        """The filter continued under a refitted model. The features carry over when they are
        defined the same way (else they warm up again); the probabilities and the label carry
        over when the number of states is the same (states are ordered by volatility, so state k
        means the same thing), else the filter restarts from the new start probabilities."""
        fresh = RegimeFilter(model)
        same_features = (model.half_life, model.interval_s) == (
            self.model.half_life, self.model.interval_s)  # fmt: skip
        if not same_features:
            return fresh
        fresh._features = dict(self._features)
        if model.n_states == self.model.n_states:
            fresh._p = None if self._p is None else list(self._p)
            fresh._label, fresh._candidate, fresh._count = (
                self._label, self._candidate, self._count)  # fmt: skip
        elif self._p is not None:
            fresh._p = list(model.startprob)  # prior for the next bar; the label re-forms
        return fresh

    def update(self, end: Any, close: Any) -> RegimeOutput:
        """Filter the next bars: `end` (unix seconds, bar close time), `close` (prices)."""
        model = self.model
        e, c = _check_bars(end, close, self._features["last_end"])
        k, n = model.n_states, len(e)
        decay = 0.5 ** (1.0 / model.half_life)
        warm, interval = model.warmup, model.interval_s
        const, means, inv_var = model._emission
        a = model.transmat
        probabilities = np.full((n, k), np.nan)
        raw = np.full(n, -1, dtype=np.int64)
        label = np.full(n, -1, dtype=np.int64)
        features = self._features
        for i in range(n):
            x = _feature_step(features, e[i], c[i], interval, decay)
            if x is None or features["seen"] <= warm:
                continue
            loglik = [
                const[j] - 0.5 * sum((x[f] - means[j][f]) ** 2 * inv_var[j][f] for f in (0, 1))
                for j in range(k)
            ]
            p = self._step(loglik, a)
            probabilities[i] = p
            best = max(range(k), key=p.__getitem__)
            raw[i] = best
            label[i] = self._hysteresis(best, p[best])
        return RegimeOutput(np.array(e, dtype=np.int64), probabilities, raw, label)

    def _step(self, loglik: list[float], a: tuple[tuple[float, ...], ...]) -> list[float]:
        """One Hamilton filter step: predict with the transition matrix, weigh by the bar's
        likelihood (scaled by its maximum, so nothing underflows), normalise."""
        k = len(loglik)
        if self._p is None:
            prior = list(self.model.startprob)
        else:
            p = self._p
            prior = [sum(p[i] * a[i][j] for i in range(k)) for j in range(k)]
        top = max(loglik)
        weights = [prior[j] * math.exp(loglik[j] - top) for j in range(k)]
        total = sum(weights)
        if not total > 0:  # the likeliest states have prior 0: trust the bar alone
            weights = [math.exp(v - top) for v in loglik]
            total = sum(weights)
        self._p = [w / total for w in weights]
        return self._p

    def _hysteresis(self, best: int, p_best: float) -> int:
        model = self.model
        if self._label < 0:
            self._label, self._candidate, self._count = best, -1, 0
        elif best != self._label and p_best >= model.switch_prob:
            self._count = self._count + 1 if best == self._candidate else 1
            self._candidate = best
            if self._count >= model.switch_bars:
                self._label, self._candidate, self._count = best, -1, 0
        else:
            self._candidate, self._count = -1, 0
        return self._label


def model_for(coin: str, path: str | Path | None = None) -> RegimeModel | None:
    """The coin's fitted regime model from a models file (cryptosignals.fitted: the bundled one
    by default), or the file's default coin's, or None."""
    params = fitted_for(coin, "regimes", path)
    return None if params is None else RegimeModel.from_json(params)


def filter_regimes(model: RegimeModel, end: Any, close: Any) -> RegimeOutput:
    """The whole series through a fresh filter (the batch form of `RegimeFilter.update`)."""
    return RegimeFilter(model).update(end, close)


def bar_ends(timestamp_ms: np.ndarray, interval_s: int = 300) -> np.ndarray:
    """Bar close times (unix seconds) from candle open times (unix milliseconds)."""
    return np.asarray(timestamp_ms, dtype=np.int64) // 1000 + interval_s
