"""The hide-one ranker's own profile: join date features, and the bank's extra attributes when imported."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from models.candidates import ROW
from sources.extensions import Extensions, write_extensions
from training.recommender.baselines import LABEL
from training.recommender.ranker import LightGbmRanker, RankerSettings
from training.recommender.snapshot import (
    SNAPSHOT_PROFILE,
    Snapshot,
    hide_one_models,
    profile_at,
    read_extras,
)


def test_profile_counts_the_days_and_year_of_joining_at_the_snapshot() -> None:
    customers = pd.DataFrame({"customer_id": ["C1", "C2"], "birth_date": pd.to_datetime(["1980-07-01", "1990-07-01"]),
                              "join_date": pd.to_datetime(["2019-12-31", None]), "gender": ["F", "M"],
                              "segment": ["mass", "mass"], "occupation": ["a", "b"], "city_tier": [1, 2],
                              "income_monthly": [np.nan, np.nan]})
    profile = profile_at(customers, pd.Timestamp("2020-01-31"))
    assert profile["days_since_join"].iloc[0] == 31 and profile["join_year"].iloc[0] == 2019
    assert profile[list(SNAPSHOT_PROFILE)].iloc[1].isna().all()  # an unknown join date stays unknown


def test_extras_are_read_in_the_customers_order_with_their_prefix(tmp_path: Path) -> None:
    declared = Extensions({"branch_code": "categorical", "score": "numeric"})
    write_extensions(tmp_path, declared, pd.DataFrame({"customer_id": ["C00000002", "C00000001"],
                                                       "branch_code": ["B9", "B1"], "score": [2.0, 1.0]}))
    extras = read_extras(tmp_path, pd.Series(["C00000001", "C00000002", "C00000003"]))
    assert list(extras.columns) == ["x_branch_code", "x_score"]
    assert extras["x_branch_code"].tolist()[:2] == ["B1", "B9"] and extras["x_score"].tolist()[:2] == [1.0, 2.0]
    assert extras.iloc[2].isna().all()                      # a customer without a row: missing, not invented
    assert read_extras(tmp_path / "none", pd.Series(["C1"])).columns.empty


def test_hybrid_and_ablation_learn_from_the_snapshot_profile_and_extras() -> None:
    rng = np.random.default_rng(0)
    train = pd.DataFrame({ROW: np.repeat(np.arange(50), 2), "product_id": ["A", "B"] * 50,
                          "days_since_join": rng.random(100), "join_year": 2019.0, "x_branch_code": ["B1", "B2"] * 50,
                          LABEL: [1, 0] * 50})
    snapshot = Snapshot(pd.DataFrame(), np.zeros((0, 2), bool), pd.DataFrame(), pd.Timestamp("2020-01-31"),
                        (*SNAPSHOT_PROFILE, "x_branch_code"), ("x_branch_code",))
    models = {m.name: m for m in hide_one_models(snapshot, train, RankerSettings())}
    for name in ("hybrid", "hybrid_no_cf"):
        ranker = models[name]
        assert isinstance(ranker, LightGbmRanker)
        assert {"days_since_join", "x_branch_code"} <= set(ranker.features) and "join_year" not in ranker.features
        assert "x_branch_code" in ranker.categorical   # constant join_year carries nothing: dropped
