"""Online reads with freshness: values, their event timestamps and which are older than their TTL.

The reader resolves its feature service once (each view from the registry, the features the
service projects from it, their TTLs) and then, per read, asks the configured Feast online store
for the customers' row of each view (`features/online/rows.py`: one read per view, or one Redis
pipeline, for all of them). That skips the per-call work `get_online_features` repeats on top of
the store reads (resolving the service, hashing field names, building a response proto and
parsing it back), which is most of a read's CPU. Values always come from the store: only the
plan is kept between reads. A read may ask for some of the service's features only (a model's):
only the views holding them are read.

Feast's online read neither applies a view's TTL nor reports unknown ids (it returns None):
both are done here, from the timestamps the store returns.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from feast import FeatureStore
from feast.infra.online_stores.helpers import get_online_store_from_config
from feast.protos.feast.types.EntityKey_pb2 import EntityKey
from feast.protos.feast.types.Value_pb2 import Value

from features.online.rows import RowsReader, ViewRead, ViewRow, rows_reader
from features.repo.store import feature_service
from features.tables import CUSTOMER_KEY, PROFILE
from nbo.errors import ContractViolation, CustomerNotFound


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

    def only(self, plan: tuple[ViewRead, ...]) -> OnlineFeatures:
        """These features of the plan's (a subset of the service's) only."""
        names = [n for v in plan for n in v.features]
        kept = set(names)
        return OnlineFeatures(self.customer_id, {n: self.values[n] for n in names},
                              {n: self.timestamps[n] for n in names}, tuple(n for n in self.stale if n in kept))


KNOWN_CUSTOMERS_MAX = 500_000  # customer ids `missing_customers` remembers at most (~40 MB)
Plan = tuple[tuple[ViewRead, ...], RowsReader]  # the views (with the features) read, and their reader


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
        self._plans: dict[frozenset[str] | None, Plan] = {None: (self.views, self._reader(self.views))}

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

    def _reader(self, views: tuple[ViewRead, ...]) -> RowsReader:
        return rows_reader(self._online_store, self.store.config, views)

    def _plan(self, names: Collection[str] | None) -> Plan:
        """The views holding these features (all the service's: None), each with those of them it holds."""
        key = None if names is None else frozenset(names)
        if key not in self._plans:
            assert key is not None
            views = tuple(ViewRead(v.view, tuple(n for n in v.features if n in key)) for v in self.views)
            views = tuple(v for v in views if v.features)
            self._plans[key] = (views, self._reader(views))
        return self._plans[key]

    def read_customers(self, customer_ids: list[str], now: datetime | None = None,
                       names: Collection[str] | None = None) -> list[OnlineFeatures | CustomerNotFound]:
        """Each customer's features (one store read per view for all of them), in order; a
        CustomerNotFound in the place of a customer the online store has none of.

        Args:
            names: read only these of the service's features (only the views holding them); a
                customer with none of them online is still found if the service has others.
        """
        now = now or datetime.now(UTC)
        views, read_rows = self._plan(names)
        found = self._read(views, read_rows, customer_ids, now)
        if names is not None:
            self._find_elsewhere(views, customer_ids, found, now)
        return found

    def _read(self, views: tuple[ViewRead, ...], read_rows: RowsReader, customer_ids: list[str],
              now: datetime) -> list[OnlineFeatures | CustomerNotFound]:
        keys = [EntityKey(join_keys=[CUSTOMER_KEY], entity_values=[Value(string_val=c)]) for c in customer_ids]
        per_view = read_rows(keys)
        per_customer = zip(*per_view, strict=True) if per_view else ([] for _ in keys)
        return [self._features(views, c, rows, now) for c, rows in zip(customer_ids, per_customer, strict=True)]

    def _find_elsewhere(self, views: tuple[ViewRead, ...], customer_ids: list[str],
                        found: list[OnlineFeatures | CustomerNotFound], now: datetime) -> None:
        """In place: the customers not found in these views, found if the service's other features are."""
        unknown = [i for i, f in enumerate(found) if isinstance(f, CustomerNotFound)]
        if not unknown:
            return
        whole = self._read(*self._plans[None], [customer_ids[i] for i in unknown], now)
        for i, features in zip(unknown, whole, strict=True):
            if isinstance(features, OnlineFeatures):
                found[i] = features.only(views)

    def _features(self, views: tuple[ViewRead, ...], customer_id: str, rows: Iterable[ViewRow | None],
                  now: datetime) -> OnlineFeatures | CustomerNotFound:
        values: dict[str, object] = {}
        timestamps: dict[str, datetime | None] = {}
        stale: list[str] = []
        for view, row in zip(views, rows, strict=True):
            if row is None:
                values.update(dict.fromkeys(view.features))
                timestamps.update(dict.fromkeys(view.features))
                continue
            instant, row_values = row
            values.update(zip(view.features, map(row_values.get, view.features), strict=True))
            timestamps.update(dict.fromkeys(view.features, instant))
            if instant is not None and view.ttl is not None and now - instant > view.ttl:
                stale.extend(view.features)
        if not any(v is not None for v in values.values()):
            return CustomerNotFound(f"customer {customer_id!r} has no features in the online store "
                                    f"(Feast project {self.store.project!r})")
        return OnlineFeatures(customer_id, values, timestamps, tuple(stale))

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


