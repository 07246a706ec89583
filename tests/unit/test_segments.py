"""Segment rules: conditions, first-match order, one customer vs a frame, lifetime value, bad files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.segments.rules import DEFAULT_RULES, load_segment_rules, parse_condition
from nbo.errors import ContractViolation

RULES = load_segment_rules()


def test_a_condition_on_one_customer_and_on_a_frame() -> None:
    condition = parse_condition("aum_cny >= 150000")
    assert condition.holds({"aum_cny": 150000.0}) and not condition.holds({"aum_cny": 149999.99})
    assert not condition.holds({"aum_cny": None}) and not condition.holds({})
    frame = pd.DataFrame({"aum_cny": [150000.0, 1.0, np.nan]})
    assert condition.holds(frame).tolist() == [True, False, False]
    assert parse_condition("is_closed == true").holds({"is_closed": True})
    assert parse_condition("segment == 'mass'").holds(pd.DataFrame({"segment": ["mass", None, "x"]})).tolist() \
        == [True, False, False]


@pytest.mark.parametrize("text", ["aum_cny >> 1", "no_such_feature > 1", "segment < 'a'", "aum_cny > lots"])
def test_malformed_conditions_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_condition(text)


def _customer(**values: object) -> dict[str, object]:
    base = {"tenure_months": 60, "txn_count_90d": 20, "days_since_last_login": 2, "aum_change_3m_pct": 0.0,
            "login_trend_ratio": 1.0, "aum_cny": 10_000.0, "salary_credit_cny_90d": 0.0, "deposit_balance_cny": 0.0,
            "income_monthly_cny": 8_000.0, "products_held_count": 2, "logins_30d": 3, "is_closed": False}
    return base | values


@pytest.mark.parametrize(("values", "segment"), [
    ({"tenure_months": 3}, "new"),
    ({"txn_count_90d": 0, "days_since_last_login": 120}, "dormant"),
    ({"aum_change_3m_pct": -45.0, "aum_cny": 900_000.0}, "churn_warning"),  # warning before value
    ({"aum_cny": 150_000.0}, "high_value"),
    ({"salary_credit_cny_90d": 30_000.0, "deposit_balance_cny": 25_000.0}, "salary_saver"),
    ({"income_monthly_cny": 20_000.0}, "potential"),
    ({}, "regular"),
])
def test_the_first_matching_segment_wins(values: dict[str, object], segment: str) -> None:
    assert RULES.tag(_customer(**values)).rfm_segment == segment


def test_a_closed_customer_is_not_tagged() -> None:
    tags = RULES.tag(_customer(is_closed=True))
    assert (tags.rfm_segment, tags.lifecycle_stage, tags.clv_cny, tags.intent_tags) == (None, None, None, ())


def test_intent_from_monthly_views_or_from_recent_events() -> None:
    assert "mortgage_intent" in RULES.tag(_customer(page_views_mortgage_30d=1, searches_mortgage_30d=1)).intent_tags
    assert "mortgage_intent" not in RULES.tag(_customer(page_views_mortgage_30d=1)).intent_tags
    assert "mortgage_intent" in RULES.tag(_customer(), realtime={"mortgage": 3}).intent_tags
    assert RULES.tag(_customer(), realtime={"study_abroad": 1, "fx": 1}).intent_tags == ("fx_need",)


def test_lifetime_value_arithmetic() -> None:
    clv = RULES.clv
    values = {"deposit_balance_cny": 120_000.0, "card_spend_cny_30d": 5_000.0}
    monthly = 120_000 * clv.balance_margin["deposit"] / 12 + 5_000 * clv.card_spend_margin
    stay = (1 - 0.3) ** (1 / 3)
    expected = sum(monthly * stay ** m / (1 + clv.annual_discount) ** (m / 12)
                   for m in range(1, clv.horizon_months + 1))
    assert clv.value(values, 0.3) == pytest.approx(expected, abs=0.01)
    assert clv.value(values, 1.0) == 0.0  # a certain leaver is worth nothing more
    assert clv.value(values) > clv.value(values, 0.5)  # the base churn rate is far below 0.5


def test_one_customer_and_the_frame_agree() -> None:
    rng = np.random.default_rng(3)
    n = 400
    frame = pd.DataFrame({
        "tenure_months": rng.integers(0, 200, n), "txn_count_90d": rng.integers(0, 50, n),
        "days_since_last_login": rng.integers(0, 400, n).astype(float),
        "aum_change_3m_pct": rng.normal(0, 30, n), "login_trend_ratio": rng.uniform(0, 2, n),
        "aum_cny": rng.exponential(80_000, n), "salary_credit_cny_90d": rng.choice([0.0, 30_000.0], n),
        "deposit_balance_cny": rng.exponential(30_000, n), "income_monthly_cny": rng.exponential(12_000, n),
        "products_held_count": rng.integers(0, 8, n), "logins_30d": rng.integers(0, 12, n),
        "is_closed": rng.random(n) < 0.05, "card_spend_cny_30d": rng.exponential(1_000, n),
        **{f"{kind}_{t}_30d": rng.integers(0, 3, n) for t in ("mortgage", "fx", "study_abroad", "wealth", "fund",
                                                               "gold", "loan", "credit_card", "insurance")
           for kind in ("page_views", "searches")},
    })
    frame.loc[::7, "days_since_last_login"] = np.nan
    for c in ("credit_card", "personal_loan", "mortgage", "fx", "gold", "wealth", "fund", "insurance"):
        frame[f"{c}_balance_cny"] = rng.exponential(5_000, n)
    tagged = RULES.tag_frame(frame)
    for i, row in enumerate(frame.to_dict("records")):
        one = RULES.tag(row)
        assert (one.rfm_segment, one.lifecycle_stage, one.intent_tags) == \
            (tagged["rfm_segment"][i], tagged["lifecycle_stage"][i], tagged["intent_tags"][i])
        assert (one.clv_cny is None and np.isnan(tagged["clv_cny"][i])) or \
            one.clv_cny == pytest.approx(tagged["clv_cny"][i], abs=0.01)


def test_a_bad_rules_file_names_the_file_and_the_entry(tmp_path: Path) -> None:
    text = DEFAULT_RULES.read_text(encoding="utf-8")
    cases = {
        "unknown_feature.toml": text.replace("tenure_months < 12", "tenure_years < 12"),
        "duplicate.toml": text.replace('id = "dormant"', 'id = "new"'),
        "category.toml": text.replace("deposit = 0.015", "savings = 0.015"),
        "not_toml.toml": "version = ",
    }
    for name, content in cases.items():
        path = tmp_path / name
        path.write_text(content, encoding="utf-8")
        with pytest.raises(ContractViolation, match=name):
            load_segment_rules(path)
