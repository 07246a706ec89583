"""The recommender's data: customer feature rows from Feast at each as-of date, adoptions, catalogue.

Adoption labels come from `sources.labels` (via `features.training_set.label_rows`); customer
features from the `ranker_v1` feature service through Feast's point-in-time join with the as-of
instant as entity timestamp; product attributes from the same service's product view. Each
product's web topic is read from events that name both (clicks, offers).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
from feast import FeatureService, FeatureStore

from features.repo.store import open_store
from features.tables import CUSTOMER_KEY, EVENT_TIMESTAMP, PRODUCT_KEY
from features.training_set import LABEL_SERVICES, label_rows, training_set
from models.recommender import Catalogue
from nbo.errors import ContractViolation
from nbo.settings import Settings
from sources.io import read_table, table_path
from training.datasets import data_files, ensure_features, feature_settings, read_source_meta
from training.registry import data_snapshot_id
from training.splits import AS_OF

log = logging.getLogger(__name__)

WARMUP_MONTHS = 3  # the first as-of dates lack full 90-day feature windows
VALID_MONTHS = 2
TEST_MONTHS = 3


@dataclass(frozen=True)
class RecommenderData:
    """Customer feature rows (one per customer and as-of date), adoptions and the catalogue."""

    rows: pd.DataFrame
    adopted: pd.DataFrame  # customer_id, as_of, product_id
    catalogue: Catalogue
    feature_service: str
    data_snapshot: str
    source: dict[str, object]


def adoption_as_of_dates(data_dir: Path) -> list[pd.Timestamp]:
    """As-of dates with a full label month after them and full feature windows before them."""
    snapshots = pd.DatetimeIndex(sorted(read_table(data_dir, "holdings")["snapshot_date"].unique()))
    as_of = [s + pd.Timedelta(days=1) for s in snapshots[:-1]][WARMUP_MONTHS:]
    if len(as_of) < VALID_MONTHS + TEST_MONTHS + 1:
        raise ContractViolation(f"{data_dir}: {len(snapshots)} months of holdings; the recommender needs "
                                f"{WARMUP_MONTHS + VALID_MONTHS + TEST_MONTHS + 2} for a time split")
    return as_of


def split_as_of(as_of: list[pd.Timestamp]) -> dict[str, list[pd.Timestamp]]:
    """Train on the earlier as-of dates, validate and test on the last ones (never at random)."""
    first_valid, first_test = len(as_of) - VALID_MONTHS - TEST_MONTHS, len(as_of) - TEST_MONTHS
    return {"train": as_of[:first_valid], "valid": as_of[first_valid:first_test], "test": as_of[first_test:]}


def _references(store: FeatureStore, service: FeatureService) -> dict[str, list[str]]:
    """The service's feature references ("view:feature") by entity key."""
    refs: dict[str, list[str]] = {CUSTOMER_KEY: [], PRODUCT_KEY: []}
    for projection in service.feature_view_projections:
        keys = [c.name for c in store.get_feature_view(projection.name).entity_columns]
        refs[keys[0]] += [f"{projection.name_to_use()}:{f.name}" for f in projection.features]
    return refs


def product_topics(data_dir: Path) -> dict[str, str]:
    """Each product's most frequent web topic among events naming the product."""
    events = pq.read_table(table_path(data_dir, "events"), columns=["product_id", "topic"]).to_pandas()
    named = events.dropna()
    if named.empty:
        return {}
    return named.groupby("product_id")["topic"].agg(lambda t: t.value_counts().index[0]).to_dict()


def _catalogue(store: FeatureStore, refs: list[str], data_dir: Path, at: pd.Timestamp) -> Catalogue:
    products = read_table(data_dir, "products")["product_id"]
    entity = pd.DataFrame({PRODUCT_KEY: products, EVENT_TIMESTAMP: at.tz_localize("UTC")})
    frame = training_set(store, refs, entity)
    frame = frame.drop(columns=EVENT_TIMESTAMP).set_index(PRODUCT_KEY).loc[products]
    return Catalogue(frame.assign(topic=frame.index.map(product_topics(data_dir))))


def load_recommender_data(settings: Settings, data_dir: Path, rebuild: bool = False) -> RecommenderData:
    """Build the features if needed, then read labels, customer rows and catalogue for every as-of date."""
    own = feature_settings(settings, data_dir)
    ensure_features(own, data_dir, rebuild)
    store = open_store(own)
    service = store.get_feature_service(LABEL_SERVICES["adoption"])
    refs = _references(store, service)
    as_of = adoption_as_of_dates(data_dir)
    labels = label_rows(data_dir, "adoption", as_of)
    entity = labels[[CUSTOMER_KEY, EVENT_TIMESTAMP]].drop_duplicates(ignore_index=True)
    rows = training_set(store, refs[CUSTOMER_KEY], entity)
    rows[AS_OF] = rows.pop(EVENT_TIMESTAMP).dt.tz_convert("UTC").dt.tz_localize(None)
    adopted = labels.loc[labels["adopted"], [CUSTOMER_KEY, "product_id", EVENT_TIMESTAMP]]
    adopted = adopted.assign(**{AS_OF: adopted.pop(EVENT_TIMESTAMP).dt.tz_localize(None)})
    snapshot = data_snapshot_id(data_files(data_dir))
    log.info("recommender_data_loaded", extra={"rows": len(rows), "adoptions": len(adopted), "snapshot": snapshot})
    return RecommenderData(rows.sort_values([AS_OF, CUSTOMER_KEY], ignore_index=True), adopted.reset_index(drop=True),
                           _catalogue(store, refs[PRODUCT_KEY], data_dir, max(as_of)), service.name, snapshot,
                           read_source_meta(data_dir))
