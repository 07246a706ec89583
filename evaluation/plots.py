"""Figures for the evaluation report: ROC, PR, reliability, lift, score distribution, SHAP summary.

Each function takes arrays and returns a matplotlib Figure built without pyplot (so it works
headless and a notebook shows it only when displayed), except the SHAP summary, drawn by shap.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from numpy.typing import ArrayLike, NDArray
from sklearn.metrics import precision_recall_curve, roc_curve

from evaluation.metrics import reliability

Curves = dict[str, tuple[ArrayLike, ArrayLike]]  # label -> (y, p)


@dataclass(frozen=True)
class Rendered:
    """A figure written beside a report, and the same PNG base64-encoded for embedding."""

    file: str
    caption: str
    png_base64: str


def save_figure(fig: Figure, out_dir: Path, file: str, caption: str) -> Rendered:
    """Write `fig` as `out_dir/file` (PNG) and return it ready to embed; the figure is closed."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight", dpi=100)
    plt.close(fig)
    (out_dir / file).write_bytes(buffer.getvalue())
    return Rendered(file, caption, base64.b64encode(buffer.getvalue()).decode("ascii"))


def _axes(title: str, xlabel: str, ylabel: str) -> tuple[Figure, Axes]:
    fig = Figure(figsize=(5.5, 4.2), dpi=100)
    ax = fig.add_subplot()
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    return fig, ax


def roc_figure(curves: Curves) -> Figure:
    """ROC curves, one per label (e.g. candidate and champion on the same holdout)."""
    fig, ax = _axes("ROC", "false positive rate", "true positive rate")
    for label, (y, p) in curves.items():
        fpr, tpr, _ = roc_curve(y, p)
        ax.plot(fpr, tpr, label=label)
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":")
    ax.legend(loc="lower right")
    return fig


def pr_figure(curves: Curves) -> Figure:
    """Precision–recall curves, with the base rate as a dotted line."""
    fig, ax = _axes("Precision–recall", "recall", "precision")
    for label, (y, p) in curves.items():
        precision, recall, _ = precision_recall_curve(y, p)
        ax.plot(recall, precision, label=label)
    first_y = np.asarray(next(iter(curves.values()))[0], dtype=float)
    ax.axhline(first_y.mean(), color="grey", linestyle=":", label="base rate")
    ax.legend(loc="upper right")
    return fig


def reliability_figure(curves: Curves, bins: int = 10) -> Figure:
    """Observed rate against mean predicted probability per bin (the diagonal is perfect)."""
    fig, ax = _axes("Reliability", "mean predicted probability", "observed rate")
    top = 0.0
    for label, (y, p) in curves.items():
        rel = reliability(y, p, bins)
        ax.plot(rel.mean_predicted, rel.observed_rate, marker="o", label=label)
        top = max(top, *rel.mean_predicted, *rel.observed_rate)
    ax.plot([0, top], [0, top], color="grey", linestyle=":")
    ax.legend(loc="upper left")
    return fig


def _decile_lift(y: ArrayLike, p: ArrayLike) -> NDArray[np.float64]:
    y_arr, p_arr = np.asarray(y, dtype=float), np.asarray(p, dtype=float)
    order = np.argsort(-p_arr, kind="mergesort")
    groups = np.array_split(y_arr[order], 10)
    return np.array([g.mean() for g in groups]) / y_arr.mean()


def lift_figure(curves: Curves) -> Figure:
    """Lift by score decile (decile 1 = highest scores)."""
    fig, ax = _axes("Lift by decile", "decile (1 = highest score)", "lift")
    width = 0.8 / len(curves)
    for i, (label, (y, p)) in enumerate(curves.items()):
        ax.bar(np.arange(1, 11) + (i - (len(curves) - 1) / 2) * width, _decile_lift(y, p), width, label=label)
    ax.axhline(1.0, color="grey", linestyle=":")
    ax.set_xticks(range(1, 11))
    ax.legend(loc="upper right")
    return fig


def distribution_figure(samples: dict[str, ArrayLike], xlabel: str) -> Figure:
    """Overlaid histograms of scores (e.g. train vs test, or positives vs negatives)."""
    fig, ax = _axes("Score distribution", xlabel, "share of rows")
    every = np.concatenate([np.asarray(v, dtype=float) for v in samples.values()])
    edges = np.histogram_bin_edges(every, bins=30)
    for label, values in samples.items():
        v = np.asarray(values, dtype=float)
        ax.hist(v, bins=edges, weights=np.full(len(v), 1 / len(v)), histtype="step", linewidth=1.5, label=label)
    ax.legend(loc="upper right")
    return fig


def shap_summary_figure(contributions: NDArray[np.float64], features: pd.DataFrame, top: int = 15) -> Figure:
    """SHAP summary (beeswarm) of the `top` features by mean |contribution| (a pyplot figure)."""
    import matplotlib.pyplot as plt
    import shap  # heavy import, only where the figure is drawn

    numeric = features.apply(lambda c: c.cat.codes if isinstance(c.dtype, pd.CategoricalDtype) else c)
    shap.summary_plot(contributions, numeric, max_display=top, show=False, plot_size=(7.5, 5.5))
    fig = plt.gcf()
    fig.suptitle("SHAP summary (LightGBM pred_contrib, log-odds)")
    return fig
