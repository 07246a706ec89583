"""A very long name wraps on the workbench: the page is never wider than the browser's viewport.

The service runs on a copy of the session bank in which one customer's name is 5,005 characters
with no space (longer than the contract allows: the page must hold whatever the table holds)."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from playwright.sync_api import Page

from sources.io import read_table, table_path
from tests.browser.conftest import Customer, log_in, screenshot
from tests.conftest import Trained
from tests.server import Server, running_service

LONG_NAME = "Wolfeschlegelsteinhausenbergerdorff" * 143  # 5,005 characters


@pytest.fixture(scope="module")
def long_name_server(trained: Trained, bank_dir: Path, customer: Customer,
                     tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data = tmp_path_factory.mktemp("long-name-bank") / "bank"
    shutil.copytree(bank_dir, data)
    customers = read_table(data, "customers")
    customers.loc[customers["customer_id"] == customer.customer_id, "name"] = LONG_NAME
    pq.write_table(pa.Table.from_pandas(customers, preserve_index=False), table_path(data, "customers"))
    with running_service(trained.env | {"NBO_DATA_DIR": str(data)}) as server:
        yield server


def _overflow_px(page: Page) -> int:
    """How much wider than the viewport the page is (0 when it fits)."""
    return page.evaluate("document.documentElement.scrollWidth - window.innerWidth")


@pytest.mark.parametrize("width", [1280, 390])
def test_a_long_name_wraps_on_the_customer_page_and_in_search(open_page: Callable[..., Page],
                                                              long_name_server: Server, trained: Trained,
                                                              customer: Customer, width: int) -> None:
    page = open_page(width)
    log_in(page, long_name_server, trained.keys["rm"])
    page.goto(f"{long_name_server.url}/workbench/customers/{customer.customer_id}?lang=en")
    page.wait_for_selector("#offers")
    assert page.inner_text("#customer-name").startswith(LONG_NAME[:200])
    assert _overflow_px(page) <= 0
    screenshot(page, f"workbench-long-name-{width}")
    page.goto(f"{long_name_server.url}/workbench?lang=en&q={LONG_NAME[:40]}")
    page.wait_for_selector(f"#results a[href*='/customers/{customer.customer_id}']")
    assert _overflow_px(page) <= 0
