"""`nbo features ...` on the session bank, and the Feast stores it fills (real SQLite, Redis, Postgres)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from feast import FeatureService, FeatureStore

from features.build.writers import arrow_schema
from features.online.push import push_intent_events
from features.online.reader import OnlineReader
from features.tables import ALL_TABLES, CUSTOMER_TABLES, INTENT_REALTIME
from nbo.cli import main
from nbo.errors import ContractViolation, CustomerNotFound, FeatureServiceNotFound
from sources.io import read_table
from tests.conftest import run_cli, run_json

# README: "116 features in all (105 served to the RM's 360° view by `customer_360_v1`...)". Counts are
# exact (tolerance 0): a feature added or dropped changes the claim, and the README with it.
FEATURES_360 = 105
FEATURES_ALL = 116

PROFILES = ("embedded", "scale")
PUSHED_CUSTOMERS = ("C00001990", "C00001991")  # kept out of the store-to-store comparison


@pytest.fixture(scope="module")
def readers(feature_stores) -> dict[str, OnlineReader]:
    """The RM's 360° profile reader on each store."""
    return {profile: OnlineReader(store, "customer_360_v1") for profile, store in feature_stores.items()}


@pytest.fixture(scope="module")
def active_last_month(bank_dir: Path) -> list[str]:
    """Customers with a login or a transaction in the bank's last month."""
    txns = read_table(bank_dir, "transactions")
    last = txns["month"].max()
    events = read_table(bank_dir, "events")
    logins = events[(events["event_type"] == "login")
                    & (events["event_time"] >= pd.Timestamp(last).tz_localize("UTC"))]
    ids = set(txns.loc[(txns["month"] == last) & (txns["txn_count"] > 0), "customer_id"])
    return sorted(ids | set(logins["customer_id"]))


def test_build_writes_one_table_per_view(feature_state, bank_dir):
    built = feature_state.build
    months = read_table(bank_dir, "transactions")["month"]
    assert set(built["rows"]) == {t.name for t in ALL_TABLES}
    assert built["customer_feature_count"] == FEATURES_360
    assert pd.Timestamp(built["first_as_of"]) == (months.min() + pd.DateOffset(months=1)).tz_localize("UTC")
    assert pd.Timestamp(built["last_as_of"]) == (months.max() + pd.DateOffset(months=1)).tz_localize("UTC")
    for table in ALL_TABLES:
        assert pq.read_schema(Path(built["out_dir"]) / table.file_name).names == arrow_schema(table).names


def test_apply_and_materialize_report_what_they_did(feature_state, bank_dir):
    applied, materialized = feature_state.applied["embedded"], feature_state.materialized["embedded"]
    assert (applied["profile"], applied["project"]) == ("embedded", feature_state.env["embedded"][
        "NBO_STORES__FEAST_PROJECT"])
    assert applied["online_store"] == f"sqlite: {feature_state.state_dir / 'feast' / 'online.db'}"
    assert applied["registry"] == str(feature_state.state_dir / "feast" / "registry.db")
    assert set(applied["feature_services"]) == {"customer_360_v1", "ranker_v1", "churn_v1", "delinquency_v1"}
    assert applied["feature_services"] == feature_state.applied["scale"]["feature_services"]
    assert materialized["rows"]["customer_profile"] == len(read_table(bank_dir, "customers"))
    assert materialized["rows"] == feature_state.materialized["scale"]["rows"]
    assert materialized["total_rows"] == sum(materialized["rows"].values())
    assert materialized["rows_per_s"] > 0


def test_scale_profile_uses_redis_and_a_postgres_registry(feature_state, feature_stores):
    config = feature_stores["scale"].config
    assert config.online_store.type == "redis"
    assert config.registry.registry_type == "sql"
    assert config.registry.path.endswith(feature_state.env["scale"]["NBO_STORES__POSTGRES_URL"].split("/")[-1])


def test_active_customers_have_their_profile_online(feature_stores, active_last_month):
    store = feature_stores["embedded"]
    service = store.get_feature_service("customer_360_v1")
    frame = store.get_online_features(
        features=service, entity_rows=[{"customer_id": c} for c in active_last_month]).to_df()
    features = frame.drop(columns="customer_id")
    assert features.shape[1] == FEATURES_360
    mostly_present = features.notna().mean(axis=1) > 0.5
    assert len(active_last_month) > 1000
    assert mostly_present.mean() >= 0.9


