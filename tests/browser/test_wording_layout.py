"""No text overflows its box on the zh customer page, nor any label its chart, at 1280 and 390 px, in
Debian's Chromium (the fonts a bank's desktop has: WenQuanYi/Noto CJK).

HTML: every element that holds text itself has scrollWidth ≤ clientWidth (text wider than its box makes
the box scroll or spill). SVG charts (the ones the page loads: the narrow variant at 390 px): every
<text>'s box lies inside the drawing. A chart is measured as a file: opened from the service, its inline
styles (text-anchor, fonts) would be refused by the service's CSP, which an <img> does not apply to it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from playwright.sync_api import Page

from tests.browser.conftest import log_in
from tests.conftest import ROOT, Trained
from tests.server import Server

WIDTHS = (1280, 390)
TOLERANCE_PX = 1  # sub-pixel rounding
DOCS_IMG = ROOT / "docs" / "img"

# Elements holding a text node, displayed as a box, whose content is wider than the box.
HTML_OVERFLOW = """tolerance => [...document.querySelectorAll('body *')].filter(el => {
    const style = getComputedStyle(el);
    if (style.display === 'inline' || style.display === 'none' || !el.getClientRects().length) return false;
    if (el.closest('.sr-only')) return false;  // for screen readers only: a 1 px box by design
    if (![...el.childNodes].some(n => n.nodeType === Node.TEXT_NODE && n.textContent.trim())) return false;
    return el.scrollWidth > el.clientWidth + tolerance;
}).map(el => `${el.tagName.toLowerCase()}#${el.id}.${el.className}: ${el.textContent.trim().slice(0, 60)}`
         + ` (${el.scrollWidth} > ${el.clientWidth})`)"""

# Every visible <text> of an SVG document whose box leaves the drawing (screen px, any zoom).
SVG_OVERFLOW = """tolerance => { const svg = document.querySelector('svg'); const r = svg.getBoundingClientRect();
  return [...svg.querySelectorAll('text')].filter(t => t.textContent.trim() && t.getClientRects().length)
    .map(t => [t.textContent, t.getBoundingClientRect()])
    .filter(([, b]) => b.left < r.left - tolerance || b.right > r.right + tolerance
                       || b.top < r.top - tolerance || b.bottom > r.bottom + tolerance)
    .map(([text, b]) => `${text}: ${Math.round(b.left - r.left)}..${Math.round(b.right - r.left)} of ${Math.round(r.width)}`);
}"""

CHARTS = ("balances", "churn", "delinquency")


@pytest.fixture(scope="module")
def wordy_customer(bank_dir: Path) -> str:
    """An open customer with credit (all three charts drawn, credit reasons among the longest)."""
    people = pd.read_parquet(bank_dir / "customers.parquet")
    credit = set(pd.read_parquet(bank_dir / "credit.parquet")["customer_id"])
    chosen = people[people["close_date"].isna() & people["customer_id"].isin(credit)].sort_values("customer_id")
    return str(chosen.iloc[0]["customer_id"])


def _zh_page(open_page: Callable[..., Page], server: Server, trained: Trained, customer_id: str, width: int) -> Page:
    page = open_page(width)
    log_in(page, server, trained.keys["rm"], "zh")
    page.goto(f"{server.url}/workbench/customers/{customer_id}?lang=zh")
    page.wait_for_load_state("networkidle")
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    return page


@pytest.mark.parametrize("width", WIDTHS)
def test_no_text_overflows_its_box_on_the_zh_customer_page(open_page: Callable[..., Page], server: Server,
                                                           trained: Trained, wordy_customer: str, width: int) -> None:
    page = _zh_page(open_page, server, trained, wordy_customer, width)
    assert page.evaluate(HTML_OVERFLOW, TOLERANCE_PX) == []
    assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0


@pytest.mark.parametrize("width", WIDTHS)
def test_no_chart_label_leaves_its_chart_on_the_zh_customer_page(open_page: Callable[..., Page], server: Server,
                                                                 trained: Trained, wordy_customer: str,
                                                                 width: int, tmp_path: Path) -> None:
    page = _zh_page(open_page, server, trained, wordy_customer, width)
    sources = {name: page.eval_on_selector(f"#chart-{name}", "img => img.currentSrc") for name in CHARTS}
    assert all(sources.values()), sources
    assert all(("narrow=true" in src) == (width < 600) for src in sources.values()), sources
    chart = open_page(width)
    clipped = {}
    for name, src in sources.items():
        drawn = page.request.get(src)
        assert drawn.ok and drawn.headers["content-type"].startswith("image/svg+xml"), src
        (tmp_path / f"{name}.svg").write_bytes(drawn.body())
        chart.goto((tmp_path / f"{name}.svg").as_uri())
        texts = chart.evaluate("() => [...document.querySelectorAll('svg text')].map(t => t.textContent)")
        assert any("\u4e00" <= ch <= "\u9fff" for text in texts for ch in text), f"{name}: no Chinese label"
        if outside := chart.evaluate(SVG_OVERFLOW, TOLERANCE_PX):
            clipped[name] = outside
    assert clipped == {}
    if width == WIDTHS[0]:
        DOCS_IMG.mkdir(parents=True, exist_ok=True)
        page.locator("#delinquency").screenshot(path=str(DOCS_IMG / "workbench-zh-reasons.png"))
