"""The PostgreSQL databases the settings name (Feast registry, audit log, MLflow), created when missing.

The scale profile keeps its stores in databases of one PostgreSQL server; `nbo stores init` makes
sure each exists before the first command uses it (it connects to the server's `postgres`
database to create them, which needs the CREATEDB right).
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

from nbo.errors import ConfigError
from nbo.settings import Settings


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
