"""The contact ledger: every contact the contact policy granted, per customer, channel and moment.

The caps count these rows. A grant is decided and written in one transaction: the row goes in
first (SQLite then holds the database's write lock; PostgreSQL takes a transaction-scoped advisory
lock per customer before it), the customer's other contacts are read, and the row is rolled back
when the rules refuse, so two callers contacting one customer at once take turns and never break a
cap. The audit store creates the table (`AuditStore.__init__`).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from serving.triggers.event_log import as_utc

LOGGED_CALL = "logged"  # the policy version of a call an RM made and logged: counted, never granted
ledger_meta = sa.MetaData()
contact_ledger = sa.Table(
    "nbo_contact_ledger", ledger_meta,
    sa.Column("contact_id", sa.String(64), primary_key=True),
    sa.Column("customer_id", sa.String(32), nullable=False),
    sa.Column("channel", sa.String(16), nullable=False),
    sa.Column("contacted_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("source", sa.String(16), nullable=False),  # offers, trigger, campaign, rm_log
    sa.Column("ref", sa.String(64), nullable=False),  # the request, fire or send it belongs to
    sa.Column("policy_version", sa.String(32), nullable=False),
    sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_nbo_contact_ledger_customer", "customer_id", "channel", "contacted_at"),
)


class Verdict(Protocol):
    @property
    def allowed(self) -> bool: ...


V = TypeVar("V", bound=Verdict)


@dataclass(frozen=True)
class LedgerEntry:
    """One contact to record."""

    customer_id: str
    channel: str
    at: datetime
    source: str
    ref: str
    policy_version: str


class ContactLedger:
    """Reads and conditional writes of the ledger, on the audit database's engine."""

    def __init__(self, engine: Engine):
        self.engine = engine

    def _times(self, conn: Connection, customer_id: str, channel: str, since: datetime,
               leave_out: str | None = None) -> list[datetime]:
        t = contact_ledger.c
        query = sa.select(t.contacted_at).where(t.customer_id == customer_id, t.channel == channel,
                                                t.contacted_at >= since)
        if leave_out is not None:
            query = query.where(t.contact_id != leave_out)
        return [as_utc(v) for v in conn.execute(query).scalars()]

    def times(self, customer_id: str, channel: str, since: datetime) -> list[datetime]:
        """When the customer was contacted on `channel` since `since` (UTC)."""
        with self.engine.connect() as conn:
            return self._times(conn, customer_id, channel, since)

    def record_if(self, entry: LedgerEntry, since: datetime,
                  rules: Callable[[list[datetime]], V]) -> V:
        """Apply `rules` to the customer's contacts on the channel since `since`; record `entry`
        when they allow it. Returns the verdict."""
        contact_id = uuid.uuid4().hex
        with self.engine.connect() as conn, conn.begin() as tx:
            if self.engine.dialect.name == "postgresql":
                key = int.from_bytes(hashlib.sha256(entry.customer_id.encode()).digest()[:8], "big", signed=True)
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
            conn.execute(contact_ledger.insert().values(
                contact_id=contact_id, customer_id=entry.customer_id, channel=entry.channel,
                contacted_at=as_utc(entry.at), source=entry.source, ref=entry.ref[:64],
                policy_version=entry.policy_version, recorded_at=datetime.now(UTC)))
            verdict = rules(self._times(conn, entry.customer_id, entry.channel, since, leave_out=contact_id))
            if not verdict.allowed:
                tx.rollback()
        return verdict

    def all_contacts(self) -> list[dict[str, object]]:
        """Every recorded contact, oldest first (the sweep over a bank reads them)."""
        with self.engine.connect() as conn:
            rows = conn.execute(contact_ledger.select().order_by(contact_ledger.c.contacted_at)).all()
        return [dict(r._mapping) | {"contacted_at": as_utc(r.contacted_at)} for r in rows]
