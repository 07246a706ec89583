"""Scorecard points, risk bands and churn bands (pure functions).

Points follow the usual log-odds scaling (Siddiqi, 2006): score = offset + factor · ln(odds),
odds = good:bad = (1 − PD) / PD, factor = PDO / ln 2, offset = base − factor · ln(base odds).
With the defaults, 600 points means odds of 50:1 and every 20 points doubles the odds.

Risk bands are fixed (RISK_BANDS, the demo portfolio) or fitted on a portfolio's development
sample (`fit_bands`): the points scale stays the same, only the band cut points move.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

PD_FLOOR = 1e-6


@dataclass(frozen=True)
class Scorecard:
    """Log-odds scaling from PD to points."""

    base_points: float = 600.0
    base_odds: float = 50.0
    points_to_double_odds: float = 20.0

    @property
    def factor(self) -> float:
        return self.points_to_double_odds / math.log(2)

    @property
    def offset(self) -> float:
        return self.base_points - self.factor * math.log(self.base_odds)

    def points(self, pd_: ArrayLike) -> NDArray[np.float64]:
        """Scorecard points for probabilities of default (higher points, lower risk)."""
        p = np.clip(np.asarray(pd_, dtype=float), PD_FLOOR, 1 - PD_FLOOR)
        return self.offset + self.factor * np.log((1 - p) / p)

    def pd_at(self, points: ArrayLike) -> NDArray[np.float64]:
        """Probability of default at the given points (the inverse of `points`)."""
        odds = np.exp((np.asarray(points, dtype=float) - self.offset) / self.factor)
        return 1 / (1 + odds)


@dataclass(frozen=True)
class Bands:
    """Ordered bands: a value at or above `lower_bounds[i]` (and below the previous) gets `names[i]`."""

    version: str
    names: tuple[str, ...]
    lower_bounds: tuple[float, ...]

    def assign(self, values: ArrayLike) -> NDArray[np.str_]:
        """Band name for each value; `lower_bounds` is descending and its last entry is −inf."""
        v = np.asarray(values, dtype=float)
        index = np.searchsorted(-np.asarray(self.lower_bounds), -v, side="left")
        return np.asarray(self.names)[np.clip(index, 0, len(self.names) - 1)]

    def describe(self) -> str:
        """As a report states them: `risk-bands-v1: A ≥ 660, B ≥ 620, C ≥ 580, D ≥ 540, E below`."""
        cuts = [f"{name} ≥ {bound:g}" for name, bound in zip(self.names, self.lower_bounds[:-1], strict=False)]
        return f"{self.version}: {', '.join(cuts)}, {self.names[-1]} below"

    def to_dict(self) -> dict[str, object]:
        """As stored in a model's spec (JSON has no −inf: the last band's bound is left out)."""
        return {"version": self.version, "names": list(self.names), "lower_bounds": list(self.lower_bounds[:-1])}

    @classmethod
    def from_dict(cls, data: dict) -> Bands:
        return cls(data["version"], tuple(data["names"]), (*map(float, data["lower_bounds"]), -math.inf))


# Delinquency risk bands by scorecard points (A best). At the defaults: 660 ≈ PD 0.25 %,
# 620 ≈ 1 %, 580 ≈ 3.8 %, 540 ≈ 13.8 %.
RISK_BANDS = Bands(
    version="risk-bands-v1",
    names=("A", "B", "C", "D", "E"),
    lower_bounds=(660.0, 620.0, 580.0, 540.0, -math.inf),
)

# Churn bands by 90-day churn probability.
CHURN_BANDS = Bands(
    version="churn-bands-v1",
    names=("high", "medium", "low"),
    lower_bounds=(0.30, 0.10, -math.inf),
)

# Shares of the development sample per fitted risk band, A (lowest risk) to E.
FITTED_SHARES = (0.10, 0.20, 0.40, 0.20, 0.10)


def fit_bands(points: ArrayLike, version: str, names: tuple[str, ...] = ("A", "B", "C", "D", "E"),
              shares: tuple[float, ...] = FITTED_SHARES) -> Bands:
    """Risk bands cut on a development sample's scorecard points at fixed cumulative shares.

    Band i's lower bound is the whole number of points that the best `shares[0] + … + shares[i]` of
    the sample reach (ties fall into the better band); bounds fall by at least one point from band
    to band. The points scale (base points and odds, points to double the odds) is not touched.
    """
    if len(names) != len(shares) or not math.isclose(sum(shares), 1.0):
        raise ValueError("one share per band, summing to 1")
    ranked = np.sort(np.rint(np.asarray(points, dtype=float)))[::-1]
    if ranked.size == 0:
        raise ValueError("no development sample to fit bands on")
    bounds: list[float] = []
    for cumulative in np.cumsum(shares)[:-1]:
        bound = float(ranked[min(max(math.ceil(cumulative * ranked.size), 1), ranked.size) - 1])
        bounds.append(min(bound, bounds[-1] - 1) if bounds else bound)
    return Bands(version, names, (*bounds, -math.inf))
