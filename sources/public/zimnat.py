"""`zimnat`: the Zindi Zimnat Insurance Recommendation training file as canonical tables.

29,132 customers, each holding two or more of 21 anonymised products. The holdings form one
month-end snapshot (the month of the latest join date), so the data suits hide-one
recommendation, not adoption over time.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from sources.extensions import EXTRAS_TABLE, extras_from_source
from sources.public.canonical import (
    FILLED_DEFAULTS,
    customers_frame,
    empty_table,
    holdings_from_flags,
    products_frame,
    value_counts,
)
from sources.public.reader import Column, file_sha256, read_checked_csv, resolve_source_file
from sources.public.result import PublicImport

FILE_NAME = "Train.csv"
PRODUCTS = ("P5DA", "RIBP", "8NN1", "7POT", "66FJ", "GYSR", "SOP4", "RVSZ", "PYUQ", "LJR9", "N2MW",
            "AHXO", "BSTQ", "FM3X", "K6QO", "QBOL", "JWFN", "JZ9D", "J9JW", "GHYX", "ECY3")

COLUMNS = (
    Column("ID", is_unique=True),
    Column("join_date", "date", date_format="%d/%m/%Y", is_nullable=True),
    Column("sex", allowed=("F", "M")),
    Column("marital_status"),
    Column("birth_year", "number", min_value=1900, is_whole=True),
    Column("branch_code"),
    Column("occupation_code"),
    Column("occupation_category_code"),
    *(Column(code, "number", allowed=(0, 1)) for code in PRODUCTS),
)

MAPPING = {
    "ID": "customers.external_id (customer_id is C + file order, zero-padded)",
    "join_date": "customers.join_date (d/m/yyyy; missing stays null)",
    "sex": "customers.gender",
    "marital_status": "customer_extras.marital_status (categorical; counts in meta.marital_status_counts)",
    "birth_year": "customers.birth_date = 1 July of birth_year",
    "branch_code": "customer_extras.branch_code (categorical; counts in meta.branch_code_counts)",
    "occupation_code": "customers.occupation (the raw code)",
    "occupation_category_code": "customer_extras.occupation_category_code (categorical; counts in "
                                "meta.occupation_category_counts)",
    "P5DA..ECY3 (21 flags)": "products with product_id = the code (all 21 match the contract's pattern), "
                             "category insurance, risk R1; a holding (balance 0: unknown) at the snapshot "
                             "for every flag 1",
}

# Demographic codes with no canonical column: the bank's own attributes (`customer_extras`, `x_<name>`).
EXTRAS = ("marital_status", "branch_code", "occupation_category_code")
# source.json `columns`: the lineage of every source column (role id|mapped|extra, target, kind).
COLUMN_LINEAGE = [
    {"source": "ID", "role": "id", "target": "customers.external_id", "kind": None},
    {"source": "join_date", "role": "mapped", "target": "customers.join_date", "kind": "numeric"},
    {"source": "sex", "role": "mapped", "target": "customers.gender", "kind": "categorical"},
    {"source": "birth_year", "role": "mapped", "target": "customers.birth_date", "kind": "numeric"},
    {"source": "occupation_code", "role": "mapped", "target": "customers.occupation", "kind": "categorical"},
    *({"source": name, "role": "extra", "target": f"extra.{name}", "kind": "categorical"} for name in EXTRAS),
    *({"source": code, "role": "mapped", "target": "holdings.product_id", "kind": "categorical"} for code in PRODUCTS),
]


def import_zimnat(path: Path) -> PublicImport:
    """Map Zimnat's Train.csv (the file or its folder) to canonical tables and meta."""
    file = resolve_source_file(path, FILE_NAME)
    src = read_checked_csv(file, COLUMNS)
    snapshot = src["join_date"].max() + pd.offsets.MonthEnd(0)
    customers = customers_frame(
        len(src),
        external_id=src["ID"],
        gender=src["sex"],
        birth_date=pd.to_datetime(pd.DataFrame({"year": src["birth_year"], "month": 7, "day": 1})),
        occupation=src["occupation_code"],
        join_date=src["join_date"],
    )
    ids = customers["customer_id"].to_numpy()
    tables = {
        "customers": customers,
        "products": products_frame([(code, f"Zimnat 保险产品 {code}", f"Zimnat product {code}",
                                     "insurance", "R1", False) for code in PRODUCTS]),
        "holdings": holdings_from_flags(ids, src[list(PRODUCTS)].to_numpy(), list(PRODUCTS), snapshot),
        "events": empty_table("events"),
        "transactions": empty_table("transactions"),
        "credit": empty_table("credit"),
    }
    extensions, extras = extras_from_source(customers["customer_id"], src, dict.fromkeys(EXTRAS, "categorical"))
    return PublicImport(tables=tables, meta=_meta(file, src, snapshot), extensions=extensions, extras=extras)


def _meta(file: Path, src: pd.DataFrame, snapshot: pd.Timestamp) -> dict[str, object]:
    return {
        "source": "zimnat",
        "portfolio": "zimnat",  # its models, champions and bands are its own
        "dataset": "Zindi Zimnat Insurance Recommendation Challenge, Train.csv",
        "file": file.name,
        "sha256": file_sha256(file),
        "rows": len(src),
        "snapshot_date": snapshot.date().isoformat(),
        "snapshot_rule": "month end of the latest join_date; the source has no observation date",
        "as_of": None,
        "label": "hide-one product recommendation (no as-of label: one snapshot only)",
        "mapping": MAPPING,
        "columns": COLUMN_LINEAGE,
        "extensions": {"table": EXTRAS_TABLE, "attributes": len(EXTRAS)},
        "product_category": "insurance for all 21: Zimnat is an insurance group and the codes are "
                            "anonymised, so no finer category can be justified",
        "holdings_per_product": {code: int(src[code].sum()) for code in PRODUCTS},
        "missing_join_date": int(src["join_date"].isna().sum()),
        "marital_status_counts": value_counts(src["marital_status"]),
        "branch_code_counts": value_counts(src["branch_code"]),
        "occupation_category_counts": value_counts(src["occupation_category_code"]),
        "not_in_source": ["events", "transactions", "credit", "balances", "income_monthly", "city_tier"],
        "filled_defaults": FILLED_DEFAULTS,
    }
