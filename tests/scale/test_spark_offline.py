"""The Spark offline store (`NBO_STORES__OFFLINE=spark`, pyspark in local mode) gives the same
point-in-time training sets as the embedded DuckDB default, from the same parquet files."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import pandas as pd
import pytest
from feast import FeatureStore

from features.repo.store import apply_repo, feature_service, open_store
from features.tables import CUSTOMER_KEY, EVENT_TIMESTAMP
from features.training_set import label_rows, training_set
from nbo.errors import ConfigError
from sources.labels import as_of_timestamp
from tests.conftest import run_json, settings_from

AS_OF_MONTHS = (6, 15)  # months after the first as-of instant; churn labels look 2 months ahead


class Built(NamedTuple):
    """The NBO_* variables of each offline store's Feast project over one build, and its first as-of."""

    env: dict[str, dict[str, str]]
    first_as_of: pd.Timestamp


@pytest.fixture(scope="module")
def built(bank_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Built:
    """One state dir built by `nbo features build`; a Feast project applied for each offline store."""
    state = tmp_path_factory.mktemp("spark-offline")
    project = f"nbo_test_{uuid.uuid4().hex[:10]}"
    duckdb = {"NBO_STATE_DIR": str(state), "NBO_STORES__PROFILE": "embedded",
              "NBO_STORES__FEAST_PROJECT": f"{project}_duckdb"}
    spark = duckdb | {"NBO_STORES__OFFLINE": "spark", "NBO_STORES__FEAST_PROJECT": f"{project}_spark"}
    build = run_json("features", "build", bank_dir, env=duckdb)
    for env in (duckdb, spark):
        settings = settings_from(env)
        apply_repo(open_store(settings), settings)
    return Built({"duckdb": duckdb, "spark": spark}, pd.Timestamp(build["first_as_of"]))


@pytest.fixture(scope="module")
def spark_store(built) -> Iterator[FeatureStore]:
    """A FeatureStore on the Spark offline store; its Spark session is stopped afterwards."""
    from pyspark.sql import SparkSession

    yield open_store(settings_from(built.env["spark"]))
    session = SparkSession.getActiveSession()
    if session is not None:
        session.stop()


def test_spark_offline_store_is_configured_for_one_machine(spark_store):
    config = spark_store.config.offline_store
    assert config.type == "spark"
    assert {k: config.spark_conf[k] for k in ("spark.master", "spark.ui.enabled", "spark.sql.shuffle.partitions",
                                              "spark.driver.bindAddress", "spark.sql.session.timeZone")} == {
        "spark.master": "local[2]", "spark.ui.enabled": "false", "spark.sql.shuffle.partitions": "2",
        "spark.driver.bindAddress": "127.0.0.1", "spark.sql.session.timeZone": "UTC"}
    view = spark_store.get_feature_view("customer_rfm_180d")
    assert type(view.batch_source).__name__ == "SparkSource"
    assert view.batch_source.file_format == "parquet"
    assert view.batch_source.path.endswith("customer_rfm_180d.parquet")


def test_spark_and_duckdb_give_the_same_training_set(built, spark_store, bank_dir):
    """Churn label rows joined to the RM's 360° profile: every customer view (the churn and
    delinquency services' views, credit rows only where there is credit, the push source's
    history with its created timestamps, a list column) in one point-in-time join."""
    first = built.first_as_of
    as_of = [as_of_timestamp(first + pd.DateOffset(months=m)) for m in AS_OF_MONTHS]
    rows = label_rows(bank_dir, "churn", as_of)
    duckdb_store = open_store(settings_from(built.env["duckdb"]))
    frames = {}
    for name, store in (("duckdb", duckdb_store), ("spark", spark_store)):
        frame = training_set(store, feature_service(store, "customer_360_v1"), rows.copy())
        frames[name] = frame.sort_values([CUSTOMER_KEY, EVENT_TIMESTAMP], ignore_index=True)
    duckdb, spark = frames["duckdb"], frames["spark"]
    assert len(duckdb) == len(rows) > 2000
    assert duckdb.shape[1] == len(rows.columns) + 105  # the 360° view (README "Features")
    joined = duckdb[["tenure_months", "aum_cny", "txn_count_90d", "logins_30d", "utilization", "last_intent_topic"]]
    assert (joined.notna().mean() > 0.2).all()  # every view's features were joined, not left empty
    # No dtype is normalised here. training_set() gives `event_timestamp` as UTC in µs from either
    # store (Spark's toPandas hands it back zone-less, in session time UTC, in ns); every feature
    # column comes back from Spark with DuckDB's dtype as it is.
    assert list(spark.columns) == list(duckdb.columns)
    pd.testing.assert_frame_equal(spark, duckdb)


def test_a_project_applied_for_duckdb_is_refused_on_spark(built, bank_dir):
    env = built.env["duckdb"] | {"NBO_STORES__OFFLINE": "spark"}
    store = open_store(settings_from(env))
    rows = label_rows(bank_dir, "churn", [as_of_timestamp(built.first_as_of)])
    with pytest.raises(ConfigError, match="run `nbo features apply` with NBO_STORES__OFFLINE=spark"):
        training_set(store, feature_service(store, "churn_v1"), rows)
