"""Build canonical frames for the public-data adapters: ids, empty tables and filled defaults."""

from __future__ import annotations

import numpy as np
import pandas as pd

from sources.contract import TABLES
from sources.io import arrow_schema

# What every adapter writes into a contract column its source does not have; meta repeats it.
FILLED_DEFAULTS = {
    "segment": "'mass' unless the source has a segment (the column may not be null)",
    "marketing_consent": "False: consent is unknown, so nobody counts as consenting",
    "gender": "'U' where the source has no value",
    "any other customer column the source lacks": "null (e.g. phone, risk_tolerance, preferred_channel)",
    "products.min_amount, expected_yield, margin": "0 (not in the source)",
    "products.min_age, max_age": "0 and 120 (no eligibility rule in the source)",
}


def customer_ids(n: int) -> np.ndarray:
    """Return sequential canonical ids C00000001 … for `n` customers in source order."""
    return np.char.add("C", np.char.zfill(np.arange(1, n + 1).astype(str), 8))


def empty_table(table: str) -> pd.DataFrame:
    """Return a canonical table with no rows and the contract's columns and types."""
    return arrow_schema(table).empty_table().to_pandas()


def customers_frame(n: int, **columns: object) -> pd.DataFrame:
    """Return `n` customers with the given columns; every other column gets its filled default."""
    frame = pd.DataFrame({
        "customer_id": customer_ids(n),
        "external_id": None,
        "name": None,
        "phone": None,
        "birth_date": pd.Series(pd.NaT, index=range(n), dtype="datetime64[ns]"),
        "gender": "U",
        "city_tier": pd.array([pd.NA] * n, dtype="Int64"),
        "occupation": None,
        "segment": "mass",
        "join_date": pd.Series(pd.NaT, index=range(n), dtype="datetime64[ns]"),
        "close_date": pd.Series(pd.NaT, index=range(n), dtype="datetime64[ns]"),
        "risk_tolerance": None,
        "risk_assessed_at": pd.Series(pd.NaT, index=range(n), dtype="datetime64[ns]"),
        "marketing_consent": False,
        "preferred_channel": None,
        "income_monthly": np.nan,
    })
    for name, values in columns.items():
        frame[name] = values.to_numpy() if isinstance(values, pd.Series) else values
    for name in ("birth_date", "join_date", "close_date", "risk_assessed_at"):
        frame[name] = frame[name].astype("datetime64[ns]")
    frame["city_tier"] = frame["city_tier"].astype("Int64")
    return frame[list(TABLES["customers"].to_schema().columns)]


def products_frame(rows: list[tuple[str, str, str, str, str, bool]]) -> pd.DataFrame:
    """Return a catalogue from (product_id, name_zh, name_en, category, risk_level, is_credit) rows."""
    columns = ["product_id", "name_zh", "name_en", "category", "risk_level", "is_credit"]
    frame = pd.DataFrame(rows, columns=columns)
    return frame.assign(min_amount=0.0, expected_yield=0.0, margin=0.0, min_age=0, max_age=120)


def holdings_from_flags(ids: np.ndarray, flags: np.ndarray, product_ids: list[str],
                        snapshot: pd.Timestamp) -> pd.DataFrame:
    """Return one holding (balance 0) per set flag: `flags` is customers × products of 0/1."""
    who, which = np.nonzero(flags == 1)
    return pd.DataFrame({"customer_id": ids[who], "product_id": np.asarray(product_ids)[which],
                         "snapshot_date": snapshot, "balance": 0.0})


def dates_years_before(years: pd.Series, at: pd.Timestamp) -> pd.Series:
    """Return the dates `years` and a half years before `at` (so whole years at `at` equal `years`).

    Used for ages and tenures given in whole years; a missing value stays NaT.
    """
    mid = at - pd.DateOffset(months=6)
    parts = pd.DataFrame({"year": mid.year - years, "month": mid.month, "day": min(mid.day, 28)})
    return pd.to_datetime(parts, errors="coerce")


def value_counts(values: pd.Series) -> dict[str, int]:
    """Return how often each value occurs (missing counted as 'missing'), most common first."""
    counts = values.astype(object).where(values.notna(), "missing").astype(str).value_counts()
    return {str(k): int(v) for k, v in counts.items()}
