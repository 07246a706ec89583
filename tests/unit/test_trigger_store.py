"""Trigger claims on SQLite and PostgreSQL: once per occasion, cooldowns, releases, concurrent claims;
the event log keeps each event once; rules files and birthdays."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from nbo.errors import Conflict, ContractViolation
from serving.audit.store import AuditStore, sqlite_url
from serving.triggers.engine import _birthday_on, _completed_window
from serving.triggers.rules import DEFAULT_TRIGGERS, load_trigger_rules
from serving.triggers.store import Claim, Event, TriggerStore

T0 = datetime(2026, 12, 1, 9, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> TriggerStore:
    if request.param == "sqlite":
        url = sqlite_url(tmp_path / "audit.db")
    else:
        url = request.getfixturevalue("postgres_url")
    audit = AuditStore(url)
    trigger_store = TriggerStore(audit.engine)
    with audit.engine.begin() as conn:  # the PostgreSQL database is shared by the session's tests
        for table in ("nbo_rm_tasks", "nbo_trigger_fires", "nbo_events"):
            conn.execute(sa.text(f"DELETE FROM {table}"))
    return trigger_store


def _claim(occasion: str, at: datetime, cooldown_days: int = 30, customer: str = "C00000001") -> Claim:
    return Claim("mortgage_intent", customer, occasion, at, timedelta(days=cooldown_days), "test")


def test_an_occasion_fires_once_and_the_cooldown_holds(store: TriggerStore) -> None:
    assert store.claim(_claim("e3", T0)) is not None
    assert store.claim(_claim("e3", T0)) is None  # the same occasion again (a replay)
    assert store.claim(_claim("e4", T0 + timedelta(days=29))) is None  # within the cooldown
    assert store.claim(_claim("e0", T0 - timedelta(days=29))) is None  # a late event, within it too
    assert store.claim(_claim("e9", T0 + timedelta(days=30))) is not None  # the cooldown is over
    assert store.claim(_claim("e3", T0, customer="C00000002")) is not None  # another customer


def test_a_released_claim_can_be_claimed_again(store: TriggerStore) -> None:
    fire_id = store.claim(_claim("e1", T0))
    assert fire_id is not None
    store.release(fire_id)
    again = store.claim(_claim("e1", T0))
    assert again is not None
    store.settle(again, "sent", None, "d1")
    store.release(again)  # a settled fire is never given back
    assert store.claim(_claim("e1", T0)) is None
    assert [f["status"] for f in store.fires_for("C00000001")] == ["sent"]


def test_concurrent_claims_within_one_cooldown_give_exactly_one_fire(store: TriggerStore) -> None:
    claims = [_claim(f"e{i}", T0 + timedelta(hours=i)) for i in range(16)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        won = [fire for fire in pool.map(store.claim, claims) if fire is not None]
    assert len(won) == 1
    assert len(store.fires_for("C00000001")) == 1


def test_the_event_log_keeps_each_event_once(store: TriggerStore) -> None:
    events = [Event(f"v{i}", "C00000001", "page_view", "mortgage", T0 - timedelta(days=i)) for i in range(5)]
    assert store.record_events(events[:3]) == [True, True, True]
    assert store.record_events([events[2], events[3], events[3], events[4]]) == [False, True, False, True]
    week = store.event_times("C00000001", "page_view", ("mortgage",), T0 - timedelta(days=7), T0)
    assert [i for _, i in week] == ["v4", "v3", "v2", "v1", "v0"]
    assert len(store.event_times("C00000001", "page_view", ("mortgage",), T0 - timedelta(days=2), T0)) == 3
    assert store.event_times("C00000001", "search", (), T0 - timedelta(days=7), T0) == []
    assert store.topic_counts("C00000001", T0 - timedelta(days=1)) == {"mortgage": 2}


def test_only_intent_events_without_their_offline_copy_are_flushed(store: TriggerStore) -> None:
    events = [Event(f"p{i}", "C00000001", "search", "fx", T0 - timedelta(hours=i)) for i in range(3)]
    store.record_events([*events, Event("l0", "C00000001", "login", None, T0)])
    assert {e["event_id"] for e in store.log.unflushed(10)} == {"p0", "p1", "p2"}
    store.log.mark_flushed(["p0", "p2"])
    assert [e["event_id"] for e in store.log.unflushed(10)] == ["p1"]


def test_a_resent_id_with_other_content_rejects_its_batch_and_a_replay_is_not_new(store: TriggerStore) -> None:
    first = Event("r0", "C00000001", "search", "fx", T0)
    assert store.record_events([first]) == [True]
    with pytest.raises(Conflict, match="'r0'"):
        store.record_events([Event("r1", "C00000001", "login", None, T0), Event("r0", "C00000001", "search", "gold", T0)])
    assert store.record_events([first, Event("r1", "C00000001", "login", None, T0)]) == [False, True]
    with ThreadPoolExecutor(4) as pool:  # the same new event from four requests at once: new once
        flags = list(pool.map(lambda _: store.record_events([Event("r2", "C00000002", "search", "fx", T0)]), range(4)))
    assert sorted(flags) == [[False]] * 3 + [[True]]


def test_a_window_completes_whatever_order_its_events_arrive_in() -> None:
    week = timedelta(days=7)
    t = [(T0 + timedelta(days=d), f"e{d}") for d in (0, 2, 4)]
    for arriving in range(3):  # every arrival order ends with the same log; each one completes it
        assert _completed_window(t, t[arriving][0], week, 3) == (t[2][0], "e4", 3)
    assert _completed_window(t[:2], t[0][0], week, 3) is None
    spread = [(T0 + timedelta(days=d), f"e{d}") for d in (0, 5, 10)]  # 10 days: no 7-day window holds 3
    assert all(_completed_window(spread, at, week, 3) is None for at, _ in spread)
    assert _completed_window(spread, spread[1][0], week, 2) == (spread[1][0], "e5", 2)
    edge = [(T0, "a"), (T0 + week, "b")]  # both ends of the window count
    assert _completed_window(edge, T0, week, 2) == (T0 + week, "b", 2)


def test_rm_tasks_are_listed_soonest_due_first(store: TriggerStore) -> None:
    for due in (date(2026, 12, 9), date(2026, 12, 5)):
        store.add_task(customer_id="C00000001", trigger_id="onboarding_call", fire_id="f", decision_id="d",
                       due=due, title_en="call", title_zh="回访")
    assert [t["due_date"] for t in store.open_tasks("C00000001")] == [date(2026, 12, 5), date(2026, 12, 9)]
    assert store.open_tasks("C00000002") == []


def test_birthdays_including_the_29th_of_february() -> None:
    born = pd.to_datetime(pd.Series(["1960-02-29", "1980-02-28", "1990-12-06", None]))
    assert _birthday_on(born, date(2027, 2, 28)).tolist() == [True, True, False, False]
    assert _birthday_on(born, date(2028, 2, 28)).tolist() == [False, True, False, False]
    assert _birthday_on(born, date(2028, 2, 29)).tolist() == [True, False, False, False]
    assert _birthday_on(born, date(2026, 12, 6)).tolist() == [False, False, True, False]


def test_the_default_rules_and_bad_files(tmp_path: Path) -> None:
    rules = load_trigger_rules()
    assert {t.id for t in rules.on_event("page_view")} == {"mortgage_intent", "investment_intent"}
    assert {t.id for t in rules.on_event("account_opened")} == {"welcome_offer"}
    text = DEFAULT_TRIGGERS.read_text(encoding="utf-8")
    cases = {
        "kind.toml": text.replace('kind = "birthday"', 'kind = "anniversary"'),
        "event.toml": text.replace('event_type = "search"', 'event_type = "tap"'),
        "category.toml": text.replace('categories = ["mortgage"]', 'categories = ["houses"]'),
        "condition.toml": text.replace("days_since_last_login >= 90", "days_since_login >= 90"),
        "duplicate.toml": text.replace('id = "fx_intent"', 'id = "mortgage_intent"'),
        "title.toml": text.replace('title_zh = "理财入门指南", ', ""),
    }
    for name, content in cases.items():
        path = tmp_path / name
        path.write_text(content, encoding="utf-8")
        with pytest.raises(ContractViolation, match=name):
            load_trigger_rules(path)
