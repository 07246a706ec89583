"""Push real-time intent (page views and searches by topic) into the online and offline stores.

The payload is validated whole before anything is written: one bad row rejects the batch.
Rows are stamped the first microsecond after their event (`features.tables.intent_stamps`), online
and offline alike, so the point-in-time join keeps an event out of the training row at its instant.
The online store holds each customer's latest event; the push source's own parquet file keeps
every event for training, once per `event_id` (its rows carry the id, so an append that repeats
rows already in the file adds none of them). The service writes online at once (concurrent
requests share one write) and leaves the offline append to a background flush.
"""

from __future__ import annotations

import fcntl
import logging
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import pandas as pd
import pandera.errors as pae
import pandera.pandas as pa
import pyarrow
import pyarrow.compute as pc
import pyarrow.parquet as pq
from feast import FeatureStore
from pandera.typing import Series

from features.tables import (
    CREATED_TIMESTAMP,
    CUSTOMER_KEY,
    EVENT_TIMESTAMP,
    INTENT_COUNTS,
    INTENT_REALTIME,
    intent_stamps,
)
from nbo.batching import GroupRunner
from nbo.errors import ContractViolation
from sources.contract import CUSTOMER_ID

log = logging.getLogger(__name__)

MAX_CLOCK_SKEW = timedelta(minutes=5)
EVENT_TIME_FLOOR = datetime(2000, 1, 1, tzinfo=UTC)  # before any bank history nbo serves
EVENT_TIME_WINDOW = "event_time must be between 2000-01-01T00:00:00Z and 5 minutes from now"
EVENT_ID = "event_id"  # the offline rows' key: an event is kept once


def is_in_event_window(stamp: datetime) -> bool:
    """Whether an event time (UTC) is in the one window every event type shares."""
    return EVENT_TIME_FLOOR <= stamp <= datetime.now(UTC) + MAX_CLOCK_SKEW


class IntentEvents(pa.DataFrameModel):
    """A batch of intent events as the service receives them (`event_id` optional)."""

    event_id: Series[str] | None = pa.Field(str_length={"min_value": 1, "max_value": 64})
    customer_id: Series[str] = pa.Field(str_matches=CUSTOMER_ID)
    event_time: Series[Annotated[pd.DatetimeTZDtype, "ns", "UTC"]] = pa.Field(coerce=True)
    event_type: Series[str] = pa.Field(isin=tuple(INTENT_COUNTS))
    topic: Series[str] = pa.Field(str_matches=r"^[a-z][a-z0-9_]*$")

    @pa.check("event_time", error=EVENT_TIME_WINDOW)
    @classmethod
    def in_window(cls, stamps: Series[pd.Timestamp]) -> Series[bool]:
        return (stamps >= EVENT_TIME_FLOOR) & (stamps <= pd.Timestamp.now(tz="UTC") + MAX_CLOCK_SKEW)

    class Config:
        strict = True


@dataclass(frozen=True)
class Pushed:
    """What a push wrote."""

    events: int
    customers: int


def intent_source(store: FeatureStore) -> Path:
    """The push source's parquet file."""
    return Path(store.get_feature_view(INTENT_REALTIME.name).batch_source.path)  # type: ignore[attr-defined]


def intent_rows(events: pd.DataFrame, created: pd.Series | None = None) -> pd.DataFrame:
    """Rows of the intent view from validated events, oldest first, with their `event_id` (a new
    one where the events have none); `created`: each row's created timestamp (default: now)."""
    valid = validate_intent_events(events)
    ids = valid[EVENT_ID] if EVENT_ID in valid else pd.Series([uuid.uuid4().hex for _ in valid.index], valid.index)
    stamp = pd.Timestamp(datetime.now(UTC)) if created is None else pd.to_datetime(created, utc=True)
    return _stamped_rows(valid.assign(**{EVENT_ID: ids}), stamp)


def _stamped_rows(events: pd.DataFrame, created: pd.Timestamp | pd.Series) -> pd.DataFrame:
    """Rows of the intent view from events (`customer_id`, `event_time`, `event_type`, `topic`,
    `event_id` if any), oldest first (the newest is written last), each stamped after its event."""
    rows = pd.DataFrame({
        CUSTOMER_KEY: events["customer_id"],
        EVENT_TIMESTAMP: pd.to_datetime(events["event_time"], utc=True),
        CREATED_TIMESTAMP: created,
        "last_intent_topic": events["topic"],
        "last_intent_event_type": events["event_type"],
        **({EVENT_ID: events[EVENT_ID]} if EVENT_ID in events else {}),
    }).sort_values(EVENT_TIMESTAMP, kind="stable", ignore_index=True)
    rows[EVENT_TIMESTAMP] = intent_stamps(rows[EVENT_TIMESTAMP])
    return rows


