"""No feature leaks from after its as-of instant: on the feature tables, and through Feast's join."""

from __future__ import annotations

import uuid
from pathlib import Path

import pandas as pd
import pytest

from features.build.intents import last_intents
from features.build.monthly import build_feature_tables, offline_dir
from features.online.push import push_intent_events
from features.online.reader import OnlineReader
from features.repo.store import apply_repo, feature_service, open_store
from features.tables import BUILT_TABLES, EVENT_TIMESTAMP, PROFILE
from features.training_set import training_set
from nbo.settings import Settings, StoreSettings
from sources.contract import HISTORY_COLUMNS
from sources.history import snapshot_date
from sources.io import read_table, write_table

ATTRIBUTES = ("segment", "risk_tolerance", "occupation", "preferred_channel")
TABLES = ("customers", "products", "holdings", "events", "transactions", "credit", "customer_history")


@pytest.fixture(scope="module")
def as_of(bank_dir: Path) -> pd.Timestamp:
    """An as-of date mid-history: data of the months before it is known at it."""
    months = sorted(read_table(bank_dir, "transactions")["month"].unique())
    return pd.Timestamp(months[len(months) // 2])


def _small_bank(bank_dir: Path, out: Path, customers: int = 150) -> dict[str, pd.DataFrame]:
    """The session bank's first `customers` customers, written to `out`."""
    tables = {t: read_table(bank_dir, t) for t in TABLES}
    keep = set(tables["customers"]["customer_id"].iloc[:customers])
    for name, frame in tables.items():
        if "customer_id" in frame:
            tables[name] = frame[frame["customer_id"].isin(keep)].reset_index(drop=True)
    _write(out, tables)
    return tables


def _write(out: Path, tables: dict[str, pd.DataFrame]) -> None:
    for name, frame in tables.items():
        write_table(out, name, frame)


def _known_at(tables: dict[str, pd.DataFrame], at: pd.Timestamp) -> dict[str, pd.DataFrame]:
    """What the bank knew at instant `at`: rows observed before it, closures that had happened."""
    t = dict(tables)
    t["holdings"] = t["holdings"][t["holdings"]["snapshot_date"] < at]
    t["events"] = t["events"][t["events"]["event_time"] < at.tz_localize("UTC")]
    t["transactions"] = t["transactions"][t["transactions"]["month"] < at]
    t["credit"] = t["credit"][t["credit"]["month"] < at]
    t["customer_history"] = t["customer_history"][t["customer_history"]["valid_from"] < at]
    customers = t["customers"].assign(close_date=t["customers"]["close_date"].where(t["customers"]["close_date"] < at))
    # A customer without a history (OneID: one seen by no core-banking system) has only the customers
    # table's values, observed at the full data's snapshot, after `at`: unknown at `at`.
    unversioned = ~customers["customer_id"].isin(tables["customer_history"]["customer_id"])
    customers[list(HISTORY_COLUMNS)] = customers[list(HISTORY_COLUMNS)].astype(object).where(~unversioned, None)
    dtypes = tables["customers"].dtypes.replace({"bool": "boolean"})  # a bool column holds no missing value
    t["customers"] = customers.astype(dtypes.to_dict())
    return t


def test_feature_rows_at_or_before_t_only_use_data_known_at_t(bank_dir, as_of, tmp_path):
    full = _small_bank(bank_dir, tmp_path / "full")
    _write(tmp_path / "known", _known_at(full, as_of))
    build_feature_tables(tmp_path / "full", tmp_path / "full_features")
    build_feature_tables(tmp_path / "known", tmp_path / "known_features")
    for table in BUILT_TABLES:
        # Nullable dtypes: a null in a row after the as-of date must not turn a column float in one build only.
        rows = [pd.read_parquet(tmp_path / d / table.file_name, dtype_backend="numpy_nullable")
                for d in ("full_features", "known_features")]
        seen, known = (r[r[EVENT_TIMESTAMP] <= as_of.tz_localize("UTC")].reset_index(drop=True) for r in rows)
        assert len(seen) > 0, table.name
        pd.testing.assert_frame_equal(seen, known, obj=table.name)


def test_profile_attributes_are_the_versions_valid_at_each_row(bank_dir, tmp_path):
    tables = _small_bank(bank_dir, tmp_path / "bank")
    customers, history = tables["customers"].set_index("customer_id"), tables["customer_history"]
    build_feature_tables(tmp_path / "bank", tmp_path / "features")
    rows = pd.read_parquet(tmp_path / "features" / PROFILE.file_name)
    canonical = customers.loc[rows["customer_id"]].reset_index(drop=True)
    born = canonical["birth_date"].dt.strftime("%Y-%m-%d")
    assert rows["birth_date"].tolist() == born.astype(object).where(born.notna(), None).tolist()
    # a customer no core-banking system holds (OneID) has no history: its attributes are the customers
    # table's, known only from the data's snapshot (after every row here)
    versioned = rows["customer_id"].isin(history["customer_id"])
    snapshot = snapshot_date(tmp_path / "bank", tables["transactions"]["month"].max()).tz_localize("UTC")
    before = rows.loc[~versioned & (rows[EVENT_TIMESTAMP] <= snapshot), list(ATTRIBUTES)]
    assert len(before) and before.isna().all().all()
    rows = rows[versioned].reset_index(drop=True)
    # the version valid at each row, found independently: the last with valid_from strictly before it
    keyed = rows.assign(at=rows[EVENT_TIMESTAMP].dt.tz_localize(None).astype("datetime64[ns]"), n=range(len(rows)))
    valid = pd.merge_asof(keyed.sort_values("at"), history.sort_values("valid_from"), left_on="at",
                          right_on="valid_from", by="customer_id", allow_exact_matches=False,
                          suffixes=("", "_version")).sort_values("n").reset_index(drop=True)
    assert valid["valid_from"].notna().all()  # the synthetic bank's first version holds from joining
    for column in ATTRIBUTES:
        assert rows[column].tolist() == valid[f"{column}_version"].tolist(), column
    assert rows["income_monthly_cny"].equals(valid["income_monthly"].rename("income_monthly_cny"))
    assert rows["has_marketing_consent"].tolist() == valid["marketing_consent"].tolist()
    assert rows["risk_assessed_at"].tolist() == valid["risk_assessed_at_version"].dt.strftime("%Y-%m-%d").tolist()
    assert (rows["risk_assessment_age_days"] > 0).all()
    changed = rows.groupby("customer_id")["risk_tolerance"].nunique() > 1
    assert changed.any()  # some tolerance in the history changed within the rows


def _planted_customer(tables: dict[str, pd.DataFrame], t: pd.Timestamp) -> str:
    """A customer with transactions and credit in both the month before `t` and the month from `t`."""
    months = [t - pd.DateOffset(months=1), t]
    ids = [set(t.loc[t["month"].isin(months), "customer_id"].value_counts().loc[lambda c: c == 2].index)
           for t in (tables["transactions"], tables["credit"])]
    return sorted(ids[0] & ids[1])[0]


def _plant(tables: dict[str, pd.DataFrame], customer_id: str, as_of: pd.Timestamp) -> dict[str, pd.DataFrame]:
    """Inflow and mortgage page views planted the month before `as_of`; inflow, DPD, a gold page view at
    exactly `as_of` and fx searches after."""
    at = as_of.tz_localize("UTC")
    t = {k: v.copy() for k, v in tables.items()}
    txn, credit = t["transactions"], t["credit"]
    for month, inflow in ((as_of - pd.DateOffset(months=1), 1_234_567.0), (as_of, 9_999_999.0)):
        txn.loc[(txn["customer_id"] == customer_id) & (txn["month"] == month), "inflow"] = inflow
    credit.loc[credit["customer_id"] == customer_id, "days_past_due"] = 0
    credit.loc[(credit["customer_id"] == customer_id) & (credit["month"] == as_of), "days_past_due"] = 90
    start = int(t["events"]["event_id"].max()) + 1
    stamps = ([at - pd.Timedelta(seconds=s) for s in (3, 2, 1)] + [at]
              + [at + pd.Timedelta(seconds=s) for s in (1, 60)])
    planted = pd.DataFrame({"event_id": range(start, start + 6), "customer_id": customer_id,
                            "event_time": stamps, "event_type": ["page_view"] * 4 + ["search"] * 2,
                            "topic": ["mortgage"] * 3 + ["gold"] + ["fx"] * 2, "product_id": None, "channel": "app"})
    t["events"] = pd.concat([t["events"], planted], ignore_index=True)
    return t


@pytest.fixture()
def planted_store(bank_dir, as_of, tmp_path):
    """A bank with planted changes, built and applied into its own Feast state (SQLite)."""
    small = _small_bank(bank_dir, tmp_path / "bank")
    customer_id = _planted_customer(small, as_of)
    tables = _plant(small, customer_id, as_of)
    _write(tmp_path / "bank", tables)
    settings = Settings(state_dir=tmp_path / "state", stores=StoreSettings(
        feast_project=f"nbo_pit_{uuid.uuid4().hex[:8]}"))
    build_feature_tables(tmp_path / "bank", offline_dir(settings))
    store = open_store(settings)
    apply_repo(store, settings)
    return store, tables, customer_id


def test_training_row_at_t_sees_what_happened_before_t_and_nothing_after(planted_store, as_of):
    store, tables, planted = planted_store
    at = as_of.tz_localize("UTC")
    entities = pd.DataFrame({"customer_id": [planted] * 2, "event_timestamp": [at, at + pd.DateOffset(months=1)]})
    features = ["customer_rfm_180d:inflow_cny_30d", "customer_engagement_90d:page_views_mortgage_30d",
                "customer_engagement_90d:searches_fx_30d", "customer_engagement_90d:page_views_gold_30d",
                "customer_credit_12m:worst_dpd_12m",
                "customer_intent_realtime:last_intent_topic"]
    rows = store.get_historical_features(entity_df=entities, features=features).to_df()
    at_t, month_later = (rows[rows["event_timestamp"] == ts].iloc[0] for ts in entities["event_timestamp"])
    events = tables["events"]
    august_views = ((events["customer_id"] == planted) & (events["topic"] == "mortgage")
                    & (events["event_type"] == "page_view")
                    & (events["event_time"] >= at - pd.DateOffset(months=1)) & (events["event_time"] < at))
    gold_views = (events["customer_id"] == planted) & (events["topic"] == "gold") & (events["event_type"] == "page_view")
    gold_before, gold_from = (gold_views & (events["event_time"] >= start) & (events["event_time"] < end)
                              for start, end in ((at - pd.DateOffset(months=1), at), (at, at + pd.DateOffset(months=1))))
    # before the as-of instant: present
    assert at_t["inflow_cny_30d"] == 1_234_567.0
    assert at_t["page_views_mortgage_30d"] == august_views.sum() >= 3
    assert at_t["last_intent_topic"] == "mortgage"
    # after it: absent at it ...
    assert at_t["searches_fx_30d"] == 0
    assert at_t["worst_dpd_12m"] == 0
    assert at_t["page_views_gold_30d"] == gold_before.sum()  # the gold view at exactly T is not counted at T
    # ... and visible once observed, a month later
    assert month_later["inflow_cny_30d"] == 9_999_999.0
    assert month_later["searches_fx_30d"] >= 2
    assert month_later["worst_dpd_12m"] == 90
    assert month_later["page_views_gold_30d"] == gold_from.sum() >= 1


def test_the_build_stamps_intent_after_its_event():
    """The intent history of a tiny event log: an event at exactly T is stamped after T, one before T at or before it."""
    at = pd.Timestamp("2024-06-01", tz="UTC")
    events = pd.DataFrame({"customer_id": ["C00000001", "C00000002", "C00000003"],
                           "event_time": [at - pd.Timedelta(seconds=1), at, at - pd.Timedelta(nanoseconds=500)],
                           "event_type": ["page_view", "search", "search"], "topic": ["mortgage", "gold", "fx"],
                           "product_id": None}, index=[7, 8, 9])
    rows = last_intents(events).to_pandas().set_index("customer_id")
    one_us = pd.Timedelta(microseconds=1)
    assert rows[EVENT_TIMESTAMP].to_dict() == {"C00000001": at - pd.Timedelta(seconds=1) + one_us,
                                               "C00000002": at + one_us, "C00000003": at}
    assert sorted(rows.index[rows[EVENT_TIMESTAMP] <= at]) == ["C00000001", "C00000003"]


def test_intent_pushed_at_exactly_t_enters_the_training_row_after_t_only(planted_store, as_of):
    store, _, planted = planted_store
    at = as_of.tz_localize("UTC")
    push_intent_events(store, pd.DataFrame({"customer_id": [planted], "event_time": [at],
                                            "event_type": ["search"], "topic": ["insurance"]}))
    assert OnlineReader(store, "customer_360_v1").read_customer(planted).values["last_intent_topic"] == "insurance"
    rows = pd.DataFrame({"customer_id": [planted] * 2, EVENT_TIMESTAMP: [at, at + pd.Timedelta(microseconds=1)]})
    joined = training_set(store, feature_service(store, "customer_360_v1"), rows).set_index(EVENT_TIMESTAMP)
    assert joined["last_intent_topic"].to_dict() == {at: "mortgage", at + pd.Timedelta(microseconds=1): "insurance"}
