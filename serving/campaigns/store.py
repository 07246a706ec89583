"""Campaigns and every change to them, in the audit database (`nbo_campaigns`, `nbo_campaign_history`).

A campaign row holds its current state and definition (JSON of `CampaignSpec`) with a version
that grows with each edit; the history is only ever added to: create, edit and every move, with
who, when, from → to, why and the definition version. A move updates the row only if it is still
in the state (and version) the move was checked against, so two concurrent moves cannot both win.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from nbo.databases import create_tables
from nbo.errors import Conflict, NotFound
from serving.campaigns import states
from serving.campaigns.spec import CampaignSpec

_meta = sa.MetaData()
campaigns = sa.Table(
    "nbo_campaigns", _meta,
    sa.Column("campaign_id", sa.String(64), primary_key=True),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("definition", sa.Text, nullable=False),
    sa.Column("created_by", sa.String(128), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)
history = sa.Table(
    "nbo_campaign_history", _meta,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("event_id", sa.String(32), nullable=False, unique=True),
    sa.Column("campaign_id", sa.String(64), nullable=False),
    sa.Column("action", sa.String(16), nullable=False),
    sa.Column("from_state", sa.String(16)),  # None for `create`
    sa.Column("to_state", sa.String(16), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("by", sa.String(128), nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Index("ix_nbo_campaign_history_campaign", "campaign_id", "seq"),
)


class CampaignNotFound(NotFound):
    """No campaign with this id."""


class CampaignStore:
    """Campaigns on an engine open on the audit database (SQLite or PostgreSQL)."""

    def __init__(self, engine: Engine):
        self.engine = engine
        create_tables(engine, _meta)

    def save_draft(self, spec: CampaignSpec, by: str, reason: str = "") -> dict[str, Any]:
        """Create the campaign, or change a draft's definition; the campaign with `changed`.

        A definition equal to the stored one changes nothing, in any state (so loading the same
        files again is harmless); changing a campaign that is not a draft is an IllegalMove."""
        definition = spec.model_dump_json()
        with self.engine.begin() as conn:
            row = _row(conn, spec.id)
            if row is not None and json.loads(row["definition"]) == json.loads(definition):
                return _full(conn, row) | {"changed": False}
            now = datetime.now(UTC)
            if row is None:
                conn.execute(campaigns.insert().values(
                    campaign_id=spec.id, state=states.DRAFT, version=1, definition=definition, created_by=by,
                    created_at=now, updated_at=now))
                _record(conn, spec.id, "create", None, states.DRAFT, 1, by, now, reason)
            else:
                if row["state"] != states.DRAFT:
                    raise states.IllegalMove(f"campaign {spec.id!r} is {row['state']}: only a draft can change "
                                             "(withdraw an approved campaign first)")
                _update(conn, row, state=states.DRAFT, version=row["version"] + 1, definition=definition,
                        updated_at=now)
                _record(conn, spec.id, "edit", states.DRAFT, states.DRAFT, row["version"] + 1, by, now, reason)
            return _full(conn, _row(conn, spec.id)) | {"changed": True}

    def move(self, campaign_id: str, action: str, by: str, reason: str = "") -> dict[str, Any]:
        """Apply `action` (approve, withdraw, start, finish) and return the campaign: IllegalMove (409)
        from the wrong state, SelfApproval (403) when an author approves, CampaignNotFound (404)."""
        with self.engine.begin() as conn:
            row = _row(conn, campaign_id)
            if row is None:
                raise CampaignNotFound(f"no campaign {campaign_id!r} (see `nbo campaigns list`)")
            to_state = states.target_state(campaign_id, action, row["state"])
            if action == "approve":
                states.check_approver(campaign_id, by, _authors(conn, campaign_id))
            now = datetime.now(UTC)
            _update(conn, row, state=to_state, updated_at=now)
            _record(conn, campaign_id, action, row["state"], to_state, row["version"], by, now, reason)
            return _full(conn, _row(conn, campaign_id))

    def get(self, campaign_id: str) -> dict[str, Any]:
        """The campaign with its history, oldest change first (CampaignNotFound if none)."""
        with self.engine.connect() as conn:
            row = _row(conn, campaign_id)
            if row is None:
                raise CampaignNotFound(f"no campaign {campaign_id!r} (see `nbo campaigns list`)")
            return _full(conn, row)

    def list(self) -> list[dict[str, Any]]:
        """Every campaign with its history, by id."""
        with self.engine.connect() as conn:
            rows = [dict(r._mapping) for r in conn.execute(campaigns.select().order_by(campaigns.c.campaign_id))]
            changes = _history(conn, [r["campaign_id"] for r in rows])
        return [_with_history(r, changes[r["campaign_id"]]) for r in rows]


def _row(conn: Connection, campaign_id: str) -> dict[str, Any] | None:
    found = conn.execute(campaigns.select().where(campaigns.c.campaign_id == campaign_id)).first()
    return dict(found._mapping) if found else None


def _update(conn: Connection, row: dict[str, Any], **values: Any) -> None:
    """Update the row only if nobody moved or changed it since it was read (Conflict otherwise)."""
    done = conn.execute(campaigns.update().where(
        campaigns.c.campaign_id == row["campaign_id"], campaigns.c.state == row["state"],
        campaigns.c.version == row["version"]).values(**values))
    if done.rowcount != 1:
        raise Conflict(f"campaign {row['campaign_id']!r} changed meanwhile; read it again and retry")


def _record(conn: Connection, campaign_id: str, action: str, from_state: str | None, to_state: str, version: int,
            by: str, at: datetime, reason: str) -> None:
    conn.execute(history.insert().values(event_id=uuid.uuid4().hex, campaign_id=campaign_id, action=action,
                                         from_state=from_state, to_state=to_state, version=version, by=by, at=at,
                                         reason=reason))


def _authors(conn: Connection, campaign_id: str) -> set[str]:
    query = sa.select(history.c.by).where(history.c.campaign_id == campaign_id,
                                          history.c.action.in_(("create", "edit")))
    return {by for (by,) in conn.execute(query)}


def _history(conn: Connection, ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {i: [] for i in ids}
    if not ids:
        return out
    query = history.select().where(history.c.campaign_id.in_(ids)).order_by(history.c.seq)
    for r in conn.execute(query):
        out[r.campaign_id].append({"action": r.action, "from": r.from_state, "to": r.to_state, "version": r.version,
                                   "by": r.by, "at": _utc(r.at), "reason": r.reason})
    return out


def _campaign(row: dict[str, Any]) -> dict[str, Any]:
    return {"id": row["campaign_id"], "state": row["state"], "version": row["version"],
            "created_by": row["created_by"], "created_at": _utc(row["created_at"]),
            "updated_at": _utc(row["updated_at"]), "definition": json.loads(row["definition"])}


def _full(conn: Connection, row: dict[str, Any] | None) -> dict[str, Any]:
    assert row is not None
    return _with_history(row, _history(conn, [row["campaign_id"]])[row["campaign_id"]])


def _with_history(row: dict[str, Any], changes: list[dict[str, Any]]) -> dict[str, Any]:
    """The campaign, who approved it (while it is not a draft) and its history."""
    approvals = [c["by"] for c in changes if c["action"] == "approve"]
    approved_by = approvals[-1] if approvals and row["state"] != states.DRAFT else None
    return _campaign(row) | {"approved_by": approved_by, "history": changes}


def _utc(at: datetime) -> str:
    """ISO 8601 in UTC (SQLite hands back naive datetimes)."""
    return (at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)).isoformat(timespec="seconds")
