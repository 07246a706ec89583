"""The campaign-effect dashboard in Debian's Chromium against the real running service.

Other tests share the service's audit, so the numbers are checked as the difference between two
loads of the page around feedback this test posts itself through the HTTP API.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime

import httpx
from playwright.sync_api import Page

from tests.browser.conftest import Customer, screenshot
from tests.conftest import Trained
from tests.server import Server

CJK = re.compile(r"[\u4e00-\u9fff]")
STAGES = ("shown", "clicked", "accepted")
Counts = tuple[int, int, int]


def request_offers(server: Server, trained: Trained, customer: Customer, channel: str) -> dict:
    """The customer's offers, asked for by the app for `channel` (an audited decision)."""
    response = httpx.get(f"{server.url}/v1/customers/{customer.customer_id}/offers", params={"channel": channel},
                         headers={"X-API-Key": trained.keys["app"]}, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def post_feedback(server: Server, trained: Trained, offers: dict, outcomes: tuple[str, ...]) -> str:
    """Post `outcomes` on the decision's first offer as the app; returns that product."""
    product = offers["offers"][0]["product_id"]
    for outcome in outcomes:
        posted = httpx.post(f"{server.url}/v1/offers/{offers['decision_id']}/feedback", timeout=30,
                            headers={"X-API-Key": trained.keys["app"]}, json={"product_id": product, "outcome": outcome})
        assert posted.status_code == 201, posted.text
    return product


def number(text: str) -> int:
    return int(text.replace(",", ""))


def row_counts(page: Page, selector: str) -> Counts:
    """Shown, clicked, accepted of every row the selector matches, added up (0s without one)."""
    rows = page.locator(selector)
    cells = [[number(rows.nth(i).locator(f"td[data-stage={s}]").inner_text()) for s in STAGES]
             for i in range(rows.count())]
    shown, clicked, accepted = (sum(column) for column in zip(*cells, strict=True)) if cells else (0, 0, 0)
    return shown, clicked, accepted


def readings(page: Page, product: str, channel: str, variant: str, week: str) -> dict[str, Counts]:
    """What the dashboard shows overall and in the rows one offer falls in."""
    if page.locator("#no-feedback").count():
        funnel: Counts = (0, 0, 0)
    else:
        shown, clicked, accepted = (number(page.inner_text(f"#funnel-{s}")) for s in STAGES)
        funnel = (shown, clicked, accepted)
    return {"funnel": funnel, "product": row_counts(page, f"#by-product tr[data-product='{product}']"),
            "channel": row_counts(page, f"#by-channel tr[data-channel='{channel}']"),
            "segments": row_counts(page, "#by-segment tbody tr"),
            "variant": row_counts(page, f"#variants tr[data-variant='{variant}']"),
            "week": row_counts(page, f"#trend tr[data-week='{week}']")}


def charts_loaded(page: Page) -> list[int]:
    page.wait_for_load_state("networkidle")
    return page.eval_on_selector_all("img.chart", "imgs => imgs.map(i => i.complete ? i.naturalWidth : 0)")


def test_feedback_through_the_api_moves_the_dashboard_by_exactly_what_was_posted(
        rm_page: Page, server: Server, trained: Trained, customer: Customer, console: list[str]) -> None:
    offers = request_offers(server, trained, customer, "branch")
    year, week, _ = datetime.now(UTC).isocalendar()
    where = (offers["offers"][0]["product_id"], "branch", offers["variant"], f"{year}-W{week:02d}")
    rm_page.click("#nav-campaigns")
    rm_page.wait_for_selector("#campaign-title")
    before = readings(rm_page, *where)

    post_feedback(server, trained, offers, STAGES)
    rm_page.reload()
    after = readings(rm_page, *where)
    assert {k: tuple(a - b for a, b in zip(after[k], before[k], strict=True)) for k in after} == {
        k: (1, 1, 1) for k in after}, (before, after)

    api = httpx.get(f"{server.url}/v1/campaigns/effect", headers={"X-API-Key": trained.keys["rm"]}, timeout=30)
    assert tuple(api.json()["funnel"][s] for s in STAGES) == after["funnel"]  # the page shows the API's numbers
    assert rm_page.inner_text("#value-total").startswith("¥")
    assert all(width > 0 for width in charts_loaded(rm_page)) and len(charts_loaded(rm_page)) == 1
    assert not [m for m in console if "Content Security Policy" in m], console
    screenshot(rm_page, "campaigns-en-1280")


def test_the_chinese_dashboard_has_chinese_labels_and_no_console_errors(
        rm_page: Page, open_page: Callable[..., Page], server: Server, trained: Trained, customer: Customer,
        console: list[str]) -> None:
    post_feedback(server, trained, request_offers(server, trained, customer, "app"), ("shown",))  # some data
    rm_page.goto(f"{server.url}/workbench/campaigns?lang=en")
    rm_page.click("#lang-switch")
    rm_page.wait_for_selector("html[lang=zh-CN]")
    assert rm_page.inner_text("#campaign-title") == "营销活动效果"
    assert rm_page.inner_text("#funnel h2") == "转化漏斗" and rm_page.inner_text("#nav-campaigns") == "营销效果"
    for section in ("#variants", "#by-product", "#by-channel", "#by-segment", "#trend"):
        assert CJK.search(rm_page.inner_text(f"{section} thead")), section
    assert rm_page.inner_text("#nps h2") == "净推荐值" and rm_page.inner_text("#campaign-roi h2") == "活动投资回报"
    assert len(charts_loaded(rm_page)) == 1 and all(width > 0 for width in charts_loaded(rm_page))
    screenshot(rm_page, "campaigns-zh-1280")

    phone = open_page(390)  # same context: signed in
    phone.goto(f"{server.url}/workbench/campaigns?lang=zh")
    assert len(charts_loaded(phone)) == 1 and all(width > 0 for width in charts_loaded(phone))
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390  # wide tables scroll in their card
    screenshot(phone, "campaigns-zh-390")
    assert console == [], console


def test_a_period_without_feedback_says_so_and_a_bad_date_is_an_error_page(rm_page: Page, server: Server) -> None:
    rm_page.goto(f"{server.url}/workbench/campaigns?lang=en&from=2999-01-01")
    assert "No offer feedback yet" in rm_page.inner_text("#no-feedback")
    assert rm_page.input_value("#from") == "2999-01-01"
    with rm_page.expect_response(lambda r: "/workbench/campaigns" in r.url) as answer:
        rm_page.goto(f"{server.url}/workbench/campaigns?lang=en&from=yesterday")
    assert answer.value.status == 422 and "YYYY-MM-DD" in rm_page.inner_text("main")


def test_without_a_session_the_dashboard_sends_to_the_login_form(server: Server) -> None:
    response = httpx.get(f"{server.url}/workbench/campaigns?lang=zh", timeout=30)
    assert response.status_code == 303 and response.headers["location"] == "/workbench/login?lang=zh"
