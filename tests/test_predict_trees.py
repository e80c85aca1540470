"""LightGBM's trees served with numpy (cryptosignals.trees): the library's own scores on rows with
NaN, zeros and values at the thresholds, the artifact through JSON, the engine serving a tree
model chunked == whole, and a clear refusal of anything else."""

from __future__ import annotations

import itertools
import json
import math
from functools import cache
from typing import Any

import lightgbm
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cryptosignals.candles import candles_to_ticks
from cryptosignals.engine import Engine, EngineConfig
from cryptosignals.errors import BadInputError
from cryptosignals.features import FEATURE_NAMES, model_features
from cryptosignals.models.evaluation import dataset, fit_boosting, train_artifact
from cryptosignals.predict import load_predictor
from cryptosignals.synthetic import generate_market
from cryptosignals.trees import ZERO_THRESHOLD, TreeParams, from_lightgbm

WIDTH = 5
#: LightGBM's three missing-value rules: NaN (the default), Zero, None.
MISSING = {"NaN": {}, "Zero": {"zero_as_missing": True}, "None": {"use_missing": False}}


def _training_rows(seed: int = 0, n: int = 1500) -> tuple[np.ndarray, np.ndarray]:
    """Rows with NaN (a fifth), exact zeros (column 1: a third) and a column NaN half the time,
    whose NaN-ness and zeros carry the label, so the trees split on them."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, WIDTH))
    x[rng.random(x.shape) < 0.2] = np.nan
    x[:, 1] = np.where(rng.random(n) < 0.35, 0.0, x[:, 1])
    x[:, 2] = np.where(rng.random(n) < 0.5, np.nan, x[:, 2])
    signal = np.nan_to_num(x[:, 0]) + (x[:, 1] == 0) - 0.7 * np.isnan(x[:, 2])
    return x, (signal + rng.normal(size=n) > 0.3).astype(int)


@cache
def _booster(missing: str) -> lightgbm.Booster:
    x, y = _training_rows()
    model = lightgbm.LGBMClassifier(
        n_estimators=30, num_leaves=12, min_child_samples=10, learning_rate=0.2, n_jobs=1,
        verbose=-1, **MISSING[missing],
    ).fit(x, y)  # fmt: skip
    return model.booster_


@cache
def _trees(missing: str) -> TreeParams:
    return from_lightgbm(json.loads(json.dumps(_booster(missing).dump_model())))


def _thresholds(params: TreeParams) -> np.ndarray:
    return np.unique(np.concatenate([t["threshold"] for t in params.trees]))


@st.composite
def _rows(draw: st.DrawFn, missing: str) -> np.ndarray:
    """Rows whose values are the trees' own thresholds, the floats beside them, NaN, 0, -0, the
    tiny values LightGBM reads as 0, and ordinary floats."""
    thresholds = _thresholds(_trees(missing))
    at = st.sampled_from(list(thresholds))
    beside = at.map(lambda v: float(np.nextafter(v, np.inf)))
    below = at.map(lambda v: float(np.nextafter(v, -np.inf)))
    tiny = st.sampled_from([ZERO_THRESHOLD, -ZERO_THRESHOLD, 1e-35, -1e-36, 5e-324, 2e-35])
    special = st.sampled_from([np.nan, 0.0, -0.0, np.inf, -np.inf])
    plain = st.floats(-4, 4, allow_nan=False)
    value = st.one_of(at, beside, below, tiny, special, plain)
    n = draw(st.integers(1, 12))
    values = draw(st.lists(value, min_size=n * WIDTH, max_size=n * WIDTH))
    return np.array(values).reshape(n, WIDTH)


def test_the_test_models_use_each_missing_rule_and_lightgbms_zero_thresholds() -> None:
    for missing in MISSING:
        assert missing in {m for t in _trees(missing).trees for m in t["missing_type"]}
    at_zero = [np.isin([-ZERO_THRESHOLD, ZERO_THRESHOLD], _thresholds(_trees(m))) for m in MISSING]
    assert np.any(at_zero)  # LightGBM splits exact zeros from the rest at +-1e-35f


@pytest.mark.parametrize("missing", list(MISSING))
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_numpy_trees_equal_lightgbms_own_scores_on_nan_zero_and_threshold_rows(
    missing: str, data: st.DataObject
) -> None:
    """The raw score within 1e-9 (only the order of the sum differs) and the probability within
    1e-6, for every missing-value rule, at and beside every threshold and for LightGBM's tiny
    values that are read as 0."""
    rows = data.draw(_rows(missing))
    booster, params = _booster(missing), _trees(missing)
    np.testing.assert_allclose(
        params.raw_score(rows), booster.predict(rows, raw_score=True), rtol=0, atol=1e-9
    )
    np.testing.assert_allclose(params.library_probability(rows), booster.predict(rows), atol=1e-6)
    one_by_one = np.concatenate([params.raw_score(rows[i : i + 1]) for i in range(len(rows))])
    assert np.array_equal(one_by_one, params.raw_score(rows))  # the same bits in any batch


MARKET = generate_market(days=4, seed=11)


@cache
def _artifact() -> dict[str, Any]:
    return train_artifact(dataset("bitcoin", MARKET.candles["bitcoin"], "up_1h"), "lightgbm")


def test_a_lightgbm_artifact_through_json_serves_the_fitted_models_calibrated_probability() -> None:
    """train_artifact stores the trees as plain arrays beside LightGBM's own text form; loaded
    from JSON they give the training side's calibrated P(up) (FittedBoosting.predict) within
    1e-6, and the raw score of the booster the text form reloads."""
    data = dataset("bitcoin", MARKET.candles["bitcoin"], "up_1h")
    artifact = _artifact()
    params = artifact["params"]
    assert params["library"] == "lightgbm" and len(params["trees"]) == 200
    assert params["n_features"] == len(FEATURE_NAMES) and params["model_string"].startswith("tree")
    predictor = load_predictor(json.loads(json.dumps(artifact)))
    assert isinstance(predictor.params, TreeParams)
    assert predictor.version.startswith("bitcoin_up_1h_lightgbm_")
    known = np.isfinite(data.y)
    fitted = fit_boosting(data.x[known], data.y[known], data.end[known], data.label_end[known])
    rows = data.x.copy()
    rows[::7, ::3] = np.nan  # more missing values than the engine's rows have
    np.testing.assert_allclose(predictor.predict(rows), fitted.predict(rows), rtol=0, atol=1e-6)
    booster = lightgbm.Booster(model_str=params["model_string"])
    np.testing.assert_allclose(
        predictor.params.raw_score(rows), booster.predict(rows, raw_score=True), atol=1e-9
    )
    assert TreeParams.from_json(json.loads(json.dumps(predictor.params.to_json()))).to_json() == (
        predictor.params.to_json()
    )


def test_the_engine_serves_a_tree_model_on_every_signal_chunked_as_whole() -> None:
    """As for the logistic model (tests/test_engine.py): p_up of every bar equals the predictor
    on the engine's own feature rows, each 5-minute signal carries it and the tree model's
    version, and feeding in chunks with the state through JSON gives the same signals."""
    predictor = load_predictor(json.loads(json.dumps(_artifact())))
    config = EngineConfig(predictor=predictor)
    ticks = candles_to_ticks("bitcoin", MARKET.candles["bitcoin"])
    result = Engine("bitcoin", config).feed(ticks)
    expected = predictor.predict(model_features(result.bars))
    np.testing.assert_allclose(result.bars["p_up"], expected, rtol=0, atol=1e-12)
    assert np.ptp(expected) > 0  # the trees do split these rows
    at = {int(t): p for t, p in zip(result.bars["end"], expected, strict=True)}
    bar_signals = [s for s in result.signals if s.timeframe == "5m"]
    assert bar_signals and all(s.details["p_up"] == at[s.timestamp] for s in bar_signals)
    assert {s.model_version for s in bar_signals} == {predictor.version}
    whole = [s.to_json() for s in result.signals]
    engine, parts = Engine("bitcoin", config), []
    for start, stop in itertools.pairwise([0, 200, 201, 700, len(ticks)]):
        engine = Engine.from_state(json.loads(json.dumps(engine.state())), config)
        parts += [s.to_json() for s in engine.feed(ticks[start:stop]).signals]
    assert parts == whole


def _dump(categorical: bool = False, **params: Any) -> dict[str, Any]:
    x, y = _training_rows(1, 600)
    x[:, 3] = np.random.default_rng(2).integers(0, 4, len(x))
    y = y | (x[:, 3] == 2)  # a category worth a split
    rows = lightgbm.Dataset(x, y, categorical_feature=[3] if categorical else "auto")
    small = {"num_iterations": 3, "num_leaves": 4, "min_data_in_leaf": 5, "verbose": -1}
    return lightgbm.train({**small, **params}, rows).dump_model()


@pytest.mark.parametrize(
    ("model", "message"),
    [
        ({"objective": "binary", "categorical": True, "min_data_per_group": 5,
          "cat_smooth": 1}, "categorical"),
        ({"objective": "binary", "linear_tree": True}, "linear tree"),
        ({"objective": "multiclass", "num_class": 3}, "multi-class"),
        ({"objective": "regression"}, "regression objective"),
        ({"objective": "binary", "boosting": "rf", "bagging_freq": 1, "bagging_fraction": 0.5},
         "random forest"),
    ],
)  # fmt: skip
def test_a_lightgbm_model_the_numpy_walker_cannot_evaluate_is_refused(
    model: dict[str, Any], message: str
) -> None:
    with pytest.raises(BadInputError, match=message):
        from_lightgbm(_dump(**model))


def test_an_artifact_the_stream_cannot_serve_is_refused_with_a_clear_message() -> None:
    artifact = _artifact()
    old = {**artifact, "params": {"model_string": "tree\n...", "calibration": [1, 0]}}
    with pytest.raises(BadInputError, match="lightgbm artifact without its trees"):
        load_predictor(old)
    with pytest.raises(BadInputError, match="served on the training side only"):
        load_predictor({**artifact, "model": "xgboost"})
    width = len(FEATURE_NAMES)
    for n, message in ((3, r"a feature outside 0\.\.2"), (40, f"take 40 features, not {width}")):
        other = {**artifact, "params": {**artifact["params"], "n_features": n}}
        with pytest.raises(BadInputError, match=message):
            load_predictor(other)
    tree = artifact["params"]["trees"][0]
    broken = [
        ({**tree, "decision_type": ["=="] * len(tree["decision_type"])}, "categorical"),
        ({**tree, "missing_type": ["Sometimes"] * len(tree["missing_type"])}, "missing_type"),
        ({**tree, "leaf_value": tree["leaf_value"][:-1]}, "leaves"),
        ({**tree, "left_child": [0] * len(tree["left_child"])}, "do not form a tree"),
        ({k: v for k, v in tree.items() if k != "threshold"}, "needs the lists"),
        ({**tree, "threshold": ["high"] * len(tree["threshold"])}, "could not convert"),
        ({**tree, "leaf_value": [math.inf] * len(tree["leaf_value"])}, "non-finite leaf"),
    ]
    # leaf 0 reached as internal node `splits`, which would be leaf 0's place among the nodes
    leaf0 = "left_child" if -1 in tree["left_child"] else "right_child"
    aliased = [len(tree["split_feature"]) if c == -1 else c for c in tree[leaf0]]
    broken.append(({**tree, leaf0: aliased}, "do not form a tree"))
    good = artifact["params"]["trees"]
    for bad, message in broken:
        for at in (0, 3):  # the tree is named wherever it is among the others
            trees = [*good[:at], bad, *good[at + 1 :]]
            params = {**artifact["params"], "trees": trees}
            with pytest.raises(
                BadInputError, match=f"model the stream cannot serve: tree {at}: .*{message}"
            ):
                load_predictor({**artifact, "params": params})
