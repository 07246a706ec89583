"""Pure metric functions for binary risk models: arrays in, numbers out, no I/O.

`y` holds 0/1 labels and `p` scores or probabilities (higher means more likely positive).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.stats import ks_2samp
from sklearn.metrics import roc_auc_score

from evaluation import drift


def _arrays(y: ArrayLike, p: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    y_arr = np.asarray(y, dtype=float)
    p_arr = np.asarray(p, dtype=float)
    if y_arr.shape != p_arr.shape or y_arr.ndim != 1 or len(y_arr) == 0:
        raise ValueError("y and p must be non-empty 1-d arrays of the same length")
    return y_arr, p_arr


def _has_both_classes(y: NDArray[np.float64]) -> bool:
    n_pos = y.sum()
    return bool(0 < n_pos < len(y))


def roc_auc(y: ArrayLike, p: ArrayLike) -> float:
    """Area under the ROC curve: P(score of a positive > score of a negative), ties count ½.

    Mann–Whitney U / (n_pos · n_neg) (Hanley & McNeil, 1982), by scikit-learn's tie-aware
    trapezoids; NaN when one class is missing.
    """
    y_arr, p_arr = _arrays(y, p)
    if not _has_both_classes(y_arr):
        return float("nan")
    return float(roc_auc_score(y_arr == 1, p_arr))


def gini(y: ArrayLike, p: ArrayLike) -> float:
    """Gini coefficient (accuracy ratio) = 2·AUC − 1."""
    return 2 * roc_auc(y, p) - 1


def pr_auc(y: ArrayLike, p: ArrayLike) -> float:
    """Average precision: Σ over distinct thresholds of (Δ recall) × precision."""
    y_arr, p_arr = _arrays(y, p)
    n_pos = y_arr.sum()
    if n_pos == 0:
        return float("nan")
    order = np.argsort(-p_arr, kind="mergesort")
    y_sorted, p_sorted = y_arr[order], p_arr[order]
    last_of_tie = np.r_[p_sorted[1:] != p_sorted[:-1], True]
    true_pos = np.cumsum(y_sorted)[last_of_tie]
    predicted_pos = (np.arange(len(y_sorted)) + 1)[last_of_tie]
    precision = true_pos / predicted_pos
    recall_step = np.diff(np.r_[0.0, true_pos / n_pos])
    return float((recall_step * precision).sum())


def brier(y: ArrayLike, p: ArrayLike) -> float:
    """Brier score: mean squared error of the probabilities (Brier, 1950)."""
    y_arr, p_arr = _arrays(y, p)
    return float(np.mean((p_arr - y_arr) ** 2))


def ks(y: ArrayLike, p: ArrayLike) -> float:
    """Kolmogorov–Smirnov statistic: max over thresholds of |TPR − FPR|, the two-sample KS
    distance between the positives' and the negatives' scores; NaN when one class is missing."""
    y_arr, p_arr = _arrays(y, p)
    if not _has_both_classes(y_arr):
        return float("nan")
    return float(ks_2samp(p_arr[y_arr == 1], p_arr[y_arr == 0], method="asymp").statistic)


def lift_at(y: ArrayLike, p: ArrayLike, fraction: float = 0.1) -> float:
    """Positive rate among the top `fraction` by score, over the overall positive rate.

    The top is the first ceil(n · fraction) rows by descending score (stable order on ties).
    """
    y_arr, p_arr = _arrays(y, p)
    base_rate = y_arr.mean()
    if base_rate == 0:
        return float("nan")
    top_n = max(1, math.ceil(len(y_arr) * fraction))
    top = np.argsort(-p_arr, kind="mergesort")[:top_n]
    return float(y_arr[top].mean() / base_rate)


def psi(expected: ArrayLike, actual: ArrayLike, bins: int = 10) -> float:
    """Population stability index of `actual` scores against `expected` (e.g. train vs test).

    Bins are the deciles (or `bins` quantiles) of `expected`; PSI = Σ (a − e) · ln(a / e), with
    empty bins floored at 1e-4 (Siddiqi, *Credit Risk Scorecards*, 2006): `evaluation.drift`'s index.
    """
    e_arr = np.asarray(expected, dtype=float)
    a_arr = np.asarray(actual, dtype=float)
    if len(e_arr) == 0 or len(a_arr) == 0:
        raise ValueError("expected and actual must be non-empty")
    reference = drift.numeric_reference(e_arr, bins)
    return drift.stability_index(reference.shares, drift.bin_counts(reference, a_arr) / len(a_arr))


@dataclass(frozen=True)
class Reliability:
    """Calibration by equal-width probability bins; empty bins are left out."""

    mean_predicted: list[float]
    observed_rate: list[float]
    count: list[int]

    @property
    def calibration_error(self) -> float:
        """Expected calibration error: count-weighted mean |observed − predicted|."""
        weights = np.asarray(self.count, dtype=float)
        gaps = np.abs(np.asarray(self.observed_rate) - np.asarray(self.mean_predicted))
        return float((weights * gaps).sum() / weights.sum())


def reliability(y: ArrayLike, p: ArrayLike, bins: int = 10) -> Reliability:
    """Group probabilities into `bins` equal-width bins on [0, 1]; observed rate per bin."""
    y_arr, p_arr = _arrays(y, p)
    index = np.clip((p_arr * bins).astype(int), 0, bins - 1)
    count = np.bincount(index, minlength=bins)
    predicted = np.bincount(index, weights=p_arr, minlength=bins)
    observed = np.bincount(index, weights=y_arr, minlength=bins)
    kept = count > 0
    return Reliability(
        mean_predicted=(predicted[kept] / count[kept]).tolist(),
        observed_rate=(observed[kept] / count[kept]).tolist(),
        count=count[kept].astype(int).tolist(),
    )
