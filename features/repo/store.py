"""Build the Feast configuration and FeatureStore from Settings; apply and materialize the repo.

`NBO_STORES__PROFILE` picks the stores: `embedded` (DuckDB offline store over parquet, SQLite
online store, file registry, all under the state dir) or `scale` (Redis online store, SQL
registry on PostgreSQL). `NBO_STORES__OFFLINE` picks the offline store over the same parquet in
either profile: `duckdb` (in-process, the default) or `spark` (Feast's Spark offline store, so
training-set joins and materialization reads run as Spark SQL; local mode unless
`NBO_STORES__SPARK_MASTER` names a cluster).
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import pyarrow.compute as pc
import pyarrow.parquet as pq
import redis.exceptions
import sqlalchemy.exc
from feast import FeatureService, FeatureStore, RepoConfig
from feast.errors import FeatureServiceNotFoundException

from features.build.monthly import offline_dir, read_manifest
from features.repo.entities import ENTITIES
from features.repo.services import feature_services
from features.repo.views import built_tables, feature_views
from features.tables import EVENT_TIMESTAMP
from nbo.console import stage
from nbo.errors import (
    ConfigError,
    ContractViolation,
    FeatureServiceNotFound,
    ModelUnavailable,
    NotFound,
)
from nbo.files import make_private
from nbo.settings import Settings

log = logging.getLogger(__name__)

MATERIALIZE_START = datetime(1970, 1, 2, tzinfo=UTC)
# Materialize writes (and converts to protos) this many rows at a time, not a whole view at once:
# memory stays bounded at a million customers.
ONLINE_WRITE_BATCH_ROWS = 50_000
SPARK_DRIVER_MEMORY = "4g"  # the driver holds the collected training set; a sixth of a 24 GiB machine
# The source class each offline store reads, by name (importing SparkSource imports pyspark: seconds).
OFFLINE_SOURCES = {"duckdb": "FileSource", "spark": "SparkSource"}


def redis_connection_string(url: str) -> str:
    """Feast's `host:port,db=N[,password=...]` from a `redis://[:password@]host:port/N` URL."""
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss") or not parts.hostname:
        raise ContractViolation(f"stores.redis_url {url!r} is not a redis://host:port/db URL")
    options = [f"{parts.hostname}:{parts.port or 6379}", f"db={parts.path.strip('/') or 0}"]
    options += [f"password={parts.password}"] if parts.password else []
    options += ["ssl=true"] if parts.scheme == "rediss" else []
    return ",".join(options)


def repo_config(settings: Settings) -> RepoConfig:
    """The Feast configuration the settings describe (absolute paths, so any cwd works)."""
    feast_dir = settings.feast_dir.resolve()
    if settings.stores.profile == "scale":
        url = settings.stores.postgres_url.replace("postgresql://", "postgresql+psycopg://", 1)
        registry = {"registry_type": "sql", "path": url, "cache_ttl_seconds": 60}
        online = {"type": "redis", "connection_string": redis_connection_string(settings.stores.redis_url)}
    else:
        registry = {"registry_type": "file", "path": str(feast_dir / "registry.db")}
        online = {"type": "sqlite", "path": str(feast_dir / "online.db")}
    offline = {"type": "spark", "spark_conf": spark_conf(settings)} if settings.stores.offline == "spark" else {
        "type": "duckdb"}
    return RepoConfig(
        project=settings.stores.feast_project, provider="local", registry=registry,
        online_store=online, offline_store=offline,
        repo_path=settings.feature_repo.resolve(), entity_key_serialization_version=3,
        materialization={"pull_latest_features": True, "online_write_batch_size": ONLINE_WRITE_BATCH_ROWS},
    )


def spark_conf(settings: Settings) -> dict[str, str]:
    """Spark session settings of the offline store: UTC, no UI, quiet; local mode stays on loopback."""
    master = settings.stores.spark_master
    conf = {
        "spark.master": master,
        "spark.app.name": f"nbo-{settings.stores.feast_project}",
        "spark.driver.memory": SPARK_DRIVER_MEMORY,
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.session.timeZone": "UTC",  # the parquet stamps and entity timestamps are UTC
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.sql.warehouse.dir": str((settings.feast_dir / "spark-warehouse").resolve()),
        "spark.log.level": "ERROR",
    }
    if master.startswith("local"):  # no listening socket off the machine; one shuffle partition per core
        conf |= {"spark.driver.host": "127.0.0.1", "spark.driver.bindAddress": "127.0.0.1"}
        cores = re.fullmatch(r"local\[([0-9]+)\]", master)
        conf |= {"spark.sql.shuffle.partitions": cores.group(1)} if cores else {}
    return conf


def open_store(settings: Settings) -> FeatureStore:
    """A FeatureStore on the configured stores (the registry is read lazily)."""
    settings.feast_dir.mkdir(parents=True, exist_ok=True)
    config = repo_config(settings)
    _protect_files(config)
    return FeatureStore(repo_path=str(config.repo_path), config=config)


