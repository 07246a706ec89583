"""What a campaign's runs did, customer by customer and day by day (`nbo_campaign_sends`, audit database).

One row per (campaign, customer, run day), unique, so two runs of one day cannot both act on a
customer: a run first *claims* the row (status `pending`), then settles it to `sent`, `held_out`,
`refused` or `blocked`; a run that fails gives its claims back. A customer with a `sent` or
`held_out` row is done with the campaign. `detail` keeps what the send lists show (product names,
messages, reasons), so a rerun rewrites the same lists from the stored rows. `CampaignSends.frame`
is the contract other modules read (shared picture of issue 25): exactly `COLUMNS`.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from nbo.databases import create_tables

PENDING, SENT, HELD_OUT, REFUSED, BLOCKED = "pending", "sent", "held_out", "refused", "blocked"
STATUSES = (SENT, HELD_OUT, REFUSED, BLOCKED)
DONE = (SENT, HELD_OUT)  # a customer with one of these is never acted on again by the campaign
COLUMNS = ("send_id", "campaign_id", "campaign_version", "day", "customer_id", "arm", "segment", "status", "channel",
           "product_id", "send_at", "cost_cny", "reason", "decision_id", "task_id")

_meta = sa.MetaData()
sends = sa.Table(
    "nbo_campaign_sends", _meta,
    sa.Column("send_id", sa.String(32), primary_key=True),
    sa.Column("campaign_id", sa.String(64), nullable=False),
    sa.Column("campaign_version", sa.Integer, nullable=False),
    sa.Column("day", sa.Date, nullable=False),
    sa.Column("customer_id", sa.String(32), nullable=False),
    sa.Column("arm", sa.String(32), nullable=False),
    sa.Column("segment", sa.String(64)),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("channel", sa.String(16)),
    sa.Column("product_id", sa.String(40)),
    sa.Column("send_at", sa.DateTime(timezone=True)),
    sa.Column("cost_cny", sa.Float, nullable=False),
    sa.Column("reason", sa.String(64)),
    sa.Column("decision_id", sa.String(64)),
    sa.Column("task_id", sa.String(32)),
    sa.Column("detail", sa.Text, nullable=False),  # JSON: product names, messages, reasons (the send lists)
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("campaign_id", "customer_id", "day", name="uq_nbo_campaign_send_day"),
    sa.Index("ix_nbo_campaign_sends_day", "campaign_id", "day"),
)


@dataclass(frozen=True)
class Outcome:
    """How a claimed row settles."""

    status: str
    channel: str | None = None
    product_id: str | None = None
    send_at: datetime | None = None
    cost_cny: float = 0.0
    reason: str | None = None
    decision_id: str | None = None
    task_id: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)


class CampaignSends:
    """The sends table on an engine open on the audit database (SQLite or PostgreSQL)."""

    def __init__(self, engine: Engine):
        self.engine = engine
        create_tables(engine, _meta)

    def done_customers(self, campaign_id: str, other_than: date | None = None) -> set[str]:
        """Customers the campaign sent to or held out (on any day but `other_than`): never acted on again."""
        query = sa.select(sends.c.customer_id).where(sends.c.campaign_id == campaign_id, sends.c.status.in_(DONE))
        if other_than is not None:
            query = query.where(sends.c.day != other_than)
        with self.engine.connect() as conn:
            return set(conn.execute(query).scalars())

    def assigned_customers(self, campaign_id: str) -> set[str]:
        """Customers with any row of the campaign (assigned on their first run day)."""
        query = sa.select(sends.c.customer_id).where(sends.c.campaign_id == campaign_id).distinct()
        with self.engine.connect() as conn:
            return set(conn.execute(query).scalars())

    def cost_so_far(self, campaign_id: str) -> float:
        """What the campaign's sends have cost, every run counted, in CNY."""
        query = sa.select(sa.func.coalesce(sa.func.sum(sends.c.cost_cny), 0.0)).where(sends.c.campaign_id == campaign_id)
        with self.engine.connect() as conn:
            return float(conn.execute(query).scalar_one())

    def claim(self, campaign_id: str, version: int, day: date, customer_id: str, arm: str,
              segment: str | None) -> str | None:
        """A send id if this (campaign, customer, day) is this run's to act on; None if a row exists."""
        send_id = uuid.uuid4().hex
        try:
            with self.engine.begin() as conn:
                conn.execute(sends.insert().values(
                    send_id=send_id, campaign_id=campaign_id, campaign_version=version, day=day,
                    customer_id=customer_id, arm=arm, segment=segment, status=PENDING, cost_cny=0.0, detail="{}",
                    created_at=datetime.now(UTC)))
        except IntegrityError:  # claimed before, or at this moment by another run of the day
            return None
        return send_id

    def settle(self, send_id: str, outcome: Outcome) -> None:
        """Record what a claimed row did."""
        with self.engine.begin() as conn:
            conn.execute(sends.update().where(sends.c.send_id == send_id).values(
                status=outcome.status, channel=outcome.channel, product_id=outcome.product_id,
                send_at=outcome.send_at, cost_cny=outcome.cost_cny,
                reason=None if outcome.reason is None else outcome.reason[:64], decision_id=outcome.decision_id,
                task_id=outcome.task_id, detail=json.dumps(outcome.detail, ensure_ascii=False)))

    def release(self, send_id: str) -> None:
        """Give a claim back (acting on it failed), so a rerun of the day can act on it."""
        with self.engine.begin() as conn:
            conn.execute(sends.delete().where(sends.c.send_id == send_id, sends.c.status == PENDING))

    def rows(self, campaign_id: str, day: date | None = None) -> pd.DataFrame:
        """The campaign's settled rows (of one day, if given) with `detail` parsed, by customer."""
        query = sends.select().where(sends.c.campaign_id == campaign_id, sends.c.status != PENDING)
        if day is not None:
            query = query.where(sends.c.day == day)
        with self.engine.connect() as conn:
            frame = pd.DataFrame([dict(r._mapping) for r in conn.execute(query)],
                                 columns=[c.name for c in sends.columns])
        frame["detail"] = frame["detail"].map(json.loads)
        return _typed(frame).sort_values(["day", "customer_id"], ignore_index=True)

    def frame(self, campaign_id: str | None = None) -> pd.DataFrame:
        """Settled rows (of one campaign, if given) with exactly `COLUMNS`: the helpers' contract."""
        query = sa.select(*[sends.c[c] for c in COLUMNS]).where(sends.c.status != PENDING)
        if campaign_id is not None:
            query = query.where(sends.c.campaign_id == campaign_id)
        with self.engine.connect() as conn:
            frame = pd.DataFrame([tuple(r) for r in conn.execute(query)], columns=list(COLUMNS))
        return _typed(frame).sort_values(["campaign_id", "day", "customer_id"], ignore_index=True)

    def summary(self, campaign_id: str, day: date | None = None) -> dict[str, Any]:
        """Counts and cost by day × channel × status, and the totals."""
        rows = self.frame(campaign_id)
        if day is not None:
            rows = rows[rows["day"] == pd.Timestamp(day)]
        groups = []
        keyed = rows.assign(channel=rows["channel"].fillna("-"))
        for (d, channel, status), part in keyed.groupby(["day", "channel", "status"], sort=True):
            groups.append({"day": pd.Timestamp(d).date().isoformat(), "channel": None if channel == "-" else channel,
                           "status": status, "customers": len(part), "cost_cny": round(float(part["cost_cny"].sum()), 2)})
        return {"campaign_id": campaign_id, "day": None if day is None else day.isoformat(),
                "rows": len(rows), "customers": int(rows["customer_id"].nunique()),
                "by_status": {s: int(n) for s, n in rows["status"].value_counts().sort_index().items()},
                "cost_cny": round(float(rows["cost_cny"].sum()), 2), "groups": groups}


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    """The contract's dtypes: `day` datetime64 (a date), `send_at` UTC, `cost_cny` float."""
    frame["day"] = pd.to_datetime(frame["day"])
    frame["send_at"] = pd.to_datetime(frame["send_at"], utc=True)
    frame["cost_cny"] = frame["cost_cny"].astype(float)
    frame["campaign_version"] = frame["campaign_version"].astype("int64")
    return frame
