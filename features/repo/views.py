"""Feast feature views, one per feature table; `Field` names are the table's column names."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from feast import FeatureView, Field
from feast.types import Array, Bool, FeastType, Float64, Int64, String

from features.build.monthly import read_manifest
from features.build.writers import MANIFEST
from features.repo.data_sources import OfflineStoreType, file_source, intent_push_source
from features.repo.entities import ENTITIES
from features.tables import ALL_TABLES, INTENT_REALTIME, FeatureTable, extension_tables

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
    """Every feature view, by name, reading the tables in `offline_dir` through `offline`'s sources:
    the fixed ones, and the extension tables (a data directory's `extensions.json`) its build wrote."""
    return {table.name: feature_view(table, offline_dir, offline) for table in built_tables(offline_dir)}


def built_tables(offline_dir: Path) -> tuple[FeatureTable, ...]:
    """The feature tables in `offline_dir`: every fixed one, then the extension tables of its last build."""
    manifest = offline_dir / MANIFEST
    if not manifest.is_file():
        return ALL_TABLES
    return (*ALL_TABLES, *extension_tables(read_manifest(offline_dir).extension_tables))
