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

import functools
from dataclasses import dataclass
from itertools import chain
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

    @functools.cached_property
    def _children(self) -> np.ndarray:
        """Per node, where a row goes: left, right, as a zero, as a NaN (one gather a level)."""
        return np.stack([self.left, self.right, self.if_zero, self.if_nan], axis=1).reshape(-1)

    def raw_score(self, x: np.ndarray) -> np.ndarray:
        """The sum of each row's leaves (LightGBM's raw score, before the sigmoid)."""
        x = np.asarray(x, dtype=float)
        n, width = x.shape
        flat = x.reshape(-1)
        # each value's way at any node: 0 left or 1 right by the threshold (-1: compare), 2 as
        # a zero (|v| <= 1e-35f), 3 as a NaN; the columns of `children`
        special = np.where(np.isnan(flat), 3, np.where(np.abs(flat) <= ZERO_THRESHOLD, 2, -1))
        children = self._children
        node = np.tile(self.roots, n)
        base = np.repeat(np.arange(n) * width, len(self.roots))
        for _ in range(self.depth):  # one level of every tree at a time
            at = base + self.feature[node]
            way = special[at]
            way = np.where(way < 0, flat[at] > self.threshold[node], way)
            node = children[4 * node + way]
        leaves = self.leaf_value[node - len(self.feature) + len(self.leaf_value)]
        return np.asarray(leaves.reshape(n, len(self.roots)).sum(axis=1))


def _check_lists(tree: Any, k: int) -> tuple[int, int]:
    """A tree's lists as the artifact must hold them: (its splits, its leaves)."""
    if not isinstance(tree, dict) or any(not isinstance(tree.get(key), list) for key in TREE_KEYS):
        raise BadInputError(f"tree {k}: needs the lists {', '.join(TREE_KEYS)}")
    bad = next((d for d in tree["decision_type"] if d != "<="), None)
    if bad is not None:
        raise BadInputError(
            f"tree {k}: a {bad!r} split (categorical): only numerical '<=' splits are served"
        )
    unknown = set(tree["missing_type"]) - set(MISSING_TYPES)
    if unknown:
        raise BadInputError(f"tree {k}: unknown missing_type {sorted(unknown)}")
    splits, leaves = len(tree["split_feature"]), len(tree["leaf_value"])
    if leaves != splits + 1 or any(len(tree[key]) != splits for key in TREE_KEYS[:-1]):
        raise BadInputError(f"tree {k}: {splits} splits need {splits + 1} leaves and as many of "
                            "each split field")  # fmt: skip
    return splits, leaves


def _column(trees: list[dict[str, Any]], key: str, dtype: Any) -> np.ndarray:
    """One field of every tree, end to end; a value that is not a number names its tree."""
    values = list(chain.from_iterable(t[key] for t in trees))
    try:
        column = np.asarray(values, dtype)
    except (TypeError, ValueError) as exc:
        for k, tree in enumerate(trees):
            try:
                np.asarray(tree[key], dtype)
            except (TypeError, ValueError) as its:
                raise BadInputError(f"tree {k}: {its}") from None
        raise BadInputError(f"the trees' {key}: {exc}") from None
    if column.shape != (len(values),):
        raise BadInputError(f"the trees' {key} must be single numbers")
    return column


