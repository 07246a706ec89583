"""Feast data sources: one parquet file per feature table, and the push source for intent."""

from __future__ import annotations

from pathlib import Path

from feast import FileSource, PushSource

from features.tables import (
    CREATED_TIMESTAMP,
    EVENT_TIMESTAMP,
    INTENT_PUSH_SOURCE,
    INTENT_REALTIME,
    FeatureTable,
)


def file_source(table: FeatureTable, offline_dir: Path) -> FileSource:
    """The parquet file `nbo features build` writes for this table (absolute path)."""
    return FileSource(
        name=f"{table.name}_file",
        path=str((offline_dir / table.file_name).resolve()),
        timestamp_field=EVENT_TIMESTAMP,
        created_timestamp_column=CREATED_TIMESTAMP if table is INTENT_REALTIME else "",
        description=table.description,
    )


def intent_push_source(offline_dir: Path) -> PushSource:
    """Real-time intent pushed by the service; its own parquet file keeps the history offline."""
    return PushSource(name=INTENT_PUSH_SOURCE, batch_source=file_source(INTENT_REALTIME, offline_dir),
                      description="Page views and searches by topic, pushed as they happen.")
