"""Online reads with freshness: values, their event timestamps and which are older than their TTL.

The reader resolves its feature service once (each view from the registry, the features the
service projects from it, their TTLs) and then, per read, asks the configured Feast online store
for the customer's row of each view: `OnlineStore.online_read` per view, or on Redis the store's
own key and field encoding with every view's HMGET in one pipeline (what Feast's
`get_online_features` does there). That skips the per-call work `get_online_features` repeats on
top of the store reads (resolving the service, hashing field names, building a response proto and
parsing it back), which is most of a read's CPU. Values always come from the store: only the
plan is kept between reads.

Feast's online read neither applies a view's TTL nor reports unknown ids (it returns None):
both are done here, from the timestamps the store returns.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from feast import FeatureStore, FeatureView, RepoConfig
from feast.infra.key_encoding_utils import serialize_entity_key
from feast.infra.online_stores.helpers import compute_versioned_name, get_online_store_from_config
from feast.infra.online_stores.online_store import OnlineStore
from feast.infra.online_stores.redis import RedisOnlineStore
from feast.infra.online_stores.sqlite import SqliteOnlineStore, _quote_id, _table_id
from feast.protos.feast.types.EntityKey_pb2 import EntityKey
from feast.protos.feast.types.Value_pb2 import Value

from features.repo.store import feature_service
from features.tables import CUSTOMER_KEY, PROFILE
from nbo.errors import ContractViolation, CustomerNotFound

Row = tuple[datetime | None, dict[str, Value] | None]  # what OnlineStore.online_read gives per entity


@dataclass(frozen=True)
class OnlineFeatures:
    """One customer's online features, each with the event timestamp of its row."""

    customer_id: str
    values: dict[str, object]
    timestamps: dict[str, datetime | None]
    stale: tuple[str, ...]

    @property
    def is_fresh(self) -> bool:
        """Whether every present value is within its view's TTL."""
        return not self.stale


@dataclass(frozen=True)
class ViewRead:
    """One view of the service: the registered view and the features the service takes from it."""

    view: FeatureView
    features: tuple[str, ...]

    @property
    def ttl(self) -> timedelta | None:
        return self.view.ttl or None  # TTL 0: never expires


SQLITE_KEYS_PER_SELECT = 10_000  # SQLite takes at most 32,766 parameters per statement
KNOWN_CUSTOMERS_MAX = 500_000  # customer ids `missing_customers` remembers at most (~40 MB)


