"""Pattern-table TreeSHAP equals LightGBM's pred_contrib, whatever the split kinds and missing values,
and for the values LightGBM reads in its own way: |x| <= 1e-35 read as 0, categoricals truncated to ints."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest

from models.treeshap import MAX_SPLITS, ZERO_THRESHOLD, PatternTreeShap

TINY = [1e-36, -1e-36, 1e-35, -1e-35, 0.0, -0.0, np.nan]


def _matrix(frame: pd.DataFrame) -> np.ndarray:
    """The float matrix LightGBM predicts a frame from: pandas categories as their codes, missing as NaN."""
    columns = [frame[c].cat.codes.where(frame[c].notna()).astype(float) if isinstance(frame[c].dtype, pd.CategoricalDtype)
               else frame[c].astype(float) for c in frame.columns]
    return np.column_stack(columns)


def _data(n: int = 3000) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({
        "a": rng.normal(size=n), "b": rng.normal(size=n), "c": rng.integers(0, 5, n).astype(float),
        "z": np.where(rng.uniform(size=n) < 0.3, 0.0, rng.normal(size=n)),
        "g": pd.Categorical(rng.choice(list("pqrst"), n)),
    })
    frame.loc[rng.uniform(size=n) < 0.1, "a"] = np.nan
    frame.loc[rng.uniform(size=n) < 0.1, "g"] = np.nan
    y = (frame["a"].fillna(0) + frame["b"] * (frame["g"] == "p") + 0.5 * frame["c"] + rng.normal(size=n) > 1)
    return frame, y.astype(int).to_numpy()


@pytest.mark.parametrize("params", [
    {"num_leaves": 8, "max_depth": 4},
    {"num_leaves": 11, "monotone_constraints": [1, 0, 1, 0, 0], "monotone_constraints_method": "intermediate"},
    {"num_leaves": 6, "zero_as_missing": True},
    {"num_leaves": 8, "use_missing": False},
])
def test_pattern_tables_equal_pred_contrib(params):
    frame, y = _data()
    booster = lgb.train({"objective": "binary", "verbose": -1, "min_data_in_leaf": 5, "min_data_per_group": 5,
                         "cat_smooth": 1, "num_threads": 1, **params}, lgb.Dataset(frame, y), 40)
    rows = frame.sample(1000, random_state=1)
    expected = booster.predict(rows, pred_contrib=True)
    tables = PatternTreeShap.for_booster(booster)
    assert tables is not None
    np.testing.assert_allclose(tables.contributions(_matrix(rows)), expected, rtol=0, atol=1e-12)


def _thresholds(booster: lgb.Booster) -> set[float]:
    found: set[float] = set()

    def walk(node: dict) -> None:
        if "split_index" in node:
            if node["decision_type"] == "<=":
                found.add(float(node["threshold"]))
            walk(node["left_child"])
            walk(node["right_child"])
    for tree in booster.dump_model()["tree_info"]:
        walk(tree["tree_structure"])
    return found


@pytest.mark.parametrize("params", [{}, {"zero_as_missing": True}, {"use_missing": False}])
def test_values_within_the_zero_threshold_read_as_zero(params):
    """LightGBM reads |x| <= kZeroThreshold as 0 before comparing (its zero bin ends at ±1e-35)."""
    rng = np.random.default_rng(4)
    n = 4000
    x = rng.choice([-2.0, -1.0, 0.0, 1.0, 2.0], n)
    y = ((x < 0) ^ (rng.uniform(size=n) < 0.1)).astype(int) + ((x > 0) & (rng.uniform(size=n) < 0.5))
    data = np.column_stack([x, rng.normal(size=n)])
    booster = lgb.train({"objective": "binary", "verbose": -1, "num_leaves": 4, "min_data_in_leaf": 5,
                         "num_threads": 1, **params}, lgb.Dataset(data, np.minimum(y, 1)), 10)
    near_zero = sorted(t for t in _thresholds(booster) if abs(t) < 2 * ZERO_THRESHOLD)
    if not params:
        assert near_zero, "the test needs a split at the zero bin's edge (±1e-35 as a float32)"
    values = TINY + near_zero + [-1.0, 1.0]
    rows = np.column_stack([np.repeat(values, 2), np.tile([0.5, -0.5], len(values))])
    tables = PatternTreeShap.for_booster(booster)
    assert tables is not None
    np.testing.assert_allclose(tables.contributions(rows), booster.predict(rows, pred_contrib=True), rtol=0, atol=1e-12)


def test_categorical_floats_are_truncated_as_lightgbm_does():
    """A categorical value is cast to int (1.5 → 1, 2.999 → 2, -0.5 → 0); -1 or less and NaN go right."""
    rng = np.random.default_rng(5)
    n = 4000
    g = rng.integers(0, 5, n).astype(float)
    y = (np.isin(g, [1, 3]) ^ (rng.uniform(size=n) < 0.1)).astype(int)
    data = np.column_stack([g, rng.normal(size=n)])
    booster = lgb.train({"objective": "binary", "verbose": -1, "num_leaves": 6, "min_data_in_leaf": 5,
                         "min_data_per_group": 5, "cat_smooth": 1, "num_threads": 1},
                        lgb.Dataset(data, y, categorical_feature=[0]), 10)
    values = [0.0, 1.0, 1.5, 2.999, 3.0, 3.7, 4.0, -0.5, -1.0, -3.2, 1e-36, -1e-36, 7.0, np.nan]
    rows = np.column_stack([np.repeat(values, 2), np.tile([0.5, -0.5], len(values))])
    tables = PatternTreeShap.for_booster(booster)
    assert tables is not None
    np.testing.assert_allclose(tables.contributions(rows), booster.predict(rows, pred_contrib=True), rtol=0, atol=1e-12)


def test_boosters_with_large_trees_are_left_to_pred_contrib():
    frame, y = _data()
    booster = lgb.train({"objective": "binary", "verbose": -1, "num_leaves": MAX_SPLITS + 2, "min_data_in_leaf": 5},
                        lgb.Dataset(frame, y), 5)
    assert PatternTreeShap.for_booster(booster) is None
