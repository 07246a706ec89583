"""Draw one month of behaviour events as compact arrays (no per-row Python objects)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import pandas as pd
import pyarrow as pa

from sources.contract import CHANNELS, EVENT_TYPES

_DUPLICATE_SHARE = 0.003
_TYPE = {name: i for i, name in enumerate(EVENT_TYPES)}


class EventDrivers(Protocol):
    """The state a month's events are drawn from (the bank simulation has it): the random
    generator, customers (`n`, `customers`, `digital`, `intent`, `leaving`) and products (`p`)."""

    rng: np.random.Generator
    n: int
    p: int
    topics: list[str]
    product_topics: list[str]
    customers: pd.DataFrame
    digital: np.ndarray
    intent: np.ndarray
    leaving: np.ndarray


@dataclass
class EventMonth:
    """One month of events: customer index, type, topic, product, channel and second in month."""

    customer: np.ndarray
    kind: np.ndarray
    topic: np.ndarray
    product: np.ndarray
    channel: np.ndarray
    second: np.ndarray
    month: pd.Timestamp

    def to_arrow(self, ids: np.ndarray, products: list[str], topics: list[str], first_id: int) -> pa.Table:
        """Return the month as a canonical events table, ordered by time, ids from `first_id`."""
        order = np.lexsort((self.customer, self.second))
        n = len(order)
        start_ns = self.month.value
        times = start_ns + self.second[order].astype(np.int64) * 1_000_000_000
        return pa.table({
            "event_id": pa.array(np.arange(first_id, first_id + n, dtype=np.int64)),
            "customer_id": _decode(self.customer[order], ids),
            "event_time": pa.array(times, type=pa.timestamp("ns", tz="UTC")),
            "event_type": _decode(self.kind[order], np.array(EVENT_TYPES)),
            "topic": _decode(self.topic[order], np.array(topics)),
            "product_id": _decode(self.product[order], np.array(products)),
            "channel": _decode(self.channel[order], np.array(CHANNELS)),
        })


def _decode(codes: np.ndarray, labels: np.ndarray) -> pa.Array:
    """Codes (−1 = missing) → a plain arrow string array, via a dictionary for speed."""
    indices = pa.array(codes.astype(np.int32), mask=codes < 0)
    return pa.DictionaryArray.from_arrays(indices, pa.array(labels.astype(str))).cast(pa.string())


def _repeat(counts: np.ndarray) -> np.ndarray:
    return np.repeat(np.arange(len(counts)), counts)


def draw_events(sim: EventDrivers, month: pd.Timestamp, active: np.ndarray, adopted: np.ndarray) -> EventMonth:
    """Logins, background browsing, intent browsing and offers for every active customer."""
    rng, n = sim.rng, sim.n
    leaving = sim.leaving > 0
    login_rate = (0.3 + 9 * sim.digital**1.5) * np.where(leaving, 0.3, 1.0) * active
    parts = []
    who = _repeat(rng.poisson(login_rate))
    parts.append((who, _TYPE["login"], -1, -1))
    who = _repeat(rng.poisson((0.2 + 1.5 * sim.digital) * active))
    parts.append((who, _TYPE["page_view"], rng.integers(0, len(sim.topics), len(who)), -1))

    topic_of_product = np.array([sim.topics.index(t) for t in sim.product_topics])
    browsing = ((sim.intent > 0) | adopted) & active[:, None]
    cust, prod = np.nonzero(browsing)
    for kind, base, slope, with_product in (("page_view", 1.5, 3.0, False), ("search", 0.6, 0.5, False),
                                            ("click", 0.5, 0.5, True)):
        reps = rng.poisson(base + slope * sim.digital[cust])
        c, p = np.repeat(cust, reps), np.repeat(prod, reps)
        parts.append((c, _TYPE[kind], topic_of_product[p], p if with_product else -1))

    shown = active & sim.customers["marketing_consent"].to_numpy() & (rng.random(n) < 0.2)
    shown_product = rng.integers(0, sim.p, n)
    c = np.flatnonzero(shown)
    parts.append((c, _TYPE["offer_shown"], topic_of_product[shown_product[c]], shown_product[c]))
    accepted = c[adopted[c, shown_product[c]]]
    parts.append((accepted, _TYPE["offer_accepted"], topic_of_product[shown_product[accepted]], shown_product[accepted]))
    return _assemble(rng, month, parts, sim.digital)


def _assemble(rng: np.random.Generator, month: pd.Timestamp, parts: list, digital: np.ndarray) -> EventMonth:
    customer = np.concatenate([p[0] for p in parts]).astype(np.int32)
    size = len(customer)
    kind = np.concatenate([np.full(len(p[0]), p[1]) for p in parts]).astype(np.int8)
    topic = np.concatenate([np.broadcast_to(p[2], len(p[0])) for p in parts]).astype(np.int8)
    product = np.concatenate([np.broadcast_to(p[3], len(p[0])) for p in parts]).astype(np.int8)
    app = rng.random(size) < 0.4 + 0.5 * digital[customer]
    channel = np.where(app, 0, 1).astype(np.int8)
    seconds = rng.integers(0, month.days_in_month * 86_400, size)
    dup = np.flatnonzero(rng.random(size) < _DUPLICATE_SHARE)
    pick = np.concatenate([np.arange(size), dup])
    return EventMonth(customer[pick], kind[pick], topic[pick], product[pick], channel[pick], seconds[pick], month)
