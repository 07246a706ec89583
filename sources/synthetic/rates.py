"""Label rates of a generated bank, computed block by block so memory is bounded by the block size.

Every label population is a set of customers, and blocks hold disjoint customers, so an as-of
date's rate is the blocks' positives over their summed populations (`sources.labels.label_counts`
per block, summed, then `label_rates`).
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
from sources.labels import RATE_NAMES, Counts, label_counts, label_rates
from sources.synthetic.bank import BankBlock

# the columns the labels read, by table (None: all)
_COLUMNS: dict[str, list[str] | None] = {
    "customers": ["customer_id", "join_date", "close_date"],
    "holdings": None,
    "events": ["customer_id", "event_time", "event_type"],
    "transactions": ["customer_id", "month", "txn_count"],
    "credit": ["customer_id", "month", "days_past_due"],
}


def label_rates_by_block(
    out: Path, blocks: Sequence[BankBlock], on_block: Callable[[int, int], None] | None = None,
) -> dict[str, float | dict[str, int]]:
    """Average label rates over every as-of date the data can label (see `sources.labels.label_rates`)."""
    products = read_table(out, "products")
    totals: Counts = {label: {} for label in RATE_NAMES}
    for i, block in enumerate(blocks, start=1):
        if on_block is not None:
            on_block(i, len(blocks))
        for label, counts in label_counts(_read_for_labels(out, block) | {"products": products}).items():
            for as_of, (positives, population) in counts.items():
                p, n = totals[label].get(as_of, (0, 0))
                totals[label][as_of] = (p + positives, n + population)
    return label_rates(totals)


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
