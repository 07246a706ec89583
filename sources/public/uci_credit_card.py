"""`uci-credit-card`: UCI "default of credit card clients" (Taiwan, 2005) as canonical tables.

The six observed months become six credit rows per customer (PAY_6/BILL_AMT6/PAY_AMT6 is
April 2005, PAY_0/BILL_AMT1/PAY_AMT1 is September 2005). The label month, October 2005, is a
seventh row that carries only the label (days_past_due 30 on default), so
`delinquency_labels(credit, AS_OF, horizon_months=1, population="all")` reproduces
`default.payment.next.month` for all 30,000 customers: the source defines its label over every
account, including those already past due in September (the default population, "performing",
would keep only PAY_0 < 1).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from sources.labels import DELINQUENCY_DPD
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

FILE_NAME = "UCI_Credit_Card.csv"
LABEL = "default.payment.next.month"
AS_OF = pd.Timestamp("2005-10-01")
HORIZON_MONTHS = 1
POPULATION = "all"  # the label covers every account, as in the source
MONTHS = pd.date_range("2005-04-01", periods=6, freq="MS")
STATUS = ["PAY_6", "PAY_5", "PAY_4", "PAY_3", "PAY_2", "PAY_0"]  # oldest month first
BILLS = [f"BILL_AMT{i}" for i in range(6, 0, -1)]
PAYMENTS = [f"PAY_AMT{i}" for i in range(6, 0, -1)]
MAX_UTILIZATION = 5.0  # the contract's cap on credit.utilization
GENDER = {1: "M", 2: "F"}
EDUCATION = {1: "graduate_school", 2: "university", 3: "high_school", 4: "other_education",
             0: "education_code_0", 5: "education_code_5", 6: "education_code_6"}
MARRIAGE = {1: "married", 2: "single", 3: "others", 0: "undocumented code 0"}
PAY_STATUS = {-2: "no consumption (undocumented; common reading)", -1: "paid duly",
              0: "revolving credit, minimum paid (undocumented; common reading)",
              **{k: f"payment delay of {k} month{'s' if k > 1 else ''}" for k in range(1, 10)}}

COLUMNS = (
    Column("ID", "number", is_whole=True, is_unique=True),
    Column("LIMIT_BAL", "number", min_value=1),
    Column("SEX", "number", allowed=tuple(GENDER)),
    Column("EDUCATION", "number", allowed=tuple(EDUCATION)),
    Column("MARRIAGE", "number", allowed=tuple(MARRIAGE)),
    Column("AGE", "number", min_value=0, is_whole=True),
    *(Column(c, "number", allowed=tuple(PAY_STATUS)) for c in STATUS),
    *(Column(c, "number") for c in BILLS),
    *(Column(c, "number", min_value=0) for c in PAYMENTS),
    Column(LABEL, "number", allowed=(0, 1)),
)

MAPPING = {
    "ID": "customers.external_id (customer_id is C + file order, zero-padded)",
    "LIMIT_BAL": "credit.credit_limit in every month (NT dollars)",
    "SEX": "customers.gender (1 M, 2 F)",
    "EDUCATION": "customers.occupation holds the education level (the contract has no education column): "
                 "1 graduate_school, 2 university, 3 high_school, 4 other_education; the undocumented "
                 "0, 5 and 6 stay distinct as education_code_N",
    "MARRIAGE": "not mapped: no canonical column (counts in meta.marriage_counts)",
    "AGE": "customers.birth_date = AS_OF minus AGE and a half years",
    "PAY_0, PAY_2..PAY_6": "credit.days_past_due = 30 × status when status ≥ 1 else 0; "
                           "credit.missed_payments = 1 when status ≥ 1 else 0 (see meta.pay_status)",
    "BILL_AMT1..6": "credit.balance = max(bill, 0); utilization = balance / LIMIT_BAL (capped at the "
                    "contract's maximum); a card holding UCI_CARD each month-end with the same balance; "
                    "a negative bill (overpayment) becomes a UCI_OVERPAYMENT deposit holding of -bill",
    "PAY_AMT1..6": "credit.payment_amount",
    LABEL: "a 2005-10 credit row with days_past_due 30 and missed_payments 1 on default, else 0",
}


def import_uci_credit_card(path: Path) -> PublicImport:
    """Map UCI_Credit_Card.csv (the file or its folder) to canonical tables and meta."""
    file = resolve_source_file(path, FILE_NAME)
    src = read_checked_csv(file, COLUMNS)
    customers = customers_frame(
        len(src),
        external_id=src["ID"].astype("int64").astype(str),
        gender=src["SEX"].map(GENDER),
        birth_date=dates_years_before(src["AGE"], AS_OF),
        occupation=src["EDUCATION"].map(EDUCATION),
    )
    ids = customers["customer_id"].to_numpy()
    tables = {
        "customers": customers,
        "products": products_frame([
            ("UCI_CARD", "信用卡", "Credit card", "credit_card", "R1", True),
            ("UCI_OVERPAYMENT", "信用卡溢缴款", "Credit card overpayment (negative bill)", "deposit", "R1", False),
        ]),
        "holdings": _holdings(src, ids),
        "events": empty_table("events"),
        "transactions": empty_table("transactions"),
        "credit": _credit(src, ids),
    }
    return PublicImport(tables=tables, meta=_meta(file, src))


def _credit(src: pd.DataFrame, ids: np.ndarray) -> pd.DataFrame:
    limit = src["LIMIT_BAL"].to_numpy()
    status = src[STATUS].to_numpy().astype("int64")
    balance = np.maximum(src[BILLS].to_numpy(), 0.0)
    observed = pd.DataFrame({
        "customer_id": np.repeat(ids, len(MONTHS)),
        "month": np.tile(MONTHS.to_numpy(), len(src)),
        "credit_limit": np.repeat(limit, len(MONTHS)),
        "balance": balance.ravel(),
        "utilization": np.minimum(balance / limit[:, None], MAX_UTILIZATION).ravel(),
        "payment_amount": src[PAYMENTS].to_numpy().ravel(),
        "days_past_due": np.where(status >= 1, 30 * status, 0).ravel(),
        "missed_payments": (status >= 1).astype("int64").ravel(),
    })
    default = src[LABEL].to_numpy().astype("int64")
    label_month = pd.DataFrame({
        "customer_id": ids, "month": AS_OF, "credit_limit": limit, "balance": 0.0, "utilization": 0.0,
        "payment_amount": 0.0, "days_past_due": DELINQUENCY_DPD * default, "missed_payments": default,
    })
    return pd.concat([observed, label_month]).sort_values(["customer_id", "month"], ignore_index=True)


def _holdings(src: pd.DataFrame, ids: np.ndarray) -> pd.DataFrame:
    bill = src[BILLS].to_numpy().ravel()
    month_ends = (MONTHS + pd.offsets.MonthEnd(0)).to_numpy()
    frame = pd.DataFrame({"customer_id": np.repeat(ids, len(MONTHS)),
                          "snapshot_date": np.tile(month_ends, len(src))})
    card = frame.assign(product_id="UCI_CARD", balance=np.maximum(bill, 0.0))
    over = frame.assign(product_id="UCI_OVERPAYMENT", balance=-bill)[bill < 0]
    holdings = pd.concat([card, over])
    return holdings.sort_values(["customer_id", "snapshot_date", "product_id"], ignore_index=True)


def _meta(file: Path, src: pd.DataFrame) -> dict[str, object]:
    performing = src["PAY_0"] < 1
    return {
        "source": "uci-credit-card",
        "portfolio": "uci-credit-card",  # its models, champions and bands are its own
        "currency": "TWD",
        "dataset": "UCI default of credit card clients (Yeh & Lien 2009), Kaggle layout",
        "file": file.name,
        "sha256": file_sha256(file),
        "rows": len(src),
        "months": [m.strftime("%Y-%m") for m in MONTHS],
        "as_of": AS_OF.date().isoformat(),
        "label": "delinquency",
        "label_column": LABEL,
        "label_month": AS_OF.strftime("%Y-%m"),
        "delinquency_horizon_months": HORIZON_MONTHS,
        "label_positives": int(src[LABEL].sum()),
        "label_rate": round(float(src[LABEL].mean()), 6),
        "delinquency_population": POPULATION,
        "performing_population": {
            "rule": "below 30 days past due in 2005-09 (PAY_0 < 1), the design's default population",
            "customers": int(performing.sum()),
            "label_rate": round(float(src.loc[performing, LABEL].mean()), 6),
        },
        "label_month_row": "the 2005-10 credit row carries only the label: balance, utilization and "
                           "payment_amount are 0 (not observed), credit_limit repeats LIMIT_BAL",
        "mapping": MAPPING,
        **_history_meta(src),
        "marriage_counts": {MARRIAGE[int(code)]: n
                            for code, n in value_counts(src["MARRIAGE"].astype("int64")).items()},
        "not_in_source": ["join_date", "events", "transactions", "city_tier", "income_monthly"],
        "filled_defaults": FILLED_DEFAULTS,
    }


def _history_meta(src: pd.DataFrame) -> dict[str, object]:
    """What the six months lose or bend: raw status codes, negative bills, capped utilization."""
    months = [m.strftime("%Y-%m") for m in MONTHS]
    bills = src[BILLS].to_numpy()
    utilization = np.maximum(bills, 0) / src[["LIMIT_BAL"]].to_numpy()
    return {
        "pay_status": {
            "codes": {str(k): v for k, v in PAY_STATUS.items()},
            "lost": "-2, -1 and 0 all become days_past_due 0 and missed_payments 0: the canonical credit "
                    "table cannot tell no consumption, paid duly and revolving apart. Balance and "
                    "payment_amount keep part of it; the codes' counts are below and external_id joins "
                    "back to the source for anything finer",
            "counts": {m: value_counts(src[c].astype("int64")) for m, c in zip(months, STATUS, strict=True)},
        },
        "negative_bills": {
            "kept_as": "UCI_OVERPAYMENT deposit holding with balance -bill that month; credit.balance 0",
            "counts": {m: int(n) for m, n in zip(months, (bills < 0).sum(axis=0), strict=True)},
        },
        "utilization_capped_at": MAX_UTILIZATION,
        "utilization_capped_rows": int((utilization > MAX_UTILIZATION).sum()),
    }
