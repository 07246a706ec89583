"""The drift statistics against hand-worked values: bins, PSI, the Monte Carlo test, the verdict table."""

from __future__ import annotations

import math

import numpy as np
import pytest

from evaluation import drift, metrics


def test_psi_of_known_shares():
    # (0.25 − 0.5)·ln(0.25/0.5) + (0.75 − 0.5)·ln(0.75/0.5)
    assert drift.stability_index([0.5, 0.5], [0.25, 0.75]) == pytest.approx(
        0.25 * math.log(2) + 0.25 * math.log(1.5)
    )
    assert drift.stability_index([0.2, 0.3, 0.5], [0.2, 0.3, 0.5]) == 0.0


def test_an_empty_bin_is_floored_at_epsilon():
    # the second development bin is empty: its share counts as 1e-4
    expected = (0.5 - 1.0) * math.log(0.5 / 1.0) + (0.5 - 1e-4) * math.log(0.5 / 1e-4)
    assert drift.stability_index([1.0, 0.0], [0.5, 0.5]) == pytest.approx(expected)


def test_numeric_reference_has_quantile_bins_a_missing_bin_and_the_range():
    ref = drift.numeric_reference(np.arange(1, 11), bins=2)
    assert ref.edges == [5.5] and ref.shares == [0.5, 0.5, 0.0]
    assert (ref.minimum, ref.maximum, ref.rows) == (1.0, 10.0, 10)
    with_missing = drift.numeric_reference(
        [1, 2, np.nan, 4], bins=2
    )  # median of 1, 2, 4 is 2; 2 falls right
    assert with_missing.edges == [2.0] and with_missing.shares == [0.25, 0.5, 0.25]
    assert with_missing.missing_share == 0.25


def test_categorical_reference_bins_by_category_with_other_and_missing():
    ref = drift.categorical_reference(["a", "b", "a", None, ""])
    assert ref.categories == ["a", "b"] and ref.shares == [0.4, 0.2, 0.0, 0.4]
    assert drift.bin_counts(ref, ["a", "c", "c", None]).tolist() == [1, 0, 2, 1]
    assert drift.out_of_range_share(ref, ["a", "c", "c", None]) == 0.5


def test_out_of_range_share_counts_numbers_beyond_the_development_min_and_max():
    ref = drift.numeric_reference(np.arange(1, 11), bins=2)
    assert drift.out_of_range_share(ref, [0.0, 5.0, 11.0, np.nan]) == 0.5


def test_reference_round_trips_through_json_form():
    ref = drift.numeric_reference([1, 2, np.nan, 4], bins=2)
    assert drift.BinnedReference.from_dict(ref.to_dict()) == ref


def test_training_psi_is_the_same_index():
    expected, actual = [0, 0, 1, 1], [0, 1, 1, 1]  # two bins: shares 0.5/0.5 against 0.25/0.75
    assert metrics.psi(expected, actual, bins=2) == pytest.approx(
        drift.stability_index([0.5, 0.5], [0.25, 0.75])
    )


def test_a_month_of_one_row_can_never_reject():
    # either bin drawn gives the same index as the observed one: every draw is as extreme, p = 1
    assert drift.stability_p_value([0.5, 0.5], [1, 0], draws=99) == 1.0


def test_a_shifted_month_rejects_and_a_sample_of_the_reference_does_not():
    shares = [0.1] * 10 + [0.0]
    assert drift.stability_p_value(shares, [100] * 10 + [0], draws=999) == 1.0
    assert (
        drift.stability_p_value(shares, [0, 0, 0, 0, 0, 200, 200, 200, 200, 400, 0], draws=999)
        == 1 / 1000
    )


@pytest.mark.parametrize(
    ("index", "p_value", "expected"),
    [
        (0.30, 0.001, "act"),
        (0.25, 0.001, "act"),
        (0.24, 0.001, "investigate"),
        (0.10, 0.001, "investigate"),
        (0.09, 0.001, "stable"),
        (0.90, 0.05, "stable"),  # a large index the test does not back: a small month's chance
        (0.15, 0.20, "stable"),
    ],
)
def test_verdict_table(index: float, p_value: float, expected: str):
    assert drift.verdict(index, p_value, alpha=0.05) == expected


def test_worst_verdict():
    assert drift.worst(["stable", "act", "investigate"]) == "act"
    assert drift.worst(["stable", "investigate"]) == "investigate"
    assert drift.worst([]) == "stable"


def test_small_months_of_the_development_distribution_raise_few_alarms():
    """30-row months from the reference's own distribution have a PSI near (bins − 1) / 30 ≈ 0.3 by
    chance; the test keeps the verdict stable in at least 95 % of them (its level is 5 %)."""
    rng = np.random.default_rng(1)
    ref = drift.numeric_reference(rng.normal(size=5000))
    results = [drift.assess(ref, rng.normal(size=30)) for _ in range(200)]
    assert (
        np.mean([r.index for r in results]) > drift.INVESTIGATE
    )  # a threshold alone would cry wolf
    assert sum(r.verdict != "stable" for r in results) <= 10
