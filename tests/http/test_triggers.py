"""Event triggers through the real app: once per occasion, never on replay, consent, seniors, journeys."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from features.build.monthly import offline_dir
from features.segments.report import read_monthly_features
from features.tables import CUSTOMER_KEY, INTENT_REALTIME
from serving.audit.contact_ledger import ContactLedger
from serving.decisions.offers import OfferService
from serving.decisions.suitability import age_on
from serving.triggers.engine import TriggerEngine
from serving.triggers.rules import TriggerRules
from tests.conftest import (
    Trained,
    daytime_in_shanghai,
    service_today,
    settings_from,
    with_contact_consent,
)

Headers = Callable[[str | None], dict[str, str]]
HIGH_RISK = {"FUND_EQUITY", "FUND_TECH"}


@pytest.fixture(scope="module")
def people(bank_dir: Path) -> pd.DataFrame:
    frame = with_contact_consent(bank_dir, pd.read_parquet(bank_dir / "customers.parquet"))
    frame["age"] = [age_on(b.date(), service_today()) for b in pd.to_datetime(frame["birth_date"])]
    return frame[frame["close_date"].isna()].sort_values("customer_id", ignore_index=True)


def _views(customer_id: str, topic: str, hours_ago: list[float], kind: str = "page_view") -> list[dict]:
    now = daytime_in_shanghai()  # outside the contact policy's quiet hours
    return [{"customer_id": customer_id, "event_type": kind, "topic": topic, "event_id": uuid.uuid4().hex,
             "event_time": (now - timedelta(hours=h)).isoformat()} for h in hours_ago]


def _post(client: TestClient, as_role: Headers, events: list[dict]) -> dict:
    response = client.post("/v1/events", json={"events": events}, headers=as_role("app"))
    assert response.status_code == 202, response.text
    return response.json()


def _fired(answer: dict, trigger_id: str) -> list[dict]:
    return [a for a in answer["actions"] if a["trigger_id"] == trigger_id]


def _mortgage_customer(client: TestClient, as_role: Headers, people: pd.DataFrame, skip: int = 0) -> str:
    """A consenting customer to whom the mortgage may be offered (no rule blocks it, not held);
    `skip` passes over that many of them."""
    for customer_id in people[people["marketing_consent"] & people["app_push"] & people["age"].between(25, 55)]["customer_id"][:120]:
        offers = client.get(f"/v1/customers/{customer_id}/offers?k=20&include_blocked=true", headers=as_role("rm"))
        profile = client.get(f"/v1/customers/{customer_id}/profile", headers=as_role("rm"))
        if offers.status_code != 200 or profile.status_code != 200:
            continue
        held = profile.json()["features"].get("held_product_ids") or []
        if "MORTGAGE" not in held and all(b["product_id"] != "MORTGAGE" for b in offers.json()["blocked"]):
            if skip == 0:
                return customer_id
            skip -= 1
    raise AssertionError("no customer of the session bank may be offered a mortgage")


def test_mortgage_views_fire_the_mortgage_trigger_once_and_never_on_replay(
        app_client: TestClient, as_role: Headers, people: pd.DataFrame) -> None:
    customer_id = _mortgage_customer(app_client, as_role, people)
    offline_before = _intent_rows(app_client, customer_id)
    first, third, fourth = _views(customer_id, "mortgage", [3, 2]), _views(customer_id, "mortgage", [1]), \
        _views(customer_id, "mortgage", [0.5])
    other_topic = _views(customer_id, "fx", [2.5])
    assert _fired(_post(app_client, as_role, first + other_topic), "mortgage_intent") == []
    answer = _post(app_client, as_role, third)
    [action] = _fired(answer, "mortgage_intent")
    assert action["status"] == "sent" and action["action"] == "offer"
    [offer] = action["offers"]
    assert offer["product_id"] == "MORTGAGE" and offer["reasons"]
    decision = app_client.app.state.audit.get_decision(action["decision_id"])
    assert decision.kind == "trigger" and decision.customer_id == customer_id
    assert decision.payload["trigger_id"] == "mortgage_intent" and decision.payload["why"]["events"] == 3
    assert decision.payload["rfm_segment"] is not None

    assert _fired(_post(app_client, as_role, fourth), "mortgage_intent") == []  # within the cooldown
    kept_offline = _intent_rows(app_client, customer_id)
    assert kept_offline == offline_before + 5
    replay = _post(app_client, as_role, first + other_topic + third + fourth)
    assert replay["new"] == 0 and replay["accepted"] == 5 and replay["actions"] == []
    fires = [f for f in app_client.app.state.trigger_store.fires_for(customer_id) if f["trigger_id"] == "mortgage_intent"]
    assert len(fires) == 1 and fires[0]["status"] == "sent"
    assert _intent_rows(app_client, customer_id) == kept_offline  # the replay was not pushed again


def test_mortgage_views_arriving_out_of_order_fire_once(app_client: TestClient, as_role: Headers,
                                                        people: pd.DataFrame) -> None:
    customer_id = _mortgage_customer(app_client, as_role, people, skip=1)
    t0, t1, t2 = _views(customer_id, "mortgage", [30, 20, 1])  # t2 at 11:00 Shanghai: no quiet hour
    assert _fired(_post(app_client, as_role, [t2]), "mortgage_intent") == []
    assert _fired(_post(app_client, as_role, [t0]), "mortgage_intent") == []
    [action] = _fired(_post(app_client, as_role, [t1]), "mortgage_intent")
    assert action["status"] == "sent" and action["occasion"] == t2["event_id"]
    assert _fired(_post(app_client, as_role, [t0, t1, t2]), "mortgage_intent") == []
    fires = [f for f in app_client.app.state.trigger_store.fires_for(customer_id) if f["trigger_id"] == "mortgage_intent"]
    assert len(fires) == 1


def _intent_rows(client: TestClient, customer_id: str) -> int:
    """The customer's rows in the real-time intent push source's offline file, after a flush."""
    client.app.state.event_flusher.flush()
    store = client.app.state.runtime.reader.store
    source = store.get_feature_view(INTENT_REALTIME.name).batch_source.path
    rows = pd.read_parquet(source, columns=[CUSTOMER_KEY])
    return int((rows[CUSTOMER_KEY] == customer_id).sum())


def test_views_outside_the_window_do_not_count(app_client: TestClient, as_role: Headers,
                                               people: pd.DataFrame) -> None:
    customer_id = people[people["marketing_consent"]]["customer_id"].iloc[-1]
    answer = _post(app_client, as_role, _views(customer_id, "mortgage", [24 * 8, 24 * 7.5, 1]))
    assert _fired(answer, "mortgage_intent") == []


def test_a_customer_without_consent_gets_no_personalised_trigger(
        app_client: TestClient, as_role: Headers, people: pd.DataFrame) -> None:
    customer_id = people[~people["marketing_consent"]]["customer_id"].iloc[0]
    opened = {"customer_id": customer_id, "event_type": "account_opened", "event_id": uuid.uuid4().hex}
    answer = _post(app_client, as_role, _views(customer_id, "mortgage", [3, 2, 1]) + [opened])
    actions = {a["trigger_id"]: a for a in answer["actions"]}
    assert set(actions) == {"mortgage_intent", "welcome_offer"}
    for action in actions.values():
        assert (action["status"], action["reason"], action["decision_id"], action["offers"]) == \
            ("suppressed", "no_marketing_consent", None, [])


def test_a_closed_account_gets_no_trigger_action(app_client: TestClient, as_role: Headers,
                                                 bank_dir: Path) -> None:
    everyone = pd.read_parquet(bank_dir / "customers.parquet")
    for customer_id in everyone.loc[everyone["close_date"].notna() & everyone["marketing_consent"], "customer_id"]:
        profile = app_client.get(f"/v1/customers/{customer_id}/profile", headers=as_role("rm"))
        if profile.status_code == 200 and profile.json()["features"].get("is_closed"):
            break
    else:
        raise AssertionError("no closed, consenting customer in the session bank's online store")
    answer = _post(app_client, as_role, _views(customer_id, "mortgage", [3, 2, 1]))
    [action] = _fired(answer, "mortgage_intent")
    assert (action["status"], action["reason"], action["decision_id"]) == ("suppressed", "account_closed", None)


def test_seniors_never_get_r4_or_r5_from_an_event_trigger(app_client: TestClient, as_role: Headers,
                                                           people: pd.DataFrame) -> None:
    seniors = people[people["marketing_consent"] & people["app_push"] & (people["age"] >= 65)
                     & people["risk_tolerance"].isin(["C4", "C5"])]["customer_id"][:8]
    assert len(seniors) >= 3
    sent, senior_rule = 0, 0
    for customer_id in seniors:
        [action] = _fired(_post(app_client, as_role, _views(customer_id, "fund", [3, 2, 1])), "investment_intent")
        assert all(o["product_id"] not in HIGH_RISK for o in action["offers"])
        sent += action["status"] == "sent"
        if action["decision_id"]:
            blocked = app_client.app.state.audit.get_decision(action["decision_id"]).payload["answer"]["blocked"]
            senior_rule += any(b["rule_id"] == "senior_high_risk" for b in blocked)
    assert sent >= 1 and senior_rule >= 1


@pytest.fixture
def engine(app_client: TestClient) -> TriggerEngine:
    state = app_client.app.state
    return TriggerEngine(state.trigger_rules, state.trigger_store,
                         OfferService(state.runtime, state.audit, state.offer_policy))


def test_a_new_account_journey_welcome_then_guide_then_rm_task(
        app_client: TestClient, as_role: Headers, people: pd.DataFrame, engine: TriggerEngine) -> None:
    customer_id = people[people["marketing_consent"] & people["app_push"] & people["rm_call"]]["customer_id"].iloc[5]
    opened_at = daytime_in_shanghai() - timedelta(days=1)
    answer = _post(app_client, as_role, [{"customer_id": customer_id, "event_type": "account_opened",
                                          "event_time": opened_at.isoformat(), "event_id": uuid.uuid4().hex}])
    assert [a["trigger_id"] for a in answer["actions"]] == ["welcome_offer"]

    def due_for(day: date) -> list:
        customers = pd.DataFrame({"customer_id": [customer_id], "birth_date": [None],
                                  "days_since_last_login": [0], "is_closed": [False]})
        return [o for o in engine.due(day, customers) if o.customer_id == customer_id]

    assert due_for(opened_at.date() + timedelta(days=6)) == []
    [guide] = due_for(opened_at.date() + timedelta(days=7))
    assert guide.trigger.id == "investment_guide"
    fired = engine.fire(guide, "test-journey", "en", opened_at.date() + timedelta(days=7))
    assert fired is not None and fired.status in ("sent", "skipped")
    assert engine.fire(guide, "test-journey", "en", opened_at.date() + timedelta(days=7)) is None
    [call] = due_for(opened_at.date() + timedelta(days=31))  # one day late: caught up
    task = engine.fire(call, "test-journey", "en", opened_at.date() + timedelta(days=31))
    assert task is not None and task.status == "sent" and task.task_id
    [open_task] = engine.store.open_tasks(customer_id)
    assert open_task["trigger_id"] == "onboarding_call" and open_task["title_zh"]
    profile = app_client.get(f"/v1/customers/{customer_id}/profile", headers=as_role("rm")).json()
    assert profile["open_tasks"] == 1 and profile["tags"]["rfm_segment"] is not None


def test_birthdays_over_a_whole_year_never_offer_r4_or_r5_to_seniors(
        app_client: TestClient, trained: Trained, people: pd.DataFrame, engine: TriggerEngine) -> None:
    """Every open customer's birthday greeting (with the best suitable offer of any category) for a
    year; closed accounts get none."""
    birthday = TriggerRules(engine.rules.version, (engine.rules.by_id("birthday_greeting"),))
    yearly = TriggerEngine(birthday, engine.store, engine.offers)
    customers = read_monthly_features(offline_dir(settings_from(trained.env)), {"birth_date", "is_closed"}, 1)
    closed = set(customers.loc[customers["is_closed"].astype(bool), "customer_id"])
    assert closed
    start = date(2031, 1, 1)  # a year no other test fires birthdays in
    fired = [f for d in range(365) for f in yearly.run(start + timedelta(days=d), customers, "test-year")]
    assert not closed & {f.customer_id for f in fired}
    greeted = [c for c in ContactLedger(engine.offers.audit.engine).all_contacts()
               if c["source"] == "trigger" and c["contacted_at"].year == start.year]
    assert len(greeted) == sum(f.status == "sent" for f in fired)  # a greeting without an offer is a contact too
    age = dict(zip(people["customer_id"], pd.to_datetime(people["birth_date"]), strict=True))
    seniors = [f for f in fired if f.offers and f.customer_id in age  # age on the day it ran: 3 days before
               and age_on(age[f.customer_id].date(), date.fromisoformat(f.occasion) - timedelta(days=3)) >= 65]
    assert len({f.customer_id for f in fired}) == len(fired) > 0.5 * (len(customers) - len(closed))  # once each
    assert len(seniors) >= 20
    assert all(f.offers[0].product_id not in HIGH_RISK for f in seniors)
