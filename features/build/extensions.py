"""The extension feature tables of a data directory (`extensions.json`): its extra customer
attributes and its own event types."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds

from features.build import aggregates as agg
from features.build.writers import to_arrow
from features.tables import (
    CUSTOMER_KEY,
    EVENT_TIMESTAMP,
    METRIC_WINDOWS,
    FeatureTable,
    events_extra_table,
    extras_table,
    metrics_extra_table,
)
from sources.extensions import (
    Extensions,
    feature_name,
    read_extensions,
    read_extras,
    read_metrics,
    snapshot_as_of,
)
from sources.io import table_path


def extension_frames(data_dir: Path, grid: agg.MonthGrid) -> list[tuple[FeatureTable, pa.Table]]:
    """Each extension table of `data_dir` and its rows, over the bank's customers × months `grid`."""
    extensions = read_extensions(data_dir)
    frames = []
    if extensions.customer_attributes:
        frames.append(_extras(data_dir, extensions, grid.months))
    if extensions.event_types:
        frames.append(_events(data_dir, extensions.event_types, grid))
    if extensions.monthly_metrics:
        frames.append(_metrics(data_dir, extensions, grid))
    return frames


def _extras(data_dir: Path, extensions: Extensions, months: pd.DatetimeIndex) -> tuple[FeatureTable, pa.Table]:
    """The extra attributes, one row per customer, stamped with the snapshot's as-of instant
    (`source.json` as_of, else the instant after the data's last month)."""
    frame = read_extras(data_dir, extensions)
    as_of = snapshot_as_of(data_dir)
    stamp = as_of.tz_localize("UTC") if as_of is not None else agg.as_of_instants(months)[-1]
    table = extras_table(extensions.customer_attributes)
    data = {CUSTOMER_KEY: frame[CUSTOMER_KEY], EVENT_TIMESTAMP: pd.Series(stamp, index=frame.index),
            **{feature_name(name): frame[name] for name in extensions.customer_attributes}}
    return table, to_arrow(table, data)


def _events(data_dir: Path, event_types: tuple[str, ...], grid: agg.MonthGrid) -> tuple[FeatureTable, pa.Table]:
    """Per customer and month (active cells): each own event type's 30/90-day counts and days since
    the last; an event counts in its calendar month, as the contract's types do."""
    wanted = ds.field("event_type").isin(pa.array(list(event_types)))
    events = ds.dataset(table_path(data_dir, "events"), format="parquet").to_table(
        columns=["customer_id", "event_time", "event_type", "topic", "product_id"], filter=wanted).to_pandas()
    events = events.drop_duplicates(ignore_index=True)  # a tracker's double-send counts once, as in the contract's types
    rows, cols = grid.cells(events["customer_id"], agg.month_start(events["event_time"]))
    keep = (rows >= 0) & (cols >= 0)
    table = events_extra_table(event_types)
    columns = {}
    for kind in event_types:
        of_kind = (events["event_type"] == kind).to_numpy() & keep
        counts = grid.dense_sum(events[of_kind].assign(one=1.0, month=agg.month_start(events["event_time"])),
                                "month", "one")
        columns |= {f"x_{kind}_30d": counts, f"x_{kind}_90d": agg.window_sum(counts, 3),
                    f"x_days_since_last_{kind}": agg.days_since_last(grid, events[of_kind])}
    active_rows, active_cols = grid.active.nonzero()
    data = {CUSTOMER_KEY: grid.customer_ids[active_rows], EVENT_TIMESTAMP: grid.as_of[active_cols],
            **{name: values[active_rows, active_cols] for name, values in columns.items()}}
    return table, to_arrow(table, data)


def _metrics(data_dir: Path, extensions: Extensions, grid: agg.MonthGrid) -> tuple[FeatureTable, pa.Table]:
    """Per customer and month (active cells): each own metric's value that month and its 3- and
    6-month means over the months it was reported (NaN: not reported)."""
    frame = read_metrics(data_dir, extensions)
    rows, cols = grid.cells(frame["customer_id"], frame["month"])
    keep = (rows >= 0) & (cols >= 0)
    table = metrics_extra_table(tuple(extensions.monthly_metrics))
    columns = {}
    for name in extensions.monthly_metrics:
        dense = np.full(grid.shape, np.nan)
        dense[rows[keep], cols[keep]] = frame[name].to_numpy(float)[keep]
        columns |= {f"x_{name}_{suffix}": dense if months == 1 else agg.window_mean(dense, months)
                    for suffix, months in METRIC_WINDOWS.items()}
    active_rows, active_cols = grid.active.nonzero()
    data = {CUSTOMER_KEY: grid.customer_ids[active_rows], EVENT_TIMESTAMP: grid.as_of[active_cols],
            **{name: values[active_rows, active_cols] for name, values in columns.items()}}
    return table, to_arrow(table, data)
