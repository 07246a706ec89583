"""Each customer's row of each view of a read plan, from the configured Feast online store.

Per view, the store gives a row per entity: its event time and its values (Feast's ValueProto).
The readers here give it as a `ViewRow`, the event time to the second and the values as Python:
`OnlineStore.online_read` per view (any store); on Redis the store's own key and field encoding
with every view's HMGET in one pipeline (what Feast's `get_online_features` does there); on
SQLite one grouped SELECT per view straight from Feast's tables.
"""

from __future__ import annotations

import sqlite3
import struct
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from feast import FeatureView, RepoConfig
from feast.infra.key_encoding_utils import serialize_entity_key
from feast.infra.online_stores.helpers import compute_versioned_name
from feast.infra.online_stores.online_store import OnlineStore
from feast.infra.online_stores.redis import RedisOnlineStore
from feast.infra.online_stores.sqlite import SqliteOnlineStore, _quote_id, _table_id
from feast.protos.feast.types.EntityKey_pb2 import EntityKey
from feast.protos.feast.types.Value_pb2 import Value

_DOUBLE = struct.Struct("<d")
ViewRow = tuple[datetime | None, dict[str, object]]  # event time (None: none stored) and values as Python
RowsReader = Callable[[list[EntityKey]], list[list[ViewRow | None]]]  # per view, per entity; None: no row

SQLITE_KEYS_PER_SELECT = 10_000  # SQLite takes at most 32,766 parameters per statement
SEPARATOR = "\x1f"
# From this many entities on, SQLite reads the views in parallel threads (it runs without the GIL)
# while Python decodes the rows already read.
PARALLEL_MIN_KEYS = 1_000  # between a row's feature names (and hex values) in SQLite's group_concat


@dataclass(frozen=True)
class ViewRead:
    """One view of a read: the registered view and the features read from it."""

    view: FeatureView
    features: tuple[str, ...]

    @property
    def ttl(self) -> timedelta | None:
        return self.view.ttl or None  # TTL 0: never expires


def rows_reader(online_store: OnlineStore, config: RepoConfig, views: tuple[ViewRead, ...]) -> RowsReader:
    """The fastest reader of these views' rows that this online store has."""
    if isinstance(online_store, RedisOnlineStore):
        return RedisRows(online_store, config, views)
    if isinstance(online_store, SqliteOnlineStore):
        return SqliteRows(online_store, config, views)
    return EachViewRows(online_store, config, views)


class EachViewRows:
    """One `OnlineStore.online_read` per view for all entities (any online store)."""

    def __init__(self, online_store: OnlineStore, config: RepoConfig, views: tuple[ViewRead, ...]):
        self.online_store, self.config, self.views = online_store, config, views

    def __call__(self, keys: list[EntityKey]) -> list[list[ViewRow | None]]:
        return [[_view_row(stamp, row) for stamp, row in
                 self.online_store.online_read(self.config, v.view, keys, list(v.features))] for v in self.views]


