"""Attributes with history (customer_history, SCD type 2): an overwritten value never leaks into earlier rows."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pandas as pd
import pytest

from features.build.monthly import build_feature_tables, offline_dir
from features.repo.store import apply_repo, open_store
from features.tables import EVENT_TIMESTAMP, PROFILE
from nbo.settings import Settings, StoreSettings
from sources.contract import HISTORY_COLUMNS
from sources.io import read_table, table_path, write_table

TABLES = ("customers", "products", "holdings", "events", "transactions", "credit", "customer_history")
CUSTOMERS = 60


@pytest.fixture(scope="module")
def tables(generated_bank: Path) -> dict[str, pd.DataFrame]:
    """The generated bank's first customers (its own tables: every one with a birth date and a history)."""
    frames = {t: read_table(generated_bank, t) for t in TABLES}
    keep = set(frames["customers"]["customer_id"].iloc[:CUSTOMERS])
    return {name: frame[frame["customer_id"].isin(keep)].reset_index(drop=True) if "customer_id" in frame else frame
            for name, frame in frames.items()}


@pytest.fixture(scope="module")
def months(tables: dict[str, pd.DataFrame]) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(sorted(tables["transactions"]["month"].unique()))


def _write(out: Path, tables: dict[str, pd.DataFrame]) -> Path:
    for name, frame in tables.items():
        write_table(out, name, frame)
    return out


def _rewritten(tables: dict[str, pd.DataFrame], customer_id: str, versions: list[dict]) -> dict[str, pd.DataFrame]:
    """The tables with `customer_id`'s history replaced by `versions` (valid_from and changed columns;
    the rest as today) and the customers table holding the last one."""
    t = {k: v.copy() for k, v in tables.items()}
    customers = t["customers"].set_index("customer_id")
    today = customers.loc[customer_id, list(HISTORY_COLUMNS)].to_dict()
    rows = pd.DataFrame([{"customer_id": customer_id, **today, **v} for v in versions])
    history = t["customer_history"]
    t["customer_history"] = pd.concat([history[history["customer_id"] != customer_id], rows], ignore_index=True)
    for column, value in versions[-1].items():
        if column != "valid_from":
            customers.loc[customer_id, column] = value
    t["customers"] = customers.reset_index()
    return t


def _long_standing(tables: dict[str, pd.DataFrame], months: pd.DatetimeIndex, n: int = 2) -> list[str]:
    """Customers who joined before the history and never closed."""
    c = tables["customers"]
    return c.loc[(c["join_date"] < months[0]) & c["close_date"].isna(), "customer_id"].iloc[:n].tolist()


def _profile(built: Path, customer_id: str) -> pd.DataFrame:
    rows = pd.read_parquet(built / PROFILE.file_name)
    return rows[rows["customer_id"] == customer_id].set_index(EVENT_TIMESTAMP)


