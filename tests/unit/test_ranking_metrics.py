"""Ranking metrics against values worked out by hand on tiny lists."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from evaluation.ranking import compare_models, list_metrics, rank_lists, ranking_metrics

# Customer A's list ranks p1 p2 p3 p4 p5 with p2 and p4 adopted; B's ranks q1 q2 q3 with q1 adopted;
# C adopted nothing. Rows are shuffled: ranking must come from the scores alone.
ROWS = [
    ("A", "p4", 0.6, 1), ("A", "p1", 0.9, 0), ("A", "p5", 0.1, 0), ("A", "p3", 0.7, 0), ("A", "p2", 0.8, 1),
    ("B", "q3", 0.1, 0), ("B", "q1", 0.5, 1), ("B", "q2", 0.2, 0),
    ("C", "r2", 0.3, 0), ("C", "r1", 0.4, 0),
]
LOG2_3, LOG2_5 = math.log2(3), math.log2(5)


@pytest.fixture()
def lists() -> pd.DataFrame:
    return pd.DataFrame(ROWS, columns=["customer_id", "product_id", "score", "label"])


def test_per_list_values_by_hand(lists: pd.DataFrame) -> None:
    at3 = list_metrics(rank_lists(lists, groups=("customer_id",)), 3)
    a = at3.iloc[0]
    # A @3: top three p1 p2 p3, one hit at rank 2 of two relevant.
    assert a["map_at_3"] == pytest.approx((1 / 2) * (1 / 2))
    assert a["ndcg_at_3"] == pytest.approx((1 / LOG2_3) / (1 + 1 / LOG2_3))
    assert a["recall_at_3"] == pytest.approx(0.5)
    assert a["hit_at_3"] == 1.0
    assert a["mrr"] == pytest.approx(0.5)
    at5 = list_metrics(rank_lists(lists, groups=("customer_id",)), 5)
    assert at5.iloc[0]["map_at_5"] == pytest.approx((1 / 2) * (1 / 2 + 2 / 4))
    assert at5.iloc[0]["ndcg_at_5"] == pytest.approx((1 / LOG2_3 + 1 / LOG2_5) / (1 + 1 / LOG2_3))
    assert at5.iloc[1].tolist() == [1.0, 1.0, 1.0, 1.0, 1.0]  # B: the one adoption ranked first
    assert at5.iloc[2].isna().all()  # C: nothing relevant, so no accuracy figures


def test_means_over_lists_with_an_adoption_and_coverage_over_all(lists: pd.DataFrame) -> None:
    m = ranking_metrics(rank_lists(lists, groups=("customer_id",)), catalogue_size=20)
    assert m["map_at_3"] == pytest.approx((0.25 + 1) / 2)
    assert m["map_at_5"] == pytest.approx((0.5 + 1) / 2)
    assert m["ndcg_at_3"] == pytest.approx(((1 / LOG2_3) / (1 + 1 / LOG2_3) + 1) / 2)
    assert m["recall_at_3"] == pytest.approx(0.75)
    assert m["recall_at_5"] == pytest.approx(1.0)
    assert m["mrr"] == pytest.approx(0.75)
    assert m["coverage"] == pytest.approx(10 / 20)  # p1..p5, q1..q3, r1, r2 all in some top five
    assert (m["lists_evaluated"], m["lists_total"]) == (2, 3)


def test_average_precision_is_normalised_by_min_of_relevant_and_k() -> None:
    frame = pd.DataFrame({"customer_id": "A", "product_id": list("abcde"), "score": [5, 4, 3, 2, 1],
                          "label": [1, 1, 1, 1, 0]})
    m = ranking_metrics(rank_lists(frame, groups=("customer_id",)), 5, ks=(3,))
    assert m["map_at_3"] == 1.0  # three hits in three slots is perfect though four were relevant
    assert m["recall_at_3"] == pytest.approx(3 / 4)
    assert m["ndcg_at_3"] == pytest.approx(1.0)


def test_ties_are_broken_by_product_id() -> None:
    frame = pd.DataFrame({"customer_id": "A", "product_id": ["b", "a", "c"], "score": 1.0, "label": [1, 0, 0]})
    m = ranking_metrics(rank_lists(frame, groups=("customer_id",)), 3, ks=(1,))
    assert m["hit_at_1"] == 0.0 and m["mrr"] == pytest.approx(0.5)  # a, then b


def test_lists_are_keyed_by_customer_and_as_of() -> None:
    frame = pd.DataFrame({"customer_id": ["A", "A", "A", "A"], "as_of": ["m1", "m1", "m2", "m2"],
                          "product_id": ["x", "y", "x", "y"], "score": [2, 1, 2, 1], "label": [1, 0, 0, 1]})
    m = ranking_metrics(rank_lists(frame), 2, ks=(1,))
    assert m["lists_evaluated"] == 2 and m["hit_at_1"] == pytest.approx(0.5)


def test_compare_models_scores_every_column_on_the_same_lists_and_by_segment(lists: pd.DataFrame) -> None:
    frame = lists.assign(reverse=-lists["score"], segment=lists["customer_id"].map({"A": "mass", "B": "mass",
                                                                                    "C": "private"}))
    overall, segments = compare_models(frame, ["score", "reverse"], 20, groups=("customer_id",), segment="segment")
    assert overall["score"]["mrr"] == pytest.approx(0.75)
    assert overall["reverse"]["mrr"] == pytest.approx((1 / 2 + 1 / 3) / 2)  # A: p4 at rank 2; B: q1 at rank 3
    assert segments["mass"]["score"]["mrr"] == pytest.approx(0.75)
    assert segments["private"]["score"]["lists_evaluated"] == 0
