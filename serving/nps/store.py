"""NPS answers in the audit database (`nbo_nps`, SQLite or PostgreSQL), idempotent by answer id.

Adding an answer whose id is stored with the same content changes nothing; the same id with other
content is a Conflict (409) and nothing of the batch is stored: an answer is never overwritten."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from nbo.databases import create_tables
from nbo.errors import Conflict
from serving.nps.answers import NpsAnswer

_meta = sa.MetaData()
nps = sa.Table(
    "nbo_nps", _meta,
    sa.Column("answer_id", sa.String(64), primary_key=True),
    sa.Column("customer_id", sa.String(16), nullable=False),
    sa.Column("answered_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("score", sa.SmallInteger, nullable=False),
    sa.Column("comment", sa.Text),
    sa.Column("channel", sa.String(16)),
    sa.Column("campaign_id", sa.String(64)),
    sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_nbo_nps_answered_at", "answered_at"),
)
ID_CHUNK = 500  # ids per IN (...) look-up
SHOWN_CONFLICTS = 5


def _utc(at: datetime) -> datetime:
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def _stored_content(row: Any) -> tuple[Any, ...]:
    return (row.customer_id, _utc(row.answered_at).replace(microsecond=0), row.score, row.comment or None,
            row.channel, row.campaign_id)


class NpsStore:
    """NPS answers on an engine open on the audit database."""

    def __init__(self, engine: Engine):
        self.engine = engine
        create_tables(engine, _meta)

    def add(self, answers: Sequence[NpsAnswer]) -> dict[str, int]:
        """Store the new answers in one transaction: {"added", "unchanged"}. Conflict (nothing stored)
        when an id is stored, or given twice here, with other content."""
        batch: dict[str, NpsAnswer] = {}
        clashes = []
        for answer in answers:
            seen = batch.setdefault(answer.answer_id, answer)
            if seen.content() != answer.content():
                clashes.append(answer.answer_id)
        for attempt in range(2):
            try:
                with self.engine.begin() as conn:
                    return self._add(conn, batch, clashes)
            except IntegrityError:  # another writer stored one of these ids meanwhile: look again
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def _add(self, conn: Connection, batch: dict[str, NpsAnswer], clashes: list[str]) -> dict[str, int]:
        ids = list(batch)
        stored = {}
        for start in range(0, len(ids), ID_CHUNK):
            chunk = ids[start:start + ID_CHUNK]
            stored |= {r.answer_id: r for r in conn.execute(nps.select().where(nps.c.answer_id.in_(chunk)))}
        clashes = clashes + [i for i, r in stored.items() if _stored_content(r) != batch[i].content()]
        if clashes:
            shown = ", ".join(sorted(set(clashes))[:SHOWN_CONFLICTS])
            raise Conflict(f"{len(set(clashes))} answer id(s) already stored (or given twice) with other content, "
                           f"e.g. {shown}: nothing stored; an answer is never overwritten")
        now = datetime.now(UTC)
        new = [{"answer_id": a.answer_id, "customer_id": a.customer_id, "answered_at": a.answered_at,
                "score": a.score, "comment": a.comment, "channel": a.channel, "campaign_id": a.campaign_id,
                "recorded_at": now} for i, a in batch.items() if i not in stored]
        if new:
            conn.execute(nps.insert(), new)
        return {"added": len(new), "unchanged": len(batch) - len(new)}

    def frame(self, since: datetime | None = None, until: datetime | None = None) -> pd.DataFrame:
        """Answers given at or after `since` and before `until` (UTC), oldest first."""
        query = nps.select().order_by(nps.c.answered_at, nps.c.answer_id)
        if since is not None:
            query = query.where(nps.c.answered_at >= since)
        if until is not None:
            query = query.where(nps.c.answered_at < until)
        with self.engine.connect() as conn:
            rows = [dict(r._mapping) for r in conn.execute(query)]
        frame = pd.DataFrame(rows, columns=[c.name for c in nps.columns])
        frame["answered_at"] = pd.to_datetime(frame["answered_at"], utc=True)
        return frame
