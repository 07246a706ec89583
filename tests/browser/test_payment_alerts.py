"""The payment alert queue in Debian's Chromium: a held payment is listed with its reasons and the
customer's recent activity, and "confirmed fraud" records the outcome (read back through the API)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from playwright.sync_api import Page

from sources.io import read_table
from tests.browser.conftest import log_in, screenshot
from tests.conftest import Trained
from tests.server import Server


def _post(server: Server, key: str, path: str, body: dict) -> dict:
    response = httpx.post(f"{server.url}{path}", headers={"X-API-Key": key}, json=body, timeout=30)
    assert response.status_code in (200, 202), response.text
    return response.json()


def test_held_payment_is_confirmed_as_fraud(server: Server, trained: Trained, bank_dir: Path,
                                            open_page: Callable[..., Page]) -> None:
    customer = sorted(read_table(bank_dir, "customers")["customer_id"])[-1]
    when = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    _post(server, trained.keys["app"], "/v1/events", {"events": [
        {"customer_id": customer, "event_type": "device_bound", "device_id": "DEV-B", "event_id": uuid.uuid4().hex,
         "event_time": (when - timedelta(minutes=30)).isoformat()}]})
    payment_id = f"P-{uuid.uuid4().hex[:12]}"
    answer = _post(server, trained.keys["payments"], "/v1/payments/score", {
        "payment_id": payment_id, "customer_id": customer, "amount": 66_000.0, "currency": "CNY",
        "payee_id": "PAYEE-B", "channel": "app", "device_id": "DEV-B", "city": "深圳", "time": when.isoformat()})
    assert answer["decision"] == "hold", answer

    page = open_page()
    log_in(page, server, trained.keys["risk"], "zh")
    page.click("#nav-payment-alerts")
    card = page.locator(f"#alert-{payment_id}")
    assert card.is_visible()
    assert "新收款人" in card.locator(".reasons").inner_text()
    assert "绑定新设备" in card.locator(".recent").inner_text()
    screenshot(page, "payment-alerts-zh")
    page.click(f"#confirm-{payment_id}")
    assert "已确认欺诈" in page.locator("#decided").inner_text()
    assert page.locator(f"#alert-{payment_id}").count() == 0

    again = httpx.post(f"{server.url}/v1/payments/alerts/{payment_id}", headers={"X-API-Key": trained.keys["risk"]},
                       json={"outcome": "released"}, timeout=30)
    assert again.status_code == 409 and "confirmed_fraud" in again.json()["detail"]
