"""The RM's lead list in Debian's Chromium: the session RM's leads best first with reasons in the page
language, and the "contacted" button records the outcome (read back through the API)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import httpx
from playwright.sync_api import Page

from nbo.databases import audit_engine
from serving.leads.store import LeadStore, NewLead, iso_week
from serving.security.keys import hash_key, load_records, rm_of
from tests.browser.conftest import Customer, log_in, screenshot
from tests.conftest import Trained, settings_from
from tests.server import Server


def test_the_rm_sees_its_leads_and_records_a_call(server: Server, trained: Trained, customer: Customer,
                                                   open_page: Callable[..., Page]) -> None:
    settings = settings_from(trained.env)
    rm = rm_of(load_records(settings.api_keys_file), hash_key(trained.keys["rm"]))
    assert rm is not None
    engine = audit_engine(settings.audit_url)
    store = LeadStore(engine)
    store.add([NewLead(customer.customer_id, "FUND_LEADS_BROWSER", "fund", 0.97, "default-test", 0.9, 0.3,
                       {"zh": ["客户带有“理财意向”标签"], "en": ["Tagged 'Investment interest'"]}, rm, "own_rm")],
              iso_week(datetime.now(UTC).date()))
    lead = store.frame(rm=rm).query("product_id == 'FUND_LEADS_BROWSER'")["lead_id"].iloc[0]
    engine.dispose()

    page = open_page()
    log_in(page, server, trained.keys["rm"], "zh")
    page.click("#nav-leads")
    row = page.locator(f"#lead-{lead}")
    assert row.is_visible() and page.locator("#leads tbody tr").first.get_attribute("data-lead") == lead
    assert "理财意向" in row.inner_text() and row.locator("[data-status-label]").inner_text() == "待跟进"
    assert row.locator("a").get_attribute("href") == f"/workbench/customers/{customer.customer_id}?lang=zh"
    screenshot(page, "leads-zh")
    page.click(f"#contacted-{lead}")
    assert "已登记为“已联系”" in page.locator("#recorded").inner_text()
    row = page.locator(f"#lead-{lead}")
    assert row.locator("[data-status-label]").inner_text() == "已联系" and row.locator(f"#won-{lead}").is_visible()

    listed = httpx.get(f"{server.url}/v1/leads", headers={"X-API-Key": trained.keys["rm"]}, timeout=30).json()
    mine = next(x for x in listed["leads"] if x["lead_id"] == lead)
    assert (mine["status"], mine["outcome_by"]) == ("contacted", rm)
