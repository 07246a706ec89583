"""Exact SHAP contributions of small LightGBM trees for large batches, by pattern tables.

LightGBM's `pred_contrib` runs path-dependent TreeSHAP (Lundberg et al., "From local explanations
to global understanding with explainable AI for trees", 2020, Algorithm 2) row by row. That
algorithm reads a row only through the branch it takes at each split of a tree. A tree with m
splits has at most 2^m branch patterns, so for nbo's small trees (8 leaves: m ≤ 7) the SHAP values
of every pattern are computed once, vectorised over patterns, and a batch is explained by working
out each row's pattern and looking its values up. The result equals `pred_contrib` (a test checks
it); a booster with larger trees is left to `pred_contrib`.
"""

from __future__ import annotations

from dataclasses import dataclass

import lightgbm as lgb
import numpy as np
from numpy.typing import NDArray

MAX_SPLITS = 10  # 2^10 patterns per tree at most
ZERO_THRESHOLD = float(np.float32(1e-35))  # LightGBM's kZeroThreshold (meta.h: the float 1e-35f, as a double)


def read_values(x: NDArray[np.float64]) -> NDArray[np.float64]:
    """The values LightGBM predicts from: a dense row keeps only |x| > kZeroThreshold (and NaN), the rest is 0."""
    return np.where(np.abs(x) <= ZERO_THRESHOLD, 0.0, x)


@dataclass(frozen=True)
class _Split:
    """One split node, with LightGBM's decision rule (tree.h: NumericalDecision, CategoricalDecision)."""

    feature: int
    threshold: float
    categories: tuple[int, ...] | None
    default_left: bool
    missing_type: str
    count: float

    def goes_left(self, values: NDArray[np.float64], missing: NDArray[np.bool_]) -> NDArray[np.bool_]:
        """Which rows go left; `values` are read as LightGBM reads them (`read_values`), `missing` is `isnan(values)`.

        A categorical value is truncated to an int: NaN and values of -1 or less go right."""
        if self.categories is not None:
            return np.isin(np.trunc(values), self.categories) & ~missing
        if self.missing_type == "NaN":
            return (values <= self.threshold) | (missing & self.default_left)
        if self.missing_type == "Zero":
            return np.where((np.abs(values) <= ZERO_THRESHOLD) | missing, self.default_left, values <= self.threshold)
        return (values <= self.threshold) | (missing & (0.0 <= self.threshold))


@dataclass
class _Node:
    split: _Split | None  # None for a leaf
    index: int  # split index (pattern bit) or leaf value's position
    value: float
    count: float
    left: _Node | None = None
    right: _Node | None = None


def _parse(tree: dict, splits: list[_Split]) -> _Node:
    if "split_index" not in tree:
        return _Node(None, -1, float(tree["leaf_value"]), float(tree.get("leaf_count", 1)))
    threshold = tree["threshold"]
    is_categorical = tree["decision_type"] == "=="
    split = _Split(int(tree["split_feature"]), 0.0 if is_categorical else float(threshold),
                   tuple(int(c) for c in str(threshold).split("||")) if is_categorical else None,
                   bool(tree["default_left"]), str(tree["missing_type"]), float(tree["internal_count"]))
    splits.append(split)
    node = _Node(split, len(splits) - 1, 0.0, split.count)
    node.left, node.right = _parse(tree["left_child"], splits), _parse(tree["right_child"], splits)
    return node


@dataclass
class _PathElement:
    feature: int
    zero: float
    one: NDArray[np.float64]
    weight: NDArray[np.float64]


def _extend(path: list[_PathElement], zero: float, one: NDArray[np.float64], feature: int) -> list[_PathElement]:
    depth = len(path)
    path = [_PathElement(e.feature, e.zero, e.one, e.weight.copy()) for e in path]
    path.append(_PathElement(feature, zero, one, np.full(len(one), 1.0 if depth == 0 else 0.0)))
    for i in range(depth - 1, -1, -1):
        path[i + 1].weight += one * path[i].weight * (i + 1) / (depth + 1)
        path[i].weight = zero * path[i].weight * (depth - i) / (depth + 1)
    return path


def _unwind(path: list[_PathElement], index: int) -> list[_PathElement]:
    depth = len(path) - 1
    one, zero = path[index].one, path[index].zero
    has_one = one != 0
    safe_one = np.where(has_one, one, 1.0)
    weights = [e.weight.copy() for e in path]
    carry = weights[depth].copy()
    for i in range(depth - 1, -1, -1):
        with_one = carry * (depth + 1) / ((i + 1) * safe_one)
        carry = np.where(has_one, weights[i] - with_one * zero * (depth - i) / (depth + 1), carry)
        weights[i] = np.where(has_one, with_one, weights[i] * (depth + 1) / (zero * (depth - i)))
    kept = path[:index] + path[index + 1:]
    return [_PathElement(e.feature, e.zero, e.one, w) for e, w in zip(kept, weights[:depth], strict=True)]


