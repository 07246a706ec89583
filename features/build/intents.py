"""The intent view's history from the bank's events: each customer's last page view or search per month.

Rows are stamped the first microsecond after their event (`features.tables.intent_stamps`), as the
service stamps pushed events: an event at exactly an as-of instant T is not in the training row at T.
"""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from features.build import aggregates as agg
from features.build.blocks import EVENT_ROW
from features.build.writers import to_arrow
from features.tables import (
    CREATED_TIMESTAMP,
    EVENT_TIMESTAMP,
    INTENT_COUNTS,
    INTENT_REALTIME,
    intent_stamps,
)

_TIME_NS = "_time_ns"  # the event time at full precision (the intent table's is microseconds)


def last_intents(events: pd.DataFrame) -> pa.Table:
    """Each customer's last page view or search with a topic per month, and its row in events.parquet."""
    intent = events[events["event_type"].isin(INTENT_COUNTS) & events["topic"].notna()]
    intent = intent.sort_values("event_time", kind="stable")
    last = intent.groupby([intent["customer_id"], agg.month_start(intent["event_time"])]).tail(1)
    stamps = intent_stamps(last["event_time"])
    data = {"customer_id": last["customer_id"], EVENT_TIMESTAMP: stamps,
            CREATED_TIMESTAMP: stamps, "last_intent_topic": last["topic"],
            "last_intent_event_type": last["event_type"]}
    order = {_TIME_NS: pd.DatetimeIndex(last["event_time"]).asi8, EVENT_ROW: last.index.to_numpy()}
    table = to_arrow(INTENT_REALTIME, data)
    for name, values in order.items():
        table = table.append_column(name, pa.array(values, type=pa.int64()))
    return table


def intent_history(parts: list[pa.Table]) -> pa.Table:
    """The push source's history: every block's last intents by event time, as a stable sort of events.parquet."""
    intents = pa.concat_tables(parts)
    order = pc.sort_indices(intents, sort_keys=[(_TIME_NS, "ascending"), (EVENT_ROW, "ascending")])
    return intents.take(order).drop_columns([_TIME_NS, EVENT_ROW])
