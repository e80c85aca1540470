"""Walk-forward evaluation of P(up) models without leaks (training side).

- Splits: walk-forward folds of `test_days` each, the model refitted before each fold on the
  samples before it (an expanding window of at least `train_days`; never shuffled). Training
  samples whose label window reaches into the test fold are PURGED, and samples that start within
  an EMBARGO after the fold's last label are dropped too (that only bites in `kfold_folds`, whose
  training data lie on both sides of the fold: the walk-forward never trains on later data).
- Inputs are prepared inside each training window only: median imputation + missing indicators
  and standardisation for the logistic regression; the trees' Platt calibration on a purged
  hold-out at the end of the training window.
- Out of sample: AUC, Brier and log-loss, each beside the base-rate forecast (the training
  window's share of ups), reliability bins and per-fold figures; the verdict is a block
  bootstrap over days of the loss differences (and a sign test over folds).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import cache
from typing import Any, Protocol

import numpy as np

from cryptosignals.candles import Candles, candles_to_ticks
from cryptosignals.engine import Engine, closed_bars
from cryptosignals.evidence import calibration
from cryptosignals.features import FEATURE_NAMES, model_features, returns_as_of
from cryptosignals.models.labels import target_seconds, up_labels
from cryptosignals.predict import LogisticParams

MODELS = ("logistic", "lightgbm")
DAY = 86_400
_EPS = 1e-15


# -- data ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Dataset:
    """A coin's feature rows, labels and label windows, one per 5-minute bar."""

    coin: str
    target: str
    end: np.ndarray  # bar close, unix seconds: when the row is known
    close: np.ndarray
    x: np.ndarray
    y: np.ndarray  # 1/0, NaN where unknown
    label_end: np.ndarray


def dataset(
    coin: str, candles: Candles, target: str = "up_1h", cost: float = 0.0,
    bitcoin: Candles | None = None,
) -> Dataset:  # fmt: skip
    """The stream's own bars and features of a candle series, labelled with `target` net of
    `cost` (a log return); `bitcoin`'s candles add its last hour to another coin's rows."""
    horizon = target_seconds(target)
    bars = Engine(coin).feed(candles_to_ticks(coin, candles)).bars
    if not bars or len(bars["end"]) == 0:
        raise ValueError(f"{coin}: no closed 5-minute bars in the candles")
    btc = None
    if bitcoin is not None and coin != "bitcoin":
        other = closed_bars(candles_to_ticks("bitcoin", bitcoin))
        btc = returns_as_of(bars["end"], other["end"], other["close"])
    x = model_features(bars, btc)
    labels = up_labels(bars["end"], bars["close"], horizon, cost)
    return Dataset(coin, target, bars["end"].astype(float), np.asarray(bars["close"], float), x,
                   labels.y, labels.label_end)  # fmt: skip


def with_target(data: Dataset, target: str, cost: float = 0.0) -> Dataset:
    """The same rows labelled with another target (no second pass of the engine)."""
    labels = up_labels(data.end.astype(np.int64), data.close, target_seconds(target), cost)
    return Dataset(data.coin, target, data.end, data.close, data.x, labels.y, labels.label_end)


