"""What the app role may learn: never a blocking rule, a PD, arrears or the terms of the arbitration
(issue 18, items 1 and 17). The rm keeps seeing them; the audit keeps them all."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from serving.decisions.suitability import RULES
from tests.conftest import daytime_in_shanghai, with_contact_consent

Headers = Callable[[str | None], dict[str, str]]
RULE_IDS = {rule.__name__ for rule in RULES} | {"assessment_expired"}
RISK_RULES = {"credit_pd_limit", "credit_arrears"}
OFFER_FIELDS_FOR_APP = {"product_id", "rank", "name", "category", "reasons"}
# Every code offer_reasons can give (its templates, HOLDS, the fallback and the default's).
APP_REASON_CODES = {"INTENT_VIEWS", "INTENT_SEARCH", "INTENT_NOW", "AGE_FIT", "RISK_FIT", "WEALTH", "INCOME",
                    "BALANCE", "SEGMENT", "TENURE", "ENGAGED", "HOLDINGS", "PEERS", "HOLDS", "PROFILE", "GENERAL"}
RISK_WORDS = re.compile(r"churn|retention|attrition|leav|lever|lift|default|arrear|past due|overdue|delinquen|"
                        r"\bpd\b|probability|流失|挽留|违约|逾期|拖欠", re.IGNORECASE)
APP_ACTION_REASONS = {None, "no_marketing_consent", "account_closed", "customer_not_found", "quiet_hours",
                      "cap_week", "cap_month", "suppressed_dismissals", "no_consent_app_push"}


@pytest.fixture(scope="module")
def open_consenting(bank_dir: Path) -> list[str]:
    frame = with_contact_consent(bank_dir, pd.read_parquet(bank_dir / "customers.parquet"))
    return sorted(frame.loc[frame["close_date"].isna() & frame["marketing_consent"] & frame["app_push"], "customer_id"])


def _views(customer_id: str, topic: str, n: int) -> list[dict]:
    now = daytime_in_shanghai()  # outside the contact policy's quiet hours
    return [{"customer_id": customer_id, "event_type": "page_view", "topic": topic, "event_id": uuid.uuid4().hex,
             "event_time": (now - timedelta(minutes=10 * (i + 1))).isoformat()} for i in range(n)]


def _credit_blocked(client: TestClient, as_role: Headers, customers: list[str], product: str,
                    wanted: int) -> list[str]:
    """Customers (not holding `product`) for whom a PD or arrears rule blocks it, per the rm's view."""
    found = []
    for customer_id in customers:
        rm = client.get(f"/v1/customers/{customer_id}/offers", params={"k": 20, "include_blocked": "true"},
                        headers=as_role("rm"))
        if rm.status_code == 200 and any(b["product_id"] == product and b["rule_id"] in RISK_RULES
                                         for b in rm.json()["blocked"]):
            found.append(customer_id)
            if len(found) == wanted:
                return found
    raise AssertionError(f"fewer than {wanted} customers of the session bank have {product} blocked by a risk rule")


def test_app_event_actions_never_name_a_blocking_rule_while_the_audit_keeps_it(
        app_client: TestClient, as_role: Headers, open_consenting: list[str]) -> None:
    customers = _credit_blocked(app_client, as_role, open_consenting[200:], "MORTGAGE", 4)
    store = app_client.app.state.trigger_store
    for customer_id in customers:
        response = app_client.post("/v1/events", json={"events": _views(customer_id, "mortgage", 3)},
                                   headers=as_role("app"))
        assert response.status_code == 202, response.text
        [action] = [a for a in response.json()["actions"] if a["trigger_id"] == "mortgage_intent"]
        assert (action["status"], action["reason"], action["offers"]) == ("suppressed", None, []), action
        assert not set(re.findall(r"[a-z_]+", response.text)) & (RULE_IDS | {"blocked"}), response.text
        [fire] = [f for f in store.fires_for(customer_id) if f["trigger_id"] == "mortgage_intent"]
        assert fire["reason"].startswith("blocked: ") and set(fire["reason"][9:].split(",")) & RISK_RULES, fire
        blocked = app_client.app.state.audit.get_decision(action["decision_id"]).payload["answer"]["blocked"]
        assert any(b["product_id"] == "MORTGAGE" and b["rule_id"] in RISK_RULES for b in blocked), blocked


def test_app_event_actions_carry_only_reasons_free_of_risk(app_client: TestClient, as_role: Headers,
                                                            open_consenting: list[str]) -> None:
    """Every trigger the intent events fire, for many customers: an opaque reason, app-shaped offers."""
    actions = []
    for customer_id in open_consenting[300:340]:
        events = _views(customer_id, "fund", 3) + _views(customer_id, "mortgage", 3)
        response = app_client.post("/v1/events", json={"events": events}, headers=as_role("app"))
        assert response.status_code == 202, response.text
        actions += response.json()["actions"]
    assert {a["status"] for a in actions} >= {"sent", "suppressed"}, actions
    assert [a for a in actions if a["reason"] not in APP_ACTION_REASONS and not a["reason"].startswith("holds_")] == []
    offers = [o for a in actions for o in a["offers"]]
    assert offers and [o for o in offers if set(o) != OFFER_FIELDS_FOR_APP] == []
    assert RISK_WORDS.findall(json.dumps([o["reasons"] for o in offers], ensure_ascii=False)) == []


def test_app_offers_carry_no_arbitration_terms_and_no_churn_reason_while_rm_sees_them(
        app_client: TestClient, as_role: Headers, open_consenting: list[str]) -> None:
    customers = open_consenting[:150]
    app_offers, rm_offers = [], []
    for lang in ("en", "zh"):
        for customer_id in customers:
            app = app_client.get(f"/v1/customers/{customer_id}/offers", params={"k": 20, "lang": lang},
                                 headers=as_role("app"))
            rm = app_client.get(f"/v1/customers/{customer_id}/offers", params={"k": 20, "lang": lang},
                                headers=as_role("rm"))
            assert app.status_code == rm.status_code == 200, (app.text, rm.text)
            app_offers += app.json()["offers"]
            rm_offers += rm.json()["offers"]
    assert len(app_offers) > 300
    assert [o for o in app_offers if set(o) != OFFER_FIELDS_FOR_APP] == []
    assert {r["code"] for o in app_offers for r in o["reasons"]} <= APP_REASON_CODES
    assert RISK_WORDS.findall(json.dumps([o["reasons"] for o in app_offers], ensure_ascii=False)) == []
    assert len(rm_offers) == len(app_offers)
    assert all(set(o) == OFFER_FIELDS_FOR_APP | {"score", "p_adopt"} for o in rm_offers)
    assert any(o["score"] > 0 and 0 < o["p_adopt"] <= 1 for o in rm_offers)


def test_openapi_documents_the_app_and_rm_offer_shapes(app_client: TestClient) -> None:
    schemas = app_client.get("/openapi.json").json()["components"]["schemas"]
    assert set(schemas["AppOffer"]["properties"]) == OFFER_FIELDS_FOR_APP
    assert set(schemas["RmOffer"]["properties"]) == OFFER_FIELDS_FOR_APP | {"score", "p_adopt"}
    action_offers = schemas["TriggerAction"]["properties"]["offers"]["items"]
    assert action_offers["$ref"].endswith("/AppOffer")
