"""The meta-label filter in the stream (question 26; stream side, numpy only).

A meta-label model says, for one BUY/SELL signal of a rule, how likely its profit barrier comes
before its stop (cryptosignals.models.metalabel: barriers in units of the 1 h volatility
forecast, a timeout). The training function judges it walk-forward per coin and writes an
artifact only when filtering by it raised the net return per trade out of sample, the whole
95 % interval above zero (cryptosignals.models.training.train_metalabel); this module serves
that artifact: the same rows as training (`meta_rows`), a logistic model (`LogisticParams`), and
the threshold the training chose (the P at the share of signals it keeps).

In a signal: `p_profit_first` (the model's P) and `meta_kept` (1 if P clears the threshold) in
its details; the evidence layer then alerts only signals the filter keeps.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from cryptosignals.errors import BadInputError
from cryptosignals.features import FEATURE_NAMES
from cryptosignals.predict import ARTIFACT_VERSION, LogisticParams

KIND = "metalabel"


def meta_feature_names(rules: Sequence[str]) -> tuple[str, ...]:
    """The columns of a meta-label row: the model features of the signal's bar, the same signed
    by the trade's direction, the rule (one-hot) and the direction."""
    return (*FEATURE_NAMES, *(f"signed_{n}" for n in FEATURE_NAMES),
            *(f"rule_{r}" for r in rules), "side")  # fmt: skip


def meta_rows(features: np.ndarray, rule: np.ndarray, side: np.ndarray, n_rules: int) -> np.ndarray:
    """One row per signal: its bar's model features (rows of `features`), the same times the
    side (+1 BUY, -1 SELL), the one-hot of its rule (indices `rule` among `n_rules`), the side."""
    features = np.asarray(features, dtype=float).reshape(len(side), len(FEATURE_NAMES))
    onehot = np.zeros((len(side), n_rules))
    onehot[np.arange(len(side)), np.asarray(rule, dtype=np.int64)] = 1.0
    side = np.asarray(side, dtype=float)
    return np.column_stack([features, features * side[:, None], onehot, side])


@dataclass(frozen=True)
class MetaFilter:
    """A loaded meta-label artifact: the rules it filters, its model and threshold."""

    coin: str
    rules: tuple[str, ...]
    params: LogisticParams
    threshold: float
    metadata: dict[str, Any]

    @property
    def version(self) -> str:
        end = int(self.metadata.get("training", {}).get("end", 0))
        day = time.strftime("%Y%m%d", time.gmtime(end))
        return f"{self.coin}_{KIND}_{day}@{self.metadata.get('code_version', '?')}"

    def p_profit_first(self, features: np.ndarray, rule: str, side: float) -> float:
        """P(the profit barrier comes first) for one signal of `rule` (one of `rules`)."""
        row = meta_rows(features, np.array([self.rules.index(rule)]), np.array([side]),
                        len(self.rules))  # fmt: skip
        return float(self.params.predict(row)[0])


def load_meta_filter(data: dict[str, Any]) -> MetaFilter:
    """A meta filter from an artifact's JSON; a clear error for anything the stream cannot
    serve (another version or kind, other features, a model other than logistic)."""
    if data.get("artifact_version") != ARTIFACT_VERSION or data.get("kind") != KIND:
        raise BadInputError(
            f"not a {KIND} artifact of version {ARTIFACT_VERSION} "
            f"(kind {data.get('kind')!r}, version {data.get('artifact_version')!r})"
        )
    rules = tuple(str(r) for r in data.get("rules", ()))
    if not rules or tuple(data.get("features", ())) != meta_feature_names(rules):
        raise BadInputError("the meta-label artifact's features are not this version's")
    if data.get("model") != "logistic":
        raise BadInputError(f"a {data.get('model')} meta-label model: the stream serves logistic")
    try:
        params = LogisticParams.from_json(data["params"])
        threshold = float(data["threshold"])
    except (KeyError, TypeError, ValueError) as exc:
        raise BadInputError(f"the meta-label artifact cannot be read ({exc!r})") from None
    return MetaFilter(str(data["coin"]), rules, params, threshold, data)
