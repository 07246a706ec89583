"""Campaign results on hand-built sends and holdings: outcomes by the contract's definitions, a planted
uplift recovered within its interval, an A/B split by `assign_arm`, unmatured days, empty arms."""

from __future__ import annotations

import tomllib

import numpy as np
import pandas as pd
import pytest

from serving.campaigns.assignment import assign_arm
from serving.campaigns.results import assignments, campaign_results, compare, outcomes, roi_row
from serving.campaigns.spec import CampaignSpec
from tests.conftest import ROOT

MARGINS = {"FUND_BOND": 0.01, "FUND_BALANCED": 0.02, "DEPOSIT": 0.005}
FIRST_DAY = pd.Timestamp("2026-06-10")


def _spec(**changes: object) -> CampaignSpec:
    raw = tomllib.loads((ROOT / "config" / "campaigns" / "fund-promotion-ab.toml").read_text(encoding="utf-8"))
    return CampaignSpec.model_validate(raw | changes)


def _send(customer: str, arm: str, status: str, day: pd.Timestamp = FIRST_DAY, channel: str | None = None,
          segment: str | None = "champions", cost: float = 0.0, campaign: str = "fund-promotion-ab") -> dict:
    return {"send_id": f"{customer}{day:%m%d}", "campaign_id": campaign, "campaign_version": 1, "day": day,
            "customer_id": customer, "arm": arm, "segment": segment, "status": status, "channel": channel,
            "product_id": "FUND_BOND" if status == "sent" else None, "send_at": None, "cost_cny": cost,
            "reason": None, "decision_id": None, "task_id": None}


def _holding(customer: str, product: str, month_end: str, balance: float) -> dict:
    return {"customer_id": customer, "product_id": product, "snapshot_date": pd.Timestamp(month_end),
            "balance": balance}


def test_outcomes_follow_the_contract_definitions() -> None:
    sends = pd.DataFrame([
        _send("C1", "A", "refused"), _send("C1", "A", "sent", FIRST_DAY + pd.Timedelta(days=2), "sms", cost=0.05),
        _send("C2", "control", "held_out"), _send("C3", "B", "blocked"),
    ])
    holdings = pd.DataFrame([
        _holding("C1", "DEPOSIT", "2026-05-31", 1000), _holding("C1", "DEPOSIT", "2026-07-31", 1500),
        _holding("C1", "FUND_BOND", "2026-06-30", 2000), _holding("C1", "FUND_BOND", "2026-07-31", 3000),
        _holding("C1", "FUND_BALANCED", "2026-09-30", 9999),  # after the 60-day window
        _holding("C2", "FUND_BOND", "2026-05-31", 500), _holding("C2", "FUND_BOND", "2026-07-31", 800),  # held before
        _holding("C3", "DEPOSIT", "2026-06-30", 10), _holding("C3", "DEPOSIT", "2026-09-30", 10),
    ])
    frame = outcomes(sends, holdings, MARGINS, ["FUND_BOND", "FUND_BALANCED"]).set_index("customer_id")
    c1 = frame.loc["C1"]
    assert c1["day"] == FIRST_DAY and c1["arm"] == "A" and c1["status"] == "sent" and c1["channel"] == "sms"
    assert c1["cost_cny"] == pytest.approx(0.05) and bool(c1["matured"])
    assert bool(c1["converted"]) and c1["value_cny"] == pytest.approx(3000 * 0.01)  # last window snapshot
    assert c1["balance_growth_cny"] == pytest.approx(1500 + 3000 - 1000)  # July 31 vs May 31
    c2 = frame.loc["C2"]
    assert not c2["converted"] and c2["value_cny"] == 0 and c2["balance_growth_cny"] == pytest.approx(300)
    assert frame.loc["C3", "status"] == "blocked" and not frame.loc["C3", "converted"]
    assert frame.loc["C3", "balance_growth_cny"] == pytest.approx(0.0)  # nothing on May 31 nor on July 31


def test_assignment_keeps_the_first_day_and_arm() -> None:
    sends = pd.DataFrame([_send("C9", "B", "sent", FIRST_DAY + pd.Timedelta(days=1), "app_push", cost=0.01),
                          _send("C9", "B", "refused", FIRST_DAY, segment="loyal")])
    row = assignments(sends).iloc[0]
    assert row["day"] == FIRST_DAY and row["segment"] == "loyal" and row["status"] == "sent"


