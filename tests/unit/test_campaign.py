"""Campaign effect on real SQLite and PostgreSQL audit stores, against counts worked out by hand.

The audit records decisions at the current time; the fixture moves each one to a fixed moment in
March 2021 (two ISO weeks, W09 and W10) so weeks and periods are known, and every query is limited
to that window, which no other test writes in (the PostgreSQL database is the session's).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import scipy.stats as st

from evaluation.proportions import difference_interval
from nbo.errors import ContractViolation
from serving.audit.store import AuditStore, decisions, feedback, sqlite_url
from serving.reports.campaign import (
    campaign_effect,
    load_tickets,
    page_period,
    trend_chart,
)
from sources.synthetic.catalogue import build_products
from tests.conftest import private_database

START, END = datetime(2021, 3, 1, tzinfo=UTC), datetime(2021, 3, 15, tzinfo=UTC)
CATALOGUE = {
    "MORTGAGE": {"category": "mortgage", "margin_rate": 0.07, "name_zh": "住房按揭贷款", "name_en": "Home mortgage"},
    "FUND_BOND": {"category": "fund", "margin_rate": 0.015, "name_zh": "债券基金", "name_en": "Bond fund"},
}
# (kind, variant, payload extras, created at, feedback as (product, outcome))
DECISIONS = [
    ("offers", "champion", {"channel": "app", "rfm_segment": "high_value"}, datetime(2021, 3, 2, 10),
     [("MORTGAGE", "shown"), ("MORTGAGE", "clicked"), ("MORTGAGE", "accepted"),
      ("FUND_BOND", "shown"), ("FUND_BOND", "shown"), ("FUND_BOND", "dismissed")]),
    ("offers", "challenger", {"channel": "branch"}, datetime(2021, 3, 7, 23, 30),  # Sunday: still W09 in UTC
     [("MORTGAGE", "accepted"), ("NEW_PRODUCT", "clicked")]),
    ("trigger", "champion", {"channel": None, "rfm_segment": "at_risk", "trigger_id": "salary_in"},
     datetime(2021, 3, 8, 0, 10), [("FUND_BOND", "shown"), ("FUND_BOND", "clicked"), ("FUND_BOND", "accepted")]),
    ("churn", "champion", {"probability": 0.4}, datetime(2021, 3, 8, 9), [("FUND_BOND", "accepted")]),
    ("offers", "champion", {"channel": "app", "rfm_segment": "high_value"}, datetime(2021, 3, 9, 9), []),
    ("offers", "challenger", {"channel": "web", "rfm_segment": "high_value"}, datetime(2021, 3, 10, 9),
     [("FUND_BOND", "shown")]),
]


def _fill(store: AuditStore) -> None:
    for i, (kind, variant, extras, created_at, outcomes) in enumerate(DECISIONS):
        payload = {**extras, "answer": {"offers": [{"product_id": p, "category": "x"} for p, _ in outcomes]}}
        decision = store.record_decision(kind=kind, customer_id=f"C{i:08d}", request_id=f"r-{i}", variant=variant,
                                         model_versions={}, payload=payload)
        with store.engine.begin() as conn:
            conn.execute(decisions.update().where(decisions.c.decision_id == decision.decision_id)
                         .values(created_at=created_at.replace(tzinfo=UTC)))
        for product, outcome in outcomes:
            if kind == "churn":  # refused since feedback is checked against its decision; older rows remain
                _unchecked_feedback(store, decision.decision_id, product, outcome)
            else:
                store.record_feedback(decision.decision_id, product, outcome)


def _unchecked_feedback(store: AuditStore, decision_id: str, product: str, outcome: str) -> None:
    """A feedback row as the audit stored it before `record_feedback` checked the decision."""
    with store.engine.begin() as conn:
        conn.execute(feedback.insert().values(feedback_id=f"legacy-{decision_id}", decision_id=decision_id,
                                              product_id=product, outcome=outcome, created_at=datetime.now(UTC)))


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuditStore]:
    """The audit filled with DECISIONS alone: its own SQLite file, or its own PostgreSQL database."""
    with ExitStack() as stack:
        if request.param == "sqlite":
            url = sqlite_url(tmp_path_factory.mktemp("campaign") / "a.db")
        else:
            url = stack.enter_context(private_database("nbo_campaign"))
        audit = AuditStore(url)
        _fill(audit)
        yield audit
        audit.close()


def stages(row: dict) -> tuple[int, int, int]:
    return row["shown"], row["clicked"], row["accepted"]


def test_the_funnel_counts_distinct_offers_by_product_channel_and_segment(store: AuditStore) -> None:
    effect = campaign_effect(store, CATALOGUE, START, END)
    assert stages(effect["funnel"]) == (6, 3, 3)
    assert effect["funnel"]["click_rate"] == pytest.approx(0.5) and effect["funnel"]["acceptance_rate"] == 0.5
    assert [(r["product_id"], *stages(r)) for r in effect["by_product"]] == [
        ("FUND_BOND", 3, 1, 1), ("MORTGAGE", 2, 1, 2), ("NEW_PRODUCT", 1, 1, 0)]
    assert {r["channel"]: stages(r) for r in effect["by_channel"]} == {
        "app": (2, 1, 1), "branch": (2, 1, 1), "unknown": (1, 1, 1), "web": (1, 0, 0)}
    assert {r["segment"]: stages(r) for r in effect["by_segment"]} == {
        "high_value": (3, 1, 1), "unknown": (2, 1, 1), "at_risk": (1, 1, 1)}
    assert [r["segment"] for r in effect["by_segment"]] == ["high_value", "unknown", "at_risk"]  # most shown first


def test_value_is_margin_times_the_category_ticket_and_zero_off_the_catalogue(store: AuditStore) -> None:
    effect = campaign_effect(store, CATALOGUE, START, END)
    products = {r["product_id"]: r for r in effect["by_product"]}
    assert products["MORTGAGE"]["value_per_accepted_cny"] == pytest.approx(0.07 * 1_000_000)
    assert products["MORTGAGE"]["value_cny"] == pytest.approx(2 * 70_000)
    assert products["FUND_BOND"]["value_cny"] == pytest.approx(0.015 * 20_000)
    unknown = products["NEW_PRODUCT"]
    assert (unknown["name_en"], unknown["name_zh"], unknown["category"], unknown["value_cny"]) == (
        "NEW_PRODUCT", "NEW_PRODUCT", None, 0.0)
    assert products["MORTGAGE"]["name_zh"] == "住房按揭贷款"
    assert effect["value_cny"] == pytest.approx(140_300)
    assert effect["tickets_version"] == load_tickets().version


def test_champion_and_challenger_acceptance_with_intervals(store: AuditStore) -> None:
    effect = campaign_effect(store, CATALOGUE, START, END)
    assert list(effect["variants"]) == ["champion", "challenger"]
    for variant, accepted in (("champion", 2), ("challenger", 1)):
        got = effect["variants"][variant]
        assert (got["shown"], got["accepted"], got["acceptance_rate"]) == (3, accepted, pytest.approx(accepted / 3))
        ci = st.binomtest(accepted, 3).proportion_ci(confidence_level=0.95, method="wilson")
        assert got["acceptance_ci95"] == pytest.approx((ci.low, ci.high))
    comparison = effect["comparison"]
    assert comparison["difference"] == pytest.approx(1 / 3 - 2 / 3)
    z = (1 / 3 - 2 / 3) / math.sqrt(0.5 * 0.5 * (1 / 3 + 1 / 3))
    assert comparison["z"] == pytest.approx(z) and comparison["p_value"] == pytest.approx(2 * st.norm.sf(abs(z)))
    low, high = comparison["difference_ci95"]
    assert low < comparison["difference"] < high and -1 <= low and high <= 1


def test_weeks_are_iso_weeks_of_the_decision_in_utc(store: AuditStore) -> None:
    weeks = campaign_effect(store, CATALOGUE, START, END)["weeks"]
    assert [(w["week"], w["week_start"], *stages(w)) for w in weeks] == [
        ("2021-W09", "2021-03-01", 4, 2, 2), ("2021-W10", "2021-03-08", 2, 1, 1)]
    assert weeks[0]["acceptance_rate"] == 0.5
    chart = trend_chart({"weeks": weeks}, "trend", {"shown": "S", "clicked": "C", "accepted": "A"})
    assert chart.x_labels == ["2021-W09", "2021-W10"] and chart.series[2].values == [2.0, 1.0]


def test_since_and_until_select_decisions_by_their_time_in_utc(store: AuditStore) -> None:
    monday = datetime(2021, 3, 8, tzinfo=UTC)
    assert stages(campaign_effect(store, CATALOGUE, monday, END)["funnel"]) == (2, 1, 1)
    assert stages(campaign_effect(store, CATALOGUE, START, monday)["funnel"]) == (4, 2, 2)
    beijing = datetime(2021, 3, 8, 8, tzinfo=timezone(timedelta(hours=8)))  # the same moment
    assert stages(campaign_effect(store, CATALOGUE, beijing, END)["funnel"]) == (2, 1, 1)
    empty = campaign_effect(store, CATALOGUE, datetime(2020, 1, 1, tzinfo=UTC), datetime(2020, 2, 1, tzinfo=UTC))
    assert stages(empty["funnel"]) == (0, 0, 0) and empty["funnel"]["acceptance_rate"] is None
    assert (empty["by_product"], empty["variants"], empty["comparison"], empty["weeks"], empty["value_cny"]) == (
        [], {}, None, [], 0)
    with pytest.raises(ContractViolation, match="since must be before until"):
        campaign_effect(store, CATALOGUE, END, START)


def test_an_empty_audit_has_no_feedback_and_one_variant_has_no_comparison(tmp_path: Path) -> None:
    store = AuditStore(sqlite_url(tmp_path / "a.db"))
    try:
        assert stages(campaign_effect(store, CATALOGUE)["funnel"]) == (0, 0, 0)
        decision = store.record_decision(kind="offers", customer_id="C00000001", request_id="r", variant="champion",
                                         model_versions={}, payload={"answer": {"offers": [{"product_id": "MORTGAGE"}]}})
        store.record_feedback(decision.decision_id, "MORTGAGE", "accepted")
        effect = campaign_effect(store, CATALOGUE)
    finally:
        store.close()
    assert stages(effect["funnel"]) == (1, 0, 1) and effect["comparison"] is None
    assert [(r["channel"], r["shown"]) for r in effect["by_channel"]] == [("unknown", 1)]
    assert effect["variants"]["champion"]["acceptance_ci95"] == pytest.approx(
        (st.binomtest(1, 1).proportion_ci(method="wilson").low, 1.0))


def test_newcombe_interval_known_answer() -> None:
    """Newcombe (1998) table II, example (a): 56/70 − 48/80, method 10: 0.0524 to 0.3339."""
    low, high = difference_interval(56, 70, 48, 80)
    assert (round(low, 4), round(high, 4)) == (0.0524, 0.3339)
    assert difference_interval(0, 0, 1, 2) is None


def test_the_page_period_includes_its_last_day_and_refuses_bad_dates() -> None:
    assert page_period("2021-03-01", "2021-03-07") == (START, datetime(2021, 3, 8, tzinfo=UTC))
    assert page_period("", "") == (None, None)
    for bad in (("yesterday", ""), ("", "9999-12-31"), ("2021-02-30", "")):
        with pytest.raises(ContractViolation, match="YYYY-MM-DD"):
            page_period(*bad)


def test_every_catalogue_category_has_a_ticket() -> None:
    tickets = load_tickets()
    assert set(build_products()["category"]) <= set(tickets.by_category_cny)
    assert all(v > 0 for v in tickets.by_category_cny.values())
