"""The RM workbench in Debian's Chromium against the real running service."""

from __future__ import annotations

import re
from collections.abc import Callable

import httpx
import pandas as pd
import pytest
from playwright.sync_api import Page

from serving.audit.store import AuditStore
from tests.browser.conftest import Customer, log_in, screenshot
from tests.conftest import Trained, settings_from
from tests.server import Server

CJK = re.compile(r"[\u4e00-\u9fff]")


def api(server: Server, trained: Trained, path: str) -> dict:
    """GET an API path with the rm key (what the page must agree with)."""
    response = httpx.get(f"{server.url}{path}", headers={"X-API-Key": trained.keys["rm"]}, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def open_customer(page: Page, customer: Customer, query: str | None = None) -> None:
    """Search as an RM would, then follow the customer's result."""
    page.fill("#q", query or customer.name)
    page.click("form.search button")
    page.click(f"#results a[href*='/customers/{customer.customer_id}']")
    page.wait_for_selector("#offers")


def charts_loaded(page: Page) -> list[int]:
    """The natural width of each chart image (0 when it did not load)."""
    page.wait_for_load_state("networkidle")
    return page.eval_on_selector_all("img.chart", "imgs => imgs.map(i => i.complete ? i.naturalWidth : 0)")


@pytest.mark.parametrize(("role", "status", "message"), [
    (None, 401, "Unknown API key."),
    ("admin", 403, "This key is neither an rm nor a risk key"),
    ("app", 403, "This key is neither an rm nor a risk key"),
])
def test_a_wrong_key_gets_the_login_form_again(open_page: Callable[..., Page], server: Server, trained: Trained,
                                               role: str | None, status: int, message: str) -> None:
    page = open_page()
    with page.expect_response(lambda r: r.url.endswith("/workbench/login") and r.request.method == "POST") as posted:
        log_in(page, server, trained.keys[role] if role else "nbo_rm_not-a-key")
    assert posted.value.status == status
    assert message in page.inner_text("#login-error")
    assert not [c for c in page.context.cookies() if c["name"] == "nbo_workbench"]
    page.goto(f"{server.url}/workbench")
    assert "/workbench/login" in page.url


def test_the_session_cookie_is_http_only_strict_and_holds_no_key(rm_page: Page, trained: Trained) -> None:
    [cookie] = [c for c in rm_page.context.cookies() if c["name"] == "nbo_workbench"]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/workbench"
    assert trained.keys["rm"] not in cookie["value"]
    assert rm_page.evaluate("document.cookie") == ""  # not readable from script


@pytest.mark.parametrize("field", ["name", "phone", "id"])
def test_search_finds_the_customer_by_name_phone_or_id(rm_page: Page, customer: Customer, bank_dir,
                                                       field: str) -> None:
    phone = str(pd.read_parquet(bank_dir / "customers.parquet").set_index("customer_id").at[customer.customer_id,
                                                                                              "phone"])
    query = {"name": customer.name, "phone": phone[-7:], "id": customer.customer_id[-5:]}[field]
    rm_page.fill("#q", query)
    rm_page.click("form.search button")
    assert customer.customer_id in rm_page.inner_text("#results")


def test_the_customer_page_shows_profile_offers_blocked_and_risks(rm_page: Page, server: Server, trained: Trained,
                                                                  customer: Customer, console: list[str]) -> None:
    open_customer(rm_page, customer)
    assert customer.name in rm_page.inner_text("#customer-name")
    profile = api(server, trained, f"/v1/customers/{customer.customer_id}/profile")["features"]
    assert rm_page.inner_text("#risk-tolerance") == profile["risk_tolerance"]
    assert rm_page.inner_text("#risk-assessed-at") == profile["risk_assessed_at"]
    assert rm_page.inner_text("#aum") == f"¥{profile['aum_cny']:,.0f}"

    offers = rm_page.locator("#offers .offer")
    assert offers.count() >= 1
    for i in range(offers.count()):
        assert [t for t in offers.nth(i).locator(".reasons li").all_inner_texts() if t.strip()]
    expected = api(server, trained, f"/v1/customers/{customer.customer_id}/offers?include_blocked=true&lang=en")
    assert {b["product_id"] for b in expected["blocked"]} == set(
        rm_page.eval_on_selector_all("#blocked .blocked-row", "rows => rows.map(r => r.dataset.product)"))
    rules = rm_page.eval_on_selector_all("#blocked .blocked-row", "rows => rows.map(r => r.dataset.rule)")
    assert rules and all(rules) and set(rules) <= {b["rule_id"] for b in expected["blocked"]}

    churn = api(server, trained, f"/v1/customers/{customer.customer_id}/churn")
    assert rm_page.inner_text("#churn .big") == f"{100 * churn['probability']:.1f}%"
    assert rm_page.inner_text("#churn-action") == churn["action"]["text"]
    assert rm_page.locator("#churn ol.reasons li").all_inner_texts() == [r["text"] for r in churn["reasons"]]
    delinquency = api(server, trained, f"/v1/customers/{customer.customer_id}/delinquency")
    assert f"{delinquency['score']}" in rm_page.inner_text("#delinquency")
    assert (rm_page.text_content("#freshness") or "").strip()  # behind the analysts' details toggle

    assert all(width > 0 for width in charts_loaded(rm_page)) and len(charts_loaded(rm_page)) == 3
    assert not [m for m in console if "Content Security Policy" in m], console
    screenshot(rm_page, "workbench-en-1280")


def test_the_language_switch_changes_labels_and_reasons(rm_page: Page, open_page: Callable[..., Page],
                                                        server: Server, trained: Trained, customer: Customer,
                                                        console: list[str]) -> None:
    open_customer(rm_page, customer)
    assert rm_page.inner_text("#offers h2") == "Offers"
    rm_page.click("#lang-switch")
    rm_page.wait_for_selector("html[lang=zh-CN]")
    assert rm_page.inner_text("#offers h2") == "推荐产品"
    assert rm_page.inner_text("#blocked h2") == "被拦截的产品"
    rm_page.click("#blocked summary")  # the blocked list is collapsed
    assert CJK.search(rm_page.inner_text("#blocked tbody"))
    churn = api(server, trained, f"/v1/customers/{customer.customer_id}/churn?lang=zh")
    assert rm_page.locator("#churn ol.reasons li").all_inner_texts() == [r["text"] for r in churn["reasons"]]
    assert rm_page.inner_text("#churn-action") == churn["action"]["text"] and CJK.search(churn["action"]["text"])
    assert len(charts_loaded(rm_page)) == 3 and all(width > 0 for width in charts_loaded(rm_page))
    screenshot(rm_page, "workbench-zh-1280")

    phone = open_page(390)  # same context: signed in
    phone.goto(f"{server.url}/workbench/customers/{customer.customer_id}?lang=zh")
    assert len(charts_loaded(phone)) == 3 and all(width > 0 for width in charts_loaded(phone))
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390  # nothing wider than the phone
    screenshot(phone, "workbench-zh-390")
    assert not [m for m in console if "Content Security Policy" in m], console


def test_feedback_from_the_page_lands_in_the_audit(rm_page: Page, trained: Trained, customer: Customer) -> None:
    open_customer(rm_page, customer)
    decision_id = rm_page.text_content("#decision-id")  # behind the analysts' details toggle
    first = rm_page.locator("#offers .offer").first
    product_id = first.get_attribute("data-product")
    first.locator("button[value=accepted]").click()
    assert "Recorded in the audit" in rm_page.inner_text("#feedback-notice")
    store = AuditStore(settings_from(trained.env).audit_url)
    try:
        recorded = [(f["product_id"], f["outcome"]) for f in store.feedback_for(decision_id)]
        assert store.get_decision(decision_id).customer_id == customer.customer_id
    finally:
        store.close()
    assert recorded == [(product_id, "accepted")]
