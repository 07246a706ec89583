"""Point-in-time training sets: labels at as-of instants joined to features by Feast.

The label's as-of instant is the entity timestamp, so Feast's point-in-time join picks, for each
view, the newest row stamped at or before it: data of months before the as-of date only.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from features.tables import EVENT_TIMESTAMP
from sources import labels
from sources.io import read_table

if TYPE_CHECKING:
    from feast import FeatureService, FeatureStore

LABEL_SERVICES = {"churn": "churn_v1", "delinquency": "delinquency_v1", "adoption": "ranker_v1"}
LABEL_COLUMNS = {"churn": "churn", "delinquency": "delinquency", "adoption": "adopted"}
_LABEL_TABLES = {"churn": ("customers", "events", "transactions", "holdings"),
                 "delinquency": ("credit",), "adoption": ("holdings", "products")}


def label_rows(data_dir: Path, label: str, as_of_dates: list[pd.Timestamp],
               customer_ids: Sequence[str] | None = None) -> pd.DataFrame:
    """Entity rows for a label: keys, `event_timestamp` (the as-of instant, UTC) and the label;
    with `customer_ids`, of those customers only (their rows alone are read)."""
    t = {name: read_table(data_dir, name, None if name == "products" else customer_ids)
         for name in _LABEL_TABLES[label]}
    if label == "churn":
        activity = labels.monthly_activity(t["events"], t["transactions"], t["holdings"])
        frames = [labels.churn_labels(t["customers"], activity, as_of) for as_of in as_of_dates]
    elif label == "delinquency":
        frames = [labels.delinquency_labels(t["credit"], as_of) for as_of in as_of_dates]
    else:
        frames = [labels.adoption_labels(t["holdings"], t["products"], as_of) for as_of in as_of_dates]
    rows = pd.concat(frames, ignore_index=True)
    rows[EVENT_TIMESTAMP] = pd.to_datetime(rows.pop("as_of")).dt.tz_localize("UTC")
    return rows


def training_set(store: FeatureStore, service: FeatureService | list[str], rows: pd.DataFrame) -> pd.DataFrame:
    """Join every feature of a service (or the `view:feature` references given) to the entity rows,
    point in time, on the configured offline store.

    `event_timestamp` comes back as UTC in microseconds from either store: DuckDB answers that;
    Spark's `toPandas` drops the zone (its session time zone is UTC) and widens to nanoseconds.
    """
    from features.repo.store import require_offline_sources  # Feast loads only when a set is made

    require_offline_sources(store)
    frame = store.get_historical_features(entity_df=rows, features=service).to_df()
    frame[EVENT_TIMESTAMP] = pd.to_datetime(frame[EVENT_TIMESTAMP], utc=True).astype("datetime64[us, UTC]")
    return frame
