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


def _tie_loop_auc(y: np.ndarray, p: np.ndarray) -> float:
    """The rank-sum AUC the metrics used before scikit-learn (Mann–Whitney U, a loop over ties)."""
    order = np.argsort(p, kind="mergesort")
    sorted_p = p[order]
    ranks = np.empty(len(p))
    starts = np.flatnonzero(np.r_[True, sorted_p[1:] != sorted_p[:-1]])
    for start, end in zip(starts, np.r_[starts[1:], len(p)], strict=True):
        ranks[order[start:end]] = (start + 1 + end) / 2
    n_pos = y.sum()
    return float((ranks[y == 1].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * (len(y) - n_pos)))


def _threshold_ks(y: np.ndarray, p: np.ndarray) -> float:
    """The KS the metrics used before scipy: max |TPR − FPR| over the distinct score thresholds."""
    order = np.argsort(-p, kind="mergesort")
    y_sorted, p_sorted = y[order], p[order]
    last_of_tie = np.r_[p_sorted[1:] != p_sorted[:-1], True]
    tpr = np.cumsum(y_sorted)[last_of_tie] / y.sum()
    fpr = np.cumsum(1 - y_sorted)[last_of_tie] / (len(y) - y.sum())
    return float(np.max(np.abs(tpr - fpr)))


@pytest.mark.parametrize("seed", range(5))
def test_auc_gini_and_ks_equal_the_tie_loop_on_random_scores_with_ties(seed: int) -> None:
    rng = np.random.default_rng(seed)
    y = (rng.uniform(size=20_000) < 0.1).astype(int)
    p = np.round(rng.beta(2, 5, size=20_000) + 0.1 * y, 2)  # ~100 distinct scores: many ties
    assert metrics.roc_auc(y, p) == pytest.approx(_tie_loop_auc(y, p), rel=0, abs=1e-12)
    assert metrics.gini(y, p) == pytest.approx(2 * _tie_loop_auc(y, p) - 1, rel=0, abs=1e-12)
    assert metrics.ks(y, p) == pytest.approx(_threshold_ks(y, p), rel=0, abs=1e-12)