def _feast_read(store: FeatureStore, service: FeatureService, customer_id: str) -> tuple[dict, dict]:
    """Values and row timestamps as Feast's own `get_online_features` answers them."""
    response = store.get_online_features(features=service, entity_rows=[{"customer_id": customer_id}])
    values = {name: column[0] for name, column in response.to_dict().items() if name != "customer_id"}
    names = response.proto.metadata.feature_names.val
    seconds = {n: r.event_timestamps[0].seconds for n, r in zip(names, response.proto.results, strict=True)}
    return values, {n: datetime.fromtimestamp(seconds[n], UTC) if seconds[n] else None for n in values}


@pytest.mark.parametrize("profile", PROFILES)
def test_reader_serves_what_feast_get_online_features_does(feature_stores, active_last_month, profile):
    store = feature_stores[profile]
    for service in ("customer_360_v1", "churn_v1", "delinquency_v1"):
        reader = OnlineReader(store, service)
        for customer_id in active_last_month[::200]:
            read = reader.read_customer(customer_id)
            assert (read.values, read.timestamps) == _feast_read(store, reader.service, customer_id), customer_id
        unknown = _feast_read(store, reader.service, "C99999998")[0]
        assert unknown and all(v is None for v in unknown.values())
        with pytest.raises(CustomerNotFound):
            reader.read_customer("C99999998")
    with pytest.raises(ContractViolation, match="'product_attributes', not keyed by customer_id"):
        OnlineReader(store, "ranker_v1")


@pytest.mark.parametrize("profile", PROFILES)
def test_a_batch_read_serves_what_feast_does_and_keeps_unknown_customers_in_place(feature_stores, readers,
                                                                                 active_last_month, profile):
    reader = readers[profile]
    ids = [*active_last_month[::150], "C99999998", active_last_month[0]]
    batch = reader.read_customers(ids)
    assert len(batch) == len(ids)
    for customer_id, found in zip(ids, batch, strict=True):
        if customer_id == "C99999998":
            assert isinstance(found, CustomerNotFound) and "C99999998" in str(found)
            continue
        assert not isinstance(found, CustomerNotFound) and found.customer_id == customer_id
        assert (found.values, found.timestamps) == _feast_read(feature_stores[profile], reader.service, customer_id)


@pytest.mark.parametrize("profile", PROFILES)
def test_a_read_of_some_features_gives_those_of_the_whole_read(readers, bank_dir, profile):
    """What the batch scores read: a model's features only, from the views holding them; a
    customer none of them is online for is still found when the service has others."""
    reader = readers[profile]
    ids = [*sorted(read_table(bank_dir, "customers")["customer_id"])[::40], "C99999998"]
    names = ["age_years", "aum_cny", "txn_count_30d", "utilization", "not_a_feature"]
    whole, some = reader.read_customers(ids), reader.read_customers(ids, names=names)
    assert sum(isinstance(w, CustomerNotFound) for w in whole) == 1
    for w, s in zip(whole, some, strict=True):
        if isinstance(w, CustomerNotFound):
            assert isinstance(s, CustomerNotFound) and str(s) == str(w)
            continue
        assert not isinstance(s, CustomerNotFound) and list(s.values) == names[:4]
        assert (s.values, s.timestamps) == ({n: w.values[n] for n in names[:4]}, {n: w.timestamps[n] for n in names[:4]})
        assert s.stale == tuple(n for n in w.stale if n in names)
    intent = next(v.features for v in reader.views if v.view.name == INTENT_REALTIME.name)
    no_intent = [w for w in whole if not isinstance(w, CustomerNotFound) and all(w.values[n] is None for n in intent)]
    assert no_intent, "the bank has customers without intent events"
    [found] = reader.read_customers([no_intent[0].customer_id], names=intent)
    assert not isinstance(found, CustomerNotFound) and found.values == dict.fromkeys(intent)


def test_a_large_sqlite_read_reads_the_views_in_parallel_and_gives_the_same(readers, bank_dir, monkeypatch):
    import features.online.rows as rows

    reader, names = readers["embedded"], ["age_years", "aum_cny", "utilization"]
    ids = [*sorted(read_table(bank_dir, "customers")["customer_id"])[::7], "C99999998"]
    serial = reader.read_customers(ids), reader.read_customers(ids, names=names)
    monkeypatch.setattr(rows, "PARALLEL_MIN_KEYS", 1)
    parallel = reader.read_customers(ids), reader.read_customers(ids, names=names)

    def shown(batch: list) -> list:
        return [str(f) if isinstance(f, CustomerNotFound) else f for f in batch]

    assert shown(parallel[0]) == shown(serial[0]) and shown(parallel[1]) == shown(serial[1])
    assert sum(isinstance(f, CustomerNotFound) for f in parallel[0]) == 1


def test_sqlite_and_redis_serve_identical_features(readers, active_last_month):
    sample = [c for c in active_last_month[::20] if c not in PUSHED_CUSTOMERS]
    for customer_id in sample:
        sqlite, redis = (readers[p].read_customer(customer_id) for p in PROFILES)
        assert sqlite.values == redis.values, customer_id
        assert sqlite.timestamps == redis.timestamps, customer_id


