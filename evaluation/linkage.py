"""Record-linkage quality: pairwise precision, recall and F1 of predicted clusters against true ones
(overall and per pair of systems), the share of true customers reconstructed exactly, and the curve
of these over match thresholds. Pure functions of cluster labels, one label per record."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd


def _both(predicted: pd.Series, truth: pd.Series) -> pd.Series:
    """One label per (predicted, true) cell: records in the same cell are pairs found and true."""
    return pd.Series(pd.MultiIndex.from_arrays([predicted.astype(str), truth.astype(str)]).factorize()[0],
                     index=predicted.index)


def _pairs_within(labels: pd.Series) -> int:
    sizes = labels.value_counts().to_numpy(dtype=np.int64)
    return int((sizes * (sizes - 1) // 2).sum())


def _scores(true_positive: int, predicted: int, actual: int) -> dict[str, float | int]:
    precision = true_positive / predicted if predicted else 1.0
    recall = true_positive / actual if actual else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "true_positive_pairs": true_positive,
            "predicted_pairs": predicted, "true_pairs": actual}


def pairwise(predicted: pd.Series, truth: pd.Series) -> dict[str, float | int]:
    """Precision, recall and F1 over record pairs: a pair is predicted when both records share a
    predicted cluster, true when they share a true customer. Both series are indexed by record."""
    truth = truth.reindex(predicted.index)
    both = _both(predicted, truth)
    return _scores(_pairs_within(both), _pairs_within(predicted), _pairs_within(truth))


def _cross_counts(labels: pd.Series, system: pd.Series) -> pd.DataFrame:
    """Pairs within clusters by (system_a, system_b), system_a <= system_b."""
    counts = pd.crosstab(labels, system)
    names = sorted(counts.columns)
    rows = []
    for i, a in enumerate(names):
        for b in names[i:]:
            n_a = counts[a].to_numpy(dtype=np.int64)
            pairs = n_a * (n_a - 1) // 2 if a == b else n_a * counts[b].to_numpy(dtype=np.int64)
            rows.append((a, b, int(pairs.sum())))
    return pd.DataFrame(rows, columns=["system_a", "system_b", "pairs"]).set_index(["system_a", "system_b"])


def by_system_pair(predicted: pd.Series, truth: pd.Series, system: pd.Series) -> pd.DataFrame:
    """`pairwise` restricted to pairs with one record in system_a and the other in system_b (a row per pair
    of systems, including a system with itself: its duplicates)."""
    truth, system = truth.reindex(predicted.index), system.reindex(predicted.index)
    both = _both(predicted, truth)
    counts = pd.concat({"tp": _cross_counts(both, system)["pairs"], "pred": _cross_counts(predicted, system)["pairs"],
                        "true": _cross_counts(truth, system)["pairs"]}, axis=1).fillna(0).astype(int)
    rows = [{"system_a": a, "system_b": b, **_scores(r.tp, r.pred, r.true)} for (a, b), r in counts.iterrows()]
    return pd.DataFrame(rows)


def exact_share(predicted: pd.Series, truth: pd.Series) -> float:
    """The share of true customers whose records form exactly one predicted cluster, nothing more or less."""
    truth = truth.reindex(predicted.index)
    frame = pd.DataFrame({"p": predicted.astype(str), "t": truth.astype(str)})
    cell = frame.groupby(["t", "p"]).size().rename("cell").reset_index()
    cell["true_size"] = cell["t"].map(frame["t"].value_counts())
    cell["pred_size"] = cell["p"].map(frame["p"].value_counts())
    exact = cell[(cell["cell"] == cell["true_size"]) & (cell["cell"] == cell["pred_size"])]
    return len(exact) / frame["t"].nunique() if len(frame) else 1.0


def threshold_curve(truth: pd.Series, clusterings: Mapping[float, pd.Series]) -> pd.DataFrame:
    """One row per threshold: precision, recall, F1, exact share and the number of clusters there."""
    rows = [{"threshold": t, **pairwise(p, truth), "exact_share": exact_share(p, truth), "clusters": p.nunique()}
            for t, p in sorted(clusterings.items())]
    return pd.DataFrame(rows)
