"""Label rates of a generated bank, computed block by block so memory is bounded by the block size.

Every label population is a set of customers, and blocks hold disjoint customers, so an as-of
date's rate is the blocks' positives over their summed populations. The as-of dates and the
average over them are those of `sources.labels.label_rates`, which this gives exactly for a
one-block bank.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from sources.io import read_table, table_path
from sources.labels import (
    DELINQUENCY_MONTHS,
    adoption_labels,
    churn_labels,
    delinquency_labels,
    monthly_activity,
)
from sources.synthetic.bank import BankBlock

# the columns the labels read, by table (None: all)
_COLUMNS: dict[str, list[str] | None] = {
    "customers": ["customer_id", "join_date", "close_date"],
    "holdings": None,
    "events": ["customer_id", "event_time", "event_type"],
    "transactions": ["customer_id", "month", "txn_count"],
    "credit": ["customer_id", "month", "days_past_due"],
}
_RATES = {"churn": "churn_rate_90d", "delinquency": "delinquency_rate_12m", "adoption": "adoption_rate_monthly"}

Counts = dict[str, dict[pd.Timestamp, tuple[int, int]]]  # label -> as-of -> (positives, population)


def label_rates_by_block(
    out: Path, blocks: Sequence[BankBlock], on_block: Callable[[int, int], None] | None = None,
) -> dict[str, float | dict[str, int]]:
    """Average label rates over every as-of date the data can label (see `label_rates`)."""
    products = read_table(out, "products")
    totals: Counts = {label: {} for label in _RATES}
    for i, block in enumerate(blocks, start=1):
        if on_block is not None:
            on_block(i, len(blocks))
        for label, counts in _count_labels(_read_for_labels(out, block) | {"products": products}).items():
            for as_of, (positives, population) in counts.items():
                p, n = totals[label].get(as_of, (0, 0))
                totals[label][as_of] = (p + positives, n + population)
    rates: dict[str, float | dict[str, int]] = {
        name: _mean_rate(totals[label]) for label, name in _RATES.items()}
    rates["as_of_dates"] = {label: len(totals[label]) for label in _RATES}
    return rates


def read_block(out: Path, table: str, rows: range, columns: list[str] | None = None) -> pa.Table:
    """Read rows `rows` of a table, which must start and end on row-group boundaries."""
    file = pq.ParquetFile(table_path(out, table))
    sizes = [file.metadata.row_group(i).num_rows for i in range(file.num_row_groups)]
    starts = np.concatenate([[0], np.cumsum(sizes, dtype=np.int64)])
    if rows.start not in starts or rows.stop not in starts:
        raise ValueError(f"{table}: rows {rows.start}..{rows.stop} do not fall on row-group boundaries")
    groups = [i for i in range(file.num_row_groups) if rows.start <= starts[i] < rows.stop]
    return file.read_row_groups(groups, columns=columns)


def _read_for_labels(out: Path, block: BankBlock) -> dict[str, pd.DataFrame]:
    tables = {t: read_block(out, t, block.rows[t], cols) for t, cols in _COLUMNS.items()}
    events = tables["events"]
    tables["events"] = events.filter(pc.equal(events["event_type"], "login"))  # the only events labels read
    return {t: table.to_pandas() for t, table in tables.items()}


def _count_labels(tables: dict[str, pd.DataFrame]) -> Counts:
    """Per label and as-of date: positives and population, over the as-of dates of `label_rates`."""
    months = pd.DatetimeIndex(sorted(tables["transactions"]["month"].unique()))
    activity = monthly_activity(tables["events"], tables["transactions"], tables["holdings"])
    counts: Counts = {label: {} for label in _RATES}
    for as_of in months[1:]:
        if as_of + pd.DateOffset(months=2) <= months[-1]:
            counts["churn"][as_of] = _count(churn_labels(tables["customers"], activity, as_of)["churn"])
        if as_of + pd.DateOffset(months=DELINQUENCY_MONTHS - 1) <= months[-1]:
            counts["delinquency"][as_of] = _count(delinquency_labels(tables["credit"], as_of)["delinquency"])
        adopted = adoption_labels(tables["holdings"], tables["products"], as_of)
        counts["adoption"][as_of] = _count(adopted.groupby("customer_id")["adopted"].any())
    return counts


def _count(flags: pd.Series) -> tuple[int, int]:
    return int(flags.sum()), len(flags)


def _mean_rate(counts: dict[pd.Timestamp, tuple[int, int]]) -> float:
    """Mean over as-of dates of each date's rate (NaN for an empty population, as pandas skips)."""
    rates = [p / n if n else float("nan") for _, (p, n) in sorted(counts.items())]
    return float(pd.Series(rates, dtype=float).mean()) if rates else float("nan")
