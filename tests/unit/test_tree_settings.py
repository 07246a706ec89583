"""The LightGBM settings of the risk models and the ranker use one name for each setting."""

from __future__ import annotations

from training.recommender.ranker import RankerSettings
from training.risk.fit import TreeSettings


def test_risk_and_ranker_trees_name_the_smallest_leaf_min_data_in_leaf() -> None:
    risk = TreeSettings()
    passed, logged = risk.lgb_params([]), risk.to_params()
    assert passed["min_data_in_leaf"] == logged["min_data_in_leaf"] == 50
    assert RankerSettings().to_params()["ranker_min_data_in_leaf"] == 50
    assert "min_child_samples" not in passed | logged
