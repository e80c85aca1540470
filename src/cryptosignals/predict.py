"""P(up) from a trained model artifact (stream side: numpy only).

`cryptosignals train` writes one JSON artifact per coin and target (cryptosignals.models.
evaluation.train_artifact), and so does the training function, to S3 (cryptosignals.models.
training); `newest_predictor` finds a coin's newest one in a folder or under an s3:// prefix.
This module evaluates its model on feature rows built by cryptosignals.features: a logistic
model with the same imputation, missing indicators and scaling that were fitted in training, or
LightGBM's trees walked with numpy (cryptosignals.trees: no tree library in the stream).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cryptosignals.artifacts import newest_artifact
from cryptosignals.errors import BadInputError
from cryptosignals.features import FEATURE_NAMES
from cryptosignals.trees import TREE_MODEL, TreeParams

#: The models the stream evaluates (artifact "model"); others stay on the training side.
SERVED_MODELS = ("logistic", TREE_MODEL)

ARTIFACT_VERSION = 1


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return np.exp(-np.logaddexp(0.0, -z))


@dataclass(frozen=True)
class LogisticParams:
    """A standardised, L2-regularised logistic regression with its input preparation: NaN
    replaced by the training window's median (`fill`), a 0/1 missing indicator appended for each
    column in `indicators` (the columns that had NaN in training), then (z - mean) / scale."""

    fill: np.ndarray
    indicators: np.ndarray  # column indices
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float
    calibration: tuple[float, float] | None = None  # Platt: sigmoid(a * logit + b)

    def design(self, x: np.ndarray) -> np.ndarray:
        """The imputed rows with their missing indicators (before scaling)."""
        x = np.asarray(x, dtype=float)
        missing = np.isnan(x)
        filled = np.where(missing, self.fill, x)
        return np.hstack([filled, missing[:, self.indicators].astype(float)])

    def logit(self, x: np.ndarray) -> np.ndarray:
        z = (self.design(x) - self.mean) / self.scale
        # a row's sum, not a matrix product: the same bits whatever the batch size (BLAS picks
        # kernels by shape), so the stream gives the same p_up in any chunking
        return np.asarray((z * self.coef).sum(axis=1) + self.intercept)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """P(up) per row."""
        logit = self.logit(x)
        if self.calibration is not None:
            a, b = self.calibration
            logit = a * logit + b
        return _sigmoid(logit)

    def to_json(self) -> dict[str, Any]:
        return {
            "fill": self.fill.tolist(), "indicators": self.indicators.tolist(),
            "mean": self.mean.tolist(), "scale": self.scale.tolist(),
            "coef": self.coef.tolist(), "intercept": self.intercept,
            "calibration": None if self.calibration is None else list(self.calibration),
        }  # fmt: skip

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LogisticParams:
        calibration = data.get("calibration")
        return cls(
            np.asarray(data["fill"], float), np.asarray(data["indicators"], np.int64),
            np.asarray(data["mean"], float), np.asarray(data["scale"], float),
            np.asarray(data["coef"], float), float(data["intercept"]),
            None if calibration is None else (float(calibration[0]), float(calibration[1])),
        )  # fmt: skip


@dataclass(frozen=True)
class Predictor:
    """A loaded artifact: its metadata and the parameters that turn feature rows into P(up)."""

    coin: str
    target: str
    params: LogisticParams | TreeParams
    metadata: dict[str, Any]

    @property
    def version(self) -> str:
        """What a signal records of the model it used: coin, target, model, the training
        window's end (UTC date) and the code version that trained it."""
        end = int(self.metadata.get("training", {}).get("end", 0))
        day = time.strftime("%Y%m%d", time.gmtime(end))
        code = self.metadata.get("code_version", "?")
        return f"{self.coin}_{self.target}_{self.metadata.get('model')}_{day}@{code}"

    def predict(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        if x.ndim != 2 or x.shape[1] != len(FEATURE_NAMES):
            raise ValueError(f"feature rows must have {len(FEATURE_NAMES)} columns, not {x.shape}")
        return self.params.predict(x)


def load_predictor(source: Path | str | dict[str, Any]) -> Predictor:
    """A predictor from an artifact file (or its parsed JSON): a logistic or a LightGBM model; a
    clear error for anything the stream cannot serve (another version, other features, another
    model, trees with a categorical split or without their trees)."""
    where = "artifact" if isinstance(source, dict) else str(source)
    if isinstance(source, dict):
        data = source
    else:
        try:
            data = json.loads(Path(source).read_text("utf-8"))
        except (OSError, ValueError) as exc:
            raise BadInputError(f"{where}: cannot read the model artifact ({exc})") from None
    if data.get("artifact_version") != ARTIFACT_VERSION:
        raise BadInputError(
            f"{where}: artifact version {data.get('artifact_version')} is not {ARTIFACT_VERSION}"
        )
    if tuple(data.get("features", ())) != FEATURE_NAMES:
        raise BadInputError(f"{where}: the artifact's features are not this version's")
    model = data.get("model")
    params: LogisticParams | TreeParams
    if model == "logistic":
        params = LogisticParams.from_json(data["params"])
    elif model == TREE_MODEL:
        if "trees" not in (data.get("params") or {}):
            raise BadInputError(
                f"{where}: a {model} artifact without its trees (written before the stream "
                "served trees, or by the scikit-learn fallback): retrain it"
            )
        try:
            params = TreeParams.from_json(data["params"])
        except BadInputError as exc:
            raise BadInputError(
                f"{where}: a {model} model the stream cannot serve: {exc}"
            ) from None
        if params.n_features != len(FEATURE_NAMES):
            raise BadInputError(
                f"{where}: the trees take {params.n_features} features, not {len(FEATURE_NAMES)}"
            )
    else:
        raise BadInputError(
            f"{where}: a {model} model is served on the training side only; the stream "
            f"evaluates {' and '.join(SERVED_MODELS)} models"
        )
    return Predictor(data["coin"], data["target"], params, data)


def newest_predictor(
    coin: str, source: str | Path, listing: tuple[str, ...] | None = None
) -> tuple[Predictor, str] | None:
    """The coin's newest artifact (`<coin>_up_*.json`, by the last training day in its name)
    in a folder or under `s3://bucket/prefix` (cryptosignals.artifacts; the process function's
    role allows s3:ListBucket on the prefix and s3:GetObject), loaded; with where it came from.
    None if the coin has none. BadInputError for an artifact the stream cannot serve; botocore's
    errors as they come (the caller decides whether to retry)."""
    found = newest_artifact(f"{coin}_up_", source, listing)
    if found is None:
        return None
    data, where = found
    try:
        return load_predictor(data), where
    except BadInputError as exc:
        raise BadInputError(f"{where}: {exc}") from None
