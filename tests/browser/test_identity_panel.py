"""The OneID panel in Chromium: an RM sees the source records behind a customer and splits one out
through the page's own form (same-origin as a real browser sends it), with no script and no CSP error."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from playwright.sync_api import Page

from identity.decisions import load_decisions, load_links
from tests.browser.conftest import SCREENSHOTS, Customer
from tests.conftest import Trained
from tests.server import Server


@pytest.fixture()
def oneid(trained: Trained, customer: Customer) -> Iterator[Path]:
    """The service's OneID folder (STATE/identity): three source records behind the customer."""
    folder = Path(trained.env["NBO_STATE_DIR"]) / "identity"
    folder.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"system": ["core_banking", "mobile_app", "wechat"], "record_id": ["CB001", "U001", "W001"],
                  "customer_id": [customer.customer_id] * 3, "match_probability": [0.999, 0.999, 0.962],
                  "evidence": ["rule:id_number", "rule:id_number", "name:jw>0.92;phone:exact"]}
                 ).to_parquet(folder / "links.parquet", index=False)
    yield folder
    shutil.rmtree(folder)


def test_an_rm_splits_a_record_out_from_the_page(rm_page: Page, server: Server, customer: Customer, oneid: Path,
                                                 console: list[str]) -> None:
    rm_page.goto(f"{server.url}/workbench/customers/{customer.customer_id}?lang=zh")
    rows = rm_page.locator("#oneid-records tr.oneid-record")
    assert rows.count() == 3
    assert rm_page.locator("#oneid h2").inner_text() == "来源记录（客户统一识别）"
    assert all(text in rows.nth(2).inner_text() for text in ("96.2%", "微信银行", "姓名高度相近；手机号一致"))
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    rm_page.locator("#oneid").screenshot(path=str(SCREENSHOTS / "workbench-oneid-zh-1280.png"))

    wechat = rm_page.locator('tr[data-record="wechat:W001"]')
    wechat.locator("input[name=reason]").fill("微信号属于客户的儿子")
    wechat.locator("button[type=submit]").click()
    rm_page.wait_for_url("**oneid=D000001**")
    assert rm_page.locator("#oneid-notice").inner_text() == "修正 D000001 已保存。"
    assert rm_page.locator("#oneid-records tr.oneid-record").count() == 2
    assert "微信号属于客户的儿子" in rm_page.locator("#oneid-decisions").inner_text()
    links = load_links(oneid)
    assert links.loc[links["record_id"] == "W001", "customer_id"].item() != customer.customer_id
    assert load_decisions(oneid)["who"].item().startswith("rm:")
    assert not [m for m in console if "Content Security Policy" in m]
