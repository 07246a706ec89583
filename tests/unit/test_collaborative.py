"""ALS adapter and candidate rows: known answers on tiny, hand-made customers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from models.candidates import ROW, candidate_features
from models.collaborative import AlsFactors, InteractionWeights, build_interactions, held_peers
from training.recommender.als import AlsSettings, fit_als

PRODUCTS = ["DEP", "FUND", "MORTGAGE", "INS"]
TOPICS = {"FUND": "fund", "MORTGAGE": "mortgage"}


def test_interactions_add_holdings_and_weighted_intent_on_each_products_topic() -> None:
    rows = pd.DataFrame({"held_product_ids": [["DEP", "FUND"], [], None],
                         "page_views_mortgage_30d": [0, 4, np.nan], "searches_mortgage_30d": [0, 1, 0]})
    weights = InteractionWeights(holding=1.0, page_view=0.5, search=2.0)
    dense = build_interactions(rows, PRODUCTS, TOPICS, weights).toarray()
    np.testing.assert_allclose(dense, [[1, 1, 0, 0], [0, 0, 4 * 0.5 + 1 * 2.0, 0], [0, 0, 0, 0]])


@pytest.fixture(scope="module")
def als() -> AlsFactors:
    """Customers who hold DEP also hold FUND; customers who hold MORTGAGE also hold INS."""
    pairs = np.array([[1, 1, 0, 0]] * 40 + [[0, 0, 1, 1]] * 40 + [[1, 0, 0, 0]] * 5, dtype=np.float32)
    return fit_als(sp.csr_matrix(pairs), PRODUCTS, AlsSettings(factors=2, regularization=0.1, alpha=10))


def test_als_ranks_the_co_held_product_first(als: AlsFactors) -> None:
    scores = als.score(sp.csr_matrix(np.array([[1, 0, 0, 0], [0, 0, 1, 0]], dtype=np.float32)))
    assert scores[0, 1] > max(scores[0, 2], scores[0, 3])  # holds DEP → FUND
    assert scores[1, 3] > max(scores[1, 0], scores[1, 1])  # holds MORTGAGE → INS


def test_als_explains_a_score_by_the_products_held(als: AlsFactors) -> None:
    reasons = als.explain(sp.csr_matrix(np.array([[1, 0, 1, 0]], dtype=np.float32)), "FUND")
    assert reasons[0][0] == "DEP" and reasons[0][1] > 0


def test_a_peers_reason_names_only_held_products_never_the_offered_one(als: AlsFactors) -> None:
    """The issue's case: a customer who holds DEP and browsed fund pages is offered FUND. Browsing puts
    FUND itself in the interaction row, so ALS's explanation names it; the reason may name DEP only."""
    row = build_interactions(pd.DataFrame({"held_product_ids": [["DEP"]], "page_views_fund_30d": [6]}),
                             PRODUCTS, TOPICS, InteractionWeights())
    shares = als.explain(row, "FUND")
    assert "FUND" in [p for p, _ in shares]
    assert held_peers(shares, ["DEP"], "FUND") == ["DEP"]
    assert held_peers(shares, [], "FUND") == []
    assert held_peers([("FUND", 0.9), ("INS", 0.5), ("DEP", 0.3), ("MORTGAGE", 0.1)],
                      ["FUND", "DEP", "MORTGAGE"], "FUND", n=1) == ["DEP"]


def test_als_factors_survive_save_and_load(als: AlsFactors, tmp_path: Path) -> None:
    loaded = AlsFactors.load(als.save(tmp_path))
    row = sp.csr_matrix(np.array([[1, 0, 0, 1]], dtype=np.float32))
    np.testing.assert_allclose(loaded.score(row), als.score(row))


def test_candidates_are_the_products_not_held_with_content_and_intent_features() -> None:
    catalogue = pd.DataFrame({"category": ["deposit", "fund", "mortgage", "insurance"],
                              "risk_level_num": [1, 4, 1, 1], "min_age_years": [0, 18, 22, 0],
                              "max_age_years": [120, 120, 60, 65], "min_amount_cny": [0.0, 1000, 0, 0],
                              "topic": ["deposit", "fund", "mortgage", "insurance"]}, index=PRODUCTS)
    rows = pd.DataFrame({"held_product_ids": [["DEP"], ["DEP", "FUND", "MORTGAGE"]], "age_years": [63, 30],
                         "risk_tolerance_level": [3, 5], "page_views_mortgage_30d": [6, 0], "page_views_fund_30d": [0, 2],
                         "aum_cny": [10_000.0, 0.0]})
    scores = np.array([[0.9, 0.1, 0.5, 0.3], [0.9, 0.8, 0.7, 0.2]])
    frame = candidate_features(rows, catalogue, {"als_score": scores})
    assert list(zip(frame[ROW], frame["product_id"], strict=True)) == [(0, "FUND"), (0, "MORTGAGE"), (0, "INS"),
                                                                       (1, "INS")]
    first = frame[frame[ROW] == 0].set_index("product_id")
    assert first.loc["MORTGAGE", "page_views_on_topic_30d"] == 6 and first.loc["FUND", "page_views_on_topic_30d"] == 0
    assert first.loc["MORTGAGE", "is_age_fit"] == 0 and first.loc["FUND", "is_age_fit"] == 1  # 63 > 60
    assert first.loc["FUND", "risk_level_gap"] == 3 - 4
    assert first["als_score_rank"].to_dict() == {"FUND": 3, "MORTGAGE": 1, "INS": 2}
    assert first.loc["FUND", "aum_over_min_amount_log"] == pytest.approx(np.log1p(10_000) - np.log1p(1000))
    assert first.loc["FUND", "holds_DEP"] == 1 and first.loc["FUND", "holds_FUND"] == 0


def test_collaborative_ranks_are_pandas_first_ranks_within_each_customer_row() -> None:
    from models.candidates import _rank_descending

    rows = np.array([0, 0, 0, 0, 1, 1, 1, 3, 3])
    scores = np.array([0.5, 0.9, 0.5, np.nan, 0.2, 0.2, 0.7, np.nan, 0.1])
    expected = pd.Series(scores).groupby(rows).rank(ascending=False, method="first").to_numpy()
    np.testing.assert_array_equal(_rank_descending(rows, scores), expected)
    np.testing.assert_array_equal(expected, [2, 1, 3, np.nan, 2, 3, 1, np.nan, 1])
