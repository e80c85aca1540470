"""Gradient-boosted trees evaluated with numpy (stream side: numpy only, no LightGBM).

A LightGBM binary model is a sum of trees: each internal node sends a row left when its feature
is <= the node's threshold, right otherwise, and each leaf holds a value; the raw score is the
sum of one leaf per tree, and P(up) is its sigmoid. The training side stores the trees as plain
arrays taken from LightGBM's own `Booster.dump_model()` (`from_lightgbm`), so the stream walks
them here without the library. Missing values go where LightGBM sends them (its
`Tree::NumericalDecision`):

- a value with |v| <= 1e-35f is read as 0 (LightGBM keeps only larger values of a dense row);
- `missing_type` "NaN": a NaN takes the node's default side (`default_left`);
- "Zero": a NaN is read as 0, and 0 takes the default side;
- "None": a NaN is read as 0 and compared with the threshold like any value.

Only numerical splits of a single-output binary model are served: a categorical split, a linear
tree, a multi-class or random-forest model, or a malformed tree is refused with a BadInputError.
The walk is vectorised over rows and trees at once (one step per tree level), and a row's
leaves are summed along the row, so a row's score has the same bits in any batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from cryptosignals.errors import BadInputError

#: The artifact's "model" of the trees served here.
TREE_MODEL = "lightgbm"
#: LightGBM's kZeroThreshold, a C++ float (1e-35f, 1.0000000180025095e-35 as a double): a value
#: this close to 0 is 0 (and "missing" for missing_type Zero); LightGBM also puts thresholds there.
ZERO_THRESHOLD = float(np.float32(1e-35))
#: missing_type names in LightGBM's dump, in the order of their codes here.
MISSING_TYPES = ("None", "Zero", "NaN")
_NONE, _ZERO, _NAN = 0, 1, 2
#: FittedBoosting's clip before the calibration's logit (cryptosignals.models.evaluation._EPS).
_EPS = 1e-15
#: Keys of a tree in the artifact (LightGBM's encoding: a child >= 0 is an internal node,
#: a child < 0 is the leaf ~child).
TREE_KEYS = ("split_feature", "threshold", "decision_type", "default_left", "missing_type",
             "left_child", "right_child", "leaf_value")  # fmt: skip


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return np.asarray(1.0 / (1.0 + np.exp(-z)))


# -- from LightGBM's dump -------------------------------------------------------------------------
def _flatten(structure: dict[str, Any], k: int) -> dict[str, list[Any]]:
    """One tree of `dump_model()["tree_info"]` as arrays indexed by split_index / leaf_index."""
    nodes: dict[int, dict[str, Any]] = {}
    leaves: dict[int, float] = {}

    def child(node: dict[str, Any]) -> int:
        if "split_index" in node:
            return int(node["split_index"])
        if "leaf_coeff" in node or "leaf_features" in node:
            raise BadInputError(f"tree {k}: a linear tree (leaf_coeff): not served")
        return ~int(node.get("leaf_index", 0))

    stack = [structure]
    while stack:
        node = stack.pop()
        if "split_index" not in node:
            if "leaf_value" not in node:
                raise BadInputError(f"tree {k}: a node with neither a split nor a leaf value")
            leaves[~child(node)] = float(node["leaf_value"])
            continue
        nodes[int(node["split_index"])] = {
            "split_feature": int(node["split_feature"]),
            "threshold": node["threshold"],
            "decision_type": node["decision_type"],
            "default_left": bool(node["default_left"]),
            "missing_type": node["missing_type"],
            "left_child": child(node["left_child"]),
            "right_child": child(node["right_child"]),
        }
        stack += [node["left_child"], node["right_child"]]
    if sorted(nodes) != list(range(len(nodes))) or sorted(leaves) != list(range(len(leaves))):
        raise BadInputError(f"tree {k}: its split or leaf indices are not 0..n-1")
    tree: dict[str, list[Any]] = {
        key: [nodes[i][key] for i in range(len(nodes))] for key in TREE_KEYS[:-1]
    }
    tree["leaf_value"] = [leaves[i] for i in range(len(leaves))]
    return tree


def from_lightgbm(
    dump: dict[str, Any], calibration: tuple[float, float] = (1.0, 0.0)
) -> TreeParams:
    """The trees of a LightGBM binary model from its `Booster.dump_model()` (plain dicts: no
    LightGBM needed here), with the Platt calibration fitted after them."""
    if dump.get("num_class", 1) != 1 or dump.get("num_tree_per_iteration", 1) != 1:
        raise BadInputError("a multi-class LightGBM model: only binary models are served")
    objective = str(dump.get("objective", "unknown"))
    if objective.split()[0] != "binary":
        raise BadInputError(
            f"a LightGBM {objective.split()[0]} objective: only binary models are served"
        )
    sigmoid = 1.0
    for part in objective.split()[1:]:
        name, _, value = part.partition(":")
        if name == "sigmoid":
            sigmoid = float(value)
    if dump.get("average_output"):
        raise BadInputError("a LightGBM random forest (average_output): not served")
    trees = [_flatten(t["tree_structure"], k) for k, t in enumerate(dump.get("tree_info", []))]
    return TreeParams.from_json({
        "n_features": int(dump.get("max_feature_idx", -1)) + 1, "sigmoid": sigmoid,
        "calibration": list(calibration), "trees": trees,
    })  # fmt: skip


# -- the ensemble ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class TreeEnsemble:
    """All trees in flat arrays of nodes: the internal nodes first, then the leaves (leaf j is
    node `n_splits + j`; a leaf's children are itself, so a walk that reached it stays). Each
    internal node sends a row to `left` if its feature is <= `threshold`, else to `right`; a
    feature that is 0 goes to `if_zero` and a NaN to `if_nan` (LightGBM's missing-value rule,
    worked out per node when the trees are loaded)."""

    feature: np.ndarray  # int64, per node
    threshold: np.ndarray
    left: np.ndarray  # int64, per node
    right: np.ndarray
    if_zero: np.ndarray
    if_nan: np.ndarray
    leaf_value: np.ndarray  # per leaf
    roots: np.ndarray  # int64, per tree
    depth: int  # the deepest tree's number of levels of internal nodes

    def raw_score(self, x: np.ndarray) -> np.ndarray:
        """The sum of each row's leaves (LightGBM's raw score, before the sigmoid)."""
        x = np.asarray(x, dtype=float)
        n, width = x.shape
        flat = np.where(np.abs(x) <= ZERO_THRESHOLD, 0.0, x).reshape(-1)  # NaN stays NaN
        node = np.tile(self.roots, n)
        base = np.repeat(np.arange(n) * width, len(self.roots))
        for _ in range(self.depth):  # one level of every tree at a time
            v = flat[base + self.feature[node]]
            step = np.where(v <= self.threshold[node], self.left[node], self.right[node])
            step = np.where(v == 0.0, self.if_zero[node], step)
            node = np.where(np.isnan(v), self.if_nan[node], step)
        leaves = self.leaf_value[node - len(self.feature) + len(self.leaf_value)]
        return np.asarray(leaves.reshape(n, len(self.roots)).sum(axis=1))


def _tree_arrays(tree: dict[str, Any], k: int, n_features: int) -> dict[str, np.ndarray]:
    if not isinstance(tree, dict) or any(not isinstance(tree.get(key), list) for key in TREE_KEYS):
        raise BadInputError(f"tree {k}: needs the lists {', '.join(TREE_KEYS)}")
    decision = tree["decision_type"]
    if any(d != "<=" for d in decision):
        bad = next(d for d in decision if d != "<=")
        raise BadInputError(
            f"tree {k}: a {bad!r} split (categorical): only numerical '<=' splits are served"
        )
    unknown = set(tree["missing_type"]) - set(MISSING_TYPES)
    if unknown:
        raise BadInputError(f"tree {k}: unknown missing_type {sorted(unknown)}")
    try:
        out = {
            "feature": np.asarray(tree["split_feature"], np.int64).reshape(-1),
            "threshold": np.asarray(tree["threshold"], float).reshape(-1),
            "default_left": np.asarray(tree["default_left"], bool).reshape(-1),
            "missing": np.asarray([MISSING_TYPES.index(m) for m in tree["missing_type"]], np.int8),
            "left": np.asarray(tree["left_child"], np.int64).reshape(-1),
            "right": np.asarray(tree["right_child"], np.int64).reshape(-1),
            "leaf_value": np.asarray(tree["leaf_value"], float).reshape(-1),
        }
    except (TypeError, ValueError) as exc:
        raise BadInputError(f"tree {k}: {exc}") from None
    splits, leaves = len(out["feature"]), len(out["leaf_value"])
    if leaves != splits + 1 or any(len(out[c]) != splits for c in list(out)[:-1]):
        raise BadInputError(f"tree {k}: {splits} splits need {splits + 1} leaves and as many of "
                            "each split field")  # fmt: skip
    if splits and (out["feature"].min() < 0 or out["feature"].max() >= n_features):
        raise BadInputError(f"tree {k}: a split on a feature outside 0..{n_features - 1}")
    children = np.concatenate([out["left"], out["right"]])
    reached = np.sort(np.where(children >= 0, children, splits + ~children))
    # a tree: every node but the root (0) is some node's child exactly once
    if splits and not np.array_equal(reached, np.arange(1, 2 * splits + 1)):
        raise BadInputError(f"tree {k}: its children do not form a tree")
    if not np.all(np.isfinite(out["leaf_value"])) or np.isnan(out["threshold"]).any():
        raise BadInputError(f"tree {k}: a NaN threshold or a non-finite leaf value")
    return out


def _depth(left: np.ndarray, right: np.ndarray) -> int:
    if not len(left):
        return 0
    depth, level = 0, np.array([0])
    while len(level):
        depth += 1
        below = np.concatenate([left[level], right[level]])
        level = below[below >= 0]
        if depth > len(left):  # cannot happen in a tree; guards a cycle
            raise BadInputError("a tree whose children form a cycle")
    return depth


def _ensemble(parts: list[dict[str, np.ndarray]]) -> TreeEnsemble:
    """The trees' arrays (LightGBM's encoding) numbered into one node space."""
    n_splits = sum(len(p["feature"]) for p in parts)
    n_leaves = sum(len(p["leaf_value"]) for p in parts)
    node_base = np.cumsum([0] + [len(p["feature"]) for p in parts])
    leaf_base = n_splits + np.cumsum([0] + [len(p["leaf_value"]) for p in parts])
    leaves = np.arange(n_splits, n_splits + n_leaves)

    def number(child: np.ndarray, k: int) -> np.ndarray:
        return np.where(child >= 0, child + node_base[k], ~child + leaf_base[k])

    left = np.concatenate([number(p["left"], k) for k, p in enumerate(parts)] + [leaves])
    right = np.concatenate([number(p["right"], k) for k, p in enumerate(parts)] + [leaves])
    threshold = np.concatenate([p["threshold"] for p in parts] + [np.zeros(n_leaves)])
    kind = np.concatenate([p["missing"] for p in parts] + [np.zeros(n_leaves, np.int8)])
    default = np.where(np.concatenate([p["default_left"] for p in parts]
                                      + [np.ones(n_leaves, bool)]), left, right)  # fmt: skip
    compared = np.where(threshold >= 0.0, left, right)  # where 0 goes as a plain value
    # NaN: the default side when missing_type is NaN; read as 0 otherwise (then missing for Zero)
    if_nan = np.where(kind == _NONE, compared, default)
    if_zero = np.where(kind == _ZERO, default, compared)
    return TreeEnsemble(
        np.concatenate([p["feature"] for p in parts] + [np.zeros(n_leaves, np.int64)]),
        threshold, left, right, if_zero, if_nan,
        np.concatenate([p["leaf_value"] for p in parts]),
        np.array([node_base[k] if len(p["feature"]) else leaf_base[k]
                  for k, p in enumerate(parts)], np.int64),
        max(_depth(p["left"], p["right"]) for p in parts),
    )  # fmt: skip


@dataclass(frozen=True)
class TreeParams:
    """A LightGBM binary model's trees and what turns their score into P(up), as the training
    side's `FittedBoosting.predict` does: sigmoid(sigmoid_scale * raw score) is the library's
    probability, whose logit (clipped at 1e-15) goes through the Platt calibration
    sigmoid(a * logit + b)."""

    trees: list[dict[str, Any]]  # the artifact's form, kept for to_json
    ensemble: TreeEnsemble
    n_features: int
    sigmoid: float = 1.0
    calibration: tuple[float, float] | None = None

    def raw_score(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        if x.ndim != 2 or x.shape[1] != self.n_features:
            raise ValueError(f"rows must have {self.n_features} columns, not {x.shape}")
        return self.ensemble.raw_score(x)

    def library_probability(self, x: np.ndarray) -> np.ndarray:
        """LightGBM's own P (its `predict` / `predict_proba`), before the calibration."""
        return _sigmoid(self.sigmoid * self.raw_score(x))

    def predict(self, x: np.ndarray) -> np.ndarray:
        """P(up) per row."""
        p = self.library_probability(x)
        if self.calibration is None:
            return p
        a, b = self.calibration
        logit = np.log(np.clip(p, _EPS, 1 - _EPS) / np.clip(1 - p, _EPS, 1))
        return _sigmoid(a * logit + b)

    def to_json(self) -> dict[str, Any]:
        return {
            "n_features": self.n_features, "sigmoid": self.sigmoid,
            "calibration": None if self.calibration is None else list(self.calibration),
            "trees": self.trees,
        }  # fmt: skip

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TreeParams:
        """The trees of an artifact, checked: BadInputError for anything not served."""
        if not isinstance(data, dict) or not isinstance(data.get("trees"), list):
            raise BadInputError("no trees in the model's parameters")
        if not data["trees"]:
            raise BadInputError("a tree model without trees")
        n_features = int(data.get("n_features", 0))
        if n_features <= 0:
            raise BadInputError("the tree model does not say how many features it takes")
        parts = [_tree_arrays(t, k, n_features) for k, t in enumerate(data["trees"])]
        ensemble = _ensemble(parts)
        calibration = data.get("calibration")
        return cls(
            list(data["trees"]), ensemble, n_features, float(data.get("sigmoid", 1.0)),
            None if calibration is None else (float(calibration[0]), float(calibration[1])),
        )  # fmt: skip
