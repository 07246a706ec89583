"""Point-in-time training sets for the risk models, pulled from Feast.

Labels come from `features.training_set.label_rows` (the label code in `sources.labels`), and
features from the model's Feast feature service through `get_historical_features`, with the
label's as-of instant as the entity timestamp. Data other than the configured data directory
(a public dataset, say) gets its own Feast state under `<state_dir>/datasets/`, so training on
it never replaces the features the service reads.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from feast import FeatureService
from feast.types import Array, PrimitiveFeastType

from features.build.monthly import build_feature_tables, offline_dir, read_manifest
from features.build.writers import MANIFEST
from features.repo.store import apply_repo, open_store
from features.tables import EVENT_TIMESTAMP
from features.training_set import LABEL_SERVICES, label_rows, training_set
from nbo.errors import ContractViolation, InputFileError
from nbo.settings import Settings
from sources import labels
from sources.contract import OPTIONAL_TABLES
from sources.extensions import extensions_path, extras_path, metrics_path
from sources.io import read_table, table_path
from sources.meta import read_meta
from training.registry import data_snapshot_id
from training.splits import AS_OF

log = logging.getLogger(__name__)

CANONICAL = ("customers", "products", "holdings", "events", "transactions", "credit")
SAMPLE_SEED = 0  # which customers a --sample-customers run keeps: the same ones every time
# The last month each label reads, in months after the as-of month: churn's 90 days reach into the
# second, delinquency looks 12 months ahead, adoption reads the as-of month's own month end.
MONTHS_AFTER_AS_OF = {"churn": 2, "delinquency": labels.DELINQUENCY_MONTHS - 1, "adoption": 0}


@dataclass(frozen=True)
class TrainingSet:
    """Labelled rows (customer_id, as_of, label, features) and what they were made from."""

    frame: pd.DataFrame
    label: str
    features: list[str]
    categorical: list[str]
    feature_service: str
    data_snapshot: str
    source: dict[str, object]
    sampled_customers: int | None = None  # customers drawn at random before labelling; None: all


def read_source_meta(data_dir: Path) -> dict[str, object]:
    """`source.json` of an imported public dataset, or a note that the data is nbo's own."""
    return read_meta(data_dir) or {"source": "canonical", "data_dir": str(data_dir.resolve())}


def _built_from(settings: Settings, data_dir: Path) -> bool:
    manifest = offline_dir(settings) / MANIFEST
    return manifest.is_file() and Path(read_manifest(offline_dir(settings)).data_dir) == data_dir.resolve()


def feature_settings(settings: Settings, data_dir: Path) -> Settings:
    """Settings whose Feast state holds `data_dir`'s features.

    That is the configured state when `data_dir` is the configured data directory or the one its
    features were last built from (`nbo features build DIR`); otherwise a state of its own.
    """
    if data_dir.resolve() == settings.data_dir.resolve() or _built_from(settings, data_dir):
        return settings
    slug = hashlib.sha256(str(data_dir.resolve()).encode()).hexdigest()[:10]
    stores = settings.stores.model_copy(update={"feast_project": f"{settings.stores.feast_project}_{slug}"})
    return settings.model_copy(update={"state_dir": settings.state_dir / "datasets" / slug, "stores": stores})


def _is_stale(settings: Settings, data_dir: Path) -> bool:
    if not _built_from(settings, data_dir):
        return True
    built = (offline_dir(settings) / MANIFEST).stat().st_mtime
    return any(path.stat().st_mtime > built for path in data_files(data_dir))


def data_files(data_dir: Path) -> list[Path]:
    """The files a data directory's features are built from: the canonical tables, the optional ones
    present (attribute history) and its extensions (`extensions.json` and its tables) where it has them."""
    optional = [table_path(data_dir, t) for t in OPTIONAL_TABLES]
    extensions = [extensions_path(data_dir), extras_path(data_dir), metrics_path(data_dir)]
    return [table_path(data_dir, t) for t in CANONICAL] + [p for p in optional + extensions if p.is_file()]


def ensure_features(settings: Settings, data_dir: Path, rebuild: bool) -> None:
    """Build the feature tables of `data_dir` when asked or stale, and apply the Feast repo."""
    missing = [t for t in CANONICAL if not table_path(data_dir, t).is_file()]
    if missing:
        raise InputFileError(f"{data_dir}: missing canonical tables {', '.join(missing)}")
    if rebuild or _is_stale(settings, data_dir):
        build_feature_tables(data_dir, offline_dir(settings))
    apply_repo(open_store(settings), settings)


