"""The feature tables' files: arrow schemas, grid cells as arrow rows, and a parquet writer per table."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from features.build import aggregates as agg
from features.tables import (
    ALL_TABLES,
    CREATED_TIMESTAMP,
    CREDIT,
    EVENT_TIMESTAMP,
    INTENT_REALTIME,
    PRODUCT_ATTRIBUTES,
    FeatureTable,
)

MANIFEST = "build.json"
_ARROW = {"int": pa.int64(), "float": pa.float64(), "str": pa.string(), "bool": pa.bool_(),
          "str_list": pa.list_(pa.string())}
_TIMESTAMP = pa.timestamp("us", tz="UTC")


def arrow_schema(table: FeatureTable) -> pa.Schema:
    """The parquet schema of a feature table: key, event timestamp(s), then its columns."""
    stamps = [(EVENT_TIMESTAMP, _TIMESTAMP)]
    if table is INTENT_REALTIME:
        stamps.append((CREATED_TIMESTAMP, _TIMESTAMP))
    fields = [(table.entity_key, pa.string()), *stamps]
    return pa.schema(fields + [(name, _ARROW[kind]) for name, kind in table.columns.items()])


class FeatureWriters:
    """A parquet writer per feature table, writing into a work dir; rows counted per table."""

    def __init__(self, work: Path, extension_tables: tuple[FeatureTable, ...] = ()):
        self.work = work
        self.tables = (*ALL_TABLES, *extension_tables)
        self._writers = {t.name: pq.ParquetWriter(work / t.file_name, arrow_schema(t), compression="zstd")
                         for t in self.tables}
        self.rows = dict.fromkeys(self._writers, 0)

    def append(self, table: FeatureTable, frame: pa.Table) -> None:
        self._writers[table.name].write_table(frame)
        self.rows[table.name] += frame.num_rows

    def move_to(self, out_dir: Path, manifest: str) -> None:
        """Close every file and move it into `out_dir`, then the manifest (each move atomic)."""
        (self.work / MANIFEST).write_text(manifest, encoding="utf-8")
        for writer in self._writers.values():
            writer.close()
        for name in (*(t.file_name for t in self.tables), MANIFEST):
            os.replace(self.work / name, out_dir / name)


def cells_frame(grid: agg.MonthGrid, columns: dict[str, np.ndarray], table: FeatureTable) -> pa.Table:
    """The grid cells a table has rows for (active customers; credit: months with credit data)."""
    mask = grid.active & ~np.isnan(columns["credit_limit_cny"]) if table is CREDIT else grid.active
    rows, cols = np.nonzero(mask)
    data = {table.entity_key: grid.customer_ids[rows], EVENT_TIMESTAMP: grid.as_of[cols]}
    for name in table.columns:
        values = columns[name]  # an arrow array holds one value per cell, row-major
        data[name] = values.take(rows * grid.shape[1] + cols) if isinstance(values, pa.Array) else values[rows, cols]
    return to_arrow(table, data)


def to_arrow(table: FeatureTable, data: dict) -> pa.Table:
    """Columns as the table's arrow schema; NaN in an int column becomes null."""
    schema = arrow_schema(table)
    arrays = []
    for field in schema:
        values = data[field.name]
        if field.type == pa.int64():
            values = np.asarray(values, dtype=float)
            arrays.append(pa.array(np.nan_to_num(values).astype(np.int64), mask=np.isnan(values)))
        elif isinstance(values, pa.Array):
            arrays.append(values)
        else:
            arrays.append(pa.array(values, type=field.type, from_pandas=True))
    return pa.Table.from_arrays(arrays, schema=schema)


def product_frame(products: pd.DataFrame, first_month: pd.Timestamp) -> pa.Table:
    """Catalogue attributes, known from the first data month on."""
    p = products
    data = {"product_id": p["product_id"], EVENT_TIMESTAMP: [first_month.tz_localize("UTC")] * len(p),
            "name_zh": p["name_zh"], "name_en": p["name_en"],
            "category": p["category"], "risk_level": p["risk_level"],
            "risk_level_num": p["risk_level"].str[1:].astype(float), "is_credit": p["is_credit"],
            "min_amount_cny": p["min_amount"], "expected_yield_rate": p["expected_yield"],
            "margin_rate": p["margin"], "min_age_years": p["min_age"], "max_age_years": p["max_age"]}
    return to_arrow(PRODUCT_ATTRIBUTES, data)
