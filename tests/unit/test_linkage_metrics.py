"""Linkage metrics against hand-worked cases."""

from __future__ import annotations

import pandas as pd
import pytest

from evaluation.linkage import by_system_pair, exact_share, pairwise, threshold_curve

# Records a..f: truth {a,b,c} {d,e} {f}; predicted {a,b} {c,d,e} {f}.
RECORDS = list("abcdef")
TRUTH = pd.Series(["T1", "T1", "T1", "T2", "T2", "T3"], index=RECORDS)
PRED = pd.Series(["P1", "P1", "P2", "P2", "P2", "P3"], index=RECORDS)
SYSTEM = pd.Series(["x", "y", "y", "x", "y", "x"], index=RECORDS)


def test_pairwise_counts_pairs_by_hand():
    # true pairs: ab ac bc de = 4; predicted: ab cd ce de = 4; both: ab de = 2
    scores = pairwise(PRED, TRUTH)
    assert (scores["true_pairs"], scores["predicted_pairs"], scores["true_positive_pairs"]) == (4, 4, 2)
    assert scores["precision"] == pytest.approx(0.5)
    assert scores["recall"] == pytest.approx(0.5)
    assert scores["f1"] == pytest.approx(0.5)


def test_perfect_and_all_singletons():
    assert pairwise(TRUTH, TRUTH)["f1"] == 1.0
    singletons = pd.Series(range(6), index=RECORDS)
    scores = pairwise(singletons, TRUTH)
    assert (scores["precision"], scores["recall"], scores["f1"]) == (1.0, 0.0, 0.0)


def test_truth_is_aligned_by_record_not_by_position():
    assert pairwise(PRED, TRUTH[::-1])["true_positive_pairs"] == 2


def test_by_system_pair_splits_the_pairs():
    rows = by_system_pair(PRED, TRUTH, SYSTEM).set_index(["system_a", "system_b"])
    # x-y true pairs: ab, ac, de = 3; predicted x-y: ab, cd, de = 3; both: ab, de = 2
    assert rows.loc[("x", "y"), ["true_pairs", "predicted_pairs", "true_positive_pairs"]].tolist() == [3, 3, 2]
    # y-y true: bc = 1; predicted: ce = 1; both: none
    assert rows.loc[("y", "y"), ["true_pairs", "predicted_pairs", "true_positive_pairs"]].tolist() == [1, 1, 0]
    assert rows.loc[("y", "y"), "f1"] == 0.0
    # x-x: no pairs at all, a perfect score by convention
    assert rows.loc[("x", "x"), ["precision", "recall"]].tolist() == [1.0, 1.0]
    assert rows["true_pairs"].sum() == pairwise(PRED, TRUTH)["true_pairs"]


def test_exact_share_counts_customers_rebuilt_whole():
    assert exact_share(PRED, TRUTH) == pytest.approx(1 / 3)  # only T3 = {f}
    assert exact_share(TRUTH, TRUTH) == 1.0
    merged = pd.Series("P", index=RECORDS)
    assert exact_share(merged, TRUTH) == 0.0


def test_threshold_curve_rows_in_threshold_order():
    curve = threshold_curve(TRUTH, {0.9: pd.Series(range(6), index=RECORDS), 0.5: PRED})
    assert curve["threshold"].tolist() == [0.5, 0.9]
    assert curve["f1"].tolist() == pytest.approx([0.5, 0.0])
    assert curve["clusters"].tolist() == [3, 6]
