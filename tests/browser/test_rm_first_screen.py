"""The RM's first screen (issue 20): alerts, next best action and offers without scrolling, a call
logged from the page, analysts' detail behind a toggle, and the home page's tasks and alerts.

Screenshots of the first screen (1280 × 800 and 390 × 844, en and zh) go to docs/img/ for the README."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pandas as pd
import pytest
from playwright.sync_api import Page

from serving.audit.store import AuditStore
from serving.decisions.suitability import age_on
from tests.browser.conftest import Customer
from tests.conftest import ROOT, Trained, run_json, service_today, settings_from
from tests.server import Server

IMG = ROOT / "docs" / "img"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
CODE = re.compile(r"\b(R\d{3}|risk_match|already_held|age_range|assessment_expired|credit_pd_limit|[0-9a-f]{32})\b")


def first_screen(open_page: Callable[..., Page], server: Server, customer_id: str, size: dict[str, int],
                 lang: str) -> Page:
    page = open_page(size["width"])
    page.set_viewport_size(size)
    page.goto(f"{server.url}/workbench/customers/{customer_id}?lang={lang}")
    page.wait_for_selector("#next-action")
    return page


def bottom(page: Page, selector: str) -> float:
    box = page.locator(selector).bounding_box()
    assert box is not None, selector
    return box["y"] + box["height"]


def shot(page: Page, name: str) -> Path:
    """The first screen (the viewport, not the whole page) as docs/img/NAME.png."""
    IMG.mkdir(parents=True, exist_ok=True)
    path = IMG / f"{name}.png"
    page.screenshot(path=str(path))
    return path


@pytest.fixture(scope="module")
def showcase(bank_dir: Path) -> Customer:
    """An open customer with marketing consent whose risk assessment expires within 30 days (so the
    alert strip has something to say): the first such by id."""
    people = pd.read_parquet(bank_dir / "customers.parquet")
    expires = people["risk_assessed_at"] + pd.DateOffset(months=12)
    today = pd.Timestamp(service_today())
    chosen = people[people["marketing_consent"] & people["close_date"].isna() & (expires >= today)
                    & (expires <= today + pd.Timedelta(days=30))].sort_values("customer_id")
    row = chosen.iloc[0]
    return Customer(str(row["customer_id"]), str(row["name"]))


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_at_1280_px_alerts_next_action_and_offers_need_no_scrolling(
        rm_page: Page, open_page: Callable[..., Page], server: Server, showcase: Customer, lang: str,
        console: list[str]) -> None:
    page = first_screen(open_page, server, showcase.customer_id, DESKTOP, lang)
    assert page.locator("#alerts li[data-kind=assessment]").count() == 1
    assert page.evaluate("window.scrollY") == 0
    offers = page.locator("#offers .offer")
    assert offers.count() >= 1
    for selector in ("#alerts", "#next-action", "#offers h2", *(f"#offers .offer >> nth={i}"
                                                                  for i in range(offers.count()))):
        assert bottom(page, selector) <= DESKTOP["height"], selector
    assert page.locator("#alerts li").count() >= 1 and page.inner_text("#next-action .nba-title").strip()
    # offers come before the risks, the risks before the profile
    assert page.locator("#offers").bounding_box()["y"] < page.locator("#churn").bounding_box()["y"] \
        < page.locator("#profile").bounding_box()["y"]
    assert not [m for m in console if "Content Security Policy" in m], console
    shot(page, f"workbench-{lang}-1280")


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_at_390_px_alerts_and_next_action_are_above_the_fold(
        rm_page: Page, open_page: Callable[..., Page], server: Server, showcase: Customer, lang: str) -> None:
    page = first_screen(open_page, server, showcase.customer_id, PHONE, lang)
    assert page.locator("#alerts li[data-kind=assessment]").count() == 1
    assert bottom(page, "#alerts") <= PHONE["height"] and bottom(page, "#next-action") <= PHONE["height"]
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    shot(page, f"workbench-{lang}-390")


def test_ids_codes_and_scores_are_behind_the_details_toggle(
        rm_page: Page, open_page: Callable[..., Page], server: Server, trained: Trained,
        customer: Customer) -> None:
    page = first_screen(open_page, server, customer.customer_id, DESKTOP, "en")
    decision_id = page.text_content("#decision-id")
    assert decision_id and not page.is_visible("#decision-id")
    shown = page.inner_text("main")  # what is rendered, closed <details> excluded
    assert decision_id not in shown and not CODE.search(shown), CODE.search(shown)
    assert "log-odds" not in shown and "TTL" not in shown and "Expected value" not in shown
    assert page.get_attribute("#offers-details", "open") is None
    page.click("#offers-details summary")
    assert page.is_visible("#decision-id") and decision_id in page.inner_text("#offers-details")
    store = AuditStore(settings_from(trained.env).audit_url)
    try:
        assert store.get_decision(decision_id).customer_id == customer.customer_id
    finally:
        store.close()


def test_the_page_shows_the_age_the_rules_use(rm_page: Page, open_page: Callable[..., Page], server: Server,
                                              customer: Customer, bank_dir: Path) -> None:
    birth = pd.read_parquet(bank_dir / "customers.parquet").set_index("customer_id").at[customer.customer_id,
                                                                                          "birth_date"]
    page = first_screen(open_page, server, customer.customer_id, DESKTOP, "en")
    assert page.inner_text("#age").split()[0] == str(age_on(pd.Timestamp(birth).date(), service_today()))


@pytest.fixture(scope="module")
def caller(bank_dir: Path) -> Customer:
    """Another open customer with marketing consent (the call changes their offers)."""
    people = pd.read_parquet(bank_dir / "customers.parquet")
    chosen = people[people["marketing_consent"] & people["close_date"].isna()].sort_values("customer_id")
    row = chosen.iloc[len(chosen) // 2]
    return Customer(str(row["customer_id"]), str(row["name"]))


def test_logging_a_call_records_it_and_a_declined_product_leaves_the_offers(
        rm_page: Page, open_page: Callable[..., Page], server: Server, trained: Trained, caller: Customer) -> None:
    page = first_screen(open_page, server, caller.customer_id, DESKTOP, "zh")
    product = page.get_attribute("#next-action", "data-product")
    assert product and page.input_value("#call-product") == product  # the next best action is preselected
    page.check("#log-call input[value=declined]")
    page.fill("#call-note", "客户说刚买过同类产品，半年后再联系")
    page.click("#log-call button[type=submit]")
    assert "通话已记录" in page.inner_text("#call-notice")
    page.reload()
    first = page.locator("#history li").first
    assert "明确拒绝" in first.inner_text() and "客户说刚买过同类产品，半年后再联系" in first.inner_text()
    assert product not in page.eval_on_selector_all("#offers .offer", "o => o.map(x => x.dataset.product)")
    assert page.get_attribute(f"#blocked .blocked-row[data-product='{product}']", "data-rule") == "declined"
    store = AuditStore(settings_from(trained.env).audit_url)
    try:
        [call] = store.contacts_for(caller.customer_id)
    finally:
        store.close()
    assert (call["outcome"], call["product_id"], call["note"]) == ("declined", product, "客户说刚买过同类产品，半年后再联系")


def test_the_home_page_lists_high_churn_customers(rm_page: Page, server: Server, trained: Trained,
                                                  bank_dir: Path) -> None:
    """A customer whose latest churn score is high is on the home page, linked, until a lower score."""
    people = pd.read_parquet(bank_dir / "customers.parquet")
    open_ids = people.loc[people["close_date"].isna(), "customer_id"].sort_values()
    with httpx.Client(base_url=server.url, headers={"X-API-Key": trained.keys["rm"]}, timeout=30) as client:
        high = next(c for c in open_ids[:400] if client.get(f"/v1/customers/{c}/churn").json()["band"] == "high")
    rm_page.goto(f"{server.url}/workbench?lang=zh")
    row = rm_page.locator(f"#open-tasks tr.alert-row[data-kind='churn']:has(a[href*='{high}'])")
    assert row.count() == 1 and "流失风险高" in row.inner_text()


def test_the_home_page_lists_the_triggers_alerts_with_links(rm_page: Page, server: Server, trained: Trained,
                                                           bank_dir: Path) -> None:
    """A customer 90+ days without a login: `nbo triggers run` fires the retention trigger, and the
    home page lists it with a link to the customer."""
    people = pd.read_parquet(bank_dir / "customers.parquet")
    candidates = people[people["marketing_consent"] & people["close_date"].isna()].sort_values("customer_id")
    headers = {"X-API-Key": trained.keys["rm"]}
    with httpx.Client(base_url=server.url, headers=headers, timeout=30) as client:
        lapsed = [c for c in candidates["customer_id"][:300]
                  if (client.get(f"/v1/customers/{c}/profile").json()["features"].get("days_since_last_login")
                      or 0) >= 90][:5]
    assert lapsed
    ran = run_json("triggers", "run", "--as-of", datetime.now(UTC).date().isoformat(),
                   *[a for c in lapsed for a in ("--customer", c)], env=trained.env)
    assert ran["by_trigger"].get("retention_no_login", {}).get("sent", 0) >= 1, ran
    rm_page.goto(f"{server.url}/workbench?lang=en")
    rows = rm_page.locator("#open-tasks tr.alert-row[data-kind='retention_no_login']")
    listed = [c for c in lapsed if rows.locator(f"a[href*='{c}']").count() == 1]
    assert len(listed) == ran["by_trigger"]["retention_no_login"]["sent"]
    assert "3 months without login" in rows.first.inner_text()
    rows.locator(f"a[href*='{listed[0]}']").click()
    rm_page.wait_for_selector("#next-action")
    assert listed[0] in rm_page.inner_text("#customer-name")
