"""Arbitration: expected value, levers by product and category, the retention lift."""

from __future__ import annotations

from pathlib import Path

import pytest

from nbo.errors import ContractViolation
from serving.decisions.arbitration import Candidate, arbitrate, load_levers

LEVERS = load_levers()


def test_expected_value_is_probability_times_margin_times_lever() -> None:
    ranked = arbitrate([Candidate("FUND_BOND", "fund", 0.2, 0.015),
                        Candidate("INS_HEALTH", "insurance", 0.05, 0.06),
                        Candidate("WM_STABLE", "wealth", 0.1, 0.012)], LEVERS, churn_probability=0.05)
    assert [r.candidate.product_id for r in ranked] == ["INS_HEALTH", "FUND_BOND", "WM_STABLE"]
    assert ranked[0].score == pytest.approx(0.05 * 0.06 * 1.3)  # the product lever wins over the category's
    assert ranked[1].score == pytest.approx(0.2 * 0.015 * 1.0)
    assert ranked[2].score == pytest.approx(0.1 * 0.012 * 1.1)


def test_high_churn_risk_lifts_retention_friendly_offers() -> None:
    candidates = [Candidate("FUND_BOND", "fund", 0.2, 0.015), Candidate("WM_STABLE", "wealth", 0.2, 0.012)]
    calm = arbitrate(candidates, LEVERS, churn_probability=0.29)
    at_risk = arbitrate(candidates, LEVERS, churn_probability=0.30)
    assert calm[0].candidate.product_id == "FUND_BOND"
    assert at_risk[0].candidate.product_id == "WM_STABLE"
    assert at_risk[0].lever == pytest.approx(1.1 * 1.5)


def test_a_broken_levers_file_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "levers.toml"
    bad.write_text('version = "x"\n[category]\nfund = "lots"\n')
    with pytest.raises(ContractViolation, match="invalid levers file"):
        load_levers(bad)
    bad.write_text('version = "x"\n[category]\nfund = -1\n[retention]\nchurn_probability_at_least = 0.3\nlift = 1\ncategories = []\n[default_offers]\nproducts = []\n')
    with pytest.raises(ContractViolation, match="must not be negative"):
        load_levers(bad)
