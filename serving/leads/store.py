"""Leads and their outcomes in the audit database (SQLite or PostgreSQL).

- `nbo_leads`: one row per (customer, product, ISO week), unique, so a rebuild adds nothing twice.
  status: open → contacted → won | lost; open leads of earlier weeks expire when a later week is built.
  Only the lead's RM (or an admin) records an outcome; any other move is a Conflict (409).
- `nbo_lead_blends`: every blend of intent and propensity fitted on outcomes (the default blend of
  `leads.toml` is not stored); the latest is in force.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from nbo.databases import create_tables
from nbo.errors import Conflict, Forbidden, NotFound
from serving.leads.score import FITTED, Blend

STATUSES = ("open", "contacted", "won", "lost", "expired")
OUTCOMES = ("contacted", "won", "lost")
MOVES = {"open": {"contacted"}, "contacted": {"won", "lost"}}
SOURCES = ("model", "campaign")

_meta = sa.MetaData()
leads = sa.Table(
    "nbo_leads", _meta,
    sa.Column("lead_id", sa.String(32), primary_key=True),
    sa.Column("customer_id", sa.String(32), nullable=False),
    sa.Column("product_id", sa.String(64), nullable=False),
    sa.Column("category", sa.String(32), nullable=False),
    sa.Column("score", sa.Float, nullable=False),
    sa.Column("score_version", sa.String(64), nullable=False),
    sa.Column("intent", sa.Float, nullable=False),
    sa.Column("propensity", sa.Float, nullable=False),
    sa.Column("reasons_zh", sa.Text, nullable=False),  # JSON list of sentences
    sa.Column("reasons_en", sa.Text, nullable=False),
    sa.Column("rm_id", sa.String(32), index=True),
    sa.Column("assigned_because", sa.String(40), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("week", sa.String(8), nullable=False),  # ISO week, 2026-W49
    sa.Column("outcome_at", sa.DateTime(timezone=True)),
    sa.Column("outcome_by", sa.String(64)),
    sa.Column("note", sa.Text),
    sa.Column("source", sa.String(16), nullable=False),
    sa.UniqueConstraint("customer_id", "product_id", "week", name="uq_nbo_lead_week"),
    sa.Index("ix_nbo_leads_week", "week", "rm_id"),
)
blends = sa.Table(
    "nbo_lead_blends", _meta,
    sa.Column("version", sa.String(64), primary_key=True),
    sa.Column("fitted_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("weights", sa.Text, nullable=False),  # JSON: intercept, w_intent, w_propensity
    sa.Column("outcomes", sa.Integer, nullable=False),
)


def iso_week(day: date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


@dataclass(frozen=True)
class NewLead:
    customer_id: str
    product_id: str
    category: str
    score: float
    score_version: str
    intent: float
    propensity: float
    reasons: dict[str, list[str]]
    rm_id: str | None
    assigned_because: str
    source: str = "model"


class LeadStore:
    """The tables above, on the audit store's engine."""

    def __init__(self, engine: Engine):
        self.engine = engine
        create_tables(engine, _meta)

    # --- building ---

    def existing(self, week: str) -> set[tuple[str, str]]:
        """(customer, product) pairs with a lead in `week`."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(leads.c.customer_id, leads.c.product_id).where(leads.c.week == week))
            return {(r.customer_id, r.product_id) for r in rows}

    def taken(self, week: str) -> dict[str, int]:
        """Leads per RM in `week` (their capacity used)."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(leads.c.rm_id, sa.func.count()).where(
                leads.c.week == week, leads.c.rm_id.is_not(None)).group_by(leads.c.rm_id))
            return {r[0]: int(r[1]) for r in rows}

    def add(self, new: list[NewLead], week: str, at: datetime | None = None) -> int:
        """Insert the leads not yet in `week` (idempotent per customer, product and week); how many."""
        at = at or datetime.now(UTC)
        added = 0
        for lead in new:
            row = {"lead_id": uuid.uuid4().hex, "customer_id": lead.customer_id, "product_id": lead.product_id,
                   "category": lead.category, "score": float(lead.score), "score_version": lead.score_version,
                   "intent": float(lead.intent), "propensity": float(lead.propensity),
                   "reasons_zh": json.dumps(lead.reasons["zh"], ensure_ascii=False),
                   "reasons_en": json.dumps(lead.reasons["en"]), "rm_id": lead.rm_id,
                   "assigned_because": lead.assigned_because, "status": "open", "created_at": at, "week": week,
                   "source": lead.source}
            try:
                with self.engine.begin() as conn:
                    conn.execute(leads.insert().values(**row))
                added += 1
            except IntegrityError:
                continue  # built before (or by a concurrent build)
        return added

    def expire_before(self, week: str) -> int:
        """Open leads of weeks before `week` expire; how many did."""
        with self.engine.begin() as conn:
            return int(conn.execute(leads.update().where(leads.c.week < week, leads.c.status == "open")
                                    .values(status="expired")).rowcount or 0)

    # --- reading ---

    def frame(self, rm: str | None = None, status: str | None = None) -> pd.DataFrame:
        """Leads, best first (newest week first, then score; ties by customer and product); `rm` limits
        to one RM's."""
        query = sa.select(leads)
        if rm is not None:
            query = query.where(leads.c.rm_id == rm)
        if status is not None:
            query = query.where(leads.c.status == status)
        query = query.order_by(leads.c.week.desc(), leads.c.score.desc(), leads.c.customer_id, leads.c.product_id)
        with self.engine.connect() as conn:
            return pd.DataFrame(conn.execute(query).mappings().all(), columns=[c.name for c in leads.columns])

    def get(self, lead_id: str) -> dict[str, Any]:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(leads).where(leads.c.lead_id == lead_id)).mappings().first()
        if row is None:
            raise NotFound(f"no lead {lead_id!r}")
        return dict(row)

    # --- outcomes ---

    def record_outcome(self, lead_id: str, outcome: str, by: str, admin: bool = False,
                       note: str | None = None, at: datetime | None = None) -> dict[str, Any]:
        """Move a lead open → contacted → won | lost. Forbidden unless `by` is its RM or `admin`;
        Conflict for any other move (the status is checked in the UPDATE itself, so two clicks
        at once move it once)."""
        if outcome not in OUTCOMES:
            raise Conflict(f"{outcome!r} is not an outcome; outcomes are {', '.join(OUTCOMES)}")
        lead = self.get(lead_id)
        if not admin and lead["rm_id"] != by:
            raise Forbidden(f"lead {lead_id} is not assigned to {by}: only its RM or an admin records its outcome")
        allowed = [s for s, to in MOVES.items() if outcome in to]
        with self.engine.begin() as conn:
            moved = conn.execute(leads.update().where(leads.c.lead_id == lead_id, leads.c.status.in_(allowed))
                                 .values(status=outcome, outcome_at=at or datetime.now(UTC), outcome_by=by,
                                         note=note)).rowcount
        if not moved:
            now = self.get(lead_id)["status"]
            raise Conflict(f"lead {lead_id} is {now}: {outcome} follows {' or '.join(allowed)}")
        return self.get(lead_id)

    def outcomes(self) -> pd.DataFrame:
        """Won and lost leads: intent, propensity, score, won."""
        query = sa.select(leads.c.intent, leads.c.propensity, leads.c.score, leads.c.status).where(
            leads.c.status.in_(("won", "lost")))
        with self.engine.connect() as conn:
            frame = pd.DataFrame(conn.execute(query).mappings().all(),
                                 columns=["intent", "propensity", "score", "status"])
        return frame.assign(won=frame["status"] == "won")

    # --- blends ---

    def latest_blend(self) -> Blend | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(blends).order_by(blends.c.fitted_at.desc()).limit(1)).mappings().first()
        if row is None:
            return None
        w = json.loads(row["weights"])
        return Blend(row["version"], FITTED, w["intercept"], w["w_intent"], w["w_propensity"], row["outcomes"])

    def blend_count(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(blends)).scalar_one())

    def save_blend(self, blend: Blend, at: datetime | None = None) -> None:
        weights = {"intercept": blend.intercept, "w_intent": blend.w_intent, "w_propensity": blend.w_propensity}
        with self.engine.begin() as conn:
            conn.execute(blends.insert().values(version=blend.version, fitted_at=at or datetime.now(UTC),
                                                weights=json.dumps(weights), outcomes=blend.outcomes))
