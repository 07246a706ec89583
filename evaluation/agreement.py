"""How two models' scores of the same rows agree: rank correlations, distributions, label agreement."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)


def _finite(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def rank_agreement(a: ArrayLike, b: ArrayLike) -> dict[str, float | None]:
    """Spearman's rho and Kendall's tau-b of paired scores (None with fewer than 2 pairs or a constant side)."""
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if len(x) < 2 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return {"spearman": None, "kendall": None}
    return {"spearman": _finite(stats.spearmanr(x, y).statistic), "kendall": _finite(stats.kendalltau(x, y).statistic)}


def distribution(values: ArrayLike) -> dict[str, object]:
    """Mean and the QUANTILES (linear interpolation) of scores; None values when there are none."""
    x = np.asarray(values, dtype=float)
    if len(x) == 0:
        return {"mean": None, "quantiles": dict.fromkeys(map(str, QUANTILES))}
    return {"mean": float(x.mean()), "quantiles": {str(q): float(v) for q, v in zip(QUANTILES, np.quantile(x, QUANTILES),
                                                                                     strict=True)}}


def label_agreement(a: list[str], b: list[str]) -> dict[str, object]:
    """The share of pairs with the same label (None without pairs) and the cross-table a-label → b-label → n."""
    table: dict[str, dict[str, int]] = {}
    for x, y in zip(a, b, strict=True):
        table.setdefault(x, {}).setdefault(y, 0)
        table[x][y] += 1
    same = sum(x == y for x, y in zip(a, b, strict=True))
    return {"share": same / len(a) if a else None, "table": table}
