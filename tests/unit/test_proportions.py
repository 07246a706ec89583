"""Proportion intervals and tests against published, hand-checked values.

Wilson intervals: Newcombe (1998a), Statistics in Medicine 17:857-872, table I, method 3.
Hybrid score intervals: Newcombe (1998b), Statistics in Medicine 17:873-890, table II, method 10.
"""

from __future__ import annotations

import math
import subprocess
import sys

import pytest

from evaluation.proportions import difference_interval, two_proportion_z_test, wilson_interval


def _rounded(pair: tuple[float, float] | None) -> tuple[float, float] | None:
    return None if pair is None else (round(pair[0], 4), round(pair[1], 4))


@pytest.mark.parametrize(("successes", "trials", "expected"), [
    (81, 263, (0.2553, 0.3662)),
    (15, 148, (0.0624, 0.1605)),
    (0, 20, (0.0, 0.1611)),
    (1, 29, (0.0061, 0.1718)),
    (29, 29, (0.8830, 1.0)),
])
def test_wilson_interval_matches_newcombes_table(successes: int, trials: int,
                                                 expected: tuple[float, float]) -> None:
    assert _rounded(wilson_interval(successes, trials)) == expected


def test_wilson_interval_by_hand_and_without_trials() -> None:
    # p = .3, z² = 3.8415: centre (.3 + .019207) / 1.038415, half-width 1.96·√(.0021 + .0000960) / 1.038415
    z2 = 1.959963984540054**2
    centre = (0.3 + z2 / 200) / (1 + z2 / 100)
    half = math.sqrt(z2) * math.sqrt(0.3 * 0.7 / 100 + z2 / 40_000) / (1 + z2 / 100)
    assert wilson_interval(30, 100) == pytest.approx((centre - half, centre + half), abs=1e-15)
    assert wilson_interval(0, 0) is None


@pytest.mark.parametrize(("counts", "expected"), [
    ((56, 70, 48, 80), (0.0524, 0.3339)),
    ((9, 10, 3, 10), (0.1705, 0.8090)),
    ((6, 7, 2, 7), (0.0582, 0.8062)),
    ((5, 56, 0, 29), (-0.0381, 0.1926)),
    ((0, 10, 0, 20), (-0.1611, 0.2775)),
    ((0, 10, 0, 10), (-0.2775, 0.2775)),
    ((10, 10, 0, 20), (0.6791, 1.0)),
    ((10, 10, 0, 10), (0.6075, 1.0)),
])
def test_newcombe_hybrid_score_interval_matches_newcombes_table(counts: tuple[int, int, int, int],
                                                                expected: tuple[float, float]) -> None:
    assert _rounded(difference_interval(*counts)) == expected


def test_newcombe_interval_is_undefined_without_trials() -> None:
    assert difference_interval(0, 0, 1, 2) is None and difference_interval(1, 2, 0, 0) is None


def test_two_proportion_z_test_by_hand() -> None:
    # 30/100 vs 20/100: pooled .25, se = √(.25·.75·.02) = .061237, z = .1 / se = 1.63299, p = .10247
    test, reversed_test = two_proportion_z_test(30, 100, 20, 100), two_proportion_z_test(20, 100, 30, 100)
    assert test is not None and reversed_test is not None
    assert (round(test[0], 5), round(test[1], 5)) == (1.63299, 0.10247)
    assert reversed_test == pytest.approx((-test[0], test[1]))


def test_two_proportion_z_test_is_undefined_without_trials_or_variance() -> None:
    assert two_proportion_z_test(0, 0, 1, 2) is None
    assert two_proportion_z_test(0, 10, 0, 10) is None
    assert two_proportion_z_test(10, 10, 5, 5) is None


def test_evaluation_modules_import_nothing_of_ours() -> None:
    """evaluation.proportions and evaluation.metrics load no other package of this project."""
    code = ("import sys, evaluation.proportions, evaluation.metrics; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & "
            "{'nbo', 'sources', 'features', 'models', 'training', 'serving'}))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"
