"""The offline copy of page views and searches: appended from the event log in the background.

POST /v1/events writes the log and the online store at once; the push source's parquet file (what
training reads) is rewritten whole on each append, so appends leave the request and run here in
batches: every `FLUSH_INTERVAL_S` seconds, when the service stops and on `nbo events flush`.

A flush holds the push source's file lock, reads the logged events without an offline copy,
appends those whose `event_id` the file does not hold yet, then marks them. A crash (SIGKILL)
anywhere loses nothing: the log is durable and unmarked events are taken again; a crash between
the append and the mark repeats rows the file already holds, which the append skips. The lock
makes the flushes of several worker processes and the command take turns.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from features.online.push import append_new_rows, intent_rows, push_lock
from nbo.errors import ContractViolation
from serving.triggers.event_log import EventLog

log = logging.getLogger(__name__)

FLUSH_INTERVAL_S = 2.0  # the offline copy lags the log by this much, plus the flush itself
FLUSH_BATCH = 50_000  # events appended per file rewrite at most


@dataclass(frozen=True)
class Flushed:
    """What one flush did."""

    events: int  # taken from the log
    appended: int  # rows added to the file (fewer: already there after a crash)
    seconds: float


class EventFlusher:
    """Appends the logged page views and searches to the push source's parquet file."""

    def __init__(self, events: EventLog, source: Path, interval_s: float = FLUSH_INTERVAL_S):
        self.events, self.source, self.interval_s = events, source, interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def flush(self) -> Flushed:
        """Append every logged event without an offline copy, now."""
        started, taken, appended = time.perf_counter(), 0, 0
        with push_lock(self.source):
            while pending := self.events.unflushed(FLUSH_BATCH):
                rows = _valid_rows(pd.DataFrame(pending))
                if not rows.empty:
                    appended += append_new_rows(self.source, rows)
                self.events.mark_flushed([p["event_id"] for p in pending])
                taken += len(pending)
        flushed = Flushed(taken, appended, round(time.perf_counter() - started, 3))
        if taken:
            log.info("intent_events_flushed", extra={"events": taken, "appended": appended,
                                                     "seconds": flushed.seconds})
        return flushed

    def start(self) -> None:
        """Flush every `interval_s` seconds in a background thread."""
        self._thread = threading.Thread(target=self._run, name="event-flush", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the background thread, then flush what is left (if the stores answer)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._flush_logging_errors()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._flush_logging_errors()

    def _flush_logging_errors(self) -> None:
        try:
            self.flush()
        except Exception as err:  # noqa: BLE001 - the log keeps the events: the next flush takes them
            log.error("intent_flush_failed", extra={"error_type": type(err).__name__, "error": str(err)})


def _valid_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """The intent rows of logged events; events the contract refuses (logged by an older version
    without today's date window) are left out, and logged, so they never block the flush."""
    try:
        return intent_rows(frame.drop(columns="received_at"), created=frame["received_at"])
    except ContractViolation as err:
        bad = {v["row"] for v in err.violations if v.get("row") is not None}
        if not bad:
            raise
        log.warning("intent_flush_skipped", extra={"events": len(bad), "event_ids": frame.loc[list(bad), "event_id"].tolist()})
        kept = frame.drop(index=list(bad))
        return _valid_rows(kept) if not kept.empty else kept
