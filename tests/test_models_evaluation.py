"""Leakage guards of the walk-forward evaluation: nothing is found where nothing is, a leak is
caught, and a planted effect is found (so these tests could fail)."""

from __future__ import annotations

import functools
import json
import math

import numpy as np
import pytest

from cryptosignals.features import FEATURE_NAMES
from cryptosignals.models.evaluation import (
    LOGISTIC_C,
    Dataset,
    auc,
    dataset,
    evaluate,
    kfold_folds,
    leaking_features,
    train_artifact,
    walk_forward_folds,
)
from cryptosignals.models.labels import up_labels
from cryptosignals.predict import load_predictor
from cryptosignals.synthetic import generate_market, predictable_candles


def _null_sd(y: np.ndarray) -> float:
    """The AUC's standard deviation when scores and labels are independent (Mann-Whitney with
    n1 ups and n0 downs: (n0 + n1 + 1) / (12 n0 n1))."""
    n1 = float(np.sum(y == 1))
    n0 = float(np.sum(y == 0))
    return math.sqrt((n0 + n1 + 1) / (12 * n0 * n1))


@functools.cache
def _random_walk(target: str) -> Dataset:
    market = generate_market(("bitcoin",), days=60, seed=11, regimes=False, plant=False)
    return dataset("bitcoin", market.candles["bitcoin"], target)


def test_walk_forward_folds_purge_training_labels_that_reach_into_the_fold() -> None:
    t = np.arange(20 * 288, dtype=float) * 300
    label_end = t + 3600
    folds = walk_forward_folds(t, label_end, np.ones(len(t), bool), train_days=7, test_days=3)
    assert len(folds) == 5  # days 7-10, 10-13, 13-16, 16-19, 19-20
    for fold in folds:
        assert t[fold.train].max() < t[fold.test].min()  # never trained on the future
        assert label_end[fold.train].max() < t[fold.test].min()  # nor on labels overlapping it
        assert fold.purged == 12  # the last hour before each fold
    leaky = walk_forward_folds(t, label_end, np.ones(len(t), bool), 7, 3, purge=False)
    assert label_end[leaky[0].train].max() > t[leaky[0].test].min()


@pytest.mark.slow
def test_permuted_labels_give_an_auc_of_one_half() -> None:
    data = _random_walk("up_1h")
    y = data.y.copy()
    known = np.isfinite(y)
    y[known] = np.random.default_rng(0).permutation(y[known])
    result = evaluate(data.x, y, data.end, data.label_end, "logistic", train_days=7,
                      test_days=7, resamples=100)  # fmt: skip
    sd = _null_sd(result.y)
    assert result.n_test > 14_000 and 4 * sd <= 0.02  # 0.02 is at least four sds
    assert abs(result.auc.value - 0.5) < 0.02


@pytest.mark.slow
def test_random_walk_walk_forward_auc_is_one_half() -> None:
    data = _random_walk("up_5m")  # independent labels: the null sd is exact
    result = evaluate(data.x, data.y, data.end, data.label_end, "logistic", train_days=7,
                      test_days=7, resamples=200)  # fmt: skip
    assert 5 * _null_sd(result.y) <= 0.03
    assert abs(result.auc.value - 0.5) < 0.03
    assert result.verdict != "beats the base rate"


@pytest.mark.slow
def test_random_walk_gives_the_trees_nothing_either() -> None:
    data = _random_walk("up_5m")
    result = evaluate(data.x, data.y, data.end, data.label_end, "lightgbm", train_days=14,
                      test_days=14, resamples=200)  # fmt: skip
    assert abs(result.auc.value - 0.5) < 0.03
    assert result.verdict != "beats the base rate"


class _NearestInTime:
    """Predicts the label of the training sample nearest in time: memorises overlapping labels."""

    def __init__(self, x: np.ndarray, y: np.ndarray, t: np.ndarray, e: np.ndarray) -> None:
        order = np.argsort(x[:, 0])
        self.keys, self.values = x[order, 0], y[order]

    def predict(self, x: np.ndarray) -> np.ndarray:
        i = np.clip(np.searchsorted(self.keys, x[:, 0]), 1, len(self.keys) - 1)
        left = np.abs(x[:, 0] - self.keys[i - 1]) <= np.abs(self.keys[i] - x[:, 0])
        return np.where(left, self.values[i - 1], self.values[i]) * 0.98 + 0.01