class OnlineReader:
    """Reads one feature service for a customer; resolves the service, views and TTLs once."""

    def __init__(self, store: FeatureStore, service_name: str):
        self.store = store
        self.service = feature_service(store, service_name)
        self.views = self._resolve_views()
        self.ttls = {name: view.ttl for view in self.views for name in view.features}
        online_store = get_online_store_from_config(store.config.online_store)
        self._online_store = online_store
        self._known: set[str] = set()  # customers found by `missing_customers`
        self._read_rows = (RedisRows(online_store, store.config, self.views)
                           if isinstance(online_store, RedisOnlineStore)
                           else SqliteRows(online_store, store.config, self.views)
                           if isinstance(online_store, SqliteOnlineStore)
                           else EachViewRows(online_store, store.config, self.views))

    def _resolve_views(self) -> tuple[ViewRead, ...]:
        """Each projected view, as registered; ContractViolation for a view not keyed by customer."""
        views = []
        for projection in self.service.feature_view_projections:
            view = self.store.get_feature_view(projection.name)
            if [c.name for c in view.entity_columns] != [CUSTOMER_KEY]:
                raise ContractViolation(f"feature service {self.service.name!r} reads {view.name!r}, "
                                        f"not keyed by {CUSTOMER_KEY} alone: read it per entity")
            views.append(ViewRead(view, tuple(f.name for f in projection.features)))
        return tuple(views)

    def read_customer(self, customer_id: str, now: datetime | None = None) -> OnlineFeatures:
        """The customer's features; CustomerNotFound when the online store has none of them."""
        [found] = self.read_customers([customer_id], now)
        if isinstance(found, CustomerNotFound):
            raise found
        return found

    def read_customers(self, customer_ids: list[str],
                       now: datetime | None = None) -> list[OnlineFeatures | CustomerNotFound]:
        """Each customer's features (one store read per view for all of them), in order; a
        CustomerNotFound in the place of a customer the online store has none of."""
        keys = [EntityKey(join_keys=[CUSTOMER_KEY], entity_values=[Value(string_val=c)]) for c in customer_ids]
        now = now or datetime.now(UTC)
        return [self._features(c, rows, now) for c, rows in zip(customer_ids, self._read_rows(keys), strict=True)]

    def _features(self, customer_id: str, rows: list[Row], now: datetime) -> OnlineFeatures | CustomerNotFound:
        values: dict[str, object] = {}
        timestamps: dict[str, datetime | None] = {}
        for view, (stamp, row) in zip(self.views, rows, strict=True):
            instant = _instant(stamp)
            for name in view.features:
                values[name] = _python_value(row.get(name)) if row else None
                timestamps[name] = instant
        if all(v is None for v in values.values()):
            return CustomerNotFound(f"customer {customer_id!r} has no features in the online store "
                                    f"(Feast project {self.store.project!r})")
        return OnlineFeatures(customer_id, values, timestamps, _stale(timestamps, self.ttls, now))

    def missing_customers(self, customer_ids: Iterable[str]) -> list[str]:
        """Those of these customers without a profile in the online store (one read for all those
        not seen before), sorted. A profile, once found, is remembered: nothing removes one while
        the reader lives (a materialization only adds or updates), and events repeat customers."""
        ids = sorted(set(customer_ids) - self._known)
        if not ids:
            return []
        view = next((v for v in self.views if v.view.name == PROFILE.name), self.views[0])
        keys = [EntityKey(join_keys=[CUSTOMER_KEY], entity_values=[Value(string_val=c)]) for c in ids]
        rows = self._online_store.online_read(self.store.config, view.view, keys, list(view.features[:1]))
        found = {c for c, (_, row) in zip(ids, rows, strict=True) if row}
        if len(self._known) + len(found) > KNOWN_CUSTOMERS_MAX:
            self._known = set()
        self._known |= found
        return [c for c in ids if c not in found]


class EachViewRows:
    """Each entity's row of each view, one `OnlineStore.online_read` per view for all entities (any online store)."""

    def __init__(self, online_store: OnlineStore, config: RepoConfig, views: tuple[ViewRead, ...]):
        self.online_store, self.config, self.views = online_store, config, views

    def __call__(self, keys: list[EntityKey]) -> list[list[Row]]:
        per_view = [self.online_store.online_read(self.config, v.view, keys, list(v.features)) for v in self.views]
        return [list(rows) for rows in zip(*per_view, strict=True)] if per_view else [[] for _ in keys]