def default_windows(end: np.ndarray) -> tuple[float, float]:
    """The walk-forward's training minimum and fold length in days: 28 and 7, or for data
    shorter than six weeks half of its span and a sixth of it."""
    span = (end[-1] - end[0]) / DAY if len(end) else 0.0
    if span >= 42:
        return 28.0, 7.0
    return max(1.0, span // 2), max(1.0, span // 6)


# -- splits -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Fold:
    """Indices of one fold's training and test samples; `purged` training samples were dropped
    because their label window overlaps the fold (or its embargo)."""

    train: np.ndarray
    test: np.ndarray
    purged: int


def _purge(
    train: np.ndarray, test: np.ndarray, t: np.ndarray, label_end: np.ndarray, embargo_s: float
) -> tuple[np.ndarray, int]:
    start, stop = t[test].min(), label_end[test].max()
    clash = (label_end[train] >= start) & (t[train] <= stop + embargo_s)
    return train[~clash], int(clash.sum())


def walk_forward_folds(
    t: np.ndarray, label_end: np.ndarray, known: np.ndarray, train_days: float = 28,
    test_days: float = 7, purge: bool = True, embargo_s: float = 0.0, rolling: bool = False,
) -> list[Fold]:  # fmt: skip
    """Test folds of `test_days` after the first `train_days`; each trains on the known samples
    before it (all of them, or the last `train_days` when `rolling`), purged unless told not to."""
    t = np.asarray(t, float)
    idx = np.flatnonzero(known)
    if len(idx) == 0:
        return []
    first, last = t[idx[0]], t[idx[-1]]
    folds = []
    start = first + train_days * DAY
    while start <= last:
        stop = start + test_days * DAY
        test = idx[(t[idx] >= start) & (t[idx] < stop)]
        lo = start - train_days * DAY if rolling else -math.inf
        train = idx[(t[idx] < start) & (t[idx] >= lo)]
        purged = 0
        if purge and len(test) and len(train):
            train, purged = _purge(train, test, t, label_end, embargo_s)
        if len(test) and len(train):
            folds.append(Fold(train, test, purged))
        start = stop
    return folds


def kfold_folds(
    t: np.ndarray, label_end: np.ndarray, known: np.ndarray, n_folds: int = 10,
    purge: bool = True, embargo_s: float = 0.0,
) -> list[Fold]:  # fmt: skip
    """Contiguous k-fold (training on both sides of each fold): not how models are judged here,
    but the setting where overlapping labels leak most, to show that purging stops it."""
    idx = np.flatnonzero(known)
    folds = []
    for test in np.array_split(idx, n_folds):
        train = np.setdiff1d(idx, test)
        purged = 0
        if purge:
            train, purged = _purge(train, test, np.asarray(t, float), label_end, embargo_s)
        folds.append(Fold(train, test, purged))
    return folds


# -- models -------------------------------------------------------------------------------------
class Model(Protocol):
    def predict(self, x: np.ndarray) -> np.ndarray: ...


#: Fits a model on (x, y, t, label_end) of a training window: the models' one interface.
Fitter = Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray], Model]


#: The logistic regression's inverse L2 strength on standardised inputs: strong shrinkage, as the
#: directional signal is expected to be weak (set before the benchmark on the shared data).
LOGISTIC_C = 0.01


def fit_logistic(x: np.ndarray, y: np.ndarray, c: float = LOGISTIC_C) -> LogisticParams:
    """Median imputation + missing indicators + standardisation + L2 logistic regression, all
    fitted on these rows only."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN column: filled with 0
        fill = np.nanmedian(x, axis=0)
    fill = np.where(np.isfinite(fill), fill, 0.0)
    indicators = np.flatnonzero(np.isnan(x).any(axis=0))
    params = LogisticParams(fill, indicators, np.zeros(0), np.zeros(0), np.zeros(0), 0.0)
    z = params.design(x)
    scaler = StandardScaler().fit(z)
    model = LogisticRegression(C=c, max_iter=2000).fit(scaler.transform(z), y)
    return LogisticParams(fill, indicators, scaler.mean_.astype(float),
                          scaler.scale_.astype(float), model.coef_[0].astype(float),
                          float(model.intercept_[0]))  # fmt: skip


def _platt(score: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    from sklearn.linear_model import LogisticRegression

    logit = np.log(np.clip(score, _EPS, 1 - _EPS) / np.clip(1 - score, _EPS, 1))
    model = LogisticRegression(C=1e6, max_iter=1000).fit(logit[:, None], y)
    return float(model.coef_[0, 0]), float(model.intercept_[0])


def _boosting(seed: int) -> Any:
    try:
        import lightgbm

        return lightgbm.LGBMClassifier(
            n_estimators=200, learning_rate=0.03, num_leaves=15, min_child_samples=200,
            subsample=0.7, subsample_freq=1, colsample_bytree=0.7, reg_lambda=5.0,
            n_jobs=1, random_state=seed, verbose=-1,  # two threads stall on a shared machine
        )  # fmt: skip
    except ImportError:  # the models extra brings lightgbm; scikit-learn's own trees otherwise
        from sklearn.ensemble import HistGradientBoostingClassifier

        return HistGradientBoostingClassifier(
            max_iter=200, learning_rate=0.03, max_leaf_nodes=15, min_samples_leaf=200,
            l2_regularization=5.0, random_state=seed,
        )  # fmt: skip


@dataclass
class FittedBoosting:
    """Gradient-boosted trees and the Platt calibration fitted on a hold-out after them."""

    model: Any
    calibration: tuple[float, float]

    def predict(self, x: np.ndarray) -> np.ndarray:
        raw = self.model.predict_proba(x)[:, 1]
        a, b = self.calibration
        logit = np.log(np.clip(raw, _EPS, 1 - _EPS) / np.clip(1 - raw, _EPS, 1))
        return np.asarray(1.0 / (1.0 + np.exp(-(a * logit + b))))


def fit_boosting(
    x: np.ndarray, y: np.ndarray, t: np.ndarray, label_end: np.ndarray, seed: int = 0,
    holdout: float = 0.2,
) -> FittedBoosting:  # fmt: skip
    """Trees on the first (1 - holdout) of the rows (in time), purged against the last part,
    on which a Platt calibration of their scores is fitted."""
    n = len(y)
    cut = int(n * (1 - holdout))
    fit = np.arange(cut)
    fit = fit[label_end[fit] < t[cut]] if cut < n else fit
    model = _boosting(seed).fit(x[fit], y[fit])
    if cut >= n or len(np.unique(y[cut:])) < 2:
        return FittedBoosting(model, (1.0, 0.0))
    return FittedBoosting(model, _platt(model.predict_proba(x[cut:])[:, 1], y[cut:]))


def fit_model(
    model: str | Fitter,
    x: np.ndarray,
    y: np.ndarray,
    t: np.ndarray,
    label_end: np.ndarray,
    seed: int = 0,
) -> Model:
    """Fit a named model (`MODELS`) or call a `Fitter`, on one training window."""
    if callable(model):
        return model(x, y, t, label_end)
    if model == "logistic":
        return fit_logistic(x, y)
    if model == "lightgbm":
        return fit_boosting(x, y, t, label_end, seed)
    raise ValueError(f"unknown model {model!r}; one of {', '.join(MODELS)}")


# -- metrics ------------------------------------------------------------------------------------
def auc(score: np.ndarray, y: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney, ties counted half); NaN with one class only."""
    y = np.asarray(y, bool)
    n1 = int(y.sum())
    n0 = len(y) - n1
    if n0 == 0 or n1 == 0:
        return math.nan
    from scipy.stats import rankdata

    ranks = rankdata(score)
    return float((ranks[y].sum() - n1 * (n1 + 1) / 2) / (n0 * n1))