def _world(n: int, rate_treated: float, rate_control: float, seed: int = 7) -> tuple[pd.DataFrame, pd.DataFrame]:
    """n customers assigned by `assign_arm`, converting with the given rates (FUND_BOND, balance 10,000)."""
    spec, rng = _spec(), np.random.default_rng(seed)
    sends, holdings = [], []
    for i in range(n):
        customer = f"C{i:06d}"
        arm = assign_arm(spec, customer)
        control = arm == "control"
        status = "held_out" if control else ("sent" if i % 4 else "refused")
        channel = None if status != "sent" else ("app_push" if i % 2 else "sms")
        sends.append(_send(customer, arm, status, channel=channel, segment="champions" if i % 3 else "loyal",
                           cost={"app_push": 0.01, "sms": 0.05}.get(channel or "", 0.0)))
        if rng.random() < (rate_control if control else rate_treated):
            holdings.append(_holding(customer, "FUND_BOND", "2026-07-31", 10_000))
        holdings.append(_holding(customer, "DEPOSIT", "2026-05-31", 100))
    holdings.append(_holding("C999999", "DEPOSIT", "2026-09-30", 1))  # the data reach September
    return pd.DataFrame(sends), pd.DataFrame(holdings)


def test_a_planted_uplift_is_recovered_within_its_interval() -> None:
    sends, holdings = _world(4000, 0.15, 0.05)
    results = campaign_results(_spec(), sends, holdings, MARGINS)
    roi = results["roi"]
    assert results["assigned"] == 4000 and results["unmatured"] == 0
    assert 600 < roi["control"]["n"] < 1000  # control_share 0.2
    low, high = roi["conversion_difference_ci95"]
    assert low < 0.10 < high and low > 0
    low, high = roi["value_difference_ci95"]
    assert low < 0.10 * 10_000 * 0.01 < high
    treated_n = roi["treated"]["n"]
    assert roi["incremental_value_cny"] == pytest.approx(roi["value_difference_cny"] * treated_n)
    assert roi["cost_cny"] == pytest.approx(sends.loc[sends["arm"] != "control", "cost_cny"].sum())
    assert roi["roi"] == pytest.approx((roi["incremental_value_cny"] - roi["cost_cny"]) / roi["cost_cny"])
    assert roi["roi_ci95"][0] < roi["roi"] < roi["roi_ci95"][1]
    assert {c["channel"] for c in results["by_channel"]} == {"app_push", "sms"}
    assert all(c["control"]["n"] == roi["control"]["n"] for c in results["by_channel"])  # the whole control
    segments = {s["segment"]: s for s in results["by_segment"]}
    assert segments["loyal"]["control"]["n"] + segments["champions"]["control"]["n"] == roi["control"]["n"]
    assert roi_row(results)["all_matured"] is True


def test_ab_variants_compare_with_the_first() -> None:
    sends, holdings = _world(3000, 0.10, 0.10, seed=3)
    ab = campaign_results(_spec(), sends, holdings, MARGINS)["ab"]
    assert [v["variant"] for v in ab] == ["A", "B"]
    a, b = ab
    assert abs(a["n"] - b["n"]) < 300 and "versus" not in a and b["versus"] == "A"
    assert b["conversion_difference"] == pytest.approx(b["conversion_rate"] - a["conversion_rate"])
    low, high = b["conversion_difference_ci95"]
    assert low < 0 < high  # no planted difference between variants


def test_unmatured_days_are_counted_apart() -> None:
    late = FIRST_DAY + pd.Timedelta(days=90)  # window ends in November, the data stop in September
    sends = pd.DataFrame([_send("C1", "A", "sent", channel="sms"), _send("C2", "control", "held_out"),
                          _send("C3", "A", "sent", late, "sms"), _send("C4", "control", "held_out", late)])
    holdings = pd.DataFrame([_holding("C1", "FUND_BOND", "2026-09-30", 5)])
    results = campaign_results(_spec(), sends, holdings, MARGINS)
    assert (results["assigned"], results["matured"], results["unmatured"]) == (4, 2, 2)
    assert [d["matured"] for d in results["days"]] == [True, False]
    assert results["roi"]["treated"]["n"] == 1 and results["roi"]["value_difference_ci95"] is None
    assert roi_row(results)["all_matured"] is False


def test_empty_and_tiny_arms_give_none_not_errors() -> None:
    empty = compare(outcomes(pd.DataFrame(), pd.DataFrame(columns=["customer_id", "product_id", "snapshot_date",
                                                                   "balance"]), MARGINS, None),
                    outcomes(pd.DataFrame(), pd.DataFrame(), MARGINS, None))
    assert empty["conversion_difference"] is None and empty["roi"] is None and empty["treated"]["n"] == 0
    sends = pd.DataFrame([_send("C1", "A", "sent", channel="sms", cost=0.05)])  # no control at all
    results = campaign_results(_spec(), sends, pd.DataFrame([_holding("C1", "DEPOSIT", "2026-12-31", 1)]), MARGINS)
    assert results["roi"]["control"]["n"] == 0 and results["roi"]["conversion_difference_ci95"] is None
    assert results["roi"]["roi_ci95"] is None
    a, b = results["ab"]  # B declared, nobody assigned to it
    assert a["n"] == 1 and a["conversion_ci95"] is not None and a["value_ci95"] is None
    assert b["n"] == 0 and b["conversion_rate"] is None and b["conversion_difference_ci95"] is None
