"""The payment counter stores (SQLite file, real Redis): concurrent changes to one customer are all kept."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from features.payments.counters import AccountEvent, Payment
from serving.payments.counter_store import CounterStore, RedisCounterStore, SqliteCounterStore

THREADS, EACH = 4, 30
NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "redis"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[CounterStore]:
    if request.param == "sqlite":
        made: CounterStore = SqliteCounterStore(tmp_path / "counters.db")
    else:
        made = RedisCounterStore("redis://127.0.0.1:6379/0", f"nbo_test_{uuid.uuid4().hex[:10]}")
    yield made
    if isinstance(made, RedisCounterStore):
        made.client.delete(*made.client.keys(f"{made.prefix}:*") or ["-"])
    made.close()


def test_concurrent_credits_are_all_counted(store: CounterStore) -> None:
    def credit(i: int) -> None:
        for j in range(EACH):
            event = AccountEvent("O0000000001", "credit_received", NOW - timedelta(minutes=i * EACH + j + 1),
                                 amount=10.0)
            store.update("O0000000001", lambda s, e=event: s.counters.add_event(e))

    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(credit, range(THREADS)))
    payment = Payment("P1", "O0000000001", 5.0, "CNY", "PAYEE", "app", "D1", "上海", NOW)
    features = store.read("O0000000001").counters.features(payment)
    assert features["credits_1d"] == THREADS * EACH
    assert features["credit_amount_1d"] == pytest.approx(10.0 * THREADS * EACH)


def test_state_and_recent_round_trip(store: CounterStore) -> None:
    payment = Payment("P1", "O0000000002", 5.0, "CNY", "PAYEE", "app", "D1", "上海", NOW)
    for _ in range(2):  # a payment added twice counts once
        store.update("O0000000002", lambda s: s.counters.add_payment(payment))
    for i in range(30):
        store.update("O0000000002", lambda s, i=i: s.remember({"kind": "login", "n": i}))
    state = store.read("O0000000002")
    assert [r["n"] for r in state.recent] == list(range(10, 30))
    later = Payment("P2", "O0000000002", 5.0, "CNY", "PAYEE", "app", "D1", "上海", NOW + timedelta(minutes=5))
    assert state.counters.features(later)["payments_1h"] == 1
    assert store.read("O0000000099").counters.features(later)["payments_seen"] == 0