def push_intent_events(store: FeatureStore, events: pd.DataFrame) -> Pushed:
    """Validate intent events, then write them online and append them offline, at once;
    ContractViolation if malformed."""
    rows = intent_rows(events)
    source = intent_source(store)
    with push_lock(online_lock_path(source)):
        store.write_to_online_store(INTENT_REALTIME.name, rows.drop(columns=EVENT_ID))
    with push_lock(source):
        append_new_rows(source, rows)
    pushed = Pushed(len(rows), rows[CUSTOMER_KEY].nunique())
    log.info("intent_events_pushed", extra={"events": pushed.events, "customers": pushed.customers})
    return pushed


class OnlineIntentWriter:
    """Writes intent events to the online store at once; the events of concurrent callers share one
    Feast write (one costs ~24 ms on SQLite, whatever it holds)."""

    def __init__(self, store: FeatureStore):
        self.store = store
        self.lock_path = online_lock_path(intent_source(store))
        self._group: GroupRunner[list[dict[str, object]], None] = GroupRunner(self._write_group)

    def write(self, events: list[dict[str, object]]) -> None:
        """Write events already validated at the caller's boundary (`customer_id`, `event_time` in
        UTC, `event_type`, `topic`); returns once they are in the online store."""
        if events:
            self._group.submit(events)

    def _write_group(self, group: list[list[dict[str, object]]]) -> list[None | BaseException]:
        events = pd.DataFrame([e for events in group for e in events])
        rows = _stamped_rows(events, pd.Timestamp(datetime.now(UTC)))
        with push_lock(self.lock_path):
            self.store.write_to_online_store(INTENT_REALTIME.name, rows)
        return [None] * len(group)


def online_lock_path(source: Path) -> Path:
    """The file whose lock makes online writes take turns across processes (Feast's SQLite online
    store shares one connection: concurrent writes failed with "database is locked")."""
    return source.with_suffix(".online.lock")


@contextmanager
def push_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive `flock` on a file beside `path` (the push source: its offline appends take
    turns, across threads, worker processes and the flush command alike)."""
    with path.with_suffix(".lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def append_new_rows(source: Path, rows: pd.DataFrame) -> int:
    """Append the rows whose `event_id` the file does not hold yet; how many. Call under `push_lock`.

    Idempotent: after a crash between this append and recording it elsewhere, the same rows
    appended again add nothing."""
    new = pyarrow.Table.from_pandas(rows, preserve_index=False)
    if source.exists():
        old = pq.read_table(source)
        if EVENT_ID not in old.schema.names:  # written before events carried their id
            old = old.append_column(EVENT_ID, pyarrow.nulls(len(old), pyarrow.string()))
        new = new.select(old.schema.names).cast(old.schema)
        new = new.filter(pc.invert(pc.is_in(new[EVENT_ID], value_set=old[EVENT_ID].drop_null())))
        if len(new) == 0:
            return 0
        append_atomically(source, pyarrow.concat_tables([old, new]))
    else:
        append_atomically(source, new)
    return len(new)


def append_atomically(source: Path, table: pyarrow.Table) -> None:
    """Write `table` (the old rows and the new) over the parquet file `source` so that a crash
    leaves the old file or the new one.

    Feast's `write_to_offline_store` rewrites the file in place; a process killed during that write
    left a 0-byte file and every event in it was lost. Here the new file is written beside it,
    flushed to disk and renamed over it (then the directory is flushed). Call under the lock."""
    partial = source.with_name(f".{source.name}.partial")
    with partial.open("wb") as out:
        pq.write_table(table, out)
        out.flush()
        os.fsync(out.fileno())
    os.replace(partial, source)
    directory = os.open(source.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def validate_intent_events(events: pd.DataFrame) -> pd.DataFrame:
    """The events with `event_time` as UTC; ContractViolation listing every problem found."""
    if events.empty:
        raise ContractViolation("intent payload has no events")
    try:
        return IntentEvents.validate(events, lazy=True)
    except pae.SchemaErrors as err:
        violations = [_violation(case) for case in err.failure_cases.to_dict("records")]
        count = f"{len(violations)} problem" + ("s" if len(violations) > 1 else "")
        raise ContractViolation(f"intent payload rejected ({count}); nothing written", violations) from None


def _violation(case: dict[str, object]) -> dict[str, object]:
    """One pandera failure case as a violation with a readable `text`."""
    check, failure = str(case.get("check")), case.get("failure_case")
    failure = None if pd.isna(failure) else str(failure)
    if check in ("column_in_dataframe", "column_in_schema"):
        text = f"{'missing' if check == 'column_in_dataframe' else 'unexpected'} column {failure}"
        return {"row": None, "column": failure, "check": check, "failure": None, "text": text}
    row = None if pd.isna(case.get("index")) else int(case["index"])
    return {"row": row, "column": case.get("column"), "check": check, "failure": failure,
            "text": f"row {row} column {case.get('column')}: {failure!r} fails {check}"}