class SqliteRows:
    """The rows `SqliteOnlineStore.online_read` gives, one grouped SELECT per view for all entities.

    SQLite groups each entity's rows (feature names and hex values joined by `SEPARATOR`) and
    takes the event time of its last row (Feast's: `max(rowid)` makes the bare column that row's);
    each entity key is serialized once, each event time converted once (as Feast converts it:
    epoch seconds → local naive time labelled UTC) and equal value bytes parsed once.
    """

    def __init__(self, online_store: SqliteOnlineStore, config: RepoConfig, views: tuple[ViewRead, ...]):
        self.online_store, self.config = online_store, config
        versioning = config.registry.enable_online_feature_view_versioning
        self.tables = [_quote_id(_table_id(config.project, v.view, versioning)) for v in views]

    def __call__(self, keys: list[EntityKey]) -> list[list[ViewRow | None]]:
        version = self.config.entity_key_serialization_version
        serialized = [serialize_entity_key(k, entity_key_serialization_version=version) for k in keys]
        values, instants = _Decoded(), _Instants()
        if len(keys) < PARALLEL_MIN_KEYS or len(self.tables) < 2:
            conn = self.online_store._get_conn(self.config)
            found = [self._read_view(conn, table, serialized, values, instants) for table in self.tables]
        else:
            with ThreadPoolExecutor(len(self.tables)) as pool:
                found = list(pool.map(lambda table: self._read_view_alone(table, serialized, values, instants),
                                      self.tables))
        return [[rows.get(key) for key in serialized] for rows in found]

    def _read_view_alone(self, table: str, keys: list[bytes], values: _Decoded,
                         instants: _Instants) -> dict[bytes, ViewRow]:
        """`_read_view` on a connection of its own (read-only), so that views are read in parallel."""
        path = Path(self.online_store._get_db_path(self.config)).resolve()
        conn = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
        try:
            return self._read_view(conn, table, keys, values, instants)
        finally:
            conn.close()

    @staticmethod
    def _read_view(conn: Any, table: str, keys: list[bytes], values: _Decoded,
                   instants: _Instants) -> dict[bytes, ViewRow]:
        found: dict[bytes, ViewRow] = {}
        for part in (keys[i:i + SQLITE_KEYS_PER_SELECT] for i in range(0, len(keys), SQLITE_KEYS_PER_SELECT)):
            cursor = conn.execute(
                f"SELECT entity_key, max(rowid), CAST(event_ts AS INTEGER), group_concat(feature_name, ?), "
                f"group_concat(hex(value), ?) FROM {table} WHERE entity_key IN ({','.join('?' * len(part))}) "
                "GROUP BY entity_key", [SEPARATOR, SEPARATOR, *part])
            for key, _, stamp, names, blobs in cursor:
                found[key] = (instants[stamp], dict(zip(names.split(SEPARATOR),
                                                        map(values.__getitem__, blobs.split(SEPARATOR)),
                                                        strict=True)))
        return found


class _Decoded(dict[str, object]):
    """Hex of ValueProto bytes → the value as Python, each parsed once (lists are not shared).

    A `double_val` alone (most values) is its tag 0x29 (field 5, 64-bit) then the little-endian
    double: read as such, 2-3x faster than a proto parse; anything else is parsed by protobuf.
    """

    def __missing__(self, blob: str) -> object:
        if len(blob) == 18 and blob.startswith("29"):
            value: object = _DOUBLE.unpack(bytes.fromhex(blob[2:]))[0]
        else:
            value = _python_value(Value.FromString(bytes.fromhex(blob)))
        if not isinstance(value, list):
            self[blob] = value
        return value


class _Instants(dict[int, datetime | None]):
    """SQLite's event time (epoch seconds) → the row's instant, each converted once."""

    def __missing__(self, stamp: int) -> datetime | None:
        instant = self[stamp] = _instant(datetime.fromtimestamp(stamp).replace(tzinfo=UTC))
        return instant


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

    def __call__(self, keys: list[EntityKey]) -> list[list[ViewRow | None]]:
        store = self.online_store
        redis_keys = store._generate_redis_keys_for_entities(self.config, keys)
        replies = store._read_hash_fields(self.config, [(k, hashed) for k in redis_keys for _, _, hashed in self.fields])
        per_key = len(self.fields)
        return [[_view_row(*store._get_features_for_entity(replies[i * per_key + j], name, requested))
                 for i in range(len(keys))] for j, (name, requested, _) in enumerate(self.fields)]


def _view_row(stamp: datetime | None, row: dict[str, Value] | None) -> ViewRow | None:
    """What `OnlineStore.online_read` gives for one entity, as a `ViewRow`; None: no row."""
    return (_instant(stamp), {name: _python_value(value) for name, value in row.items()}) if row else None


def _python_value(value: Value) -> object:
    """A Feast Value proto as Python (what `OnlineResponse.to_dict` does, without its overhead)."""
    kind = value.WhichOneof("val")
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
