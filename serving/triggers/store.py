"""Durable event log, trigger fires and RM tasks, in the audit store's database.

- `nbo_events` (`serving/triggers/event_log.py`): every event POST /v1/events acknowledged, once per
  `event_id` (a replay adds nothing), and when its offline copy was written.
- `nbo_trigger_fires`: one row per (trigger, customer, occasion), unique, so nothing fires twice;
  a claim also fails while the trigger fired for the customer within its cooldown. A claim is one
  INSERT ... SELECT ... WHERE NOT EXISTS statement (atomic on SQLite, whose writers take turns;
  on PostgreSQL it first takes a transaction-scoped advisory lock on the trigger and customer).
- `nbo_rm_tasks`: tasks the triggers give relationship managers, shown on the workbench.
"""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from nbo.databases import create_tables
from serving.triggers.event_log import Event, EventLog, as_utc, events

_meta = sa.MetaData()
fires = sa.Table(
    "nbo_trigger_fires", _meta,
    sa.Column("fire_id", sa.String(32), primary_key=True),
    sa.Column("trigger_id", sa.String(64), nullable=False),
    sa.Column("customer_id", sa.String(32), nullable=False),
    sa.Column("occasion", sa.String(64), nullable=False),
    sa.Column("occasion_time", sa.DateTime(timezone=True), nullable=False),
    sa.Column("fired_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # pending, sent, suppressed, skipped, deferred
    sa.Column("reason", sa.String(64)),
    sa.Column("decision_id", sa.String(64)),
    sa.Column("rules_version", sa.String(32), nullable=False),
    sa.UniqueConstraint("trigger_id", "customer_id", "occasion", name="uq_nbo_fire_occasion"),
    sa.Index("ix_nbo_fires_customer", "customer_id", "trigger_id", "occasion_time"),
)
tasks = sa.Table(
    "nbo_rm_tasks", _meta,
    sa.Column("task_id", sa.String(32), primary_key=True),
    sa.Column("customer_id", sa.String(32), nullable=False, index=True),
    sa.Column("trigger_id", sa.String(64), nullable=False),
    sa.Column("fire_id", sa.String(32), nullable=False),
    sa.Column("decision_id", sa.String(64), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("due_date", sa.Date, nullable=False),
    sa.Column("title_en", sa.Text, nullable=False),
    sa.Column("title_zh", sa.Text, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # open, done
)


@dataclass(frozen=True)
class Claim:
    """A trigger occasion to claim."""

    trigger_id: str
    customer_id: str
    occasion: str
    occasion_time: datetime
    cooldown: timedelta
    rules_version: str


class TriggerStore:
    """The tables above, on the audit store's engine."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self.log = EventLog(engine)
        create_tables(engine, _meta)

    def record_events(self, batch: list[Event]) -> list[bool]:
        """Log the batch, all or nothing (see `EventLog.record`); per event, whether it was new."""
        return self.log.record(batch)

    def event_times(self, customer_id: str, event_type: str, topics: tuple[str, ...],
                    start: datetime, end: datetime) -> list[tuple[datetime, str]]:
        """(event_time, event_id) of the events of this type (on these topics, if any) in
        [start, end], oldest first."""
        query = (sa.select(events.c.event_time, events.c.event_id)
                 .where(events.c.customer_id == customer_id, events.c.event_type == event_type,
                        events.c.event_time >= start, events.c.event_time <= end)
                 .order_by(events.c.event_time, events.c.event_id))
        if topics:
            query = query.where(events.c.topic.in_(topics))
        with self.engine.connect() as conn:
            return [(as_utc(t), i) for t, i in conn.execute(query)]

    def topic_counts(self, customer_id: str, since: datetime) -> dict[str, int]:
        """Page views and searches per topic since `since` (for real-time intent tags)."""
        query = sa.select(events.c.topic).where(
            events.c.customer_id == customer_id, events.c.event_type.in_(("page_view", "search")),
            events.c.event_time >= since)
        with self.engine.connect() as conn:
            return dict(Counter(t for t in conn.execute(query).scalars() if t))

    def events_between(self, event_type: str, start: datetime, end: datetime) -> list[Event]:
        """Events of one type with start <= event_time < end, oldest first."""
        query = (sa.select(events.c.event_id, events.c.customer_id, events.c.event_type, events.c.topic,
                           events.c.event_time)
                 .where(events.c.event_type == event_type, events.c.event_time >= start, events.c.event_time < end)
                 .order_by(events.c.event_time, events.c.event_id))
        with self.engine.connect() as conn:
            return [Event(r[0], r[1], r[2], r[3], as_utc(r[4])) for r in conn.execute(query)]

    def claim(self, c: Claim) -> str | None:
        """A fire id if this occasion is the trigger's to act on now; None if it already fired for
        the occasion, or for the customer within the cooldown."""
        fire_id = uuid.uuid4().hex
        recent = sa.exists().where(
            fires.c.trigger_id == c.trigger_id, fires.c.customer_id == c.customer_id,
            sa.or_(fires.c.occasion == c.occasion,
                   sa.and_(fires.c.occasion_time > c.occasion_time - c.cooldown,
                           fires.c.occasion_time < c.occasion_time + c.cooldown)))
        values = sa.select(sa.literal(fire_id), sa.literal(c.trigger_id), sa.literal(c.customer_id),
                           sa.literal(c.occasion), sa.literal(c.occasion_time, sa.DateTime(timezone=True)),
                           sa.literal(datetime.now(UTC), sa.DateTime(timezone=True)), sa.literal("pending"),
                           sa.literal(c.rules_version)).where(~recent)
        statement = fires.insert().from_select(
            ["fire_id", "trigger_id", "customer_id", "occasion", "occasion_time", "fired_at", "status",
             "rules_version"], values).returning(fires.c.fire_id)
        try:
            with self.engine.begin() as conn:
                if self.engine.dialect.name == "postgresql":
                    conn.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext(:k))"),
                                 {"k": f"{c.trigger_id}/{c.customer_id}"})
                inserted = conn.execute(statement).first() is not None
        except IntegrityError:  # the same occasion, claimed at the same moment elsewhere
            return None
        return fire_id if inserted else None

    def settle(self, fire_id: str, status: str, reason: str | None, decision_id: str | None) -> None:
        """Record what a claimed fire did."""
        with self.engine.begin() as conn:
            conn.execute(fires.update().where(fires.c.fire_id == fire_id)
                         .values(status=status, reason=reason, decision_id=decision_id))

    def deferred(self, before: datetime) -> list[dict[str, Any]]:
        """Fires quiet hours deferred whose occasion came before `before`, oldest first."""
        query = (fires.select().where(fires.c.status == "deferred", fires.c.occasion_time < before)
                 .order_by(fires.c.occasion_time, fires.c.fire_id))
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    def retake(self, fire_id: str) -> bool:
        """Take a deferred fire back to pending to act on it; False when another run took it first."""
        with self.engine.begin() as conn:
            done = conn.execute(fires.update().where(fires.c.fire_id == fire_id, fires.c.status == "deferred")
                                .values(status="pending"))
        return done.rowcount == 1

    def release(self, fire_id: str) -> None:
        """Give a claim back (its action failed), so the occasion can fire on a retry."""
        with self.engine.begin() as conn:
            conn.execute(fires.delete().where(fires.c.fire_id == fire_id, fires.c.status == "pending"))

    def add_task(self, *, customer_id: str, trigger_id: str, fire_id: str, decision_id: str, due: date,
                 title_en: str, title_zh: str) -> str:
        """Open an RM task; its id."""
        task_id = uuid.uuid4().hex
        with self.engine.begin() as conn:
            conn.execute(tasks.insert().values(
                task_id=task_id, customer_id=customer_id, trigger_id=trigger_id, fire_id=fire_id,
                decision_id=decision_id, created_at=datetime.now(UTC), due_date=due, title_en=title_en,
                title_zh=title_zh, status="open"))
        return task_id

    def open_tasks(self, customer_id: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        """Open RM tasks (of one customer, if given), soonest due first."""
        query = tasks.select().where(tasks.c.status == "open")
        if customer_id is not None:
            query = query.where(tasks.c.customer_id == customer_id)
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(tasks.c.due_date, tasks.c.created_at).limit(limit))
            return [dict(r._mapping) for r in rows]

    def fires_for(self, customer_id: str) -> list[dict[str, Any]]:
        """Every fire of the customer's triggers, oldest first."""
        query = fires.select().where(fires.c.customer_id == customer_id).order_by(fires.c.fired_at)
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    def recent_fires(self, trigger_ids: tuple[str, ...], status: str = "sent", limit: int = 50) -> list[dict[str, Any]]:
        """Fires of these triggers with this status, the latest occasion first (the workbench's alerts)."""
        query = (fires.select().where(fires.c.trigger_id.in_(trigger_ids), fires.c.status == status)
                 .order_by(fires.c.occasion_time.desc(), fires.c.customer_id).limit(limit))
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]
