"""Push real-time intent (page views and searches by topic) into the online and offline stores.

The payload is validated whole before anything is written: one bad row rejects the batch.
The online store then holds each customer's latest event, and the push source's own parquet
file keeps every event for training. The online write comes first: a retry after a failed
offline write rewrites the same online value.
"""

from __future__ import annotations

import fcntl
import logging
import os
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
import pyarrow.parquet as pq
from feast import FeatureStore
from pandera.typing import Series

from features.tables import (
    CREATED_TIMESTAMP,
    CUSTOMER_KEY,
    EVENT_TIMESTAMP,
    INTENT_COUNTS,
    INTENT_REALTIME,
)
from nbo.errors import ContractViolation
from sources.contract import CUSTOMER_ID

log = logging.getLogger(__name__)

MAX_CLOCK_SKEW = timedelta(minutes=5)


class IntentEvents(pa.DataFrameModel):
    """A batch of intent events as the service receives them."""

    customer_id: Series[str] = pa.Field(str_matches=CUSTOMER_ID)
    event_time: Series[Annotated[pd.DatetimeTZDtype, "ns", "UTC"]] = pa.Field(coerce=True)
    event_type: Series[str] = pa.Field(isin=tuple(INTENT_COUNTS))
    topic: Series[str] = pa.Field(str_matches=r"^[a-z][a-z0-9_]*$")

    @pa.check("event_time", error="event_time is in the future")
    @classmethod
    def not_in_future(cls, stamps: Series[pd.Timestamp]) -> Series[bool]:
        return stamps <= pd.Timestamp.now(tz="UTC") + MAX_CLOCK_SKEW

    class Config:
        strict = True


@dataclass(frozen=True)
class Pushed:
    """What a push wrote."""

    events: int
    customers: int


def push_intent_events(store: FeatureStore, events: pd.DataFrame) -> Pushed:
    """Validate intent events, then push them online and offline; ContractViolation if malformed."""
    valid = validate_intent_events(events)
    rows = pd.DataFrame({
        CUSTOMER_KEY: valid["customer_id"],
        EVENT_TIMESTAMP: valid["event_time"],
        CREATED_TIMESTAMP: pd.Timestamp(datetime.now(UTC)),
        "last_intent_topic": valid["topic"],
        "last_intent_event_type": valid["event_type"],
    }).sort_values(EVENT_TIMESTAMP, kind="stable", ignore_index=True)  # the newest is written last
    # What store.push(INTENT_PUSH_SOURCE, rows, to=PushMode.ONLINE_AND_OFFLINE) does for the one view
    # the push source feeds, without push's scans of every registered view and service (~0.1-0.2 s).
    source = Path(store.get_feature_view(INTENT_REALTIME.name).batch_source.path)  # type: ignore[attr-defined]
    with push_lock(source):
        store.write_to_online_store(INTENT_REALTIME.name, rows)
        append_atomically(source, rows)
    pushed = Pushed(len(rows), rows[CUSTOMER_KEY].nunique())
    log.info("intent_events_pushed", extra={"events": pushed.events, "customers": pushed.customers})
    return pushed


@contextmanager
def push_lock(source: Path) -> Iterator[None]:
    """Hold an exclusive lock on the push source's parquet file while a push writes both stores.

    An append reads the file, adds the rows and writes it back: two at once (threads of one
    service, or its worker processes) would lose one another's events; and Feast's SQLite online
    store shares one connection, so concurrent writes failed with "database is locked" or a
    SystemError (seen under load). `flock` on a file beside it makes pushes take turns, across
    threads and processes alike."""
    with source.with_suffix(".lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def append_atomically(source: Path, rows: pd.DataFrame) -> None:
    """Append `rows` to the parquet file `source` so that a crash leaves the old file or the new one.

    Feast's `write_to_offline_store` rewrites the file in place; a process killed during that write
    left a 0-byte file and every event in it was lost. Here the new file is written beside it,
    flushed to disk and renamed over it (then the directory is flushed). Call under the lock."""
    new = pyarrow.Table.from_pandas(rows, preserve_index=False)
    if source.exists():
        old = pq.read_table(source)
        new = pyarrow.concat_tables([old, new.select(old.schema.names).cast(old.schema)])
    partial = source.with_name(f".{source.name}.partial")
    with partial.open("wb") as out:
        pq.write_table(new, out)
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
