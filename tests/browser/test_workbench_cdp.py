"""Tags, segments and RM tasks on the workbench, in Debian's Chromium against the real service."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
from playwright.sync_api import Page

from tests.browser.conftest import Customer
from tests.browser.test_workbench import api, open_customer
from tests.conftest import Trained, run_json
from tests.server import Server


def test_an_rm_task_from_a_trigger_and_the_customers_tags_show_on_the_workbench(
        rm_page: Page, server: Server, trained: Trained, customer: Customer) -> None:
    opened = datetime.now(UTC) - timedelta(days=30)
    event = {"customer_id": customer.customer_id, "event_type": "account_opened", "event_id": uuid.uuid4().hex,
             "event_time": opened.isoformat()}
    posted = httpx.post(f"{server.url}/v1/events", json={"events": [event]},
                        headers={"X-API-Key": trained.keys["app"]}, timeout=60)
    assert posted.status_code == 202, posted.text
    ran = run_json("triggers", "run", "--as-of", datetime.now(UTC).date().isoformat(),
                   "--customer", customer.customer_id, env=trained.env)
    assert ran["rm_tasks"] == 1 and ran["by_trigger"]["onboarding_call"] == {"sent": 1}

    rm_page.reload()
    row = rm_page.locator(f"#open-tasks tr[data-trigger='onboarding_call']:has(a[href*='{customer.customer_id}'])")
    assert row.count() == 1 and "Onboarding call" in row.inner_text()

    open_customer(rm_page, customer)
    profile = api(server, trained, f"/v1/customers/{customer.customer_id}/profile")
    assert rm_page.get_attribute("#rfm-segment", "data-tag") == (profile["tags"]["rfm_segment"] or "")
    assert rm_page.get_attribute("#lifecycle-stage", "data-tag") == (profile["tags"]["lifecycle_stage"] or "")
    shown = rm_page.eval_on_selector_all("#intent-tags li[data-tag]", "items => items.map(i => i.dataset.tag)")
    assert shown == profile["tags"]["intent_tags"]
    assert "Onboarding call" in rm_page.inner_text("#rm-tasks") and profile["open_tasks"] >= 1

    rm_page.click("#lang-switch")
    rm_page.wait_for_selector("html[lang='zh-CN']")
    assert "新客回访" in rm_page.inner_text("#rm-tasks") and "客户终身价值" in rm_page.inner_text("#tags")
