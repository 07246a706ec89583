"""The databases the settings name (Feast registry, audit log, MLflow): created when missing, opened,
and given their tables.

The scale profile keeps its stores in databases of one PostgreSQL server; `nbo stores init` makes
sure each exists before the first command uses it (it connects to the server's `postgres`
database to create them, which needs the CREATEDB right). The audit database (SQLite or PostgreSQL)
is opened by the service and by training (which records alias changes there) with `audit_engine`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import sqlalchemy as sa
from psycopg import sql
from sqlalchemy.engine import Engine

from nbo.errors import ConfigError
from nbo.files import make_private
from nbo.settings import Settings

# Any fixed number: the advisory lock every nbo process takes while it creates its tables.
_DDL_LOCK = 0x6E626F  # "nbo"


def postgres_urls(settings: Settings) -> dict[str, str]:
    """What lives in PostgreSQL under these settings → its URL (empty in the embedded profile)."""
    urls: dict[str, str] = {}
    if settings.stores.profile == "scale":
        urls["feast_registry"] = settings.stores.postgres_url
        urls["audit"] = settings.service.audit_url or settings.stores.postgres_url
    elif settings.service.audit_url:
        urls["audit"] = settings.service.audit_url
    if settings.mlflow.tracking_uri.startswith("postgresql"):
        urls["mlflow"] = settings.mlflow.tracking_uri
    return {use: url for use, url in urls.items() if url.startswith("postgresql")}


def _plain(url: str) -> str:
    """A libpq URL (no SQLAlchemy driver suffix such as `+psycopg`)."""
    scheme, rest = url.split("://", 1)
    return f"{scheme.split('+', 1)[0]}://{rest}"


def ensure_database(url: str) -> bool:
    """Create the database `url` names if it does not exist; True when it was created."""
    parts = urlsplit(_plain(url))
    name = parts.path.lstrip("/")
    if not name:
        raise ConfigError(f"{url!r} names no database")
    admin = urlunsplit(parts._replace(path="/postgres"))
    try:
        with psycopg.connect(admin, autocommit=True, connect_timeout=10) as conn:
            if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
                return False
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            return True
    except psycopg.OperationalError as err:
        raise ConfigError(f"cannot reach PostgreSQL at {parts.hostname}:{parts.port or 5432} "
                          f"to create database {name!r}: {str(err).strip()}") from err


def ensure_databases(settings: Settings) -> list[dict[str, object]]:
    """Every PostgreSQL database the settings use, created when missing: what, which, created."""
    done: dict[str, bool] = {}
    rows = []
    for use, url in postgres_urls(settings).items():
        name = urlsplit(_plain(url)).path.lstrip("/")
        if url not in done:
            done[url] = ensure_database(url)
        rows.append({"use": use, "database": name, "created": done[url]})
    return rows


def _on_sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def audit_engine(url: str) -> Engine:
    """An engine on the audit database: SQLite (WAL, synchronous=FULL, the file private to its owner:
    decisions hold PDs and feature values) or PostgreSQL (`postgresql://` through psycopg 3)."""
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    engine = sa.create_engine(url, pool_pre_ping=True)
    if engine.dialect.name == "sqlite":
        database = engine.url.database
        if database and database != ":memory:":
            make_private(Path(database))
        sa.event.listen(engine, "connect", _on_sqlite_connect)
    return engine


def create_tables(engine: Engine, metadata: sa.MetaData) -> None:
    """Create the tables and indexes of `metadata` that do not exist yet (a table an older version
    created may lack a newer index).

    Two replicas starting together on an empty PostgreSQL database would both issue CREATE TABLE
    and one would fail on PostgreSQL's catalogue (`pg_type_typname_nsp_index`); a
    transaction-scoped advisory lock makes them take turns. SQLite's writers take turns anyway."""
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _DDL_LOCK})
        metadata.create_all(conn)
        for table in metadata.sorted_tables:
            for index in table.indexes:
                index.create(conn, checkfirst=True)
