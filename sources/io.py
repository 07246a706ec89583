"""Read and write canonical tables as parquet with the contract's exact arrow types."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from sources.contract import columns_of

_ARROW = {
    "str": pa.string(),
    "float": pa.float64(),
    "int": pa.int64(),
    "bool": pa.bool_(),
    "date": pa.timestamp("ns"),
    "timestamp": pa.timestamp("ns", tz="UTC"),
}


def arrow_schema(table: str) -> pa.Schema:
    """Return the arrow schema a canonical table is stored with."""
    return pa.schema([(name, _ARROW[kind]) for name, kind in columns_of(table).items()])


def table_path(data_dir: Path, table: str) -> Path:
    """Return where a canonical table lives inside a data directory."""
    return Path(data_dir) / f"{table}.parquet"


def to_arrow(table: str, df: pd.DataFrame) -> pa.Table:
    """Convert a frame holding exactly the contract's columns to its arrow table."""
    return pa.Table.from_pandas(df[list(columns_of(table))], schema=arrow_schema(table), preserve_index=False)


def write_table(data_dir: Path, table: str, df: pd.DataFrame) -> Path:
    """Write one canonical table; same frame ⇒ same bytes."""
    path = table_path(data_dir, table)
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(to_arrow(table, df), path, compression="zstd")
    return path


class TableWriter:
    """Stream a large canonical table to parquet in chunks (one row group per chunk)."""

    def __init__(self, data_dir: Path, table: str):
        self.table = table
        self.path = table_path(data_dir, table)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._writer = pq.ParquetWriter(self.path, arrow_schema(table), compression="zstd")
        self.rows = 0

    def write(self, df: pd.DataFrame) -> None:
        self._writer.write_table(to_arrow(self.table, df))
        self.rows += len(df)

    def write_arrow(self, table: pa.Table) -> None:
        self._writer.write_table(table.cast(arrow_schema(self.table)))
        self.rows += table.num_rows

    def close(self) -> None:
        self._writer.close()


def read_table(data_dir: Path, table: str, customer_ids: Sequence[str] | None = None) -> pd.DataFrame:
    """Read one canonical table as pandas; with `customer_ids`, only those customers' rows (filtered
    batch by batch while reading, so a large table never sits whole in memory)."""
    if customer_ids is None:
        return pd.read_parquet(table_path(data_dir, table))
    wanted = pc.field("customer_id").isin(pa.array(list(customer_ids), type=pa.string()))
    return ds.dataset(table_path(data_dir, table), format="parquet").to_table(filter=wanted).to_pandas()