def test_an_overwritten_risk_tolerance_does_not_leak_into_earlier_rows(tables, months, tmp_path):
    """C2 assessed at joining, reassessed C5 mid-month; a second customer's change dated exactly at an
    as-of instant. The built rows and Feast's point-in-time join both give each row the version then."""
    first, second = _long_standing(tables, months)
    changed_on = months[len(months) // 2] + pd.Timedelta(days=14)
    joined = tables["customers"].set_index("customer_id").loc[first, "join_date"]
    t = _rewritten(tables, first, [
        {"valid_from": joined, "risk_tolerance": "C2", "risk_assessed_at": joined},
        {"valid_from": changed_on, "risk_tolerance": "C5", "risk_assessed_at": changed_on},
    ])
    exactly = months[len(months) // 2] + pd.DateOffset(months=1)  # the as-of instant of the month before
    assessed = months[0] - pd.Timedelta(days=2)
    t = _rewritten(t, second, [{"valid_from": months[0] - pd.Timedelta(days=1), "segment": "mass", "risk_assessed_at": assessed},
                               {"valid_from": exactly, "segment": "private", "risk_assessed_at": assessed}])
    settings = Settings(state_dir=tmp_path / "state", stores=StoreSettings(
        feast_project=f"nbo_hist_{uuid.uuid4().hex[:8]}"))
    build_feature_tables(_write(tmp_path / "bank", t), offline_dir(settings))

    rows = _profile(offline_dir(settings), first)
    at = rows.index.tz_localize(None)
    before = at <= changed_on
    assert before.any() and (~before).any()
    assert set(rows.loc[before, "risk_tolerance"]) == {"C2"}
    assert set(rows.loc[before, "risk_tolerance_level"]) == {2}
    assert set(rows.loc[before, "risk_assessed_at"]) == {joined.strftime("%Y-%m-%d")}
    assert set(rows.loc[~before, "risk_tolerance"]) == {"C5"}
    assert set(rows.loc[~before, "risk_assessed_at"]) == {changed_on.strftime("%Y-%m-%d")}
    assert (rows.loc[~before, "risk_assessment_age_days"] == (at[~before] - changed_on).days).all()
    other = _profile(offline_dir(settings), second)["segment"]
    assert set(other[other.index.tz_localize(None) <= exactly]) == {"mass"}  # valid from T: not known at T
    assert set(other[other.index.tz_localize(None) > exactly]) == {"private"}

    store = open_store(settings)
    apply_repo(store, settings)
    stamps = pd.DatetimeIndex([changed_on - pd.Timedelta(days=1), changed_on + pd.Timedelta(days=1),
                               changed_on + pd.offsets.MonthBegin(1)]).tz_localize("UTC")
    entities = pd.DataFrame({"customer_id": [first] * 3 + [second] * 2,
                             "event_timestamp": [*stamps, exactly.tz_localize("UTC"),
                                                 (exactly + pd.DateOffset(months=1)).tz_localize("UTC")]})
    joined_rows = store.get_historical_features(
        entity_df=entities, features=["customer_profile:risk_tolerance", "customer_profile:segment"]).to_df()
    got = joined_rows.set_index(["customer_id", "event_timestamp"])
    # the day after the change, the row known then still describes the month before it
    assert [got.loc[(first, s), "risk_tolerance"] for s in stamps] == ["C2", "C2", "C5"]
    assert got.loc[(second, exactly.tz_localize("UTC")), "segment"] == "mass"
    assert got.loc[(second, (exactly + pd.DateOffset(months=1)).tz_localize("UTC")), "segment"] == "private"


def test_without_history_the_customers_table_holds_from_the_snapshot_only(tables, months, tmp_path):
    t = {k: v for k, v in tables.items() if k != "customer_history"}
    bank = _write(tmp_path / "bank", t)
    assert not table_path(bank, "customer_history").exists()
    build_feature_tables(bank, tmp_path / "own")
    rows = pd.read_parquet(tmp_path / "own" / PROFILE.file_name)
    last = rows[EVENT_TIMESTAMP] == rows[EVENT_TIMESTAMP].max()  # nbo's own data: from its last month's end
    scd = ["segment", "risk_tolerance", "preferred_channel", "has_marketing_consent", "risk_assessed_at"]
    assert rows.loc[~last, scd].isna().all().all() and rows.loc[last, "segment"].notna().all()
    assert rows["age_years"].notna().all() and rows["gender"].notna().all()  # not slowly changing: every row
    assert rows.loc[~last, "tenure_months"].notna().all()

    snapshot = months[3] + pd.Timedelta(days=9)  # an import's source.json names its snapshot date
    (bank / "source.json").write_text(json.dumps({"source": "test", "snapshot_date": snapshot.date().isoformat()}))
    build_feature_tables(bank, tmp_path / "imported")
    rows = pd.read_parquet(tmp_path / "imported" / PROFILE.file_name)
    known = rows[EVENT_TIMESTAMP].dt.tz_localize(None) > snapshot
    assert rows.loc[known, "segment"].notna().all() and rows.loc[~known, "segment"].isna().all()
    assert known.any() and (~known).any()
