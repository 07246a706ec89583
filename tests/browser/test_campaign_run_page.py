"""Issue 25's browser must-show, in Chromium against the running service: a campaign drafted by one RM
(over the API), refused when its author tries to approve it on the workbench, approved and started by
another RM on the campaign's page, run for a send day from the page, and its figures there: sends by
channel and status with their cost, and the results against the control group."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import httpx
import pytest
from playwright.sync_api import Page

from serving.security.keys import add_key, revoke_key
from tests.browser.conftest import log_in, screenshot
from tests.conftest import Trained, settings_from
from tests.server import Server

CAMPAIGN = "browser-run-dormant"
DAY = "2026-08-20"  # a Thursday of the bank's history: its 60-day window is inside the bank's holdings
SPEC = {
    "id": CAMPAIGN, "name_zh": "沉睡客户唤醒（浏览器测试）", "name_en": "Dormant reactivation (browser test)",
    "audience": {"segment": "dormant"}, "offer": {"products": ["DEP_TIME_1Y", "WM_STABLE"]},
    "channels": ["sms", "app_push"], "control_share": 0.2,  # no RM call: its tasks would crowd the home page's list
    "schedule": {"start": "2026-08-01", "end": "2026-08-31", "send_days": ["thu"], "send_time": "10:30"},
    "budget": {"total_cny": 5000, "cost_per_contact_cny": {"sms": 0.05, "app_push": 0.01}},
}


@pytest.fixture
def approver(server: Server, trained: Trained) -> Iterator[str]:
    """Another RM's key, once the service accepts it; revoked afterwards (other tests read the key file)."""
    keys_file = settings_from(trained.env).api_keys_file
    key_id, key = add_key(keys_file, "rm", "RM_BROWSER_B")
    deadline = time.monotonic() + 10
    while httpx.get(f"{server.url}/v1/campaigns", headers={"X-API-Key": key}, timeout=30).status_code == 401:
        assert time.monotonic() < deadline, "the service never accepted the new key"
        time.sleep(0.2)
    yield key
    revoke_key(keys_file, key_id)


def _act(page: Page, action: str) -> None:
    page.click(f'form[data-action="{action}"] button[type=submit]')


def test_a_campaign_drafted_approved_by_another_rm_run_and_its_figures_shown(
        open_page: Callable[..., Page], server: Server, trained: Trained, approver: str, console: list[str]) -> None:
    drafted = httpx.post(f"{server.url}/v1/campaigns", json=SPEC, headers={"X-API-Key": trained.keys["rm"]}, timeout=60)
    assert drafted.status_code in (200, 201), drafted.text
    assert drafted.json()["state"] == "draft"

    author = open_page()
    log_in(author, server, trained.keys["rm"])
    author.goto(f"{server.url}/workbench/campaigns/{CAMPAIGN}?lang=en")
    _act(author, "approve")
    assert author.locator("#campaign-notice").is_visible()  # its author may not approve it
    assert author.locator("#campaign-state").get_attribute("data-state") == "draft"

    page = open_page()
    log_in(page, server, approver)
    page.goto(f"{server.url}/workbench/campaigns/{CAMPAIGN}?lang=en")
    _act(page, "approve")
    assert page.locator("#campaign-state").get_attribute("data-state") == "approved"
    _act(page, "start")
    assert page.locator("#campaign-state").get_attribute("data-state") == "running"
    assert page.locator("#no-sends").is_visible()
    page.fill("#as_of", DAY)
    _act(page, "run")
    page.wait_for_selector("#sends-table", timeout=120_000)

    shown = page.locator("#sends-table tbody tr")
    rows = [(r.get_attribute("data-channel"), r.get_attribute("data-status"),
             int(r.locator("td[data-customers]").inner_text().replace(",", ""))) for r in shown.all()]
    stored = httpx.get(f"{server.url}/v1/campaigns/{CAMPAIGN}/sends", headers={"X-API-Key": approver}, timeout=60)
    assert stored.status_code == 200, stored.text
    expected = [(g["channel"] or "", g["status"], g["customers"]) for g in stored.json()["groups"]]
    assert rows == expected and {status for _, status, _ in rows} >= {"sent", "held_out"}
    assert sum(n for _, status, n in rows if status == "sent") > 0

    results = httpx.get(f"{server.url}/v1/campaigns/{CAMPAIGN}/results", headers={"X-API-Key": approver},
                        timeout=60).json()
    assert page.locator("#results-assigned").inner_text() == str(results["assigned"]) and results["assigned"] > 0
    assert page.locator("#results-matured").inner_text() == str(results["matured"]) == str(results["assigned"])
    assert page.locator("#results-roi").is_visible()
    roi = results["roi"]["roi"]
    assert page.locator("#results-roi-value").inner_text() == ("–" if roi is None else f"{100 * roi:.0f}%")
    history = [r.get_attribute("data-action") for r in page.locator("#campaign-history tbody tr").all()]
    assert history == ["create", "approve", "start"]
    screenshot(page, "campaign-run-en")
    assert not [m for m in console if "Content Security Policy" in m]
