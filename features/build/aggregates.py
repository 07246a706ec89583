"""Dense customer × month aggregates of the canonical tables (numpy; no per-row Python).

Every array is shaped (customers, months): cell [i, m] describes customer i over calendar month
m and becomes the feature row stamped with the first instant of month m + 1. Windows of 30, 90
and 180 days are whole calendar months (1, 3, 6) ending with month m, over the history the data
has (shorter near its start).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
from numpy.lib.stride_tricks import sliding_window_view

from features.tables import INTENT_COUNTS
from sources.contract import CATEGORIES, EVENT_TYPES, TOPICS

_NS_PER_DAY = 86_400 * 10**9


@dataclass(frozen=True)
class MonthGrid:
    """Customers × calendar months, and who had a relationship with the bank in each month."""

    customer_ids: np.ndarray
    months: pd.DatetimeIndex
    active: np.ndarray

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.customer_ids), len(self.months)

    @property
    def as_of(self) -> pd.DatetimeIndex:
        """The instant each month's data becomes known: the first instant of the next month (UTC)."""
        return as_of_instants(self.months)

    def cells(self, customer_ids: pd.Series, months: pd.Series) -> tuple[np.ndarray, np.ndarray]:
        """Row and column of each (customer, month); -1 where outside the grid."""
        rows = pd.Index(self.customer_ids).get_indexer(customer_ids)
        cols = self.months.get_indexer(months)
        return rows, cols

    def dense_sum(self, frame: pd.DataFrame, month_col: str, value_col: str) -> np.ndarray:
        """Sum `value_col` per customer and month (0 where there is nothing)."""
        rows, cols = self.cells(frame["customer_id"], frame[month_col])
        keep = (rows >= 0) & (cols >= 0)
        n, m = self.shape
        flat = np.bincount(rows[keep] * m + cols[keep], weights=frame[value_col].to_numpy(float)[keep],
                           minlength=n * m)
        return flat.reshape(n, m)


def as_of_instants(months: pd.DatetimeIndex) -> pd.DatetimeIndex:
    """The instant each month's data becomes known: the first instant of the next month (UTC)."""
    return (months + pd.DateOffset(months=1)).tz_localize("UTC")


def month_start(values: pd.Series) -> pd.Series:
    """Calendar month (first day, naive) of dates or UTC timestamps."""
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        values = values.dt.tz_convert("UTC").dt.tz_localize(None)
    return values.dt.to_period("M").dt.to_timestamp()


def window_sum(values: np.ndarray, months: int) -> np.ndarray:
    """Sum over the last `months` months, month axis 1 (and any trailing axes)."""
    total = np.cumsum(values, axis=1)
    out = total.copy()
    out[:, months:] -= total[:, :-months]
    return out


def _window(values: np.ndarray, months: int, fill: float) -> np.ndarray:
    pad = np.full((values.shape[0], months - 1), fill)
    return sliding_window_view(np.concatenate([pad, values], axis=1), months, axis=1)


def window_max(values: np.ndarray, months: int) -> np.ndarray:
    """Maximum over the last `months` months, ignoring NaN (NaN where every month is NaN)."""
    out = _window(np.where(np.isnan(values), -np.inf, values), months, -np.inf).max(axis=2)
    return np.where(np.isneginf(out), np.nan, out)


def window_mean(values: np.ndarray, months: int) -> np.ndarray:
    """Mean over the last `months` months, ignoring NaN (NaN where every month is NaN)."""
    present = window_sum((~np.isnan(values)).astype(float), months)
    total = window_sum(np.nan_to_num(values), months)
    return np.divide(total, present, out=np.full(values.shape, np.nan), where=present > 0)


def months_since(flags: np.ndarray) -> np.ndarray:
    """Months since the last month where `flags` is true (0 = this month; NaN = never)."""
    index = np.where(flags, np.arange(flags.shape[1]), -1)
    last = np.maximum.accumulate(index, axis=1)
    return np.where(last >= 0, np.arange(flags.shape[1]) - last, np.nan).astype(float)


