"""Replicas starting together on an empty PostgreSQL audit database all create their tables."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from threading import Barrier

import psycopg
import pytest
import sqlalchemy as sa

from serving.audit import AuditStore
from serving.trigger_store import TriggerStore

ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


@pytest.fixture
def empty_database() -> Iterator[str]:
    name = f"nbo_ddl_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    with psycopg.connect(ADMIN, autocommit=True) as conn:
        conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')


def test_stores_opened_at_once_on_an_empty_database_all_start(empty_database: str) -> None:
    starters = 6
    barrier = Barrier(starters)

    def start(_: int) -> int:
        barrier.wait()
        audit = AuditStore(empty_database)
        TriggerStore(audit.engine)
        tables = len(sa.inspect(audit.engine).get_table_names())
        audit.close()
        return tables

    with ThreadPoolExecutor(starters) as pool:
        counts = list(pool.map(start, range(starters)))
    assert len(set(counts)) == 1 and counts[0] >= 5, counts
