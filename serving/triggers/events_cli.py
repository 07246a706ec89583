"""`nbo events flush`: the offline copy of the logged page views and searches, now."""

from __future__ import annotations

import signal
import threading
from dataclasses import asdict
from typing import TYPE_CHECKING

import click

from nbo.console import emit, handles_errors, json_option
from nbo.settings import load_settings

if TYPE_CHECKING:
    from serving.triggers.event_flush import EventFlusher


@click.group("events")
def events_group() -> None:
    """The event log POST /v1/events writes (in the audit database)."""


@events_group.command("flush")
@click.option("--every", "every_s", type=click.FloatRange(min=0.1), metavar="SECONDS",
              help="Keep flushing every SECONDS until stopped (SIGTERM or Ctrl-C), then flush once more "
                   "(`nbo serve` runs this beside its workers).")
@json_option
@handles_errors
def flush(every_s: float | None, as_json: bool) -> None:
    """Append the logged page views and searches that have no offline copy yet to the push
    source's parquet file (what training reads), now. `nbo serve` does this every 2 seconds and
    when it stops; running this beside it is safe (they take turns) and never writes an event twice."""
    from features.online.push import intent_source
    from features.repo.store import open_store
    from serving.audit.store import AuditStore
    from serving.triggers.event_flush import EventFlusher
    from serving.triggers.event_log import EventLog

    settings = load_settings()
    audit = AuditStore(settings.audit_url)
    try:
        flusher = EventFlusher(EventLog(audit.engine), intent_source(open_store(settings)), every_s or 0)
        if every_s is None:
            flushed = flusher.flush()
        else:
            _flush_until_stopped(flusher)
            flushed = flusher.flush()
    finally:
        audit.close()
    emit(asdict(flushed), as_json, lambda r: f"flushed {r['events']} events ({r['appended']} rows appended) "
                                             f"in {r['seconds']} s")


def _flush_until_stopped(flusher: EventFlusher) -> None:
    """Run the flusher's background loop until SIGTERM or SIGINT."""
    stopped = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopped.set())
    flusher.start()
    stopped.wait()
    flusher.stop()
