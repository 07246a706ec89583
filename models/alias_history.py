"""Who moved which alias of which model when and why: `nbo_alias_history` in the audit database.

MLflow keeps only where an alias points now; this table keeps every change. Training writes a
`train` entry when it registers a version and a `promote` entry for every promotion decision
(promoted or not, with the metrics compared on the same holdout); `nbo promote --alias challenger|shadow`
writes `set`; the service writes `reload` when it starts serving another version behind an alias
(version None: the alias is no longer set). Entries are only ever added.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from nbo.databases import audit_engine, create_tables

ACTIONS = ("train", "promote", "set", "reload")

_meta = sa.MetaData()
history = sa.Table(
    "nbo_alias_history", _meta,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),  # the order entries were written in
    sa.Column("event_id", sa.String(64), nullable=False, unique=True),
    sa.Column("model", sa.String(128), nullable=False),
    sa.Column("portfolio", sa.String(64), nullable=False),
    sa.Column("alias", sa.String(32)),  # None for `train`: a version registered, no alias moved
    sa.Column("version", sa.String(32)),  # None for `reload`: the alias is no longer set
    sa.Column("previous_version", sa.String(32)),
    sa.Column("action", sa.String(16), nullable=False),
    sa.Column("by", sa.String(128), nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("forced", sa.Boolean, nullable=False),
    sa.Column("evidence", sa.Text, nullable=False),
    sa.Index("ix_nbo_alias_history_model_at", "model", "at"),
)


class AliasHistory:
    """Append and read alias changes in the audit database (SQLite or PostgreSQL)."""

    def __init__(self, url: str):
        self.engine = audit_engine(url)
        self._owns_engine = True
        create_tables(self.engine, _meta)

    @classmethod
    def using(cls, engine: Engine) -> AliasHistory:
        """The history on an engine already open on the audit database (the service's: one engine per
        process on a SQLite file); `close` leaves it open."""
        history = cls.__new__(cls)
        history.engine, history._owns_engine = engine, False
        create_tables(engine, _meta)
        return history

    def record(self, *, model: str, portfolio: str, action: str, by: str, reason: str,
               alias: str | None = None, version: str | None = None, previous_version: str | None = None,
               forced: bool = False, evidence: dict[str, Any] | None = None) -> dict[str, Any]:
        """Store one entry (committed on return) and return it as `entries` shows it."""
        if action not in ACTIONS:
            raise ValueError(f"action must be one of {', '.join(ACTIONS)}")
        row = {"event_id": uuid.uuid4().hex, "model": model, "portfolio": portfolio, "alias": alias,
               "version": version, "previous_version": previous_version, "action": action, "by": by,
               "at": datetime.now(UTC), "reason": reason, "forced": forced,
               "evidence": json.dumps(evidence or {}, default=_plain)}
        with self.engine.begin() as conn:
            conn.execute(history.insert().values(**row))
        return _entry(row)

    def entries(self, model: str | None = None, limit: int = 500) -> list[dict[str, Any]]:
        """The newest `limit` entries (of one registered model, if given), newest first."""
        query = history.select().order_by(history.c.at.desc(), history.c.seq.desc()).limit(limit)
        if model is not None:
            query = query.where(history.c.model == model)
        with self.engine.connect() as conn:
            return [_entry(dict(row._mapping)) for row in conn.execute(query)]

    def last_versions(self, action: str, models: list[str]) -> dict[tuple[str, str], str | None]:
        """(model, alias) → the version of the newest `action` entry for it, among `models`."""
        query = (sa.select(history.c.model, history.c.alias, history.c.version)
                 .where(history.c.action == action, history.c.model.in_(models))
                 .order_by(history.c.at, history.c.seq))
        with self.engine.connect() as conn:
            return {(m, a): v for m, a, v in conn.execute(query)}

    def close(self) -> None:
        if self._owns_engine:
            self.engine.dispose()


def _plain(value: Any) -> Any:
    """JSON of what `json` does not know: numpy's numbers as numbers, anything else as its text."""
    return value.item() if hasattr(value, "item") else str(value)


def _entry(row: dict[str, Any]) -> dict[str, Any]:
    at = row["at"]
    evidence = row["evidence"]
    return {"event_id": row["event_id"], "model": row["model"], "portfolio": row["portfolio"],
            "alias": row["alias"], "version": row["version"], "previous_version": row["previous_version"],
            "action": row["action"], "by": row["by"], "at": at.replace(tzinfo=UTC) if at.tzinfo is None else at,
            "reason": row["reason"], "forced": bool(row["forced"]),
            "evidence": json.loads(evidence) if isinstance(evidence, str) else evidence}