def event_counts(grid: MonthGrid, events: pd.DataFrame) -> dict[str, np.ndarray]:
    """Events per customer and month: by type (`login`, ...) and `page_views_<topic>`, `searches_<topic>`."""
    events = events.drop_duplicates(["customer_id", "event_time", "event_type", "topic", "product_id"])
    rows, cols = grid.cells(events["customer_id"], month_start(events["event_time"]))
    type_code = pd.Index(EVENT_TYPES).get_indexer(events["event_type"])
    keys = list(EVENT_TYPES) + [f"{stem}_{t}" for stem in INTENT_COUNTS.values() for t in TOPICS]
    stem = events["event_type"].map(INTENT_COUNTS).fillna("")
    topic_key = stem + "_" + events["topic"].fillna("").astype(str)
    topic_code = pd.Index(keys).get_indexer(topic_key)
    n, m = grid.shape
    counts = np.zeros(n * m * len(keys))
    for code in (type_code, topic_code):
        keep = (rows >= 0) & (cols >= 0) & (code >= 0)
        counts += np.bincount((rows[keep] * m + cols[keep]) * len(keys) + code[keep],
                              minlength=n * m * len(keys))
    cube = counts.reshape(n, m, len(keys))
    return {key: cube[:, :, k] for k, key in enumerate(keys)}


def days_since_last_login(grid: MonthGrid, events: pd.DataFrame) -> np.ndarray:
    """Whole days from each customer's last login before the as-of instant (NaN = never)."""
    return days_since_last(grid, events[events["event_type"] == "login"])


def days_since_last(grid: MonthGrid, events: pd.DataFrame) -> np.ndarray:
    """Whole days from each customer's last of `events` before the as-of instant (NaN = never)."""
    logins = events
    rows, cols = grid.cells(logins["customer_id"], month_start(logins["event_time"]))
    keep = (rows >= 0) & (cols >= 0)
    last = np.zeros(grid.shape, dtype=np.int64)
    stamps = pd.DatetimeIndex(logins["event_time"]).asi8
    np.maximum.at(last, (rows[keep], cols[keep]), stamps[keep])
    last = np.maximum.accumulate(last, axis=1)
    as_of = grid.as_of.tz_localize(None).to_numpy().astype("datetime64[ns]").astype(np.int64)
    return np.where(last > 0, (as_of[None, :] - last) // _NS_PER_DAY, np.nan).astype(float)


def category_balances(grid: MonthGrid, holdings: pd.DataFrame, products: pd.DataFrame) -> dict[str, np.ndarray]:
    """Month-end balance per product category, and how many products and categories are held."""
    held = holdings.merge(products[["product_id", "category"]], on="product_id", how="left")
    held = held.assign(month=month_start(held["snapshot_date"]), one=1.0)
    out = {}
    for category in CATEGORIES:
        part = held[held["category"] == category]
        out[f"{category}_balance_cny"] = grid.dense_sum(part, "month", "balance")
        out[f"{category}_held"] = grid.dense_sum(part, "month", "one")
    out["products_held_count"] = grid.dense_sum(held, "month", "one")
    out["categories_held_count"] = sum((out.pop(f"{c}_held") > 0).astype(float) for c in CATEGORIES)
    return out


def held_products(grid: MonthGrid, holdings: pd.DataFrame) -> pa.ListArray:
    """The sorted product ids each customer holds at each month end, one list per grid cell (row-major)."""
    rows, cols = grid.cells(holdings["customer_id"], month_start(holdings["snapshot_date"]))
    keep = (rows >= 0) & (cols >= 0)
    cell = rows[keep] * grid.shape[1] + cols[keep]
    products = holdings["product_id"].to_numpy()[keep]
    order = np.lexsort((products, cell))
    counts = np.bincount(cell, minlength=grid.shape[0] * grid.shape[1])
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
    return pa.ListArray.from_arrays(pa.array(offsets), pa.array(products[order], type=pa.string()))
