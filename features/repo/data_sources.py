"""Feast data sources: one parquet file per feature table, and the push source for intent.

The same files back either offline store: a `FileSource` for DuckDB (the embedded default) or a
path-based `SparkSource` for Spark (`NBO_STORES__OFFLINE=spark`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from feast import FileSource, PushSource
from feast.data_source import DataSource

from features.tables import (
    CREATED_TIMESTAMP,
    EVENT_TIMESTAMP,
    INTENT_PUSH_SOURCE,
    INTENT_REALTIME,
    FeatureTable,
)

OfflineStoreType = Literal["duckdb", "spark"]  # as `stores.offline` in Settings


def file_source(table: FeatureTable, offline_dir: Path, offline: OfflineStoreType) -> DataSource:
    """The parquet file `nbo features build` writes for this table (absolute path), for `offline`."""
    name, path = f"{table.name}_file", str((offline_dir / table.file_name).resolve())
    created = CREATED_TIMESTAMP if table is INTENT_REALTIME else ""
    if offline == "spark":  # imports pyspark (seconds): only when Spark is the offline store
        from feast.infra.offline_stores.contrib.spark_offline_store.spark_source import SparkSource

        return SparkSource(name=name, path=path, file_format="parquet", timestamp_field=EVENT_TIMESTAMP,
                           created_timestamp_column=created, description=table.description)
    return FileSource(name=name, path=path, timestamp_field=EVENT_TIMESTAMP,
                      created_timestamp_column=created, description=table.description)

def intent_push_source(offline_dir: Path, offline: OfflineStoreType) -> PushSource:
    """Real-time intent pushed by the service; its own parquet file keeps the history offline."""
    return PushSource(name=INTENT_PUSH_SOURCE, batch_source=file_source(INTENT_REALTIME, offline_dir, offline),
                      description="Page views and searches by topic, pushed as they happen.")
