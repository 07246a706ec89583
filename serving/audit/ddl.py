"""Create the service's tables in the audit database, safely when several processes start at once."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine

# Any fixed number: the advisory lock every nbo process takes while it creates its tables.
_DDL_LOCK = 0x6E626F  # "nbo"


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
