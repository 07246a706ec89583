"""Intervals and tests for proportions (e.g. offer acceptance rates): counts in, numbers out."""

from __future__ import annotations

import math

Z_95 = 1.959963984540054  # the standard normal's 97.5th percentile


def wilson_interval(successes: int, trials: int, z: float = Z_95) -> tuple[float, float] | None:
    """The Wilson score interval of a proportion (Wilson 1927); None without trials."""
    if trials <= 0:
        return None
    p = successes / trials
    denominator = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def difference_interval(x1: int, n1: int, x2: int, n2: int, z: float = Z_95) -> tuple[float, float] | None:
    """The interval of p1 − p2 by Newcombe's hybrid score method, from each proportion's Wilson
    interval (Newcombe 1998, Statistics in Medicine 17:873-890, method 10); None without trials."""
    first, second = wilson_interval(x1, n1, z), wilson_interval(x2, n2, z)
    if first is None or second is None:
        return None
    p1, p2 = x1 / n1, x2 / n2
    return (p1 - p2 - math.hypot(p1 - first[0], second[1] - p2),
            p1 - p2 + math.hypot(first[1] - p1, p2 - second[0]))


def two_proportion_z_test(x1: int, n1: int, x2: int, n2: int) -> tuple[float, float] | None:
    """(z, two-sided p-value) for H0: p1 == p2, pooled; None when it is undefined."""
    if n1 <= 0 or n2 <= 0:
        return None
    pooled = (x1 + x2) / (n1 + n2)
    variance = pooled * (1 - pooled) * (1 / n1 + 1 / n2)
    if variance <= 0:
        return None
    z = (x1 / n1 - x2 / n2) / math.sqrt(variance)
    return z, math.erfc(abs(z) / math.sqrt(2))
