"""Labels on hand-made tiny tables: every rule and its boundary."""

from __future__ import annotations

import pandas as pd
import pytest

from nbo.errors import ContractViolation
from sources.labels import (
    adoption_labels,
    as_of_timestamp,
    churn_labels,
    delinquency_labels,
    monthly_activity,
)

T = pd.Timestamp("2025-04-01")
MONTHS = pd.date_range("2025-02-01", "2025-07-01", freq="MS")


def _customers(**close: str) -> pd.DataFrame:
    ids = ["C00000001", "C00000002", "C00000003", "C00000004", "C00000005"]
    return pd.DataFrame({
        "customer_id": ids,
        "join_date": pd.to_datetime(["2020-01-01"] * 4 + ["2025-04-10"]),
        "close_date": pd.to_datetime([close.get(i) for i in ids]),
    })


def _activity(dormant: dict[str, list[str]]) -> pd.DataFrame:
    """Every customer active every month, except the (customer, month) pairs listed."""
    rows = []
    for cid in [f"C0000000{i}" for i in range(1, 6)]:
        for m in MONTHS:
            rows.append({"customer_id": cid, "month": m, "is_dormant": m.strftime("%Y-%m") in dormant.get(cid, [])})
    return pd.DataFrame(rows)


def test_churn_counts_closing_and_going_dormant_within_90_days() -> None:
    customers = _customers(C00000002="2025-06-29", C00000003="2025-06-30")
    activity = _activity({"C00000004": ["2025-06"]})
    labels = churn_labels(customers, activity, T).set_index("customer_id")["churn"]
    # 1 stays; 2 closes on day 89 (inside); 3 closes on day 90 (outside); 4 dormant in month 3.
    assert labels.to_dict() == {"C00000001": False, "C00000002": True, "C00000003": False, "C00000004": True}


def test_churn_population_excludes_the_already_dormant_closed_and_not_yet_joined() -> None:
    customers = _customers(C00000002="2025-03-15")
    activity = _activity({"C00000003": ["2025-03"]})
    labels = churn_labels(customers, activity, T)
    assert list(labels["customer_id"]) == ["C00000001", "C00000004"]


def test_churn_needs_the_whole_horizon_in_the_data() -> None:
    with pytest.raises(ContractViolation, match="needs data through 2025-08"):
        churn_labels(_customers(), _activity({}), pd.Timestamp("2025-06-01"))


def test_dormancy_needs_no_login_no_transaction_and_a_low_balance() -> None:
    events = pd.DataFrame({"customer_id": ["C00000001"], "event_time": pd.to_datetime(["2025-03-05"], utc=True),
                           "event_type": ["login"]})
    transactions = pd.DataFrame({"customer_id": ["C00000001", "C00000002", "C00000003"],
                                 "month": pd.Timestamp("2025-03-01"), "txn_count": [0, 0, 2]})
    holdings = pd.DataFrame({"customer_id": ["C00000001", "C00000002", "C00000003"],
                             "snapshot_date": pd.Timestamp("2025-03-31"), "balance": [10.0, 999.99, 10.0]})
    dormant = monthly_activity(events, transactions, holdings).set_index("customer_id")["is_dormant"]
    assert dormant.to_dict() == {"C00000001": False, "C00000002": True, "C00000003": False}


def _credit(rows: list[tuple[str, str, int]]) -> pd.DataFrame:
    months = pd.date_range("2025-03-01", "2026-03-01", freq="MS")
    frame = pd.DataFrame([(c, m, 0) for c in ("C00000001", "C00000002", "C00000003") for m in months],
                         columns=["customer_id", "month", "days_past_due"])
    for cid, month, dpd in rows:
        frame.loc[(frame["customer_id"] == cid) & (frame["month"] == pd.Timestamp(month)), "days_past_due"] = dpd
    return frame


def test_delinquency_is_30_plus_dpd_within_12_months_for_those_not_already_in_arrears() -> None:
    credit = _credit([("C00000001", "2026-03-01", 30), ("C00000002", "2025-05-01", 29),
                      ("C00000003", "2025-03-01", 60)])
    labels = delinquency_labels(credit, T).set_index("customer_id")["delinquency"]
    # 1: 30 DPD in month 12 (inside); 2: 29 DPD is not delinquent; 3: already 60 DPD at T: excluded.
    assert labels.to_dict() == {"C00000001": True, "C00000002": False}


def test_adoption_is_a_product_held_next_month_end_but_not_at_the_last() -> None:
    products = pd.DataFrame({"product_id": ["DEP", "FUND", "CARD"]})
    holdings = pd.DataFrame({
        "customer_id": ["C00000001", "C00000001", "C00000001", "C00000001", "C00000002"],
        "product_id": ["DEP", "DEP", "FUND", "CARD", "DEP"],
        "snapshot_date": pd.to_datetime(["2025-03-31", "2025-04-30", "2025-04-30", "2025-05-31", "2025-03-31"]),
        "balance": 1.0,
    })
    labels = adoption_labels(holdings, products, T).set_index(["customer_id", "product_id"])["adopted"]
    # C1 adopts FUND in April (CARD only in May); C2 left by the end of April: not labelled.
    assert labels.to_dict() == {("C00000001", "CARD"): False, ("C00000001", "FUND"): True}


@pytest.mark.parametrize("value", ["2025-04-02", "2025-04-01 12:00"])
def test_as_of_must_be_the_start_of_a_month(value: str) -> None:
    with pytest.raises(ContractViolation, match="first day of a month"):
        as_of_timestamp(value)
