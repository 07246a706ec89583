"""/docs and /redoc in Debian's Chromium against the real service, under its CSP, with no CDN."""

from __future__ import annotations

from collections.abc import Callable

from playwright.sync_api import Page

from tests.browser.conftest import screenshot
from tests.server import Server

OFFERS_PATH = "/v1/customers/{customer_id}/offers"


def _outside_requests(page: Page, server: Server) -> list[str]:
    """Every URL the page asks for that is not the service's own (filled in as the page loads)."""
    outside: list[str] = []
    page.on("request", lambda r: None if r.url.startswith((server.url, "data:", "blob:")) else outside.append(r.url))
    return outside


def test_docs_render_the_operations_under_the_service_csp(open_page: Callable[..., Page], console: list[str],
                                                          server: Server) -> None:
    page = open_page()
    outside = _outside_requests(page, server)
    response = page.goto(f"{server.url}/docs")
    assert response is not None and response.status == 200
    assert response.headers["content-security-policy"].startswith("default-src 'self'")
    page.get_by_text(OFFERS_PATH).first.wait_for(timeout=30_000)
    page.wait_for_load_state("networkidle")
    assert page.locator(".opblock").count() >= 10  # every operation of the schema, not an empty shell
    screenshot(page, "docs-swagger")
    assert not [m for m in console if "Content Security Policy" in m], console
    assert not [m for m in console if "Failed to load" in m], console
    assert outside == []


def test_redoc_renders_the_operations_and_loads_nothing_from_outside(open_page: Callable[..., Page],
                                                                      console: list[str], server: Server) -> None:
    page = open_page()
    response = page.goto(f"{server.url}/redoc")
    assert response is not None and response.status == 200
    csp = response.headers["content-security-policy"]
    assert "script-src" not in csp and "unsafe-eval" not in csp and "default-src 'self'" in csp
    page.get_by_text(OFFERS_PATH).first.wait_for(timeout=30_000)
    page.wait_for_load_state("networkidle")
    # ReDoc's sidebar always asks for its maker's logo from its CDN: the CSP refuses it, and that
    # refusal is the only CSP message (nothing else is blocked, nothing is loaded from outside)
    blocked = [m for m in console if "Content Security Policy" in m]
    assert blocked and all("cdn.redoc.ly/redoc/logo-mini.svg" in m for m in blocked), console