def _protect_files(config: RepoConfig) -> None:
    """Mode 0600 for the embedded profile's files: the SQLite online store (feature values) is
    created so before Feast opens it; the file registry, which Feast rewrites in place, once it exists."""
    online = getattr(config.online_store, "path", None)
    if config.online_store.type == "sqlite" and online:
        make_private(Path(online))
    registry = Path(config.registry.path)
    if config.registry.registry_type == "file" and registry.exists():
        make_private(registry)


def describe_stores(settings: Settings) -> dict[str, str]:
    """Where the stores are, for people (passwords hidden)."""
    config = repo_config(settings)
    online = getattr(config.online_store, "path", None) or config.online_store.connection_string
    return {"profile": settings.stores.profile, "project": config.project,
            "registry": re.sub(r"(//[^:/@]+):[^@]+@", r"\1:***@", config.registry.path),
            "online_store": f"{config.online_store.type}: {re.sub(r'password=[^,]+', 'password=***', online)}",
            "offline_store": f"{_offline_engine(settings)}: {offline_dir(settings).resolve()}"}


def _offline_engine(settings: Settings) -> str:
    """The offline store's engine, for people: `duckdb` or `spark (MASTER)`."""
    offline = settings.stores.offline
    return f"spark ({settings.stores.spark_master})" if offline == "spark" else offline


@contextlib.contextmanager
def store_errors(settings: Settings) -> Iterator[None]:
    """Turn an unreachable Redis or PostgreSQL into ModelUnavailable naming the store."""
    try:
        yield
    except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as err:
        where = describe_stores(settings)["online_store"]
        raise ModelUnavailable(f"online store unreachable ({where}): {err}") from None
    except sqlalchemy.exc.OperationalError as err:
        where = describe_stores(settings)["registry"]
        raise ModelUnavailable(f"SQL registry unreachable ({where}): {err.orig or err}") from None


def feature_service(store: FeatureStore, name: str) -> FeatureService:
    """Resolve a feature service once (≈ 7 ms a call: keep the object, not the name)."""
    try:
        return store.get_feature_service(name, allow_cache=True)
    except FeatureServiceNotFoundException:
        known = ", ".join(sorted(s.name for s in store.list_feature_services())) or "none; run `nbo features apply`"
        raise FeatureServiceNotFound(
            f"feature service {name!r} does not exist in Feast project {store.project!r} (known: {known})"
        ) from None


@dataclass(frozen=True)
class Applied:
    """What `apply` registered."""

    entities: list[str]
    feature_views: list[str]
    feature_services: list[str]
    feature_count: int


def apply_repo(store: FeatureStore, settings: Settings) -> Applied:
    """Register entities, views and services over the built tables (idempotent)."""
    read_manifest(offline_dir(settings))
    views = feature_views(offline_dir(settings), settings.stores.offline)
    services = feature_services(views)
    store.apply([*ENTITIES.values(), *views.values(), *services])
    _protect_files(store.config)  # a first apply has just written the file registry
    log.info("feast_applied", extra={"project": store.project, "views": len(views)})
    return Applied(sorted(e.name for e in ENTITIES.values()), sorted(views),
                   sorted(s.name for s in services), sum(len(v.features) for v in views.values()))


def materialize_store(store: FeatureStore, settings: Settings, end: datetime) -> dict[str, int]:
    """Load each entity's latest row up to `end` into the online store; rows written per view."""
    read_manifest(offline_dir(settings))
    _require_applied(store)
    require_offline_sources(store)
    tables = built_tables(offline_dir(settings))
    for table in tables:  # one view at a time, so a progress bar can follow
        stage(table.name)
        store.materialize(start_date=MATERIALIZE_START, end_date=end, feature_views=[table.name])
    rows = {t.name: _latest_rows(offline_dir(settings) / t.file_name, t.entity_key, end) for t in tables}
    log.info("feast_materialized", extra={"project": store.project, "end": end.isoformat(), "rows": sum(rows.values())})
    return rows


def _require_applied(store: FeatureStore) -> None:
    """NotFound, naming the fix, when nothing was applied in the project."""
    try:
        views = store.list_feature_views()
    except FileNotFoundError:
        views = []
    if not views:
        raise NotFound(f"no feature views in Feast project {store.project!r}; run `nbo features apply` first")


def require_offline_sources(store: FeatureStore) -> None:
    """ConfigError, naming the fix, when the registered views read another offline store's sources."""
    offline = store.config.offline_store.type
    others = sorted(v.name for v in store.list_feature_views()
                    if type(v.batch_source).__name__ != OFFLINE_SOURCES[offline])
    if others:
        raise ConfigError(
            f"Feast project {store.project!r} was applied for another offline store ({', '.join(others)} "
            f"do not read {OFFLINE_SOURCES[offline]}); run `nbo features apply` with "
            f"NBO_STORES__OFFLINE={offline}")


def _latest_rows(path: Path, key: str, end: datetime) -> int:
    """How many entities have a row at or before `end` (what materialize writes)."""
    table = pq.read_table(path, columns=[key, EVENT_TIMESTAMP])
    stamps = table[EVENT_TIMESTAMP]
    keep = pc.and_(pc.greater_equal(stamps, MATERIALIZE_START), pc.less_equal(stamps, end))
    return len(pc.unique(table.filter(keep)[key]))

