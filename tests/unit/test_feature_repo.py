"""The Feast repo's definitions: field names, services, store configuration and window arithmetic."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from feast.repo_config import load_repo_config

from features.build import aggregates as agg
from features.build.writers import arrow_schema
from features.repo.services import (
    NOT_MODEL_FEATURES,
    SERVICE_VIEWS,
    feature_services,
)
from features.repo.store import redis_connection_string, repo_config
from features.repo.views import feature_views
from features.tables import ALL_TABLES, CREATED_TIMESTAMP, EVENT_TIMESTAMP
from nbo.errors import ContractViolation
from nbo.settings import Settings, StoreSettings
from sources.contract import CONTACT_CHANNELS

ROOT = Path(__file__).resolve().parents[2]


def test_feast_field_names_equal_the_feature_table_columns(tmp_path):
    views = feature_views(tmp_path)
    for table in ALL_TABLES:
        fields = [f.name for f in views[table.name].features]
        assert fields == list(table.columns)
        stamps = {EVENT_TIMESTAMP, CREATED_TIMESTAMP}
        assert [n for n in arrow_schema(table).names if n not in stamps | {table.entity_key}] == fields


def test_model_services_leave_out_rules_only_dates_and_channel_consent(tmp_path):
    services = {s.name: s for s in feature_services(feature_views(tmp_path))}
    assert set(services) == set(SERVICE_VIEWS)
    left_out = {f for names in NOT_MODEL_FEATURES.values() for f in names}
    consent = {f"has_{c}_consent" for c in CONTACT_CHANNELS}  # the contact policy's, not the models'
    assert left_out == {"risk_assessed_at", "birth_date"} | consent  # the assessment's age is point-in-time: a model feature
    for name, service in services.items():
        features = {f.name for p in service.feature_view_projections for f in p.features}
        assert left_out <= features if name == "customer_360_v1" else not left_out & features
    ranker = {f.name for p in services["ranker_v1"].feature_view_projections for f in p.features}
    assert {"name_zh", "name_en", "margin_rate", "age_years"} <= ranker


def test_feature_store_yaml_is_the_embedded_default_nbo_builds(monkeypatch):
    monkeypatch.chdir(ROOT)
    repo = ROOT / "features" / "repo"
    from_yaml = load_repo_config(repo, repo / "feature_store.yaml")
    from_code = repo_config(Settings(state_dir=Path("var"), feature_repo=Path("features/repo"), stores=StoreSettings()))
    assert from_yaml.project == from_code.project == "nbo"
    assert (repo / from_yaml.registry.path).resolve() == Path(from_code.registry.path)
    assert (repo / from_yaml.online_store.path).resolve() == Path(from_code.online_store.path)
    assert from_yaml.offline_store.type == from_code.offline_store.type == "duckdb"
    assert from_yaml.materialization_config == from_code.materialization_config
    assert from_yaml.entity_key_serialization_version == from_code.entity_key_serialization_version


@pytest.mark.parametrize(("url", "expected"), [
    ("redis://127.0.0.1:6379/0", "127.0.0.1:6379,db=0"),
    ("redis://:s3cret@cache:6380/2", "cache:6380,db=2,password=s3cret"),
    ("rediss://cache", "cache:6379,db=0,ssl=true"),
])
def test_redis_urls_become_feast_connection_strings(url, expected):
    assert redis_connection_string(url) == expected


def test_a_url_that_is_not_redis_is_rejected():
    with pytest.raises(ContractViolation, match="redis_url"):
        redis_connection_string("postgresql://127.0.0.1/x")


def test_windows_sum_max_and_mean_over_the_months_the_data_has():
    values = np.array([[1.0, 2.0, 3.0, 4.0], [np.nan, 5.0, np.nan, np.nan]])
    np.testing.assert_array_equal(agg.window_sum(np.nan_to_num(values), 3), [[1, 3, 6, 9], [0, 5, 5, 5]])
    np.testing.assert_array_equal(agg.window_max(values, 2), [[1, 2, 3, 4], [np.nan, 5, 5, np.nan]])
    np.testing.assert_array_equal(agg.window_mean(values, 3), [[1, 1.5, 2, 3], [np.nan, 5, 5, 5]])


def test_months_since_the_last_flagged_month():
    flags = np.array([[True, False, False, True], [False, False, True, False]])
    np.testing.assert_array_equal(agg.months_since(flags), [[0, 1, 2, 0], [np.nan, np.nan, 0, 1]])
