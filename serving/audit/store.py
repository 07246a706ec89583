"""Durable audit of every decision and score, the feedback tied to it and the RM's logged contacts.

Acknowledged means stored: `record_decision` and `record_feedback` return only after the
transaction has committed (SQLite in WAL mode with synchronous=FULL by default; PostgreSQL at
scale). Decisions of concurrent requests share a commit (`serving/audit/group_commit.py`). Records are queryable by decision id and by customer.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from nbo.databases import audit_engine, create_tables
from nbo.errors import ContractViolation, NotFound
from serving.audit.contact_ledger import LOGGED_CALL, contact_ledger, ledger_meta
from serving.audit.group_commit import GroupCommit
from serving.schemas import ProductIdPattern
from serving.triggers.event_log import as_utc

FEEDBACK_OUTCOMES = ("shown", "clicked", "accepted", "dismissed")
CONTACT_OUTCOMES = ("reached", "not_reached", "interested", "declined")
CALLS_THAT_REACHED = ("reached", "interested", "declined")  # logged calls the RM-call caps count
CONTACT_NOTE_MAX = 500
_PRODUCT_ID = re.compile(ProductIdPattern)
OFFER_KINDS = ("offers", "trigger", "campaign")  # a trigger or campaign decision is one when it offered something

_meta = sa.MetaData()
decisions = sa.Table(
    "nbo_decisions", _meta,
    sa.Column("decision_id", sa.String(64), primary_key=True),
    sa.Column("request_id", sa.String(64), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("customer_id", sa.String(32), nullable=False, index=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, index=True),
    sa.Column("variant", sa.String(32), nullable=False),
    sa.Column("model_versions", sa.Text, nullable=False),
    sa.Column("payload", sa.Text, nullable=False),
    sa.Index("ix_nbo_decisions_kind_created_at", "kind", "created_at"),  # the latest scores of one kind
)
feedback = sa.Table(
    "nbo_feedback", _meta,
    sa.Column("feedback_id", sa.String(64), primary_key=True),
    sa.Column("decision_id", sa.String(64), sa.ForeignKey("nbo_decisions.decision_id"), nullable=False, index=True),
    sa.Column("product_id", sa.String(32), nullable=False),
    sa.Column("outcome", sa.String(16), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

contacts = sa.Table(
    "nbo_contacts", _meta,
    sa.Column("contact_id", sa.String(64), primary_key=True),
    sa.Column("customer_id", sa.String(32), nullable=False, index=True),
    sa.Column("outcome", sa.String(16), nullable=False),
    sa.Column("product_id", sa.String(32)),
    sa.Column("note", sa.Text),
    sa.Column("recorded_by", sa.String(32), nullable=False),  # the RM's key prefix (never the key)
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, index=True),
)


class DecisionNotFound(NotFound):
    """No audited decision has this id."""


class NotAnOfferDecision(ContractViolation):
    """Feedback on a decision that offered nothing: a score, or a trigger action without an offer."""


class ProductNotInDecision(ContractViolation):
    """Feedback on a product the decision did not offer."""


class InvalidContact(ContractViolation):
    """A logged contact with an unknown outcome, a note too long or a malformed product id."""


@dataclass(frozen=True)
class Decision:
    """One audited decision or score."""

    decision_id: str
    request_id: str
    kind: str
    customer_id: str
    created_at: datetime
    variant: str
    model_versions: dict[str, Any]
    payload: dict[str, Any]


def sqlite_url(path: Path) -> str:
    """The embedded default: one SQLite file."""
    return f"sqlite:///{Path(path).resolve()}"


class AuditStore:
    """Decisions and feedback in SQLite (WAL) or PostgreSQL, through one SQLAlchemy engine."""

    def __init__(self, url: str):
        self.engine: Engine = audit_engine(url)
        create_tables(self.engine, _meta)
        create_tables(self.engine, ledger_meta)
        self._writer = GroupCommit(self.engine)

    @contextmanager
    def _tx(self) -> Iterator[Connection]:
        with self.engine.begin() as conn:
            yield conn

    def record_decision(self, *, kind: str, customer_id: str, request_id: str, variant: str,
                        model_versions: dict[str, Any], payload: dict[str, Any]) -> Decision:
        """Store a decision; returns once it is committed."""
        return self.record_decisions(kind=kind, request_id=request_id, variant=variant,
                                     model_versions=model_versions, entries=[(customer_id, payload)])[0]

    def record_decisions(self, *, kind: str, request_id: str, variant: str, model_versions: dict[str, Any],
                         entries: list[tuple[str, dict[str, Any]]], at: datetime | None = None) -> list[Decision]:
        """Store one decision per (customer_id, payload); returns once they are committed (concurrent
        callers' decisions share a commit). `at` (UTC) backdates them: `nbo monitor backfill` records
        scores as of a past month there; the service never passes it."""
        now = at or datetime.now(UTC)
        records = [Decision(uuid.uuid4().hex, request_id, kind, customer_id, now, variant, model_versions, payload)
                   for customer_id, payload in entries]
        if not records:
            return []
        versions = _json_text(model_versions)
        self._writer.insert(decisions, [
            {"decision_id": r.decision_id, "request_id": request_id, "kind": kind, "customer_id": r.customer_id,
             "created_at": now, "variant": variant, "model_versions": versions,
             "payload": _json_text(r.payload)} for r in records])
        return records

    def get_decision(self, decision_id: str) -> Decision:
        """The decision with this id, or DecisionNotFound."""
        with self.engine.connect() as conn:
            row = conn.execute(decisions.select().where(decisions.c.decision_id == decision_id)).first()
        if row is None:
            raise DecisionNotFound(f"no decision {decision_id!r}")
        return _decision(row)

    def decisions_for(self, customer_id: str, limit: int = 50) -> list[Decision]:
        """The customer's most recent decisions, newest first."""
        query = (decisions.select().where(decisions.c.customer_id == customer_id)
                 .order_by(decisions.c.created_at.desc()).limit(limit))
        with self.engine.connect() as conn:
            return [_decision(row) for row in conn.execute(query)]

    def record_feedback(self, decision_id: str, product_id: str, outcome: str) -> str:
        """Store feedback on a product that an audited offer decision offered.

        Raises:
            DecisionNotFound: no decision has this id.
            NotAnOfferDecision: the decision offered nothing (a score, a trigger without an offer).
            ProductNotInDecision: the product is not among the decision's offers.
        """
        if outcome not in FEEDBACK_OUTCOMES:
            raise ValueError(f"outcome must be one of {', '.join(FEEDBACK_OUTCOMES)}")
        feedback_id = uuid.uuid4().hex
        with self._tx() as conn:
            row = conn.execute(sa.select(decisions.c.kind, decisions.c.payload)
                               .where(decisions.c.decision_id == decision_id)).first()
            if row is None:
                raise DecisionNotFound(f"no decision {decision_id!r}")
            _check_offered(decision_id, row.kind, json.loads(row.payload), product_id)
            conn.execute(feedback.insert().values(feedback_id=feedback_id, decision_id=decision_id,
                                                  product_id=product_id, outcome=outcome,
                                                  created_at=datetime.now(UTC)))
        return feedback_id

    def feedback_for(self, decision_id: str) -> list[dict[str, Any]]:
        """Feedback recorded on one decision, oldest first."""
        query = feedback.select().where(feedback.c.decision_id == decision_id).order_by(feedback.c.created_at)
        with self.engine.connect() as conn:
            return [dict(row._mapping) for row in conn.execute(query)]

    def recent_feedback(self, customer_id: str, since: datetime) -> tuple[dict[str, int], frozenset[str]]:
        """Since `since`: how often each product was shown to the customer, and which were accepted."""
        query = (sa.select(feedback.c.product_id, feedback.c.outcome, sa.func.count())
                 .join(decisions, decisions.c.decision_id == feedback.c.decision_id)
                 .where(decisions.c.customer_id == customer_id, feedback.c.created_at >= since)
                 .group_by(feedback.c.product_id, feedback.c.outcome))
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        shown = {p: int(n) for p, outcome, n in rows if outcome == "shown"}
        return shown, frozenset(p for p, outcome, _ in rows if outcome == "accepted")

    def record_contact(self, customer_id: str, outcome: str, *, note: str | None = None,
                       product_id: str | None = None, recorded_by: str) -> dict[str, Any]:
        """Store one contact the RM logged (a call and its outcome); returns it once committed. A call that
        reached the customer also goes into the contact ledger (channel rm_call, policy version
        `LOGGED_CALL`) in the same transaction, so the contact policy's RM-call caps count it.

        Raises InvalidContact for an outcome outside CONTACT_OUTCOMES, a note over CONTACT_NOTE_MAX
        characters or a product id that is not one (the caller checks the product exists)."""
        note = (note or "").strip() or None
        product_id = (product_id or "").strip() or None
        if outcome not in CONTACT_OUTCOMES:
            raise InvalidContact(f"outcome {outcome[:40]!r} is not one of {', '.join(CONTACT_OUTCOMES)}")
        if note is not None and len(note) > CONTACT_NOTE_MAX:
            raise InvalidContact(f"the note has {len(note)} characters; at most {CONTACT_NOTE_MAX}")
        if note is not None and "\x00" in note:
            raise InvalidContact("the note contains a NUL character")
        if product_id is not None and not _PRODUCT_ID.match(product_id):
            raise InvalidContact(f"product {product_id[:40]!r} is not a product id")
        row = {"contact_id": uuid.uuid4().hex, "customer_id": customer_id, "outcome": outcome,
               "product_id": product_id, "note": note, "recorded_by": recorded_by, "created_at": datetime.now(UTC)}
        with self._tx() as conn:
            conn.execute(contacts.insert().values(**row))
            if outcome in CALLS_THAT_REACHED:
                conn.execute(contact_ledger.insert().values(
                    contact_id=row["contact_id"], customer_id=customer_id, channel="rm_call",
                    contacted_at=row["created_at"], source="rm_log", ref=row["contact_id"],
                    policy_version=LOGGED_CALL, recorded_at=row["created_at"]))
        return row

    def contacts_for(self, customer_id: str, limit: int = 20) -> list[dict[str, Any]]:
        """The customer's logged contacts, newest first."""
        query = (contacts.select().where(contacts.c.customer_id == customer_id)
                 .order_by(contacts.c.created_at.desc()).limit(limit))
        with self.engine.connect() as conn:
            return [_utc(dict(row._mapping)) for row in conn.execute(query)]

    def customer_feedback(self, customer_id: str, limit: int = 20) -> list[dict[str, Any]]:
        """Clicked, accepted and dismissed offers of the customer, newest first (`shown` is left out)."""
        query = (sa.select(feedback.c.product_id, feedback.c.outcome, feedback.c.created_at, feedback.c.decision_id)
                 .join(decisions, decisions.c.decision_id == feedback.c.decision_id)
                 .where(decisions.c.customer_id == customer_id, feedback.c.outcome != "shown")
                 .order_by(feedback.c.created_at.desc()).limit(limit))
        with self.engine.connect() as conn:
            return [_utc(dict(row._mapping)) for row in conn.execute(query)]

    def declined_products(self, customer_id: str, since: datetime) -> frozenset[str]:
        """Products the customer turned down since `since`: an offer dismissed, or a logged call
        declined on that product (the suitability rule `declined` reads this)."""
        dismissed = (sa.select(feedback.c.product_id)
                     .join(decisions, decisions.c.decision_id == feedback.c.decision_id)
                     .where(decisions.c.customer_id == customer_id, feedback.c.outcome == "dismissed",
                            feedback.c.created_at >= since))
        declined = sa.select(contacts.c.product_id).where(
            contacts.c.customer_id == customer_id, contacts.c.outcome == "declined",
            contacts.c.product_id.is_not(None), contacts.c.created_at >= since)
        with self.engine.connect() as conn:
            return frozenset(conn.execute(sa.union(dismissed, declined)).scalars())

    def dismissal_times(self, customer_id: str, since: datetime) -> list[datetime]:
        """When the customer dismissed an offer since `since` (UTC; the contact policy's suppression)."""
        query = (sa.select(feedback.c.created_at)
                 .join(decisions, decisions.c.decision_id == feedback.c.decision_id)
                 .where(decisions.c.customer_id == customer_id, feedback.c.outcome == "dismissed",
                        feedback.c.created_at >= since))
        with self.engine.connect() as conn:
            return [as_utc(t) for t in conn.execute(query).scalars()]

    def latest_in_bands(self, kind: str, bands: tuple[str, ...], since: datetime, limit: int = 20,
                        window: int = 2000) -> list[Decision]:
        """Customers whose latest score of `kind` (churn, delinquency) among the `window` newest since
        `since` is in one of `bands`, that decision each, newest first (the workbench's high-risk alerts)."""
        in_band = sa.or_(*(decisions.c.payload.like(f'%"band":"{band}"%') for band in bands))  # compact JSON
        recent = (sa.select(decisions.c.decision_id, decisions.c.customer_id, in_band.label("hit"))
                  .where(decisions.c.kind == kind, decisions.c.created_at >= since)
                  .order_by(decisions.c.created_at.desc()).limit(window))
        seen: set[str] = set()
        hits: list[str] = []
        with self.engine.connect() as conn:
            for decision_id, customer_id, hit in conn.execute(recent):
                if customer_id not in seen:
                    seen.add(customer_id)
                    if hit:
                        hits.append(decision_id)
            rows = conn.execute(decisions.select().where(decisions.c.decision_id.in_(hits[:limit]))).all()
        found = sorted((_decision(r) for r in rows), key=lambda d: d.created_at, reverse=True)
        return [d for d in found if d.payload.get("answer", {}).get("band") in bands]

    def count(self, kind: str | None = None) -> int:
        """How many decisions are stored (of one kind, if given)."""
        query = sa.select(sa.func.count()).select_from(decisions)
        if kind is not None:
            query = query.where(decisions.c.kind == kind)
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    def close(self) -> None:
        self.engine.dispose()


def _json_text(value: Any) -> str:
    """JSON text of a record that parses to what `json.dumps(value, default=str, ensure_ascii=False)`
    wrote, 5-10x faster (orjson). Two differences: a NaN or infinite float is null (JSON has no such
    number, and PostgreSQL's jsonb refuses `NaN`), and a plain Enum member is its value."""
    return orjson.dumps(value, default=_json_default,
                        option=orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS).decode()


def _json_default(value: Any) -> Any:
    """What `json.dumps(default=str)` writes for what orjson does not: a float subclass as a number
    (numpy's float64), anything else (a datetime, a dataclass, numpy's int64) as `str(value)`."""
    return float(value) if isinstance(value, float) else str(value)


def _check_offered(decision_id: str, kind: str, payload: dict[str, Any], product_id: str) -> None:
    """Raise unless `product_id` is one of the offers of this decision."""
    offered = [o["product_id"] for o in (payload.get("answer") or {}).get("offers") or []]
    if kind not in OFFER_KINDS or (kind != "offers" and not offered):
        what = f"a {kind} action without an offer" if kind in OFFER_KINDS else f"a {kind} decision"
        raise NotAnOfferDecision(f"decision {decision_id} is {what}, not an offer decision: feedback "
                                 "is recorded on offers only")
    if product_id not in offered:
        raise ProductNotInDecision(f"{product_id} is not among the offers of decision {decision_id} "
                                   f"({', '.join(offered) or 'it offered none'})")


def _utc(record: dict[str, Any]) -> dict[str, Any]:
    """The record with `created_at` in UTC (SQLite returns naive datetimes)."""
    created = record["created_at"]
    if created.tzinfo is None:
        record["created_at"] = created.replace(tzinfo=UTC)
    return record


def _decision(row: Any) -> Decision:
    m = row._mapping
    created = m["created_at"]
    if created.tzinfo is None:
        created = created.replace(tzinfo=UTC)
    return Decision(m["decision_id"], m["request_id"], m["kind"], m["customer_id"], created, m["variant"],
                    json.loads(m["model_versions"]), json.loads(m["payload"]))
