"""Replicas starting together on an empty PostgreSQL audit database all create their tables."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from threading import Barrier

import pytest
import sqlalchemy as sa

from serving.audit.store import AuditStore
from serving.triggers.store import TriggerStore
from tests.conftest import private_database


@pytest.fixture
def empty_database() -> Iterator[str]:
    with private_database("nbo_ddl") as url:
        yield url


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
