"""Feast feature views, one per feature table; `Field` names are the table's column names."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from feast import FeatureView, Field
from feast.types import Array, Bool, FeastType, Float64, Int64, String

from features.repo.data_sources import OfflineStoreType, file_source, intent_push_source
from features.repo.entities import ENTITIES
from features.tables import ALL_TABLES, INTENT_REALTIME, FeatureTable

FEAST_TYPES: dict[str, FeastType] = {"int": Int64, "float": Float64, "str": String, "bool": Bool,
                                     "str_list": Array(String)}


def feature_view(table: FeatureTable, offline_dir: Path, offline: OfflineStoreType) -> FeatureView:
    """The feature view serving one feature table (TTL 0 means the values never expire)."""
    source = (intent_push_source(offline_dir, offline) if table is INTENT_REALTIME
              else file_source(table, offline_dir, offline))
    schema = [Field(name=table.entity_key, dtype=String)]
    schema += [Field(name=name, dtype=FEAST_TYPES[kind]) for name, kind in table.columns.items()]
    return FeatureView(name=table.name, entities=[ENTITIES[table.entity_key]], schema=schema,
                       ttl=table.ttl or timedelta(0), source=source, online=True,
                       description=table.description, tags={"team": "features"})


def feature_views(offline_dir: Path, offline: OfflineStoreType = "duckdb") -> dict[str, FeatureView]:
    """Every feature view, by name, reading the tables in `offline_dir` through `offline`'s sources."""
    return {table.name: feature_view(table, offline_dir, offline) for table in ALL_TABLES}
