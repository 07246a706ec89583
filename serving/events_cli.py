"""`nbo events flush`: the offline copy of the logged page views and searches, now."""

from __future__ import annotations

from dataclasses import asdict

import click

from nbo.console import emit, handles_errors, json_option
from nbo.settings import load_settings


@click.group("events")
def events_group() -> None:
    """The event log POST /v1/events writes (in the audit database)."""


@events_group.command("flush")
@json_option
@handles_errors
def flush(as_json: bool) -> None:
    """Append the logged page views and searches that have no offline copy yet to the push
    source's parquet file (what training reads), now. The service does this every 2 seconds and
    when it stops; running this beside it is safe (they take turns) and never writes an event twice."""
    from features.push import intent_source
    from features.store import open_store
    from serving.app import audit_url
    from serving.audit import AuditStore
    from serving.event_flush import EventFlusher
    from serving.event_log import EventLog

    settings = load_settings()
    audit = AuditStore(audit_url(settings))
    try:
        flushed = EventFlusher(EventLog(audit.engine), intent_source(open_store(settings))).flush()
    finally:
        audit.close()
    emit(asdict(flushed), as_json, lambda r: f"flushed {r['events']} events ({r['appended']} rows appended) "
                                             f"in {r['seconds']} s")
