"""The contact policy on every path that reaches a customer: outbound offers on a contact channel
(`/v1/offers?channel=sms`) and the trigger engine (events in-line, scheduled RM tasks). A capped, a
quiet-hour or a non-consenting contact is never made; an in-app placement is not a contact."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from serving.decisions.contact_policy import ChannelRules, ContactPolicy, consent_of
from serving.decisions.offers import OfferService
from serving.triggers.engine import Occasion, TriggerEngine
from tests.conftest import daytime_in_shanghai, with_contact_consent

Headers = Callable[[str | None], dict[str, str]]
SH = ZoneInfo("Asia/Shanghai")


@pytest.fixture(scope="module")
def people(bank_dir: Path) -> pd.DataFrame:
    frame = with_contact_consent(bank_dir, pd.read_parquet(bank_dir / "customers.parquet"))
    return frame[frame["close_date"].isna()].sort_values("customer_id", ignore_index=True)


@pytest.fixture
def without_quiet_hours(app_client: TestClient) -> Iterator[None]:
    """The service's contact policy with no quiet hours, so that a request made now is judged on
    consent and caps alone whatever the hour (a version of its own); restored afterwards."""
    state = app_client.app.state
    policy = state.offer_policy
    open_all = {c: ChannelRules(r.per_week, r.per_month, time(0), time(0)) for c, r in policy.contact.channels.items()}
    state.offer_policy = replace(policy, contact=replace(policy.contact, channels=open_all,
                                                                  version="test-no-quiet-hours"))
    try:
        yield
    finally:
        state.offer_policy = policy


def _offers(client: TestClient, as_role: Headers, customer_id: str, channel: str, role: str = "rm") -> dict:
    response = client.get(f"/v1/customers/{customer_id}/offers?k=3&lang=zh&channel={channel}", headers=as_role(role))
    assert response.status_code == 200, response.text
    return response.json()


def test_offers_sent_by_sms_stop_at_the_weekly_cap(app_client: TestClient, as_role: Headers, people: pd.DataFrame,
                                                  without_quiet_hours: None) -> None:
    cap = app_client.app.state.offer_policy.contact.channels["sms"].per_week
    started = datetime.now(UTC)
    for customer_id in people[people["sms"] & people["wechat"]]["customer_id"].iloc[-40:]:
        first = _offers(app_client, as_role, customer_id, "sms")
        if first["offers"]:
            break
    else:
        pytest.fail("no consenting customer with offers")
    assert first["contact"] == {"allowed": True, "channel": "sms", "reason": None, "message": None}
    answers = [first] + [_offers(app_client, as_role, customer_id, "sms") for _ in range(cap)]
    assert [bool(a["offers"]) for a in answers] == [True] * cap + [False]
    refused = answers[-1]["contact"]
    assert (refused["allowed"], refused["reason"]) == (False, "cap_week") and "本周已通过短信联系" in refused["message"]
    assert _offers(app_client, as_role, customer_id, "wechat")["offers"]  # another channel has its own cap
    in_app = _offers(app_client, as_role, customer_id, "app", role="app")  # shown in the app: not a contact
    assert in_app["offers"] and in_app["contact"] is None
    ledger = ContactPolicy(app_client.app.state.offer_policy.contact, app_client.app.state.audit).ledger
    mine = [r for r in ledger.all_contacts() if r["customer_id"] == customer_id and r["contacted_at"] >= started]
    assert sorted(r["channel"] for r in mine) == ["sms"] * cap + ["wechat"]
    audited = app_client.app.state.audit.get_decision(answers[-1]["decision_id"]).payload["answer"]
    assert audited["contact"]["reason"] == "cap_week" and audited["offers"] == []


def test_a_customer_without_consent_is_not_contacted(app_client: TestClient, as_role: Headers,
                                                     people: pd.DataFrame, without_quiet_hours: None) -> None:
    customer_id = people[~people["marketing_consent"]]["customer_id"].iloc[-1]
    for channel in ("app_push", "sms"):
        answer = _offers(app_client, as_role, customer_id, channel, role="app")
        assert answer["offers"] == [] and answer["contact"]["reason"] == f"no_consent_{channel}", answer
    sms_only_not = people[people["marketing_consent"] & people["app_push"] & ~people["sms"]]["customer_id"].iloc[-1]
    assert _offers(app_client, as_role, sms_only_not, "sms")["contact"]["reason"] == "no_consent_sms"
    assert _offers(app_client, as_role, sms_only_not, "app_push")["contact"]["allowed"]  # SMS consent is not app consent
    bad = app_client.get(f"/v1/customers/{customer_id}/offers?channel=fax", headers=as_role("app"))
    assert bad.status_code == 422 and "channel" in bad.text


@pytest.fixture
def engine(app_client: TestClient) -> TriggerEngine:
    state = app_client.app.state
    return TriggerEngine(state.trigger_rules, state.trigger_store,
                         OfferService(state.runtime, state.audit, state.offer_policy))


def test_a_capped_or_non_consenting_customer_gets_no_rm_task(engine: TriggerEngine, people: pd.DataFrame) -> None:
    call = engine.rules.by_id("onboarding_call")  # an rm_task on the rm channel: rm_call
    day = datetime.now(UTC).date() + timedelta(days=3)
    moment = datetime.combine(day, time(10), SH).astimezone(UTC)
    capped, refusing = people[people["rm_call"]]["customer_id"].iloc[-60], \
        people[~people["marketing_consent"]]["customer_id"].iloc[-2]
    policy = ContactPolicy(engine.offers.policy.contact, engine.offers.audit)
    consent = consent_of(engine.offers.runtime.reader.read_customer(capped).values)
    assert policy.contact(capped, "rm_call", moment - timedelta(hours=1), consent, source="campaign", ref="t").allowed
    for customer_id, reason in ((capped, "cap_week"), (refusing, "no_consent_rm_call")):
        fired = engine.fire(Occasion(call, customer_id, uuid.uuid4().hex, moment, {}), "test-contact", "en", day)
        assert fired is not None and (fired.status, fired.reason, fired.task_id) == ("suppressed", reason, None)
        assert fired.for_app()["reason"] == reason  # says nothing about risk: the app may see it
        assert engine.store.open_tasks(customer_id) == []


def test_an_event_in_quiet_hours_defers_its_push_to_the_next_run(app_client: TestClient, as_role: Headers,
                                                                  people: pd.DataFrame, engine: TriggerEngine) -> None:
    customer_id = people[people["app_push"]]["customer_id"].iloc[-80]
    night = daytime_in_shanghai() - timedelta(hours=14)  # 22:00 local
    events = [{"customer_id": customer_id, "event_type": "page_view", "topic": "mortgage", "event_id": uuid.uuid4().hex,
               "event_time": (night - timedelta(minutes=m)).isoformat()} for m in (20, 10, 0)]
    response = app_client.post("/v1/events", json={"events": events}, headers=as_role("app"))
    assert response.status_code == 202, response.text
    [action] = [a for a in response.json()["actions"] if a["trigger_id"] == "mortgage_intent"]
    assert (action["status"], action["reason"], action["offers"]) == ("deferred", "quiet_hours", []), action
    next_morning = night.astimezone(SH).date() + timedelta(days=1)  # sent at the scheduled 10:00 local
    [sent] = [f for f in engine.send_deferred(next_morning, "test-deferred") if f.customer_id == customer_id]
    assert (sent.trigger_id, sent.occasion, sent.status) == ("mortgage_intent", action["occasion"], "sent"), sent
    assert sent.decision_id and [f for f in engine.send_deferred(next_morning, "test-deferred")
                                 if f.customer_id == customer_id] == []  # taken once


def test_the_customer_page_shows_consent_per_channel(app_client: TestClient, session_cookie: dict[str, str],
                                                     people: pd.DataFrame) -> None:
    customer_id = people[people["marketing_consent"] & people["app_push"] & ~people["sms"]]["customer_id"].iloc[0]
    page = app_client.get(f"/workbench/customers/{customer_id}?lang=zh", headers=session_cookie)
    assert page.status_code == 200, page.text[:500]
    shown = dict(re.findall(r'data-channel="(\w+)" data-consent="(yes|no)"', page.text))
    expected = people.set_index("customer_id").loc[customer_id, ["app_push", "sms", "rm_call", "wechat"]]
    assert shown == {c: "yes" if ok else "no" for c, ok in expected.items()}
    assert shown["sms"] == "no" and shown["app_push"] == "yes" and "分渠道联系授权" in page.text
