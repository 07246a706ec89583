"""The model monitoring page in Debian's Chromium against a real `nbo serve` on the session's trained
nbo, signed in as risk and as rm, in zh-CN and English.

The service is the test's own: a control group (the session's serves none) and an audit database of
its own, into which the champion's churn scores of June 2025 are backfilled first (their outcomes
have matured within the bank's data). The service's start records `reload` entries in the alias
history; before the first page load the test scores customers (offers as the app, churn and
delinquency as the rm) and posts feedback on personalised and control offers. So every section has
data: PSI by month, realised AUC, the alias history and the lift over control.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pandas as pd
import pytest
from playwright.sync_api import Page

from models.registry import DELINQUENCY
from serving.audit.store import sqlite_url
from serving.workbench.i18n import labels
from tests.browser.conftest import log_in, screenshot
from tests.conftest import Trained, run_json
from tests.server import Server, running_service

CJK = re.compile(r"[\u4e00-\u9fff]")
CUSTOMERS = 40
CONTROL_SHARE = "0.5"
BACKFILLED = "2025-06"  # churn outcomes (90 days) matured within the bank's 24 months ending 2026-11
SECTIONS = {"drift": "drift", "outcomes": "outcomes", "history": "history", "lift": "lift"}
EMPTY = {"drift": "no_drift", "outcomes": "no_outcomes", "history": "no_history", "lift": "no_lift"}


def _get(server: Server, trained: Trained, role: str, path: str, **params: str) -> dict:
    response = httpx.get(f"{server.url}{path}", params=params, headers={"X-API-Key": trained.keys[role]}, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def _feedback(server: Server, trained: Trained, decision_id: str, product: str, outcome: str) -> None:
    posted = httpx.post(f"{server.url}/v1/offers/{decision_id}/feedback", timeout=30,
                        headers={"X-API-Key": trained.keys["app"]}, json={"product_id": product, "outcome": outcome})
    assert posted.status_code == 201, posted.text


@pytest.fixture(scope="module")
def monitored(trained: Trained, bank_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A service with a control group and its own audit (June 2025's churn scores backfilled) that has
    scored CUSTOMERS open customers with marketing consent and recorded feedback on their offers
    (every offer shown, the first accepted for every third)."""
    env = trained.env | {"NBO_SERVICE__CONTROL_SHARE": CONTROL_SHARE,
                         "NBO_SERVICE__AUDIT_URL": sqlite_url(tmp_path_factory.mktemp("audit") / "audit.db")}
    assert run_json("monitor", "backfill", "--model", "churn", "--month", BACKFILLED, "--json", env=env)["decisions"]
    people = pd.read_parquet(bank_dir / "customers.parquet")
    ids = people.loc[people["marketing_consent"] & people["close_date"].isna(), "customer_id"].sort_values()
    with running_service(env) as server:
        variants = set()
        for i, customer_id in enumerate(ids.head(CUSTOMERS)):
            offers = _get(server, trained, "app", f"/v1/customers/{customer_id}/offers", channel="app")
            variants.add(offers["variant"])
            for offer in offers["offers"]:
                _feedback(server, trained, offers["decision_id"], offer["product_id"], "shown")
            if offers["offers"] and i % 3 == 0:
                _feedback(server, trained, offers["decision_id"], offers["offers"][0]["product_id"], "accepted")
            for kind in ("churn", "delinquency"):
                _get(server, trained, "rm", f"/v1/customers/{customer_id}/{kind}")
        assert "control" in variants and variants - {"control"}, variants
        yield server


def _open_monitoring(page: Page, server: Server, key: str, role: str, lang: str) -> None:
    log_in(page, server, key, lang)
    if role == "rm":
        assert page.url.startswith(f"{server.url}/workbench?"), page.url
        page.click("#nav-monitoring")
    page.wait_for_selector("#lift")
    assert page.url.startswith(f"{server.url}/workbench/monitoring?lang={lang}"), page.url


