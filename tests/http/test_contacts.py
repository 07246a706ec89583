"""Logging a call (issue 20): the workbench form and `POST /v1/customers/{id}/contacts` share one
validation, store the contact in the audit, and a declined product leaves the customer's offers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import time, timedelta
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from serving.audit.contact_ledger import LOGGED_CALL
from serving.decisions.contact_policy import ContactPolicy
from sources.contract import CONTACT_CHANNELS

Headers = Callable[[str | None], dict[str, str]]


@pytest.fixture(scope="module")
def customers(bank_dir: Path) -> list[str]:
    """Open customers with marketing consent (personalised offers), from the end of the id range."""
    frame = pd.read_parquet(bank_dir / "customers.parquet")
    return sorted(frame.loc[frame["close_date"].isna() & frame["marketing_consent"], "customer_id"])[-12:]


def _problem(response, status: int, *words: str) -> None:
    assert response.status_code == status, (response.status_code, response.text[:500])
    assert response.headers["content-type"].startswith("application/problem+json")
    for word in words:
        assert word in response.json()["detail"], response.json()["detail"]


def _offers(client: TestClient, as_role: Headers, customer_id: str) -> dict:
    response = client.get(f"/v1/customers/{customer_id}/offers", params={"include_blocked": "true", "k": 5},
                          headers=as_role("rm"))
    assert response.status_code == 200, response.text
    return response.json()


def test_a_declined_call_takes_the_product_out_of_the_offers_for_30_days(
        app_client: TestClient, as_role: Headers, customers: list[str]) -> None:
    customer_id = customers[0]
    before = _offers(app_client, as_role, customer_id)
    top = before["offers"][0]["product_id"]
    response = app_client.post(f"/v1/customers/{customer_id}/contacts", headers=as_role("rm"),
                               json={"outcome": "declined", "product_id": top, "note": "客户表示暂不需要"})
    assert response.status_code == 201, response.text
    assert response.json()["outcome"] == "declined" and response.json()["product_id"] == top
    after = _offers(app_client, as_role, customer_id)
    assert top not in [o["product_id"] for o in after["offers"]]
    assert {"product_id": top, "rule_id": "declined"}.items() <= next(
        b for b in after["blocked"] if b["product_id"] == top).items()
    [stored] = app_client.app.state.audit.contacts_for(customer_id)
    assert (stored["outcome"], stored["product_id"], stored["note"]) == ("declined", top, "客户表示暂不需要")
    assert stored["recorded_by"] and stored["recorded_by"] not in as_role("rm")["X-API-Key"]


def test_an_interested_call_changes_no_offer(app_client: TestClient, as_role: Headers, customers: list[str]) -> None:
    customer_id = customers[1]
    before = [o["product_id"] for o in _offers(app_client, as_role, customer_id)["offers"]]
    response = app_client.post(f"/v1/customers/{customer_id}/contacts", headers=as_role("rm"),
                               json={"outcome": "interested", "product_id": before[0]})
    assert response.status_code == 201, response.text
    assert [o["product_id"] for o in _offers(app_client, as_role, customer_id)["offers"]] == before


@pytest.mark.parametrize(("body", "status", "words"), [
    ({"outcome": "hung_up"}, 422, ["'hung_up' is not one of reached, not_reached, interested, declined"]),
    ({"outcome": "reached", "note": "x" * 501}, 422, ["501 characters; at most 500"]),
    ({"outcome": "declined", "product_id": "NO_SUCH_PRODUCT"}, 422, ["not in the catalogue"]),
    ({"outcome": "declined", "product_id": "<script>"}, 422, ["not in the catalogue"]),
    ({"note": "no outcome"}, 422, []),
    ({"outcome": "reached", "extra": 1}, 422, []),
])
def test_a_bad_contact_is_a_422_that_says_why_and_stores_nothing(
        app_client: TestClient, as_role: Headers, customers: list[str], body: dict, status: int,
        words: list[str]) -> None:
    customer_id = customers[2]
    response = app_client.post(f"/v1/customers/{customer_id}/contacts", headers=as_role("rm"), json=body)
    _problem(response, status, *words)
    assert app_client.app.state.audit.contacts_for(customer_id) == []


def test_only_an_rm_logs_calls_and_only_for_known_customers(app_client: TestClient, as_role: Headers,
                                                            customers: list[str]) -> None:
    for role, status in ((None, 401), ("app", 403), ("risk", 403), ("admin", 403)):
        response = app_client.post(f"/v1/customers/{customers[3]}/contacts", headers=as_role(role),
                                   json={"outcome": "reached"})
        assert response.status_code == status, (role, response.text)
    _problem(app_client.post("/v1/customers/C09999999/contacts", headers=as_role("rm"), json={"outcome": "reached"}),
             404)
    assert app_client.app.state.audit.contacts_for(customers[3]) == []


def test_the_workbench_form_logs_a_call_and_refuses_bad_ones_with_a_message(
        app_client: TestClient, session_cookie: dict[str, str], customers: list[str]) -> None:
    customer_id = customers[4]
    path = f"/workbench/customers/{customer_id}/contacts"
    form = {"outcome": "not_reached", "note": "无人接听，明天上午再打", "product_id": "", "lang": "zh"}
    response = app_client.post(path, data=form, headers=session_cookie, follow_redirects=False)
    assert response.status_code == 303, response.text
    assert response.headers["location"] == f"/workbench/customers/{customer_id}?lang=zh&logged=not_reached#history"
    page = app_client.get(response.headers["location"].split("#")[0], headers=session_cookie)
    assert page.status_code == 200 and "无人接听，明天上午再打" in page.text and "通话已记录" in page.text
    for bad, words in (({"outcome": "maybe"}, ["'maybe' is not one of"]),
                       ({"outcome": "reached", "note": "长" * 501}, ["at most 500"]),
                       ({"outcome": "declined", "product_id": "NOPE"}, ["not in the catalogue"])):
        _problem(app_client.post(path, data=bad, headers=session_cookie), 422, *words)
    cross_site = session_cookie | {"Sec-Fetch-Site": "cross-site"}
    _problem(app_client.post(path, data={"outcome": "reached"}, headers=cross_site), 403)
    no_session = app_client.post(path, data={"outcome": "reached"}, follow_redirects=False)
    assert no_session.status_code == 303 and "/workbench/login" in no_session.headers["location"]
    assert [c["outcome"] for c in app_client.app.state.audit.contacts_for(customer_id)] == ["not_reached"]


def test_a_logged_call_that_reached_the_customer_counts_against_the_rm_call_cap(
        app_client: TestClient, as_role: Headers, customers: list[str]) -> None:
    customer_id = customers[7]
    for outcome in ("not_reached", "reached"):
        response = app_client.post(f"/v1/customers/{customer_id}/contacts", headers=as_role("rm"),
                                   json={"outcome": outcome})
        assert response.status_code == 201, response.text
    state = app_client.app.state
    rules = state.offer_policy.contact
    anytime = replace(rules, channels=rules.channels | {"rm_call": replace(rules.channels["rm_call"], per_week=1,
                                                                            quiet_start=time(), quiet_end=time())})
    policy = ContactPolicy(anytime, state.audit)
    called = [c for c in policy.ledger.all_contacts() if c["customer_id"] == customer_id and c["source"] == "rm_log"]
    assert [(c["channel"], c["source"], c["policy_version"]) for c in called] == [("rm_call", "rm_log", LOGGED_CALL)]
    at = called[0]["contacted_at"] + timedelta(seconds=1)
    verdict = policy.check(customer_id, "rm_call", at, dict.fromkeys(CONTACT_CHANNELS, True))
    assert (verdict.allowed, verdict.reason) == (False, "cap_week")
