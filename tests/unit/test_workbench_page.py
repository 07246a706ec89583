"""The RM page's facts and alerts: the age the rules use, the alert strip, the next best action."""

from __future__ import annotations

from datetime import date

import pandas as pd

from serving.decisions import suitability as rules
from serving.schemas import ChurnScore, DelinquencyScore, Freshness, Reason, RmOfferList
from serving.workbench.data import WorkbenchData, term_starts
from serving.workbench.i18n import labels
from serving.workbench.page import age_for_rules, alerts, assessment_expiry, next_action

TODAY = date(2026, 12, 7)


def test_the_page_shows_the_age_the_rules_use_not_the_feature_age() -> None:
    """The issue's customer: the page said 59 (age_years at the feature month end) where the rule said 61."""
    values = {"age_years": 59, "birth_date": "1965-10-20"}
    age = age_for_rules(values, TODAY)
    assert age == 61 == rules.age_on(date(1965, 10, 20), TODAY)
    product = rules.Product("INS_ANNUITY", "insurance", "R2", False, 30, 60)
    facts = rules.CustomerFacts(birth_date=date(1965, 10, 20), risk_tolerance="C3", risk_assessed_at=TODAY,
                                marketing_consent=True, days_past_due=0, pd=0.01, held=frozenset(), shown_7d={},
                                accepted_7d=frozenset())
    verdict = rules.check(facts, product, TODAY, rules.Policy())
    assert verdict.rule_id == "age_range" and f"age {age} " in verdict.message("en")
    assert f"客户年龄{age}岁" in verdict.message("zh")
    assert age_for_rules({"age_years": 59, "birth_date": None}, TODAY) is None


def _churn(band: str, p: float) -> ChurnScore:
    return ChurnScore(decision_id="d1", customer_id="C00000001", model_version="1", probability=p, band=band,
                      reasons=[Reason(code="a", text="logins fell by half"), Reason(code="b", text="salary moved")],
                      action=Reason(code="call", text="Call within a week"), flags=[])


def _credit(band: str) -> DelinquencyScore:
    return DelinquencyScore(decision_id="d2", customer_id="C00000001", model_version="1", pd=0.2, score=530, band=band,
                            reason_codes=[], freshness=Freshness(is_fresh=True, stale_features=[],
                                                                 oldest_feature_at=None), flags=[])


def _offers(*products: str, personalised: bool = True) -> RmOfferList:
    return RmOfferList(decision_id="d3", customer_id="C00000001", personalised=personalised, variant="champion",
                       model_versions={}, ruleset_version=rules.RULESET_VERSION, offers=[
                           {"product_id": p, "rank": i + 1, "score": 0.1, "p_adopt": 0.3, "name": f"{p} name",
                            "category": "deposit", "reasons": [{"code": "r", "text": "holds a large cash balance"}]}
                           for i, p in enumerate(products)], blocked=[])


def test_alerts_come_most_urgent_first_with_their_dates() -> None:
    words = labels("en")
    values = {"days_past_due": 12, "risk_assessed_at": "2025-12-20", "is_closed": False}
    expires = assessment_expiry(values, 12)
    assert expires == date(2026, 12, 20)
    got = alerts(values, _churn("high", 0.41), _credit("E"), expires,
                 [("1-year time deposit", date(2026, 12, 31)), ("Other", date(2027, 3, 1))], None, TODAY, words)
    assert [a.kind for a in got] == ["arrears", "churn", "credit", "assessment", "maturing"]
    assert got[0].text == "12 days past due." and "41%" in got[1].text
    assert "2026-12-20 (in 13 days)" in got[3].text and "2026-12-31 (in 24 days)" in got[4].text
    expired = alerts({"risk_assessed_at": "2025-11-30"}, _churn("low", 0.02), _credit("A"),
                     assessment_expiry({"risk_assessed_at": "2025-11-30"}, 12), [], None, TODAY, words)
    assert [(a.kind, a.level) for a in expired] == [("assessment", "bad")] and "2026-11-30" in expired[0].text
    quiet = alerts({"risk_assessed_at": "2026-06-01"}, _churn("medium", 0.2), _credit("B"), date(2027, 6, 1), [],
                   None, TODAY, words)
    assert quiet == []


def test_a_closed_account_has_one_alert_and_no_action() -> None:
    for lang in ("en", "zh"):
        words = labels(lang)
        got = alerts({"is_closed": True, "days_past_due": 3}, _churn("high", 0.9), _credit("E"), None, [],
                     "2025-03-01", TODAY, words)
        assert [a.kind for a in got] == ["closed"] and "2025-03-01" in got[0].text
        action = next_action(_offers("DEP_TIME_1Y"), _churn("high", 0.9), True, words)
        assert action.kind == "none" and action.product_id is None


def test_the_next_best_action_is_the_top_offer_or_a_retention_call_with_a_talking_point() -> None:
    words = labels("zh")
    offer = next_action(_offers("WM_STABLE", "INS_HEALTH"), _churn("low", 0.05), False, words)
    assert (offer.kind, offer.product_id) == ("offer", "WM_STABLE")
    assert offer.title == "建议推荐：WM_STABLE name" and offer.talking_point == "推荐理由：holds a large cash balance。"
    retention = next_action(_offers("WM_STABLE"), _churn("high", 0.35), False, words)
    assert (retention.kind, retention.title, retention.product_id) == ("retention", "Call within a week", "WM_STABLE")
    assert "35%" in retention.talking_point and "logins fell by half；salary moved" in retention.talking_point
    assert next_action(_offers(), _churn("low", 0.05), False, words).kind == "none"
    default = next_action(_offers("DEP_TIME_1Y", personalised=False), _churn("low", 0.05), False, labels("en"))
    assert default.talking_point.startswith("No marketing consent")


def test_a_term_deposit_matures_on_the_anniversary_of_its_latest_unbroken_run() -> None:
    months = pd.date_range("2025-01-31", "2026-11-30", freq="ME")
    rows = ([("C1", "DEP_TIME_1Y", m) for m in months if m != pd.Timestamp("2025-06-30")]  # a gap: run from July
            + [("C2", "DEP_TIME_1Y", m) for m in months[:5]])  # no longer held
    starts = term_starts(pd.DataFrame(rows, columns=["customer_id", "product_id", "snapshot_date"]))
    assert starts == {"C1": [("DEP_TIME_1Y", date(2025, 7, 31))]}


def test_the_next_maturity_is_the_first_anniversary_on_or_after_today() -> None:
    empty = pd.DataFrame({"customer_id": pd.Series([], dtype=str)})
    data = WorkbenchData(pd.DataFrame({"customer_id": ["C1"], "name": ["x"], "phone": [None]}), empty, empty,
                         {"C1": [("DEP_TIME_1Y", date(2025, 7, 31))]})
    assert data.maturities("C1", date(2026, 12, 7)) == [("DEP_TIME_1Y", date(2027, 7, 31))]
    assert data.maturities("C1", date(2026, 7, 31)) == [("DEP_TIME_1Y", date(2026, 7, 31))]  # due today
    assert data.maturities("C2", date(2026, 12, 7)) == []


def test_the_page_writes_amounts_in_the_served_portfolio_s_currency() -> None:
    assert labels("en").money(125_000) == "¥125,000" and labels("zh").money(125_000) == "12.5万元"
    assert labels("en", "EUR").money(125_000) == "€125,000" and labels("zh", "EUR").money(125_000) == "12.5万欧元"
    assert labels("en", "EUR").money(None) == labels("en").money(None)
