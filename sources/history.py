"""Customer attributes over time: the versions (SCD type 2) the point-in-time profile reads.

A data directory's `customer_history` holds each customer's versions. A customer without one (or
a directory without the table) has a single version: the customers table's values, valid from the
data's snapshot date only. Nothing says what they were before it, so rows before it lack them.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from sources.contract import HISTORY_COLUMNS
from sources.io import table_path

SOURCE_META = "source.json"  # an imported data directory's meta (training.datasets reads it too)
KEY = ("customer_id", "valid_from")


def snapshot_date(data_dir: Path, last_month: pd.Timestamp) -> pd.Timestamp:
    """The date from which the customers table's values hold.

    source.json's `snapshot_date`; else the day before its `as_of` (the first instant its labels
    look forward from: the snapshot was taken by then); else the last day of the data's last month
    (`last_month`, its first day: nbo's own data).
    """
    path = Path(data_dir) / SOURCE_META
    meta = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    if meta.get("snapshot_date"):
        return pd.Timestamp(str(meta["snapshot_date"])).normalize()
    if meta.get("as_of"):
        return pd.Timestamp(str(meta["as_of"])).normalize() - pd.Timedelta(days=1)
    return last_month + pd.offsets.MonthEnd(0)


def has_history(data_dir: Path) -> bool:
    """Whether the data directory holds a customer_history table."""
    return table_path(data_dir, "customer_history").is_file()


def read_history(data_dir: Path, customer_ids: pd.Series | None = None) -> pd.DataFrame:
    """The customer_history table (empty, with its columns, when there is none), optionally of some customers."""
    columns = [*KEY, *HISTORY_COLUMNS]
    if not has_history(data_dir):
        return pd.DataFrame({c: pd.Series(dtype=object) for c in columns}).astype({"valid_from": "datetime64[ns]"})
    history = pd.read_parquet(table_path(data_dir, "customer_history"), columns=columns)
    return history if customer_ids is None else history[history["customer_id"].isin(customer_ids)]


def customer_versions(customers: pd.DataFrame, history: pd.DataFrame, snapshot: pd.Timestamp) -> pd.DataFrame:
    """Every version of every customer in `customers`, sorted by customer and valid_from.

    The history's versions; for a customer the history does not hold, the customers table's
    values valid from `snapshot`.
    """
    known = history[history["customer_id"].isin(customers["customer_id"])]
    rest = customers.loc[~customers["customer_id"].isin(known["customer_id"]), ["customer_id", *HISTORY_COLUMNS]]
    rest = rest.assign(valid_from=snapshot)[list(known.columns)]
    frames = [f for f in (known, rest) if len(f)]
    versions = pd.concat(frames, ignore_index=True) if frames else known
    return versions.sort_values(list(KEY), kind="stable", ignore_index=True)


def change_rates(data_dir: Path, first_month: pd.Timestamp, last_month: pd.Timestamp) -> dict[str, float]:
    """Changes of each history column per customer-year within the months `first_month`..`last_month`
    (years a customer had a relationship, joining to closing); empty without a history."""
    if not has_history(data_dir):
        return {}
    history = read_history(data_dir)
    customers = pd.read_parquet(table_path(data_dir, "customers"), columns=["customer_id", "join_date", "close_date"])
    start, end = first_month, last_month + pd.offsets.MonthBegin(1)
    begins = customers["join_date"].fillna(start).clip(lower=start)
    ends = customers["close_date"].fillna(end).clip(upper=end)
    years = ((ends - begins).dt.days.clip(lower=0)).sum() / 365.25
    inside = history["valid_from"].ge(start) & history["valid_from"].lt(end)
    before = history.groupby("customer_id", sort=False)[list(HISTORY_COLUMNS)].shift()
    same = history["customer_id"].eq(history["customer_id"].shift())
    rates = {}
    for column in HISTORY_COLUMNS:
        now, was = history[column], before[column]
        changed = same & inside & ~((now == was).fillna(False).astype(bool) | (now.isna() & was.isna()))
        rates[column] = round(float(changed.sum() / years), 4) if years > 0 else 0.0
    return rates
