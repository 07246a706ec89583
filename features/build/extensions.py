"""The extension feature tables of a data directory (`extensions.json`): its extra customer attributes."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa

from features.build import aggregates as agg
from features.build.writers import to_arrow
from features.tables import CUSTOMER_KEY, EVENT_TIMESTAMP, FeatureTable, extras_table
from sources.extensions import feature_name, read_extensions, read_extras, snapshot_as_of


def extension_frames(data_dir: Path, months: pd.DatetimeIndex) -> list[tuple[FeatureTable, pa.Table]]:
    """Each extension table and its rows: the extra attributes, one row per customer, stamped with
    the snapshot's as-of instant (`source.json` as_of, else the instant after the data's last month)."""
    extensions = read_extensions(data_dir)
    if not extensions.customer_attributes:
        return []
    frame = read_extras(data_dir, extensions)
    as_of = snapshot_as_of(data_dir)
    stamp = as_of.tz_localize("UTC") if as_of is not None else agg.as_of_instants(months)[-1]
    table = extras_table(extensions.customer_attributes)
    data = {CUSTOMER_KEY: frame[CUSTOMER_KEY], EVENT_TIMESTAMP: pd.Series(stamp, index=frame.index),
            **{feature_name(name): frame[name] for name in extensions.customer_attributes}}
    return [(table, to_arrow(table, data))]