def _charts_loaded(page: Page) -> dict[str, int]:
    page.wait_for_load_state("networkidle")
    return dict(page.eval_on_selector_all(
        "img.chart", "imgs => imgs.map(i => [i.id, i.complete ? i.naturalWidth : 0])"))


@pytest.mark.parametrize("lang", ["en", "zh"])
@pytest.mark.parametrize("role", ["risk", "rm"])
def test_the_monitoring_page_shows_its_four_sections_with_charts(
        open_page: Callable[..., Page], monitored: Server, trained: Trained, role: str, lang: str,
        console: list[str]) -> None:
    words = labels(lang)["monitoring"]
    page = open_page()
    _open_monitoring(page, monitored, trained.keys[role], role, lang)
    assert page.inner_text("#monitoring-title") == words["title"]
    for section, title in SECTIONS.items():
        assert page.inner_text(f"#{section} h2") == words[title]
    for section in SECTIONS:  # the fixture made their data
        assert not page.locator(f"#{section} .empty").count(), page.inner_text(f"#{section}")
    charts = _charts_loaded(page)
    assert set(charts) == {f"chart-{section}" for section in SECTIONS}, charts
    assert all(width > 0 for width in charts.values()), charts
    assert page.locator(f"#drift tbody tr[data-month='{BACKFILLED}']").count()
    realised = page.locator(f"#outcomes tbody tr[data-month='{BACKFILLED}'] [data-field=roc_auc]").inner_text()
    assert 0.5 < float(realised) <= 1, realised
    credit_changes = page.locator(f"#history tbody tr[data-model='{DELINQUENCY}']")
    assert credit_changes.count() and page.locator("#history tbody tr[data-action=reload]").count()
    assert (credit_changes.first.locator(".withheld").count() == 1) == (role == "rm")
    assert page.inner_text("#lift-acceptance th") == words["acceptance"]
    assert page.inner_text("#lift-acceptance [data-significant]") in (words["significant"], words["not_significant"])

    text = page.inner_text("main")
    raw_keys = [k for k in words if "_" in k and k in text]
    assert not raw_keys, raw_keys
    english = labels("en")["monitoring"]
    if lang == "zh":
        leaked = [v for k, v in english.items() if v != words[k] and re.search(r"[A-Za-z]{4}", v) and v in text]
        assert not leaked, leaked
        assert CJK.search(page.inner_text("#drift thead")) and CJK.search(page.inner_text("#history thead"))
    else:
        assert not CJK.search(text)

    credit = page.locator(f"#drift .worst[data-model='{DELINQUENCY}']")  # the fixture scored credit risk
    assert credit.count() > 0
    withheld = credit.locator(".withheld")
    assert withheld.count() == (credit.count() if role == "rm" else 0)
    if role == "rm":
        assert withheld.first.inner_text() == words["features_withheld"]
    else:
        assert credit.first.locator("tbody tr").count() > 0
    assert not [m for m in console if "Content Security Policy" in m], console
    screenshot(page, f"monitoring-{role}-{lang}")


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_risk_role_sees_only_the_monitoring_page(open_page: Callable[..., Page], monitored: Server,
                                                     trained: Trained, bank_dir: Path, lang: str) -> None:
    page = open_page()
    _open_monitoring(page, monitored, trained.keys["risk"], "risk", lang)
    assert not page.locator("#nav-campaigns").count() and not page.locator("#q").count()
    assert page.locator("#nav-monitoring").count() == 1
    customer_id = str(pd.read_parquet(bank_dir / "customers.parquet")["customer_id"].iloc[0])
    forbidden = labels(lang)["ui"]["risk_only_monitoring"]
    for path in (f"/workbench/customers/{customer_id}", "/workbench/campaigns"):
        response = page.goto(f"{monitored.url}{path}?lang={lang}")
        assert response is not None and response.status == 403, path
        assert forbidden in page.inner_text("main") and customer_id not in page.inner_text("main")
    page.goto(f"{monitored.url}/workbench?lang={lang}")  # the brand link: the risk role's home is monitoring
    assert page.url.startswith(f"{monitored.url}/workbench/monitoring"), page.url