def label_as_of_dates(data_dir: Path, label: str, source: dict[str, object]) -> list[pd.Timestamp]:
    """Every as-of date the data can label: the stated one of a snapshot, else each month that can."""
    if "as_of" in source:
        return [labels.as_of_timestamp(str(source["as_of"]))]
    months = pd.DatetimeIndex(sorted(pd.read_parquet(table_path(data_dir, "transactions"), columns=["month"])
                                     ["month"].unique()))
    ahead = MONTHS_AFTER_AS_OF[label]
    dates = [m for m in months[1:] if m + pd.DateOffset(months=ahead) <= months[-1]]
    if not dates:
        raise ContractViolation(
            f"{data_dir}: no as-of date can be labelled for {label}: it needs a month of history and "
            f"{ahead} more months of outcome after the as-of month, {ahead + 2} months in all; "
            f"the transactions table holds {len(months)} month(s)")
    return dates


def _label_rows(data_dir: Path, label: str, as_of: list[pd.Timestamp], source: dict[str, object],
                customer_ids: list[str] | None) -> pd.DataFrame:
    horizon = source.get("delinquency_horizon_months")
    if label != "delinquency" or horizon is None:
        return label_rows(data_dir, label, as_of, customer_ids)
    credit = read_table(data_dir, "credit", customer_ids)
    population = str(source.get("delinquency_population", "performing"))
    rows = pd.concat([labels.delinquency_labels(credit, t, int(horizon), population) for t in as_of],
                     ignore_index=True)
    rows[EVENT_TIMESTAMP] = pd.to_datetime(rows.pop("as_of")).dt.tz_localize("UTC")
    return rows


def model_features(service: FeatureService) -> tuple[list[str], list[str]]:
    """A service's model features (lists dropped) and which of them are categorical (strings)."""
    fields = [f for p in service.feature_view_projections for f in p.features if not isinstance(f.dtype, Array)]
    categorical = [f.name for f in fields if f.dtype == PrimitiveFeastType.STRING]
    return [f.name for f in fields], categorical


def sample_customers(data_dir: Path, customers: int | None) -> list[str] | None:
    """`customers` of the bank's customers drawn at random (seeded: the same ones every run), or None
    (everyone) when the bank has no more than that or no sample is asked for."""
    if customers is None:
        return None
    ids = pd.read_parquet(table_path(data_dir, "customers"), columns=["customer_id"])["customer_id"].to_numpy()
    if len(ids) <= customers:
        return None
    return sorted(np.random.default_rng(SAMPLE_SEED).choice(np.sort(ids), size=customers, replace=False))


def load_training_set(settings: Settings, label: str, data_dir: Path, rebuild: bool = False,
                      customers: int | None = None) -> TrainingSet:
    """Build (if needed) and read the point-in-time training set for `label` from `data_dir`;
    with `customers`, that many of the bank's customers are drawn at random first and only their
    rows are labelled and joined (a bounded-memory set for a large bank)."""
    own = feature_settings(settings, data_dir)
    ensure_features(own, data_dir, rebuild)
    store = open_store(own)
    service = store.get_feature_service(LABEL_SERVICES[label])
    source = read_source_meta(data_dir)
    sample = sample_customers(data_dir, customers)
    rows = _label_rows(data_dir, label, label_as_of_dates(data_dir, label, source), source, sample)
    frame = training_set(store, service, rows)
    frame[AS_OF] = frame.pop(EVENT_TIMESTAMP).dt.tz_convert("UTC").dt.tz_localize(None)
    features, categorical = model_features(service)
    snapshot = data_snapshot_id(data_files(data_dir))
    log.info("training_set_loaded", extra={"label": label, "rows": len(frame), "snapshot": snapshot,
                                           "customers": int(frame["customer_id"].nunique()),
                                           "sampled_customers": len(sample) if sample else None})
    return TrainingSet(frame.sort_values([AS_OF, "customer_id"], ignore_index=True), label, features,
                       categorical, service.name, snapshot, source, len(sample) if sample else None)