def test_overlapping_labels_leak_without_purging_and_not_with_it() -> None:
    rng = np.random.default_rng(2)
    n, horizon = 20_000, 48  # 4-hour labels on 5-minute bars: neighbours share most of them
    end = (np.arange(n) + 1) * 300
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.001, n)))
    labels = up_labels(end, close, horizon * 300)
    x = end[:, None].astype(float)  # "when": the model can only memorise neighbours' labels
    known = np.isfinite(labels.y)
    found = {}
    for purge in (False, True):
        folds = kfold_folds(end, labels.label_end, known, 200, purge=purge,
                            embargo_s=horizon * 300)  # fmt: skip
        found[purge] = evaluate(x, labels.y, end, labels.label_end, _NearestInTime,
                                folds=folds, resamples=100).auc  # fmt: skip
    assert found[False].value > 0.62 and found[False].low > 0.55  # the leak
    assert abs(found[True].value - 0.5) < 0.05 and found[True].low < 0.5 < found[True].high


def test_a_feature_that_has_seen_the_future_is_flagged() -> None:
    data = _random_walk("up_1h")
    honest = leaking_features(data.x, data.y)
    assert honest == []
    future = np.log(np.roll(data.close, -12) / data.close)
    future[-12:] = np.nan
    centred = np.convolve(np.diff(np.log(data.close), prepend=np.nan), np.ones(25) / 25, "same")
    x = np.column_stack([data.x, future, centred])
    flagged = dict(leaking_features(x, data.y, (*FEATURE_NAMES, "future", "centred")))
    assert set(flagged) == {"future", "centred"} and flagged["future"] > 0.95


def test_a_planted_effect_is_found() -> None:
    candles = predictable_candles(days=24, strength=0.2)
    data = dataset("bitcoin", candles, "up_1h")
    result = evaluate(data.x, data.y, data.end, data.label_end, "logistic", train_days=7,
                      test_days=4, resamples=300)  # fmt: skip
    assert result.auc.value > 0.6 and result.auc.low > 0.55
    assert result.verdict == "beats the base rate"
    assert all(f.auc > 0.5 for f in result.folds)
    plain = dataset("bitcoin", predictable_candles(days=24, strength=0.0), "up_1h")
    none = evaluate(plain.x, plain.y, plain.end, plain.label_end, "logistic", train_days=7,
                    test_days=4, resamples=300)  # fmt: skip
    assert none.auc.low < 0.5 < none.auc.high or abs(none.auc.value - 0.5) < 0.03


def test_the_artifact_predicts_what_scikit_learn_predicts() -> None:
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    data = _random_walk("up_1h")
    known = np.isfinite(data.y)
    artifact = train_artifact(data, "logistic")
    predictor = load_predictor(json.loads(json.dumps(artifact)))
    x, y = data.x[known], data.y[known]
    design = predictor.params.design(x)
    # the design is scikit-learn's median imputation with missing indicators
    usable = ~np.isnan(x).all(axis=0)
    imputer = SimpleImputer(strategy="median", add_indicator=True).fit(x[:, usable])
    ours = [len(FEATURE_NAMES) + k for k, c in enumerate(predictor.params.indicators) if usable[c]]
    np.testing.assert_array_equal(
        imputer.transform(x[:, usable]), design[:, [*np.flatnonzero(usable), *ours]]
    )
    scaler = StandardScaler().fit(design)
    model = LogisticRegression(C=LOGISTIC_C, max_iter=2000).fit(scaler.transform(design), y)
    expected = model.predict_proba(scaler.transform(predictor.params.design(data.x)))[:, 1]
    np.testing.assert_allclose(predictor.predict(data.x), expected, rtol=0, atol=1e-9)
    assert artifact["features"] == list(FEATURE_NAMES) and artifact["target"] == "up_1h"
    assert artifact["training"]["n"] == int(known.sum())


def test_auc_counts_ties_as_half() -> None:
    assert auc(np.array([0.1, 0.2, 0.3, 0.4]), np.array([0, 0, 1, 1])) == 1.0
    assert auc(np.array([0.5, 0.5]), np.array([0, 1])) == 0.5
