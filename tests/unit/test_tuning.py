"""Nested tuning: the tuner sees training rows only, searches the stated space, and is reproducible."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from training.risk.fit import RISK_MODELS, TreeSettings, cross_validate, tune_settings
from training.tuning import SPACE, TuningBudget, TuningResult, inner_folds, tune

CHURN = RISK_MODELS["churn"]
FEATURES = ["balance", "products", "noise"]


def _frame(rows: int, seed: int = 0, months: int = 1) -> pd.DataFrame:
    """A learnable churn table: `rows` customers × `months` rows each."""
    rng = np.random.default_rng(seed)
    balance, products = rng.normal(size=rows * months), rng.integers(1, 5, rows * months).astype(float)
    logit = 1.5 * balance - 0.8 * (products - 2.5) + rng.normal(scale=0.5, size=rows * months)
    return pd.DataFrame({"customer_id": np.repeat([f"C{i:05d}" for i in range(rows)], months),
                         "balance": balance, "products": products, "noise": rng.normal(size=rows * months),
                         "churn": (logit > 1.0).astype(int)})


def test_cross_validation_tunes_each_fold_on_its_training_folds_only() -> None:
    frame = _frame(500)
    seen: list[set[int]] = []

    def recording_tuner(base: dict, x: pd.DataFrame, y: pd.Series, groups: pd.Series) -> TuningResult:
        seen.append(set(x.index))
        assert list(x.columns) == FEATURES and len(y) == len(groups) == len(x)
        return TuningResult({"num_leaves": 3}, inner_roc_auc=0.5, inner_best_trees=1, trials=1, seconds=0.0,
                            rows=len(x))

    cv = cross_validate(CHURN, frame, FEATURES, [], TreeSettings.fast().with_overrides(num_threads=1), budget=TuningBudget(1),
                        tuner=recording_tuner)
    assert len(seen) == len(cv.tuning) == 5
    held_out = [set(frame.index) - rows for rows in seen]  # what each fold's tuner never saw
    # the rows hidden from each tuner are exactly the outer test folds: disjoint, covering every row once
    assert sum(len(h) for h in held_out) == len(frame) and set().union(*held_out) == set(frame.index)
    assert all(90 <= len(h) <= 110 for h in held_out)


def test_tuned_settings_replace_the_defaults_and_no_budget_tunes_nothing() -> None:
    frame, trees = _frame(300), TreeSettings.fast()
    result = TuningResult({"num_leaves": 3, "learning_rate": 0.07}, 0.8, 10, 1, 0.0, 300)
    tuned, got = tune_settings(CHURN, frame, FEATURES, [], trees, TuningBudget(1), lambda *_: result)
    assert got is result and (tuned.num_leaves, tuned.learning_rate) == (3, 0.07)
    assert tuned.max_trees == trees.max_trees
    assert tune_settings(CHURN, frame, FEATURES, [], trees, TuningBudget(0)) == (trees, None)


def test_inner_folds_keep_each_customer_on_one_side() -> None:
    frame = _frame(200, months=4)
    for train, valid in inner_folds(frame["churn"], frame["customer_id"], 3, seed=0):
        assert not set(frame["customer_id"].iloc[train]) & set(frame["customer_id"].iloc[valid])


def test_tune_searches_the_stated_space_reproducibly() -> None:
    frame = _frame(800)
    base = TreeSettings().lgb_params([0, 0, 0]) | {"num_threads": 1}

    def run() -> TuningResult:
        return tune(TuningBudget(3), base, 100, 10, frame[FEATURES], frame["churn"], frame["customer_id"])

    first = run()
    assert first.trials == 3 and set(first.params) == set(SPACE)
    assert 2 <= first.params["num_leaves"] <= 32 and 0.01 <= first.params["learning_rate"] <= 0.2
    assert 0.85 < first.inner_roc_auc <= 1.0     # the table is learnable; inner folds are honest CV
    assert 1 <= first.inner_best_trees <= 100
    second = run()
    assert second.params == first.params and second.inner_roc_auc == pytest.approx(first.inner_roc_auc)


def test_the_first_trial_is_the_settings_given() -> None:
    frame = _frame(400)
    base = TreeSettings().lgb_params([0, 0, 0]) | {"num_threads": 1}
    result = tune(TuningBudget(1), base, 50, 10, frame[FEATURES], frame["churn"], frame["customer_id"])
    assert result.params == {name: base[name] for name in SPACE}   # more trials can only do better inside
