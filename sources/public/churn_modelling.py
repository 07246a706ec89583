"""`churn-modelling`: Kaggle's Churn_Modelling.csv (one snapshot, label `Exited`) as canonical tables.

The snapshot is laid on the canonical timeline around AS_OF so that
`churn_labels(customers, monthly_activity(events, transactions, holdings), AS_OF)` reproduces
`Exited` for every row:
- December 2018, the month before AS_OF, is the snapshot: holdings at 2018-12-31, one login for
  each active member, and one placeholder transaction for everybody (so all 10,000 customers are
  in the labelled population and none is dormant);
- leavers (`Exited` = 1) close on CLOSE_DATE, inside the 90-day horizon;
- stayers get one placeholder transaction in every month of the horizon, so none goes dormant.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from sources.labels import CHURN_HORIZON_DAYS
from sources.public.canonical import (
    FILLED_DEFAULTS,
    customers_frame,
    dates_years_before,
    empty_table,
    products_frame,
    value_counts,
)
from sources.public.reader import Column, file_sha256, read_checked_csv, resolve_source_file
from sources.public.result import PublicImport

FILE_NAME = "Churn_Modelling.csv"
AS_OF = pd.Timestamp("2019-01-01")
SNAPSHOT = AS_OF - pd.Timedelta(days=1)
CLOSE_DATE = pd.Timestamp("2019-01-31")
LOGIN_TIME = pd.Timestamp("2018-12-15 12:00", tz="UTC").as_unit("ns")
CITY_TIER = {"France": 1, "Germany": 2, "Spain": 3}
GENDER = {"Female": "F", "Male": "M"}
OTHER_PRODUCTS = ("CM_PRODUCT_2", "CM_PRODUCT_3", "CM_PRODUCT_4")

COLUMNS = (
    Column("RowNumber", "number", is_whole=True, is_unique=True),
    Column("CustomerId", "number", is_whole=True, is_unique=True),
    Column("Surname"),
    Column("CreditScore", "number"),
    Column("Geography", allowed=tuple(CITY_TIER)),
    Column("Gender", allowed=tuple(GENDER)),
    Column("Age", "number", min_value=0, is_whole=True),
    Column("Tenure", "number", min_value=0, is_whole=True),
    Column("Balance", "number", min_value=0),
    Column("NumOfProducts", "number", allowed=(1, 2, 3, 4)),
    Column("HasCrCard", "number", allowed=(0, 1)),
    Column("IsActiveMember", "number", allowed=(0, 1)),
    Column("EstimatedSalary", "number", min_value=0),
    Column("Exited", "number", allowed=(0, 1)),
)

MAPPING = {
    "RowNumber": "dropped (file position only); customer_id is C + RowNumber order, zero-padded",
    "CustomerId": "customers.external_id",
    "Surname": "customers.name",
    "CreditScore": "not mapped: the contract has no credit-score column (counts in meta.credit_score)",
    "Geography": "customers.city_tier as a nominal country code, not an urbanisation tier: "
                 "France 1, Germany 2, Spain 3",
    "Gender": "customers.gender (Female F, Male M)",
    "Age": "customers.birth_date = AS_OF minus Age and a half years (whole years at AS_OF = Age)",
    "Tenure": "customers.join_date = AS_OF minus Tenure and a half years "
              "(so Tenure 0 still joins before AS_OF)",
    "Balance": "holdings CM_ACCOUNT (deposit) balance at the snapshot; every customer holds it",
    "NumOfProducts": "holdings CM_PRODUCT_2..4 (unidentified products, category deposit as a placeholder) "
                     "for NumOfProducts ≥ 2..4: NumOfProducts = holdings other than CM_CREDIT_CARD",
    "HasCrCard": "holdings CM_CREDIT_CARD (credit_card, balance 0: unknown) when 1; the source does not say "
                 "whether the card is one of NumOfProducts, so it is kept apart and both stay recoverable",
    "IsActiveMember": "one login event at 2018-12-15 12:00 UTC (channel 'web', a placeholder) when 1",
    "EstimatedSalary": "customers.income_monthly = EstimatedSalary / 12 (not rounded)",
    "Exited": "customers.close_date = CLOSE_DATE when 1; stayers stay active through the horizon",
}


def import_churn_modelling(path: Path) -> PublicImport:
    """Map Churn_Modelling.csv (the file or its folder) to canonical tables and meta."""
    file = resolve_source_file(path, FILE_NAME)
    src = read_checked_csv(file, COLUMNS)
    customers = _customers(src)
    ids = customers["customer_id"].to_numpy()
    tables = {
        "customers": customers,
        "products": _products(),
        "holdings": _holdings(src, ids),
        "events": _logins(ids[src["IsActiveMember"].to_numpy() == 1]),
        "transactions": _placeholder_transactions(ids, src["Exited"].to_numpy() == 1),
        "credit": empty_table("credit"),
    }
    return PublicImport(tables=tables, meta=_meta(file, src))


def _customers(src: pd.DataFrame) -> pd.DataFrame:
    exited = src["Exited"] == 1
    return customers_frame(
        len(src),
        external_id=src["CustomerId"].astype("int64").astype(str),
        name=src["Surname"],
        birth_date=dates_years_before(src["Age"], AS_OF),
        gender=src["Gender"].map(GENDER),
        city_tier=src["Geography"].map(CITY_TIER).astype("Int64"),
        join_date=dates_years_before(src["Tenure"], AS_OF),
        close_date=pd.Series(CLOSE_DATE, index=src.index).where(exited),
        income_monthly=src["EstimatedSalary"] / 12,
    )


def _products() -> pd.DataFrame:
    rows = [("CM_ACCOUNT", "银行账户", "Bank account (holds Balance)", "deposit", "R1", False),
            ("CM_CREDIT_CARD", "信用卡", "Credit card", "credit_card", "R1", True)]
    rows += [(pid, f"未识别产品 {pid[-1]}", f"Unidentified product {pid[-1]} (from NumOfProducts)",
              "deposit", "R1", False) for pid in OTHER_PRODUCTS]
    return products_frame(rows)


def _holdings(src: pd.DataFrame, ids: np.ndarray) -> pd.DataFrame:
    balance = src["Balance"].to_numpy()
    parts = [pd.DataFrame({"customer_id": ids, "product_id": "CM_ACCOUNT", "balance": balance})]
    has_card = src["HasCrCard"].to_numpy() == 1
    parts.append(pd.DataFrame({"customer_id": ids[has_card], "product_id": "CM_CREDIT_CARD", "balance": 0.0}))
    for k, pid in enumerate(OTHER_PRODUCTS, start=2):
        holds = src["NumOfProducts"].to_numpy() >= k
        parts.append(pd.DataFrame({"customer_id": ids[holds], "product_id": pid, "balance": 0.0}))
    holdings = pd.concat(parts, ignore_index=True).assign(snapshot_date=SNAPSHOT)
    return holdings.sort_values(["customer_id", "product_id"], ignore_index=True)


def _logins(ids: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({"event_id": np.arange(len(ids), dtype="int64"), "customer_id": ids,
                         "event_time": LOGIN_TIME, "event_type": "login", "topic": None,
                         "product_id": None, "channel": "web"})


def _placeholder_transactions(ids: np.ndarray, exited: np.ndarray) -> pd.DataFrame:
    """One transaction in the snapshot month for all; stayers also one in each horizon month."""
    last_day = AS_OF + pd.Timedelta(days=CHURN_HORIZON_DAYS - 1)
    months = pd.date_range(SNAPSHOT.replace(day=1), last_day, freq="MS")
    parts = [pd.DataFrame({"customer_id": ids if month < AS_OF else ids[~exited], "month": month})
             for month in months]
    frame = pd.concat(parts, ignore_index=True)
    frame = frame.assign(inflow=0.0, outflow=0.0, outflow_other_banks=0.0, txn_count=1, card_spend=0.0,
                         salary_credit=0.0)
    return frame.sort_values(["customer_id", "month"], ignore_index=True)


def _meta(file: Path, src: pd.DataFrame) -> dict[str, object]:
    return {
        "source": "churn-modelling",
        "portfolio": "churn-modelling",  # its models, champions and bands are its own
        "currency": "EUR",
        "dataset": "Kaggle Churn Modelling (European retail bank, one snapshot)",
        "file": file.name,
        "sha256": file_sha256(file),
        "rows": len(src),
        "as_of": AS_OF.date().isoformat(),
        "snapshot_date": SNAPSHOT.date().isoformat(),
        "label": "churn",
        "label_column": "Exited",
        "label_horizon_days": CHURN_HORIZON_DAYS,
        "label_positives": int(src["Exited"].sum()),
        "label_rate": round(float(src["Exited"].mean()), 6),
        "mapping": MAPPING,
        "timeline": {
            "2018-12": "the snapshot: holdings at 2018-12-31, logins of active members, one placeholder "
                       "transaction per customer (everybody is in the labelled population, nobody dormant)",
            "2019-01..2019-03": "the 90-day horizon: leavers close on the close date, stayers have one "
                                "placeholder transaction a month (so none goes dormant)",
        },
        "placeholders": {
            "transactions": "txn_count 1 and all amounts 0: they only mark a customer as not dormant; "
                            "identical for everybody before AS_OF, so they carry no information",
            "close_date": f"the day of leaving is unknown; every leaver closes on {CLOSE_DATE.date()}",
            "events.channel": "'web' (the source has no channel)",
        },
        "credit_score": {"min": float(src["CreditScore"].min()), "max": float(src["CreditScore"].max()),
                         "mean": round(float(src["CreditScore"].mean()), 2)},
        "geography_counts": value_counts(src["Geography"]),
        "not_in_source": ["credit table (empty)", "occupation", "segment"],
        "filled_defaults": FILLED_DEFAULTS,
    }