def _unwound_sum(path: list[_PathElement], index: int) -> NDArray[np.float64]:
    depth = len(path) - 1
    one, zero = path[index].one, path[index].zero
    has_one = one != 0
    safe_one = np.where(has_one, one, 1.0)
    carry, total = path[depth].weight, np.zeros(len(one))
    for i in range(depth - 1, -1, -1):
        with_one = carry * (depth + 1) / ((i + 1) * safe_one)
        total += np.where(has_one, with_one, path[i].weight / zero / ((depth - i) / (depth + 1)))
        carry = np.where(has_one, path[i].weight - with_one * zero * (depth - i) / (depth + 1), carry)
    return total


def _recurse(node: _Node, path: list[_PathElement], zero: float, one: NDArray[np.float64], feature: int,
             left_bits: NDArray[np.bool_], phi: NDArray[np.float64]) -> None:
    path = _extend(path, zero, one, feature)
    if node.split is None:
        for i in range(1, len(path)):
            phi[:, path[i].feature] += _unwound_sum(path, i) * (path[i].one - path[i].zero) * node.value
        return
    incoming_zero, incoming_one = 1.0, np.ones(len(one))
    found = [i for i, e in enumerate(path) if e.feature == node.split.feature]
    if found:
        incoming_zero, incoming_one = path[found[0]].zero, path[found[0]].one
        path = _unwind(path, found[0])
    goes_left = left_bits[node.index]
    for child, is_hot in ((node.left, goes_left), (node.right, ~goes_left)):
        _recurse(child, path, child.count / node.count * incoming_zero, incoming_one * is_hot,
                 node.split.feature, left_bits, phi)


@dataclass(frozen=True)
class _TreeTable:
    splits: list[_Split]
    features: NDArray[np.int64]
    values: NDArray[np.float64]  # (len(features), 2^m patterns)


def _table(tree: dict, n_features: int) -> tuple[_TreeTable, float]:
    """The tree's SHAP values for every branch pattern, and its expected value."""
    splits: list[_Split] = []
    root = _parse(tree["tree_structure"], splits)
    patterns = np.arange(1 << len(splits))
    left_bits = ((patterns[None, :] >> np.arange(len(splits))[:, None]) & 1).astype(bool)
    phi = np.zeros((len(patterns), n_features + 1))
    if root.split is not None:
        _recurse(root, [], 1.0, np.ones(len(patterns)), -1, left_bits, phi)
    features = np.unique([s.feature for s in splits]).astype(np.int64)
    return _TreeTable(splits, features, np.ascontiguousarray(phi[:, features].T)), _expected_value(root)


def _expected_value(node: _Node) -> float:
    if node.split is None:
        return node.value
    return (node.left.count * _expected_value(node.left) + node.right.count * _expected_value(node.right)) / node.count


class PatternTreeShap:
    """SHAP contributions of a LightGBM binary model, as `pred_contrib`, from pattern tables."""

    def __init__(self, model: dict):
        self.n_features = len(model["feature_names"])
        built = [_table(t, self.n_features) for t in model["tree_info"]]
        self.trees = [table for table, _ in built]
        self.bias = sum(expected for _, expected in built)

    @classmethod
    def for_booster(cls, booster: lgb.Booster) -> PatternTreeShap | None:
        """Tables for the booster's trees (its best iteration), or None if a tree has over MAX_SPLITS splits."""
        model = booster.dump_model()
        if any(t["num_leaves"] - 1 > MAX_SPLITS for t in model["tree_info"]):
            return None
        return cls(model)

    def contributions(self, matrix: NDArray[np.float64]) -> NDArray[np.float64]:
        """Contributions per feature plus the bias column, in log-odds (as `pred_contrib` of the same
        float matrix: categoricals as codes, missing as NaN)."""
        x = read_values(np.ascontiguousarray(np.asarray(matrix, dtype=float).T))  # one row per feature
        missing = np.isnan(x)
        phi = np.zeros((self.n_features + 1, x.shape[1]))
        for tree in self.trees:
            code = np.zeros(x.shape[1], dtype=np.int32)
            for bit, split in enumerate(tree.splits):
                code |= split.goes_left(x[split.feature], missing[split.feature]).astype(np.int32) << bit
            for feature, values in zip(tree.features, tree.values, strict=True):
                phi[feature] += values[code]
        phi[-1] += self.bias
        return phi.T
