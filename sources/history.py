"""Customer attributes over time: the versions (SCD type 2) the point-in-time profile reads.

A data directory's `customer_history` holds each customer's versions. A customer without one (or
a directory without the table) has a single version: the customers table's values, valid from the
data's snapshot date only. Nothing says what they were before it, so rows before it lack them.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from sources.contract import HISTORY_COLUMNS
from sources.io import table_path
from sources.meta import read_meta

KEY = ("customer_id", "valid_from")


def snapshot_date(data_dir: Path, last_month: pd.Timestamp) -> pd.Timestamp:
    """The date from which the customers table's values hold.

    source.json's `snapshot_date`; else the day before its `as_of` (the first instant its labels
    look forward from: the snapshot was taken by then); else the last day of the data's last month
    (`last_month`, its first day: nbo's own data).
    """
    meta = read_meta(data_dir)
    if meta.get("snapshot_date"):
        return pd.Timestamp(str(meta["snapshot_date"])).normalize()
    if meta.get("as_of"):
        return pd.Timestamp(str(meta["as_of"])).normalize() - pd.Timedelta(days=1)
    return last_month + pd.offsets.MonthEnd(0)


def read_history(data_dir: Path) -> pa.Table | None:
    """The customer_history table as arrow (compact: a block's rows become pandas when needed), or
    None when the data directory has none."""
    path = table_path(data_dir, "customer_history")
    return pq.read_table(path, columns=[*KEY, *HISTORY_COLUMNS]) if path.is_file() else None


def history_of(history: pa.Table | None, customer_ids: pd.Series) -> pd.DataFrame:
    """The versions of some customers (none, with the table's columns, without a history)."""
    if history is None:
        return pd.DataFrame({c: pd.Series(dtype="datetime64[ns]" if c == "valid_from" else object)
                             for c in (*KEY, *HISTORY_COLUMNS)})
    wanted = pc.is_in(history.column("customer_id"), value_set=pa.array(customer_ids, type=pa.string()))
    return history.filter(wanted).to_pandas()


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
    history = read_history(data_dir)
    if history is None:
        return {}
    customers = pq.read_table(table_path(data_dir, "customers"), columns=["join_date", "close_date"]).to_pandas()
    start, end = first_month, last_month + pd.offsets.MonthBegin(1)
    begins = customers["join_date"].fillna(start).clip(lower=start)
    ends = customers["close_date"].fillna(end).clip(upper=end)
    years = (ends - begins).dt.days.clip(lower=0).sum() / 365.25
    history = history.sort_by([(c, "ascending") for c in KEY])
    valid_from = history.column("valid_from").to_pandas()
    counted = (history.column("customer_id").to_numpy()[1:] == history.column("customer_id").to_numpy()[:-1]) \
        & valid_from.ge(start).to_numpy()[1:] & valid_from.lt(end).to_numpy()[1:]
    rates = {}
    for column in HISTORY_COLUMNS:  # one column at a time: a large history stays in arrow
        values = history.column(column).to_pandas()
        now, was = values.iloc[1:].reset_index(drop=True), values.iloc[:-1].reset_index(drop=True)
        same = (now == was).fillna(False).astype(bool) | (now.isna() & was.isna())
        rates[column] = round(float((counted & ~same.to_numpy()).sum() / years), 4) if years > 0 else 0.0
    return rates
