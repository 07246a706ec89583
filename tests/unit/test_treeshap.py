"""Pattern-table TreeSHAP equals LightGBM's pred_contrib, whatever the split kinds and missing values."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest

from models.treeshap import MAX_SPLITS, PatternTreeShap


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
    np.testing.assert_allclose(tables.contributions(rows), expected, rtol=0, atol=1e-12)


def test_boosters_with_large_trees_are_left_to_pred_contrib():
    frame, y = _data()
    booster = lgb.train({"objective": "binary", "verbose": -1, "num_leaves": MAX_SPLITS + 2, "min_data_in_leaf": 5},
                        lgb.Dataset(frame, y), 5)
    assert PatternTreeShap.for_booster(booster) is None
