"""Crash safety: `nbo serve` is SIGKILLed in the middle of a load of offers, events and feedback,
then restarted on the same state. Every request that was answered 2xx has its audit record,
feedback or event stored, exactly once; the restarted service is ready and serves.

The four clients send the same events (same event ids, same content) at the same time, so each
event races with its copies; each acknowledged event must be logged once and, after the flush that
follows the restart (the restarted service flushes when it stops), be in the push source's offline
file once.

The state dir is a copy of the session's (re-applied so Feast writes into the copy), so the
events pushed here do not change what other tests see.
"""

from __future__ import annotations

import sqlite3
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pandas as pd
import pytest

from features.tables import INTENT_STAMP_STEP
from tests.conftest import Trained
from tests.reliability.conftest import private_state
from tests.server import Server, start_service

THREADS = 4
KILL_AFTER_S = 4.0


@dataclass
class Acknowledged:
    """What the service answered 2xx, by kind."""

    offers: dict[str, str] = field(default_factory=dict)  # request id → decision id
    feedback: list[str] = field(default_factory=list)  # feedback ids
    events: set[tuple[str, str, datetime]] = field(default_factory=set)  # (event id, customer, event time)
    transport_errors: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)


@pytest.fixture(scope="module")
def crash_env(trained: Trained, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return private_state(trained, tmp_path_factory.mktemp("crash"))


def load(server: Server, keys: dict[str, str], customers: list[str], n: int, acked: Acknowledged,
         stop: threading.Event, run: str, base: datetime) -> None:
    """One client: offers (70 %), events (20 %), feedback on its own decisions (10 %) until stopped.
    The i-th request of every client is the same event (id, customer and time), sent at once."""
    decisions: list[tuple[str, str]] = []
    with httpx.Client(base_url=server.url, timeout=30) as client:
        for i in range(10**6):
            if stop.is_set():
                return
            customer, kind = customers[(n + i * THREADS) % len(customers)], i % 10
            try:
                if kind < 7 or not decisions:
                    request_id = uuid.uuid4().hex
                    r = client.get(f"/v1/customers/{customer}/offers",
                                   headers={"X-API-Key": keys["app"], "X-Request-ID": request_id})
                    if r.status_code == 200 and r.json()["offers"]:
                        decisions.append((r.json()["decision_id"], r.json()["offers"][0]["product_id"]))
                        with acked.lock:
                            acked.offers[request_id] = r.json()["decision_id"]
                elif kind < 9:
                    event_id, at, shared = f"crash-{run}-{i}", base - timedelta(microseconds=i), customers[i % 50]
                    r = client.post("/v1/events", headers={"X-API-Key": keys["app"]}, json={"events": [
                        {"event_id": event_id, "customer_id": shared, "event_type": "search", "topic": "crash_test",
                         "event_time": at.isoformat()}]})
                    if r.status_code == 202:
                        with acked.lock:
                            acked.events.add((event_id, shared, at))
                else:
                    decision_id, product_id = decisions[-1]
                    r = client.post(f"/v1/offers/{decision_id}/feedback", headers={"X-API-Key": keys["app"]},
                                    json={"product_id": product_id, "outcome": "clicked"})
                    if r.status_code == 201:
                        with acked.lock:
                            acked.feedback.append(r.json()["feedback_id"])
            except httpx.TransportError as err:  # the server died under us: not acknowledged
                with acked.lock:
                    acked.transport_errors[type(err).__name__] += 1
                return


def stored_events(state: Path) -> Counter[tuple[str, str, datetime]]:
    """(event id, customer, event time) of every crash-test event in the push source's offline file
    (whose rows are stamped one step after their event: `features.tables.intent_stamps`)."""
    frames = [pd.read_parquet(p) for p in (state / "feast" / "offline").glob("*intent*realtime*.parquet")]
    rows = pd.concat(frames)
    rows = rows[rows["last_intent_topic"] == "crash_test"]
    event_times = pd.to_datetime(rows["event_timestamp"], utc=True) - INTENT_STAMP_STEP
    return Counter(zip(rows["event_id"], rows["customer_id"], event_times, strict=True))


def test_sigkill_under_load_loses_and_duplicates_nothing_acknowledged(crash_env, trained: Trained,
                                                                      active_customers, record_property) -> None:
    server = start_service(crash_env)
    acked, stop = Acknowledged(), threading.Event()
    run, base = uuid.uuid4().hex[:8], datetime.now(UTC) - timedelta(seconds=1)
    threads = [threading.Thread(target=load, args=(server, trained.keys, active_customers, n, acked, stop, run, base))
               for n in range(THREADS)]
    try:
        for t in threads:
            t.start()
        time.sleep(KILL_AFTER_S)
        server.kill()
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=60)
        server.stop()
    assert len(acked.offers) >= 10 and acked.feedback and acked.events, acked
    restarted = start_service(crash_env)  # the same state dir: SQLite audit, Feast online and offline stores
    try:  # stopping it flushes the offline copy of every logged event
        offers = httpx.get(f"{restarted.url}/v1/customers/{active_customers[0]}/offers",
                           headers={"X-API-Key": trained.keys["app"]}, timeout=30)
        assert offers.status_code == 200, offers.text
    finally:
        restarted.stop()
    state = Path(crash_env["NBO_STATE_DIR"])
    with sqlite3.connect(state / "audit.db") as db:
        audited = Counter(r for (r,) in db.execute("SELECT request_id FROM nbo_decisions"))
        feedback = Counter(f for (f,) in db.execute("SELECT feedback_id FROM nbo_feedback"))
        logged = Counter((i, c, pd.Timestamp(t, tz="UTC")) for i, c, t in db.execute(
            "SELECT event_id, customer_id, event_time FROM nbo_events WHERE topic = 'crash_test'"))
        unflushed = db.execute("SELECT count(*) FROM nbo_events WHERE topic = 'crash_test' AND pushed_at IS NULL"
                               ).fetchone()[0]
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    events = stored_events(state)
    record_property("crash", f"acknowledged {len(acked.offers)} offers, {len(acked.feedback)} feedback, "
                             f"{len(acked.events)} events before SIGKILL; in flight: {dict(acked.transport_errors)}")
    assert {r: audited[r] for r in acked.offers if audited[r] != 1} == {}, "offers lost or duplicated"
    assert {f: feedback[f] for f in acked.feedback if feedback[f] != 1} == {}, "feedback lost or duplicated"
    assert {e: events[e] for e in acked.events if events[e] != 1} == {}, "events lost or duplicated"
    assert {e: logged[e] for e in acked.events if logged[e] != 1} == {}, "event log lost or duplicated events"
    assert {e: n for e, n in events.items() if n != 1} == {}, "an event logged was copied offline twice"
    assert set(events) == set(logged) and unflushed == 0, "the offline copy differs from the event log"
