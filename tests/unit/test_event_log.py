"""The event log and the offline flush on a real SQLite file and a real parquet file: once per
event_id under concurrency, conflicts refused whole, and a flush idempotent across a crash."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from features.online.push import append_new_rows, intent_rows
from nbo.errors import Conflict
from serving.audit.store import AuditStore, sqlite_url
from serving.triggers.event_flush import EventFlusher
from serving.triggers.event_log import Event, EventLog

AT = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)


@pytest.fixture()
def log(tmp_path: Path) -> EventLog:
    audit = AuditStore(sqlite_url(tmp_path / "audit.db"))
    yield EventLog(audit.engine)
    audit.close()


def _search(n: int, topic: str = "fund") -> Event:
    return Event(f"e{n}", f"C{n:08d}", "search", topic, AT + timedelta(seconds=n))


def _offline(source: Path) -> pd.Series:
    return pd.read_parquet(source)["event_id"].value_counts()


def test_the_same_batch_recorded_by_many_threads_at_once_is_new_once(log: EventLog) -> None:
    batch, answers = [_search(1), _search(2)], []
    threads = [threading.Thread(target=lambda: answers.append(log.record(batch))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(answers) == [[False, False]] * 7 + [[True, True]]
    assert len(log.unflushed(100)) == 2


def test_an_id_logged_with_other_content_rejects_its_whole_batch(log: EventLog) -> None:
    assert log.record([_search(1)]) == [True]
    with pytest.raises(Conflict, match="'e1'.*nothing written"):
        log.record([_search(2), _search(1, topic="gold")])
    assert [e["event_id"] for e in log.unflushed(100)] == ["e1"]
    assert log.record([_search(1), _search(1)]) == [False, False]  # a replay, twice in one batch
    with pytest.raises(Conflict, match="'e3' appears twice"):
        log.record([_search(3), _search(3, topic="gold")])


def test_a_flush_after_a_crash_between_append_and_mark_writes_nothing_twice(log: EventLog, tmp_path: Path) -> None:
    source = tmp_path / "customer_intent_realtime.parquet"
    log.record([_search(1), _search(2), _search(3), Event("l1", "C00000001", "login", None, AT)])
    pending = pd.DataFrame(log.unflushed(100))
    assert append_new_rows(source, intent_rows(pending.drop(columns="received_at"))) == 3  # then: SIGKILL
    flushed = EventFlusher(log, source).flush()
    assert (flushed.events, flushed.appended) == (3, 0)
    assert _offline(source).to_dict() == {"e1": 1, "e2": 1, "e3": 1}
    assert EventFlusher(log, source).flush().events == 0


def test_flushes_racing_with_logging_copy_each_event_once(log: EventLog, tmp_path: Path) -> None:
    source = tmp_path / "customer_intent_realtime.parquet"
    flushers = [EventFlusher(log, source) for _ in range(3)]

    def write() -> None:
        for n in range(60):
            log.record([_search(n)])

    threads = [threading.Thread(target=write)] + [
        threading.Thread(target=lambda f=f: [f.flush() for _ in range(10)]) for f in flushers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    flushers[0].flush()
    counts = _offline(source)
    assert len(counts) == 60 and set(counts) == {1}
    assert log.unflushed(100) == []


def test_an_event_logged_outside_todays_window_is_left_out_and_does_not_block_the_flush(
        log: EventLog, tmp_path: Path) -> None:
    source = tmp_path / "customer_intent_realtime.parquet"
    old = Event("old", "C00000001", "search", "fund", datetime(1, 1, 1, tzinfo=UTC))  # an older version logged it
    log.record([old, _search(1), _search(2)])
    flushed = EventFlusher(log, source).flush()
    assert (flushed.events, flushed.appended) == (3, 2)
    assert _offline(source).to_dict() == {"e1": 1, "e2": 1}
    assert log.unflushed(100) == []
