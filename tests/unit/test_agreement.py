"""Known answers of the shadow report's statistics (`evaluation.agreement`)."""

from __future__ import annotations

import pytest

from evaluation.agreement import distribution, label_agreement, rank_agreement


def test_rank_agreement_known_answers() -> None:
    # one swapped pair of three: rho = 1 - 6 * 2 / (3 * 8) = 0.5; tau = (2 - 1) / 3
    got = rank_agreement([0.1, 0.2, 0.3], [0.1, 0.3, 0.2])
    assert got["spearman"] == pytest.approx(0.5) and got["kendall"] == pytest.approx(1 / 3)
    assert rank_agreement([0.3, 0.1, 0.2], [30, 10, 20]) == {"spearman": 1.0, "kendall": 1.0}
    assert rank_agreement([0.1], [0.2]) == {"spearman": None, "kendall": None}
    assert rank_agreement([0.1, 0.1], [0.2, 0.3]) == {"spearman": None, "kendall": None}


def test_distribution_and_labels() -> None:
    d = distribution([1.0, 2.0, 3.0, 4.0, 5.0])
    assert d["mean"] == 3.0 and d["quantiles"]["0.5"] == 3.0 and d["quantiles"]["0.25"] == 2.0
    assert d["quantiles"]["0.05"] == pytest.approx(1.2)
    assert distribution([])["mean"] is None
    got = label_agreement(["A", "A", "B", "C"], ["A", "B", "B", "C"])
    assert got["share"] == 0.75 and got["table"] == {"A": {"A": 1, "B": 1}, "B": {"B": 1}, "C": {"C": 1}}
    assert label_agreement([], [])["share"] is None