class SqliteRows:
    """Each entity's row of each view from Feast's SQLite tables: one SELECT per view for all entities.

    The rows `SqliteOnlineStore.online_read` gives, for the service's features only, with each
    entity key serialized once, each event time converted once per row of a view (as Feast
    converts it: epoch seconds → local naive time labelled UTC) and equal value bytes parsed once.
    """

    def __init__(self, online_store: SqliteOnlineStore, config: RepoConfig, views: tuple[ViewRead, ...]):
        self.online_store, self.config, self.views = online_store, config, views
        versioning = config.registry.enable_online_feature_view_versioning
        self.tables = [_quote_id(_table_id(config.project, v.view, versioning)) for v in views]

    def __call__(self, keys: list[EntityKey]) -> list[list[Row]]:
        version = self.config.entity_key_serialization_version
        serialized = [serialize_entity_key(k, entity_key_serialization_version=version) for k in keys]
        conn = self.online_store._get_conn(self.config)
        parsed: dict[bytes, Value] = {}
        per_view = [self._read_view(conn, table, v.features, serialized, parsed)
                    for table, v in zip(self.tables, self.views, strict=True)]
        return [[found.get(key, (None, None)) for found in per_view] for key in serialized]

    @staticmethod
    def _read_view(conn: Any, table: str, features: tuple[str, ...], keys: list[bytes],
                   parsed: dict[bytes, Value]) -> dict[bytes, Row]:
        found: dict[bytes, tuple[int, dict[str, Value]]] = {}
        wanted = set(features)  # filtered here: SQLite answers faster by the entity key index alone
        selected = [conn.execute(f"SELECT entity_key, feature_name, value, CAST(event_ts AS INTEGER) FROM {table} "
                                 f"WHERE entity_key IN ({','.join('?' * len(part))})", part)
                    for part in (keys[i:i + SQLITE_KEYS_PER_SELECT] for i in range(0, len(keys), SQLITE_KEYS_PER_SELECT))]
        for key, name, blob, stamp in (row for cursor in selected for row in cursor):
            if name not in wanted:
                continue
            value = parsed.get(blob)
            if value is None:
                value = parsed[blob] = Value.FromString(blob)
            row = found.setdefault(key, (stamp, {}))
            found[key] = (stamp, row[1])
            row[1][name] = value
        return {key: (datetime.fromtimestamp(stamp).replace(tzinfo=UTC), values)
                for key, (stamp, values) in found.items()}


class RedisRows:
    """The entity's row of each view in one Redis pipeline, encoded and decoded by Feast's store.

    The same commands as `RedisOnlineStore`'s batched read: one HMGET of the hashed
    `view:feature` fields and the view's `_ts:` field per view, all on the entity's key.
    """

    def __init__(self, online_store: RedisOnlineStore, config: RepoConfig, views: tuple[ViewRead, ...]):
        self.online_store, self.config = online_store, config
        versioning = config.registry.enable_online_feature_view_versioning
        self.fields = []  # per view: (name in Redis, requested names + "_ts:<view>", hashed fields)
        for v in views:
            name = compute_versioned_name(v.view, versioning)
            requested, hashed = online_store._generate_hset_keys_for_features(
                v.view, list(v.features), fv_name_override=name)
            self.fields.append((name, requested, hashed))

    def __call__(self, keys: list[EntityKey]) -> list[list[Row]]:
        store = self.online_store
        redis_keys = store._generate_redis_keys_for_entities(self.config, keys)
        replies = store._read_hash_fields(self.config, [(k, hashed) for k in redis_keys for _, _, hashed in self.fields])
        per_key = len(self.fields)
        return [[store._get_features_for_entity(reply, name, requested)
                 for (name, requested, _), reply in zip(self.fields, replies[i * per_key:(i + 1) * per_key], strict=True)]
                for i in range(len(keys))]


def _python_value(value: Value | None) -> object:
    """A Feast Value proto as Python (what `OnlineResponse.to_dict` does, without its overhead)."""
    kind = value.WhichOneof("val") if value is not None else None
    if kind is None or kind == "null_val":
        return None
    field = getattr(value, kind)
    return list(field.val) if kind.endswith("_list_val") else field


def _instant(stamp: datetime | None) -> datetime | None:
    """A row's event time to the second, as Feast's response gives it; None: no row (Redis: epoch)."""
    if stamp is None:
        return None
    second = stamp.replace(microsecond=0)
    return second if second.timestamp() > 0 else None


def _stale(timestamps: dict[str, datetime | None], ttls: dict[str, timedelta | None],
           now: datetime) -> tuple[str, ...]:
    """Features whose row is older than their view's TTL at `now`."""
    return tuple(name for name, stamp in timestamps.items()
                 if stamp is not None and (ttl := ttls[name]) is not None and now - stamp > ttl)
