"""The campaign list on the workbench in Chromium against the real running service: the example
campaigns drafted on the CLI by one person, approved over HTTP by the demo RM, shown with their
state, audience size and history in en and zh."""

from __future__ import annotations

from collections.abc import Callable

import httpx
from playwright.sync_api import Page

from tests.browser.conftest import log_in, screenshot
from tests.conftest import ROOT, Trained, run_json
from tests.server import Server

EXAMPLES = sorted((ROOT / "config" / "campaigns").glob("*.toml"))


def test_campaigns_drafted_and_approved_by_another_person_are_listed(
        open_page: Callable[..., Page], server: Server, trained: Trained, console: list[str]) -> None:
    run_json("campaigns", "load", *EXAMPLES, "--by", "browser-author", env=trained.env)
    approved = httpx.post(f"{server.url}/v1/campaigns/new-customer-onboarding/approve", timeout=30,
                          headers={"X-API-Key": trained.keys["rm"]}, json={"reason": "budget checked"})
    assert approved.status_code == 200, approved.text
    size = approved.json()["audience_size"]

    page = open_page()
    log_in(page, server, trained.keys["rm"])
    page.click("#nav-campaign-list")
    row = page.locator('tr[data-campaign="new-customer-onboarding"]')
    assert row.locator("td[data-state]").inner_text() == "Approved"
    assert row.locator("td[data-audience-size]").inner_text() == f"{size:,}" and size > 0
    assert "App push, WeChat" in row.inner_text() and approved.json()["approved_by"] in row.inner_text()
    history = page.locator('table[data-history="new-customer-onboarding"]')
    page.locator('tr.history-row:has(table[data-history="new-customer-onboarding"]) summary').click()
    assert history.locator('tr[data-action="approve"]').inner_text().count("budget checked") == 1
    for campaign in ("dormant-reactivation", "fund-promotion-ab"):
        assert page.locator(f'tr[data-campaign="{campaign}"] td[data-state]').inner_text() == "Draft"
    screenshot(page, "campaign-list-en")

    page.click("#lang-switch")
    assert page.locator('tr[data-campaign="new-customer-onboarding"] td[data-state]').inner_text() == "已审批"
    assert "手机银行推送、微信" in page.locator('tr[data-campaign="new-customer-onboarding"]').inner_text()
    screenshot(page, "campaign-list-zh")
    assert not [m for m in console if "Content Security Policy" in m]