def _iso(day: pd.Timestamp) -> str | None:
    return None if pd.isna(day) else day.date().isoformat()


def test_rule_dates_are_the_customers_tables_and_only_in_the_360_profile(feature_stores, readers, bank_dir,
                                                                          active_last_month):
    customers = read_table(bank_dir, "customers").set_index("customer_id")
    for customer_id in active_last_month[:20]:
        birth, assessed = customers.loc[customer_id, ["birth_date", "risk_assessed_at"]]
        for profile in PROFILES:
            read = readers[profile].read_customer(customer_id)
            as_of = pd.Timestamp(read.timestamps["birth_date"]).tz_localize(None)  # the row's month start
            assert read.values["birth_date"] == _iso(birth), (profile, customer_id)
            assert read.values["risk_assessed_at"] == (_iso(assessed) if assessed < as_of else None), customer_id
    assert any(readers["embedded"].read_customer(c).values["risk_assessed_at"] for c in active_last_month[:20])
    for store in feature_stores.values():
        for service in ("churn_v1", "delinquency_v1", "ranker_v1"):
            served = {f.name for p in store.get_feature_service(service).feature_view_projections for f in p.features}
            assert not {"birth_date", "risk_assessed_at"} & served, service
        churn = OnlineReader(store, "churn_v1").read_customer(active_last_month[0])
        assert "age_years" in churn.values and "birth_date" not in churn.values


@pytest.mark.parametrize("profile", PROFILES)
def test_product_names_and_margin_are_online(feature_stores, bank_dir, profile):
    products = read_table(bank_dir, "products")
    online = feature_stores[profile].get_online_features(
        features=[f"product_attributes:{n}" for n in ("name_zh", "name_en", "margin_rate")],
        entity_rows=[{"product_id": p} for p in products["product_id"]]).to_dict()
    assert online["name_zh"] == products["name_zh"].tolist()
    assert online["name_en"] == products["name_en"].tolist()
    assert online["margin_rate"] == products["margin"].tolist()


def test_freshness_flags_values_older_than_their_ttl(feature_state, readers, active_last_month):
    reader, last_as_of = readers["embedded"], datetime.fromisoformat(feature_state.build["last_as_of"])
    read = reader.read_customer(active_last_month[0], now=last_as_of + timedelta(days=1))
    monthly = [name for name, ttl in reader.ttls.items()
               if ttl == timedelta(days=35) and read.timestamps[name] is not None]
    assert read.timestamps["aum_cny"] == last_as_of
    assert not set(monthly) & set(read.stale)
    later = reader.read_customer(active_last_month[0], now=last_as_of + timedelta(days=36))
    assert set(monthly) <= set(later.stale)
    assert not later.is_fresh


@pytest.mark.parametrize("profile", PROFILES)
def test_pushed_intent_is_online_at_once_and_kept_offline(feature_stores, readers, profile):
    store, reader = feature_stores[profile], readers[profile]
    customer_id = PUSHED_CUSTOMERS[PROFILES.index(profile)]
    at = datetime.now(UTC).replace(microsecond=0)
    events = pd.DataFrame({"customer_id": [customer_id] * 2, "event_time": [at - timedelta(minutes=5), at],
                           "event_type": ["search", "page_view"], "topic": ["fx", "mortgage"]})
    pushed = push_intent_events(store, events)
    assert (pushed.events, pushed.customers) == (2, 1)
    read = reader.read_customer(customer_id)
    assert read.values["last_intent_topic"] == "mortgage"
    assert read.timestamps["last_intent_topic"] == at
    assert "last_intent_topic" not in read.stale
    offline = store.get_historical_features(
        entity_df=pd.DataFrame({"customer_id": [customer_id], "event_timestamp": [at + timedelta(seconds=1)]}),
        features=["customer_intent_realtime:last_intent_topic", "customer_intent_realtime:last_intent_event_type"],
    ).to_df()
    assert offline.loc[0, ["last_intent_topic", "last_intent_event_type"]].tolist() == ["mortgage", "page_view"]


def test_malformed_push_is_rejected_whole(feature_state, feature_stores, readers):
    store, reader = feature_stores["embedded"], readers["embedded"]
    intent_file = Path(feature_state.build["out_dir"]) / INTENT_REALTIME.file_name
    before_rows, before = len(pd.read_parquet(intent_file)), reader.read_customer("O0000000010")
    events = pd.DataFrame({"customer_id": ["O0000000010", "C0000001"],
                           "event_time": [datetime.now(UTC)] * 2,
                           "event_type": ["page_view", "login"], "topic": ["gold", "gold"]})
    with pytest.raises(ContractViolation, match="nothing written") as err:
        push_intent_events(store, events)
    assert {(v["row"], v["column"]) for v in err.value.violations} == {(1, "customer_id"), (1, "event_type")}
    assert reader.read_customer("O0000000010").values == before.values
    assert len(pd.read_parquet(intent_file)) == before_rows