def _ensemble(trees: list[dict[str, Any]], n_features: int) -> TreeEnsemble:
    """The artifact's trees (LightGBM's encoding) checked and numbered into one node space, all
    trees at once (a model of hundreds of trees loads in milliseconds: the stream's cold start
    reads one a coin)."""
    sizes = np.array([_check_lists(tree, k) for k, tree in enumerate(trees)], np.int64)
    splits, leaves = sizes[:, 0], sizes[:, 1]
    node_base = np.concatenate([[0], np.cumsum(splits)])
    n_splits, n_leaves = int(node_base[-1]), int(leaves.sum())
    leaf_base = n_splits + np.concatenate([[0], np.cumsum(leaves)])
    tree_of_node = np.repeat(np.arange(len(trees)), splits)
    tree_of_leaf = np.repeat(np.arange(len(trees)), leaves)

    def first_bad(bad: np.ndarray, tree_of: np.ndarray, message: str) -> None:
        if bad.any():
            raise BadInputError(f"tree {tree_of[np.flatnonzero(bad)[0]]}: {message}")

    feature = _column(trees, "split_feature", np.int64)
    threshold = _column(trees, "threshold", float)
    default_left = _column(trees, "default_left", bool)
    code = {name: i for i, name in enumerate(MISSING_TYPES)}
    kind = np.array([code[m] for t in trees for m in t["missing_type"]], np.int8)
    left_child = _column(trees, "left_child", np.int64)
    right_child = _column(trees, "right_child", np.int64)
    leaf_value = _column(trees, "leaf_value", float)
    first_bad((feature < 0) | (feature >= n_features), tree_of_node,
              f"a split on a feature outside 0..{n_features - 1}")  # fmt: skip
    # a tree: every node but its root is some node's child exactly once (internal node j is
    # j, leaf j is splits + j among the tree's 2 splits + 1 nodes)
    own = splits[tree_of_node]
    for child in (left_child, right_child):
        outside = np.where(child >= 0, (child < 1) | (child >= own), ~child > own)
        first_bad(outside, tree_of_node, "its children do not form a tree")
    slots = np.concatenate([[0], np.cumsum(2 * splits + 1)])
    local = np.concatenate([np.where(c >= 0, c, own + ~c) for c in (left_child, right_child)])
    count = np.bincount(local + slots[np.tile(tree_of_node, 2)], minlength=int(slots[-1]))
    count[slots[:-1]] += 1  # the roots: nobody's child
    first_bad(count != 1, np.repeat(np.arange(len(trees)), 2 * splits + 1),
              "its children do not form a tree")  # fmt: skip
    first_bad(np.isnan(threshold), tree_of_node, "a NaN threshold or a non-finite leaf value")
    first_bad(~np.isfinite(leaf_value), tree_of_leaf, "a NaN threshold or a non-finite leaf value")

    def number(child: np.ndarray) -> np.ndarray:
        at = child + node_base[tree_of_node]
        return np.where(child >= 0, at, ~child + leaf_base[tree_of_node])

    every_leaf = np.arange(n_splits, n_splits + n_leaves)
    left = np.concatenate([number(left_child), every_leaf])
    right = np.concatenate([number(right_child), every_leaf])
    threshold = np.concatenate([threshold, np.zeros(n_leaves)])
    kind = np.concatenate([kind, np.zeros(n_leaves, np.int8)])
    default = np.where(np.concatenate([default_left, np.ones(n_leaves, bool)]), left, right)
    compared = np.where(threshold >= 0.0, left, right)  # where 0 goes as a plain value
    # NaN: the default side when missing_type is NaN; read as 0 otherwise (then missing for Zero)
    if_nan = np.where(kind == _NONE, compared, default)
    if_zero = np.where(kind == _ZERO, default, compared)
    roots = np.where(splits > 0, node_base[:-1], leaf_base[:-1])
    # the deepest tree's levels of internal nodes: every tree walked a level at a time
    depth, level = 0, roots[roots < n_splits]
    while len(level):
        depth += 1
        below = np.concatenate([left[level], right[level]])
        level = below[below < n_splits]
        if depth > n_splits:  # cannot happen in trees checked above; guards a cycle
            raise BadInputError("a tree whose children form a cycle")
    return TreeEnsemble(
        np.concatenate([feature, np.zeros(n_leaves, np.int64)]),
        threshold, left, right, if_zero, if_nan, leaf_value, roots, depth,
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
        ensemble = _ensemble(data["trees"], n_features)
        calibration = data.get("calibration")
        return cls(
            list(data["trees"]), ensemble, n_features, float(data.get("sigmoid", 1.0)),
            None if calibration is None else (float(calibration[0]), float(calibration[1])),
        )  # fmt: skip