def brier(p: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean((p - y) ** 2))


def _log_losses(p: np.ndarray, y: np.ndarray) -> np.ndarray:
    p = np.clip(p, _EPS, 1 - _EPS)
    return np.asarray(-(y * np.log(p) + (1 - y) * np.log(1 - p)))


def log_loss(p: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(_log_losses(p, y)))


@dataclass(frozen=True)
class Interval:
    """A bootstrap estimate: the point value and its 95 % percentile interval."""

    value: float
    low: float
    high: float


def day_bootstrap(
    t: np.ndarray, per_sample: np.ndarray, resamples: int = 2000, seed: int = 0
) -> Interval:
    """The mean of `per_sample` with a block bootstrap over UTC days (labels overlap within a
    day's hour, days are close to independent)."""
    day = (np.asarray(t) // DAY).astype(np.int64)
    _, which = np.unique(day, return_inverse=True)
    sums = np.bincount(which, weights=per_sample)
    counts = np.bincount(which).astype(float)
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, len(sums), (resamples, len(sums)))
    means = sums[pick].sum(axis=1) / counts[pick].sum(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return Interval(float(per_sample.mean()), float(low), float(high))


def auc_interval(
    t: np.ndarray, score: np.ndarray, y: np.ndarray, resamples: int = 300, seed: int = 0
) -> Interval:
    """The AUC with a block bootstrap over days."""
    day = (np.asarray(t) // DAY).astype(np.int64)
    days, which = np.unique(day, return_inverse=True)
    members = [np.flatnonzero(which == k) for k in range(len(days))]
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(resamples):
        pick = np.concatenate([members[k] for k in rng.integers(0, len(days), len(days))])
        values.append(auc(score[pick], y[pick]))
    low, high = np.nanpercentile(values, [2.5, 97.5])
    return Interval(auc(score, y), float(low), float(high))


def _sign_test(wins: int, n: int) -> float:
    """Two-sided binomial p-value of `wins` out of `n` under a fair coin."""
    if n == 0:
        return math.nan
    k = min(wins, n - wins)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2**n
    return min(1.0, 2 * tail)


# -- evaluation ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class FoldResult:
    start: int  # first test sample's time
    stop: int  # last test sample's time
    n_train: int
    n_purged: int
    n_test: int
    base_rate: float  # the training window's share of ups: the baseline forecast
    test_rate: float
    auc: float
    brier: float
    brier_base_rate: float
    log_loss: float
    log_loss_base_rate: float


@dataclass
class Evaluation:
    """Out-of-sample figures of one model over all folds (pooled) and per fold."""

    model: str
    target: str
    auc: Interval
    brier: float
    brier_base_rate: float
    log_loss: float
    log_loss_base_rate: float
    brier_difference: Interval  # model - base rate, per sample; < 0 is better
    log_loss_difference: Interval
    n_test: int
    folds: list[FoldResult]
    bins: list[tuple[float, float, int]]  # reliability: mean P(up), share of ups, count
    t: np.ndarray = field(repr=False)
    y: np.ndarray = field(repr=False)
    p: np.ndarray = field(repr=False)
    base: np.ndarray = field(repr=False)

    @property
    def folds_beating_base_rate(self) -> int:
        return sum(f.brier < f.brier_base_rate for f in self.folds)

    @property
    def verdict(self) -> str:
        """`beats the base rate`, `loses to the base rate` or `no better than the base rate`,
        from the day-bootstrap interval of the Brier difference."""
        d = self.brier_difference
        if d.high < 0:
            return "beats the base rate"
        if d.low > 0:
            return "loses to the base rate"
        return "no better than the base rate"

    def to_json(self) -> dict[str, Any]:
        wins = self.folds_beating_base_rate
        return {
            "model": self.model, "target": self.target,
            "auc": self.auc.value, "auc_interval": [self.auc.low, self.auc.high],
            "brier": self.brier, "brier_base_rate": self.brier_base_rate,
            "log_loss": self.log_loss, "log_loss_base_rate": self.log_loss_base_rate,
            "n_test": self.n_test,
            "verdict": {
                "beats_base_rate": self.verdict == "beats the base rate",
                "summary": self.verdict,
                "brier_difference": self.brier_difference.value,
                "brier_difference_interval": [self.brier_difference.low,
                                              self.brier_difference.high],
                "log_loss_difference": self.log_loss_difference.value,
                "log_loss_difference_interval": [self.log_loss_difference.low,
                                                 self.log_loss_difference.high],
                "interval": "95 % block bootstrap over UTC days of model - base rate",
                "folds_beating_base_rate": wins, "folds": len(self.folds),
                "sign_test_p": _sign_test(wins, len(self.folds)),
            },
            "reliability": [{"mean_p": p, "share_up": r, "n": n} for p, r, n in self.bins],
            "folds": [asdict(f) for f in self.folds],
        }  # fmt: skip


def evaluate(
    x: np.ndarray, y: np.ndarray, t: np.ndarray, label_end: np.ndarray,
    model: str | Fitter = "logistic",
    target: str = "", folds: list[Fold] | None = None, train_days: float = 28,
    test_days: float = 7, purge: bool = True, embargo_s: float = 0.0, seed: int = 0,
    progress: Callable[[int, int], None] | None = None, resamples: int = 1000,
) -> Evaluation:  # fmt: skip
    """Fit before each fold, predict the fold: the pooled out-of-sample figures. `folds`
    defaults to `walk_forward_folds(...)` over the known labels."""
    if not callable(model) and model not in MODELS:
        raise ValueError(f"unknown model {model!r}; one of {', '.join(MODELS)}")
    name = model if isinstance(model, str) else getattr(model, "__name__", "custom")
    t = np.asarray(t, float)
    known = np.isfinite(y)
    if folds is None:
        folds = walk_forward_folds(t, label_end, known, train_days, test_days, purge, embargo_s)
    if not folds:
        raise ValueError(
            f"no fold: the labelled data span less than the {train_days:g} training days plus "
            "one test day"
        )
    results, ps, bases, tests = [], [], [], []
    for k, fold in enumerate(folds):
        ytr, yte = y[fold.train], y[fold.test]
        fitted = fit_model(model, x[fold.train], ytr, t[fold.train], label_end[fold.train],
                           seed)  # fmt: skip
        p = np.clip(fitted.predict(x[fold.test]), _EPS, 1 - _EPS)
        rate = float(np.clip(ytr.mean(), _EPS, 1 - _EPS))
        base = np.full(len(yte), rate)
        results.append(FoldResult(
            int(t[fold.test[0]]), int(t[fold.test[-1]]), len(fold.train), fold.purged,
            len(fold.test), rate, float(yte.mean()), auc(p, yte), brier(p, yte),
            brier(base, yte), log_loss(p, yte), log_loss(base, yte),
        ))  # fmt: skip
        ps.append(p)
        bases.append(base)
        tests.append(fold.test)
        if progress:
            progress(k + 1, len(folds))
    idx = np.concatenate(tests)
    p, base, yy, tt = np.concatenate(ps), np.concatenate(bases), y[idx], t[idx]
    return Evaluation(
        name, target, auc_interval(tt, p, yy, max(resamples // 4, 50), seed),
        brier(p, yy), brier(base, yy), log_loss(p, yy), log_loss(base, yy),
        day_bootstrap(tt, (p - yy) ** 2 - (base - yy) ** 2, resamples, seed),
        day_bootstrap(tt, _log_losses(p, yy) - _log_losses(base, yy), resamples, seed),
        len(idx), results, calibration(p, yy, 10).bins, tt, yy, p, base,
    )  # fmt: skip


def compare(a: Evaluation, b: Evaluation, resamples: int = 1000, seed: int = 0) -> Interval:
    """Brier of `a` minus that of `b` on the same test samples, with its day-bootstrap interval
    (< 0: `a` is better)."""
    if len(a.y) != len(b.y) or not np.array_equal(a.t, b.t):
        raise ValueError("the evaluations were not made on the same test samples")
    return day_bootstrap(a.t, (a.p - a.y) ** 2 - (b.p - b.y) ** 2, resamples, seed)


def leaking_features(
    x: np.ndarray, y: np.ndarray, names: tuple[str, ...] = FEATURE_NAMES, limit: float = 0.2
) -> list[tuple[str, float]]:
    """Features whose own AUC for the label is further than `limit` from 0.5: at these horizons
    no honest feature is that informative (the best real ones reach about 0.52), so such a
    feature has probably seen the future. Returns (name, AUC) of each."""
    known = np.isfinite(y)
    flagged = []
    for j, name in enumerate(names):
        ok = known & np.isfinite(x[:, j])
        if ok.sum() < 100:
            continue
        value = auc(x[ok, j], y[ok])
        if abs(value - 0.5) > limit:
            flagged.append((name, value))
    return flagged


# -- artifacts ----------------------------------------------------------------------------------
@cache  # one `git describe` a process: every report and artifact of a run names it
def code_version() -> str:
    """`git describe` of the source tree when it is a git checkout, else the package version."""
    import subprocess
    from pathlib import Path

    from cryptosignals import __version__

    try:
        out = subprocess.run(
            ["git", "describe", "--always", "--dirty", "--tags"],
            cwd=Path(__file__).resolve().parent, capture_output=True, text=True, timeout=10,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return __version__
    described = out.stdout.strip()
    return f"{__version__}+{described}" if out.returncode == 0 and described else __version__


def train_artifact(
    data: Dataset, model: str = "logistic", cost: float = 0.0,
    out_of_sample: Evaluation | None = None, seed: int = 0,
) -> dict[str, Any]:  # fmt: skip
    """Fit `model` on all of a coin's labelled rows: the artifact `cryptosignals train` writes
    (plain JSON; cryptosignals.predict serves it in the stream: LightGBM's trees as arrays)."""
    known = np.isfinite(data.y)
    if known.sum() < 100 or len(np.unique(data.y[known])) < 2:
        raise ValueError(f"{data.coin}: too few labelled bars to fit ({int(known.sum())})")
    x, y, t, e = data.x[known], data.y[known], data.end[known], data.label_end[known]
    params: dict[str, Any]
    if model == "logistic":
        params = fit_logistic(x, y).to_json()
    elif model == "lightgbm":
        fitted = fit_boosting(x, y, t, e, seed)
        booster = getattr(fitted.model, "booster_", None)
        params = {
            "calibration": list(fitted.calibration),
            "library": type(fitted.model).__module__.split(".")[0],
        }
        if booster is not None:  # the trees as plain arrays: the stream walks them with numpy
            from cryptosignals.trees import from_lightgbm

            params |= from_lightgbm(booster.dump_model(), fitted.calibration).to_json()
        # LightGBM's own text form, to audit or reload the booster (lightgbm.Booster(model_str=))
        params["model_string"] = None if booster is None else booster.model_to_string()
    else:
        raise ValueError(f"unknown model {model!r}; one of {', '.join(MODELS)}")
    from cryptosignals.predict import ARTIFACT_VERSION

    oos = None
    if out_of_sample is not None:
        oos = out_of_sample.to_json()
        oos.pop("reliability", None)
    return {
        "artifact_version": ARTIFACT_VERSION, "model": model, "coin": data.coin,
        "target": data.target, "cost": cost, "features": list(FEATURE_NAMES), "params": params,
        "training": {"start": int(t[0]), "end": int(t[-1]), "n": len(y),
                     "share_up": float(y.mean())},
        "out_of_sample": oos, "code_version": code_version(),
    }  # fmt: skip
