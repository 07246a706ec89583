"""The real service (`nbo serve` on the session's trained nbo) and Debian's Chromium, once per session.

Playwright drives /usr/bin/chromium (never a downloaded browser). Screenshots go to
docs/screenshots/ (git-ignored).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.conftest import ROOT, Trained, run_json, with_contact_consent
from tests.server import Server, running_service

CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = ROOT / "docs" / "screenshots"


@pytest.fixture(scope="session")
def server(trained: Trained) -> Iterator[Server]:
    """`nbo serve` on a free loopback port with the trained nbo, ready (/readyz 200)."""
    with running_service(trained.env) as running:
        yield running


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM)
        yield launched
        launched.close()


@dataclass(frozen=True)
class Customer:
    """A real customer of the session's synthetic bank, with what the tests search by."""

    customer_id: str
    name: str


@pytest.fixture(scope="session")
def customer(bank_dir: Path, trained: Trained) -> Customer:
    """One of the rm key's own customers (its RM may correct their OneID records) who is open, has
    marketing consent and a moderate risk tolerance (so some products are blocked) and whose name is
    unique in the bank: the first such by id."""
    keys = run_json("keys", "list", env=trained.env)["keys"]  # oldest first: the demo's rm key leads
    rm_id = next(k["rm_id"] for k in keys if k["role"] == "rm")
    owners = pd.read_parquet(bank_dir / "rm_assignments.parquet")
    people = with_contact_consent(bank_dir, pd.read_parquet(bank_dir / "customers.parquet"))
    unique_name = ~people["name"].duplicated(keep=False)
    own = people["customer_id"].isin(owners.loc[owners["rm_id"] == rm_id, "customer_id"])
    chosen = people[own & people["marketing_consent"] & people["app_push"] & people["rm_call"] & people["close_date"].isna()
                    & people["risk_tolerance"].isin(["C2", "C3"]) & unique_name].sort_values("customer_id")
    row = chosen.iloc[0]
    return Customer(str(row["customer_id"]), str(row["name"]))


@pytest.fixture
def console() -> list[str]:
    """Every console message of the test's pages (CSP violations show up here)."""
    return []


@pytest.fixture
def open_page(browser: Browser, console: list[str]) -> Iterator[Callable[..., Page]]:
    """New pages in one fresh browser context (no cookies), their console messages into `console`."""
    context = browser.new_context()

    def new_page(width: int = 1280) -> Page:
        page = context.new_page()
        page.set_viewport_size({"width": width, "height": 900})
        page.on("console", lambda message: console.append(message.text))
        return page

    yield new_page
    context.close()


def log_in(page: Page, server: Server, key: str, lang: str = "en") -> None:
    """Sign in through the form as an RM would."""
    page.goto(f"{server.url}/workbench/login?lang={lang}")
    page.fill("#key", key)
    page.click("form button[type=submit]")


@pytest.fixture
def rm_page(open_page: Callable[..., Page], server: Server, trained: Trained) -> Page:
    """A page signed in with the rm key, on the search page."""
    page = open_page()
    log_in(page, server, trained.keys["rm"])
    assert page.url.startswith(f"{server.url}/workbench?"), page.url
    return page


def screenshot(page: Page, name: str) -> Path:
    """A full-page PNG in docs/screenshots/."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
