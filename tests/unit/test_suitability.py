"""Every suitability rule and every boundary, table-driven."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from serving.decisions import suitability as s

TODAY = date(2026, 10, 15)
POLICY = s.Policy(pd_limit=0.10, fatigue_shows=3)
FUND_R3 = s.Product("FUND_BALANCED", "fund", "R3", False, 18, 120)
FUND_R4 = s.Product("FUND_EQUITY", "fund", "R4", False, 18, 120)
FUND_R5 = s.Product("FUND_TECH", "fund", "R5", False, 18, 120)
WEALTH_R2 = s.Product("WM_STABLE", "wealth", "R2", False, 18, 120)
DEPOSIT_R1 = s.Product("DEP_TIME_1Y", "deposit", "R1", False, 18, 120)
INSURANCE_R2 = s.Product("INS_ANNUITY", "insurance", "R2", False, 30, 70)
CARD = s.Product("CC_CLASSIC", "credit_card", "R1", True, 18, 70)
MORTGAGE = s.Product("MORTGAGE", "mortgage", "R1", True, 22, 60)

BASE = s.CustomerFacts(
    birth_date=date(1986, 10, 15), risk_tolerance="C5", risk_assessed_at=date(2026, 6, 1),
    marketing_consent=True, days_past_due=0, pd=0.02, held=frozenset(), shown_7d={}, accepted_7d=frozenset(),
)


def born_years_ago(years: int, days_more: int = 0) -> date:
    return date(TODAY.year - years, TODAY.month, TODAY.day - days_more)


CASES = [
    # (case, facts changes, product, expected rule id or None)
    ("a closed customer gets nothing, not even R1", {"closed": True}, DEPOSIT_R1, "account_closed"),
    ("closed comes before every other rule", {"closed": True, "held": frozenset({"CC_CLASSIC"})}, CARD,
     "account_closed"),
    ("an open customer is not blocked as closed", {"closed": False}, DEPOSIT_R1, None),
    ("C1 gets R1", {"risk_tolerance": "C1"}, DEPOSIT_R1, None),
    ("C1 not R2", {"risk_tolerance": "C1"}, WEALTH_R2, "risk_match"),
    ("C2 gets R2", {"risk_tolerance": "C2"}, WEALTH_R2, None),
    ("C2 not R3", {"risk_tolerance": "C2"}, FUND_R3, "risk_match"),
    ("C3 gets R3", {"risk_tolerance": "C3"}, FUND_R3, None),
    ("C3 not R4", {"risk_tolerance": "C3"}, FUND_R4, "risk_match"),
    ("C4 gets R4", {"risk_tolerance": "C4"}, FUND_R4, None),
    ("C4 not R5", {"risk_tolerance": "C4"}, FUND_R5, "risk_match"),
    ("C5 gets R5", {}, FUND_R5, None),
    ("unassessed only R1", {"risk_tolerance": None, "risk_assessed_at": None}, WEALTH_R2, "risk_match"),
    ("assessed exactly 12 months ago is valid", {"risk_assessed_at": date(2025, 10, 15)}, FUND_R3, None),
    ("12 months and a day is expired", {"risk_assessed_at": date(2025, 10, 14)}, FUND_R3, "assessment_expired"),
    ("expired still gets R1 deposits", {"risk_assessed_at": date(2020, 1, 1)}, DEPOSIT_R1, None),
    ("expiry is about investments only", {"risk_assessed_at": date(2020, 1, 1)}, INSURANCE_R2, None),
    ("aged 64 and a day short of 65 gets R4", {"birth_date": date(1961, 10, 16)}, FUND_R4, None),
    ("exactly 65 today: no R4", {"birth_date": born_years_ago(65)}, FUND_R4, "senior_high_risk"),
    ("exactly 65 today: no R5", {"birth_date": born_years_ago(65)}, FUND_R5, "senior_high_risk"),
    ("65 still gets R3", {"birth_date": born_years_ago(65)}, FUND_R3, None),
    ("unknown age: no R4", {"birth_date": None}, FUND_R4, "age_range"),
    ("29 is below 30", {"birth_date": date(1996, 10, 16)}, INSURANCE_R2, "age_range"),
    ("exactly min age", {"birth_date": born_years_ago(30)}, INSURANCE_R2, None),
    ("exactly max age", {"birth_date": date(1956, 10, 16)}, INSURANCE_R2, None),
    ("above max age", {"birth_date": date(1955, 10, 15)}, INSURANCE_R2, "age_range"),
    ("unknown age vs age-limited product", {"birth_date": None}, MORTGAGE, "age_range"),
    ("in arrears: no credit", {"days_past_due": 1}, CARD, "credit_arrears"),
    ("in arrears: deposits fine", {"days_past_due": 30}, DEPOSIT_R1, None),
    ("PD exactly at the limit is allowed", {"pd": 0.10}, CARD, None),
    ("PD above the limit is blocked", {"pd": 0.1001}, CARD, "credit_pd_limit"),
    ("unknown PD blocks credit", {"pd": None}, MORTGAGE, "credit_pd_limit"),
    ("PD does not matter for deposits", {"pd": 0.9}, DEPOSIT_R1, None),
    ("already held", {"held": frozenset({"FUND_TECH"})}, FUND_R5, "already_held"),
    ("shown twice is fine", {"shown_7d": {"FUND_TECH": 2}}, FUND_R5, None),
    ("shown three times is fatigue", {"shown_7d": {"FUND_TECH": 3}}, FUND_R5, "fatigue"),
    ("shown three times but accepted", {"shown_7d": {"FUND_TECH": 3}, "accepted_7d": frozenset({"FUND_TECH"})},
     FUND_R5, None),
    ("declined (dismissed, or a declined call) is not offered again", {"declined": frozenset({"FUND_TECH"})},
     FUND_R5, "declined"),
    ("declining one product leaves the others", {"declined": frozenset({"FUND_TECH"})}, FUND_R4, None),
    ("declined comes before fatigue", {"declined": frozenset({"FUND_TECH"}), "shown_7d": {"FUND_TECH": 5}},
     FUND_R5, "declined"),
]


@pytest.mark.parametrize(("changes", "product", "rule_id"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_rule(changes: dict, product: s.Product, rule_id: str | None) -> None:
    verdict = s.check(replace(BASE, **changes), product, TODAY, POLICY)
    assert verdict.rule_id == rule_id
    assert verdict.allowed is (rule_id is None)
    if rule_id:
        assert verdict.message("zh") and verdict.message("en")
        assert verdict.message("zh") != verdict.message("en")


def test_consent_switches_to_the_non_personalised_default() -> None:
    assert s.is_personalised(BASE)
    assert not s.is_personalised(replace(BASE, marketing_consent=False))


@pytest.mark.parametrize(("birth", "day", "age"), [
    (date(2000, 2, 29), date(2026, 2, 28), 25), (date(2000, 2, 29), date(2026, 3, 1), 26),
    (date(1961, 10, 15), date(2026, 10, 15), 65), (date(1961, 10, 16), date(2026, 10, 15), 64),
])
def test_age_in_completed_years(birth: date, day: date, age: int) -> None:
    assert s.age_on(birth, day) == age


def test_adding_months_clamps_to_the_month_end() -> None:
    assert s.add_months(date(2025, 1, 31), 1) == date(2025, 2, 28)
    assert s.add_months(date(2024, 2, 29), 12) == date(2025, 2, 28)
    assert s.add_months(date(2025, 10, 15), 12) == date(2026, 10, 15)
