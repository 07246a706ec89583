"""Intervals for a difference of two means (e.g. value per offer shown): sufficient statistics in,
numbers out."""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy import stats


@dataclass(frozen=True)
class Sample:
    """A sample summarised by its size, the sum of its values and the sum of their squares."""

    n: int
    total: float
    squares: float

    @property
    def mean(self) -> float:
        return self.total / self.n

    @property
    def variance(self) -> float:
        """The unbiased sample variance (n − 1), not below 0 (rounding)."""
        return max(0.0, (self.squares - self.total * self.total / self.n) / (self.n - 1))


@dataclass(frozen=True)
class MeanDifference:
    """first − second, its interval, and the two-sided p-value of H0: equal means."""

    difference: float
    interval: tuple[float, float]
    p_value: float
    df: float


def welch_difference(first: Sample, second: Sample, level: float = 0.95) -> MeanDifference | None:
    """Welch's t interval and test for mean(first) − mean(second) (unequal variances, Welch–
    Satterthwaite degrees of freedom); None with fewer than 2 values in a sample or no spread at all.

    Raises:
        ValueError: `level` outside (0, 1).
    """
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1), not {level}")
    if first.n < 2 or second.n < 2:
        return None
    a, b = first.variance / first.n, second.variance / second.n
    if a + b <= 0:
        return None
    se = math.sqrt(a + b)
    df = (a + b) ** 2 / (a * a / (first.n - 1) + b * b / (second.n - 1))
    difference = first.mean - second.mean
    half = float(stats.t.ppf(0.5 + level / 2, df)) * se
    return MeanDifference(difference, (difference - half, difference + half),
                          float(2 * stats.t.sf(abs(difference) / se, df)), df)
