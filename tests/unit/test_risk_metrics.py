"""Risk metrics against values worked out by hand on tiny arrays."""

from __future__ import annotations

import math

import numpy as np
import pytest

from evaluation import metrics

Y = [0, 0, 1, 1]
P = [0.1, 0.4, 0.35, 0.8]


def test_roc_auc_counts_ordered_pairs():
    # positive/negative pairs: (0.35>0.1) (0.35<0.4) (0.8>0.1) (0.8>0.4) -> 3 of 4
    assert metrics.roc_auc(Y, P) == pytest.approx(0.75)


def test_roc_auc_ties_count_half():
    assert metrics.roc_auc([0, 1, 0, 1], [0.5, 0.5, 0.2, 0.9]) == pytest.approx((0.5 + 1 + 1 + 1) / 4)


def test_gini_is_twice_auc_minus_one():
    assert metrics.gini(Y, P) == pytest.approx(0.5)


def test_pr_auc_is_average_precision():
    # ranked: 0.8 (+) P=1 R=.5; 0.4 (-); 0.35 (+) P=2/3 R=1 -> .5*1 + .5*2/3
    assert metrics.pr_auc(Y, P) == pytest.approx(0.5 + 1 / 3)


def test_brier_is_mean_squared_error():
    assert metrics.brier(Y, P) == pytest.approx((0.01 + 0.16 + 0.4225 + 0.04) / 4)


def test_ks_is_max_gap_between_tpr_and_fpr():
    # thresholds 0.8, 0.4, 0.35, 0.1: TPR-FPR = .5, 0, .5, 0
    assert metrics.ks(Y, P) == pytest.approx(0.5)


def test_lift_at_top_share():
    assert metrics.lift_at([1, 0, 0, 0], [0.9, 0.8, 0.1, 0.2], fraction=0.5) == pytest.approx(0.5 / 0.25)
    y = [1] + [0] * 9
    assert metrics.lift_at(y, np.linspace(1, 0, 10), fraction=0.1) == pytest.approx(10.0)


def test_psi_two_bins_by_hand():
    # expected bins [.5, .5]; actual [.25, .75]: (-.25)ln(.5) + (.25)ln(1.5)
    expected = -0.25 * math.log(0.5) + 0.25 * math.log(1.5)
    assert metrics.psi([0, 0, 1, 1], [0, 1, 1, 1], bins=2) == pytest.approx(expected)
    assert metrics.psi(np.arange(100), np.arange(100)) == pytest.approx(0.0)


def test_reliability_bins_and_calibration_error():
    rel = metrics.reliability([0, 1, 1, 0], [0.05, 0.15, 0.95, 0.85], bins=10)
    assert rel.count == [1, 1, 1, 1]
    assert rel.mean_predicted == pytest.approx([0.05, 0.15, 0.85, 0.95])
    assert rel.observed_rate == [0.0, 1.0, 0.0, 1.0]
    assert rel.calibration_error == pytest.approx((0.05 + 0.85 + 0.85 + 0.05) / 4)


def test_single_class_gives_nan_not_an_error():
    assert math.isnan(metrics.roc_auc([0, 0], [0.1, 0.2]))
    assert math.isnan(metrics.ks([1, 1], [0.1, 0.2]))


def test_mismatched_lengths_are_refused():
    with pytest.raises(ValueError):
        metrics.roc_auc([0, 1], [0.5])


def test_agrees_with_scikit_learn_on_random_scores_with_ties():
    from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

    rng = np.random.default_rng(1)
    y = (rng.uniform(size=500) < 0.2).astype(int)
    p = np.round(rng.uniform(size=500) * 0.5 + 0.3 * y, 2)
    assert metrics.roc_auc(y, p) == pytest.approx(roc_auc_score(y, p))
    assert metrics.pr_auc(y, p) == pytest.approx(average_precision_score(y, p))
    assert metrics.brier(y, p) == pytest.approx(brier_score_loss(y, p))