@pytest.mark.parametrize("events", [
    pd.DataFrame(),
    pd.DataFrame({"customer_id": ["O0000000010"], "topic": ["gold"]}),
    pd.DataFrame({"customer_id": ["O0000000010"], "event_time": ["not a time"], "event_type": ["search"],
                  "topic": ["Gold!"]}),
    pd.DataFrame({"customer_id": ["O0000000010"], "event_time": [datetime.now(UTC) + timedelta(hours=1)],
                  "event_type": ["search"], "topic": ["gold"]}),
], ids=["empty", "missing-columns", "bad-values", "future"])
def test_push_payload_errors_say_what_is_wrong(feature_stores, events):
    with pytest.raises(ContractViolation) as err:
        push_intent_events(feature_stores["embedded"], events)
    assert str(err.value).startswith("intent payload")
    assert bool(err.value.violations) is not events.empty  # an empty payload has no row to name
    assert all("text" in v for v in err.value.violations)


@pytest.mark.parametrize("profile", PROFILES)
def test_unknown_customer_and_service_are_not_found(feature_stores, readers, profile):
    with pytest.raises(CustomerNotFound, match="C99999999"):
        readers[profile].read_customer("C99999999")
    with pytest.raises(FeatureServiceNotFound, match="'ranker_v9' does not exist.*known: churn_v1"):
        OnlineReader(feature_stores[profile], "ranker_v9")


@pytest.fixture()
def in_process_cli() -> Iterator[CliRunner]:
    """`nbo` in-process (Feast is imported here already); keeps the root logger as it was."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield CliRunner()
    root.handlers[:], root.level = handlers, level


def test_online_command_shows_features_and_reports_an_unknown_customer(feature_state, active_last_month,
                                                                        in_process_cli):
    runner, env = in_process_cli, feature_state.env["embedded"]
    found = runner.invoke(main, ["features", "online", active_last_month[0], "--json"], env=env)
    assert found.exit_code == 0, found.output
    read = json.loads(found.stdout)
    assert read["values"]["segment"] is not None
    assert read["timestamps"]["aum_cny"] == feature_state.build["last_as_of"]
    missing = runner.invoke(main, ["features", "online", "C99999999", "--json"], env=env)
    assert missing.exit_code == 3
    assert json.loads(missing.stdout)["error"] == "CustomerNotFound"
    assert "C99999999" in missing.stderr


def test_training_set_joins_labels_point_in_time(feature_state, tmp_path):
    out = tmp_path / "delinquency.parquet"
    first = pd.Timestamp(feature_state.build["first_as_of"])
    as_of = [(first + pd.DateOffset(months=m)).strftime("%Y-%m-%d") for m in (1, 3)]
    result = run_json("features", "training-set", "--label", "delinquency", "--as-of", as_of[1],
                      "--as-of", as_of[0], "--out", out, env=feature_state.env["embedded"])
    frame = pd.read_parquet(out)
    assert result["rows"] == len(frame) > 0
    assert result["service"] == "delinquency_v1" and result["as_of"] == as_of
    assert sorted(set(frame["event_timestamp"].dt.strftime("%Y-%m-%d"))) == as_of
    assert frame["utilization"].notna().mean() > 0.95  # the population has credit the month before
    assert not {"risk_assessed_at", "birth_date"} & set(frame)  # never model features
    assert frame["risk_assessment_age_days"].notna().all()  # point-in-time: the synthetic bank's history


def test_training_set_rejects_an_as_of_date_mid_month(feature_state, tmp_path):
    proc = run_cli("features", "training-set", "--label", "churn", "--as-of", "2026-06-15",
                   "--out", tmp_path / "x.parquet", env=feature_state.env["embedded"], check=False)
    assert proc.returncode == 2
    assert "not the first day of a month" in proc.stderr


def test_customer_tables_cover_the_360_profile():
    names = {t.name for t in CUSTOMER_TABLES}
    assert names == {"customer_profile", "customer_balances_month_end", "customer_rfm_180d",
                     "customer_engagement_90d", "customer_credit_12m"}
    assert sum(len(t.columns) for t in CUSTOMER_TABLES) + len(INTENT_REALTIME.columns) == FEATURES_360
    assert sum(len(t.columns) for t in ALL_TABLES) == FEATURES_ALL
