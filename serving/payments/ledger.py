"""Payment decisions and the alert queue, in the audit database.

A scored payment is one `nbo_decisions` row (kind `payment`, with the feature values used) and one
`nbo_payment_decisions` row keyed by `payment_id` (unique: a replay, even a concurrent one, finds the
first answer and writes nothing), written in one transaction; a held payment also opens a row in
`nbo_payment_alerts`, which the risk team closes once (`confirmed_fraud` or `released`, by whom, when).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from nbo.databases import create_tables
from nbo.errors import Conflict, NotFound
from serving.audit.store import _json_text, decisions

OUTCOMES = ("confirmed_fraud", "released")
OPEN = "open"

_meta = sa.MetaData()
payment_decisions = sa.Table(
    "nbo_payment_decisions", _meta,
    sa.Column("payment_id", sa.String(64), primary_key=True),
    sa.Column("decision_id", sa.String(64), nullable=False),
    sa.Column("customer_id", sa.String(32), nullable=False, index=True),
    sa.Column("body_hash", sa.String(64), nullable=False),
    sa.Column("payment_time", sa.DateTime(timezone=True), nullable=False),
    sa.Column("decision", sa.String(16), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)
alerts = sa.Table(
    "nbo_payment_alerts", _meta,
    sa.Column("payment_id", sa.String(64), primary_key=True),
    sa.Column("customer_id", sa.String(32), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("decided_by", sa.String(64)),
    sa.Column("decided_at", sa.DateTime(timezone=True)),
    sa.Index("ix_nbo_payment_alerts_status_created_at", "status", "created_at"),
)


class PaymentConflict(Conflict):
    """A payment_id already scored with another body."""


class AlertNotFound(NotFound):
    """No held payment has this id."""


class AlertClosed(Conflict):
    """The alert was already decided."""


@dataclass(frozen=True)
class Stored:
    """A payment's recorded answer (what a replay returns)."""

    decision_id: str
    body_hash: str
    answer: dict[str, Any]


class PaymentLedger:
    """Payment decisions and alerts on the audit store's engine."""

    def __init__(self, engine: Engine):
        self.engine = engine
        create_tables(engine, _meta)

    def find(self, payment_id: str) -> Stored | None:
        """The recorded answer for this payment, or None."""
        query = (sa.select(payment_decisions.c.decision_id, payment_decisions.c.body_hash, decisions.c.payload)
                 .join(decisions, decisions.c.decision_id == payment_decisions.c.decision_id)
                 .where(payment_decisions.c.payment_id == payment_id))
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return None if row is None else Stored(row.decision_id, row.body_hash, json.loads(row.payload)["answer"])

    def record(self, *, decision_id: str, payment_id: str, customer_id: str, payment_time: datetime,
               body_hash: str, request_id: str, model_versions: dict[str, Any], payload: dict[str, Any]) -> bool:
        """Store the decision (and open an alert for a hold) in one transaction; False when the payment
        was recorded first by another request (nothing written)."""
        now = datetime.now(UTC)
        decision = payload["answer"]["decision"]
        try:
            with self.engine.begin() as conn:
                conn.execute(payment_decisions.insert().values(
                    payment_id=payment_id, decision_id=decision_id, customer_id=customer_id, body_hash=body_hash,
                    payment_time=payment_time, decision=decision, created_at=now))
                conn.execute(decisions.insert().values(
                    decision_id=decision_id, request_id=request_id, kind="payment", customer_id=customer_id,
                    created_at=now, variant="champion" if model_versions else "rules",
                    model_versions=_json_text(model_versions), payload=_json_text(payload)))
                if decision == "hold":
                    conn.execute(alerts.insert().values(payment_id=payment_id, customer_id=customer_id,
                                                        created_at=now, status=OPEN))
        except IntegrityError:
            return False
        return True

    def open_alerts(self, limit: int = 100) -> list[dict[str, Any]]:
        """Open alerts, oldest first, each with its decision's answer and payment."""
        query = (sa.select(alerts.c.payment_id, alerts.c.customer_id, alerts.c.created_at, decisions.c.payload)
                 .join(payment_decisions, payment_decisions.c.payment_id == alerts.c.payment_id)
                 .join(decisions, decisions.c.decision_id == payment_decisions.c.decision_id)
                 .where(alerts.c.status == OPEN).order_by(alerts.c.created_at).limit(limit))
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        out = []
        for r in rows:
            payload = json.loads(r.payload)
            out.append({"payment_id": r.payment_id, "customer_id": r.customer_id, "held_at": _utc(r.created_at),
                        "payment": payload["payment"], "answer": payload["answer"]})
        return out

    def decide(self, payment_id: str, outcome: str, by: str) -> dict[str, Any]:
        """Close an open alert with `outcome`, recording who and when; AlertNotFound, AlertClosed (409)."""
        if outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {', '.join(OUTCOMES)}")
        now = datetime.now(UTC)
        with self.engine.begin() as conn:
            done = conn.execute(alerts.update().where(alerts.c.payment_id == payment_id, alerts.c.status == OPEN)
                                .values(status=outcome, decided_by=by, decided_at=now)).rowcount
            if not done:
                row = conn.execute(sa.select(alerts.c.status, alerts.c.decided_at)
                                   .where(alerts.c.payment_id == payment_id)).first()
                if row is None:
                    raise AlertNotFound(f"no held payment {payment_id!r}")
                raise AlertClosed(f"payment {payment_id!r} was already decided: {row.status} at "
                                  f"{_utc(row.decided_at).isoformat()}")
        return {"payment_id": payment_id, "outcome": outcome, "decided_by": by, "decided_at": now}

    def labelled(self) -> list[dict[str, Any]]:
        """Decided alerts: payment id, customer, payment time, label (1 confirmed fraud) and the features used."""
        query = (sa.select(alerts.c.payment_id, alerts.c.customer_id, alerts.c.status, payment_decisions.c.payment_time,
                           decisions.c.payload)
                 .join(payment_decisions, payment_decisions.c.payment_id == alerts.c.payment_id)
                 .join(decisions, decisions.c.decision_id == payment_decisions.c.decision_id)
                 .where(alerts.c.status != OPEN).order_by(payment_decisions.c.payment_time))
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [{"payment_id": r.payment_id, "customer_id": r.customer_id, "payment_time": _utc(r.payment_time),
                 "label": int(r.status == "confirmed_fraud")} | json.loads(r.payload)["features"] for r in rows]


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
