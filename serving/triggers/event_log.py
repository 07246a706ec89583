"""The durable event log (`nbo_events`): one row per event_id, written by group commit.

A batch of events is one step: its rows are inserted with `ON CONFLICT DO NOTHING RETURNING`, so
the insert itself says which events are new; the others are replays when their content matches
the logged row, or a conflict (409) when it does not, and then none of the batch is kept. The
batches of concurrent requests share one transaction (one commit, one fsync), each still all or
nothing. The offline copy of page views and searches is appended later (`serving/triggers/event_flush.py`):
`pushed_at` records when that copy was made.
"""

from __future__ import annotations

from dataclasses import astuple, dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from features.tables import INTENT_COUNTS
from nbo.batching import GroupRunner
from nbo.databases import create_tables
from nbo.errors import Conflict

_meta = sa.MetaData()
events = sa.Table(
    "nbo_events", _meta,
    sa.Column("event_id", sa.String(64), primary_key=True),
    sa.Column("customer_id", sa.String(32), nullable=False),
    sa.Column("event_type", sa.String(32), nullable=False),
    sa.Column("topic", sa.String(40)),
    sa.Column("event_time", sa.DateTime(timezone=True), nullable=False),
    sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("pushed_at", sa.DateTime(timezone=True)),  # its offline copy written (page views, searches)
    sa.Index("ix_nbo_events_customer_type_time", "customer_id", "event_type", "event_time"),
    sa.Index("ix_nbo_events_type_time", "event_type", "event_time"),
    sa.Index("ix_nbo_events_unflushed", "event_type", "pushed_at"),
)


@dataclass(frozen=True)
class Event:
    """One customer event as the log keeps it."""

    event_id: str
    customer_id: str
    event_type: str
    topic: str | None
    event_time: datetime


def as_utc(stamp: datetime) -> datetime:
    """`stamp` in UTC (a naive time, as SQLite returns it, is taken as UTC)."""
    return stamp.replace(tzinfo=UTC) if stamp.tzinfo is None else stamp.astimezone(UTC)


class EventLog:
    """Record event batches once per event_id; list and mark those awaiting their offline copy."""

    def __init__(self, engine: Engine):
        self.engine = engine
        create_tables(engine, _meta)
        self._group: GroupRunner[list[Event], list[str]] = GroupRunner(self._commit)
        if engine.dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        self._insert = insert(events).on_conflict_do_nothing().returning(events.c.event_id)

    def record(self, batch: list[Event]) -> list[bool]:
        """Log the batch; per event, whether it was new (a replay, or a repeat within the batch, is
        not). Conflict naming the event id when an id is logged, or repeated, with other content."""
        first: dict[str, Event] = {}
        for e in batch:
            if first.setdefault(e.event_id, e) != e:
                raise Conflict(f"event_id {e.event_id!r} appears twice in the batch with different content; "
                               "nothing written")
        new = set(self._group.submit(list(first.values())))
        flags = []
        for e in batch:
            flags.append(e.event_id in new)
            new.discard(e.event_id)
        return flags

    def _commit(self, group: list[list[Event]]) -> list[list[str] | BaseException]:
        now = datetime.now(UTC)
        with self.engine.begin() as conn:
            return [self._record_one(conn, batch, now) for batch in group]

    def _record_one(self, conn: Connection, batch: list[Event], now: datetime) -> list[str] | BaseException:
        """Insert one batch inside the group's transaction; its new ids, or a Conflict (its rows removed)."""
        rows = [{"event_id": e.event_id, "customer_id": e.customer_id, "event_type": e.event_type,
                 "topic": e.topic, "event_time": e.event_time, "received_at": now} for e in batch]
        inserted = set(conn.execute(self._insert.values(rows)).scalars())
        others = {e.event_id: e for e in batch if e.event_id not in inserted}
        if others:
            query = sa.select(events.c.event_id, events.c.customer_id, events.c.event_type, events.c.topic,
                              events.c.event_time).where(events.c.event_id.in_(others))
            differ = sorted(r[0] for r in conn.execute(query)
                            if astuple(others[r[0]]) != (*r[:4], as_utc(r[4])))
            if differ:
                if inserted:
                    conn.execute(events.delete().where(events.c.event_id.in_(inserted)))
                return Conflict(f"event_id {', '.join(map(repr, differ[:5]))} already logged with other "
                                "content; nothing written")
        return [e.event_id for e in batch if e.event_id in inserted]

    def latest_intent(self, customer_ids: set[str]) -> dict[str, str]:
        """Each customer's latest logged page view or search: customer → event id."""
        latest = {}
        with self.engine.connect() as conn:
            for customer_id in customer_ids:
                query = (sa.select(events.c.event_id)
                         .where(events.c.customer_id == customer_id, events.c.event_type.in_(tuple(INTENT_COUNTS)))
                         .order_by(events.c.event_time.desc(), events.c.event_id.desc()).limit(1))
                latest[customer_id] = conn.execute(query).scalar_one()
        return latest

    def unflushed(self, limit: int) -> list[dict[str, Any]]:
        """Logged page views and searches without their offline copy yet, oldest received first."""
        query = (sa.select(events.c.event_id, events.c.customer_id, events.c.event_type, events.c.topic,
                           events.c.event_time, events.c.received_at)
                 .where(events.c.pushed_at.is_(None), events.c.event_type.in_(tuple(INTENT_COUNTS)))
                 .order_by(events.c.received_at).limit(limit))
        with self.engine.connect() as conn:
            return [dict(r._mapping) | {"event_time": as_utc(r.event_time), "received_at": as_utc(r.received_at)}
                    for r in conn.execute(query)]

    def mark_flushed(self, event_ids: list[str]) -> None:
        """Record that these events' offline copy is written."""
        with self.engine.begin() as conn:
            for start in range(0, len(event_ids), 500):
                conn.execute(events.update().where(events.c.event_id.in_(event_ids[start:start + 500]))
                             .values(pushed_at=datetime.now(UTC)))
