"""The zh workbench reads as a Chinese RM writes: no English word, no ASCII colon, no code, no 您 on
the pages an RM reads about a customer (customer pages for a sample of the session's customers, home
and campaigns), through the real app."""

from __future__ import annotations

import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from serving.workbench.session import COOKIE
from sources.io import read_table
from tests.conftest import Trained

# Words that may stay in English on a zh page, each for a reason:
# "English": the language switch names the language it switches to; "nbo": the product's name in the title.
ALLOWED_WORDS = {"English", "nbo"}
# Machine ids (decision ids, model versions, rule ids) are shown in <code>, read by support staff, not translated.
SKIPPED_ELEMENTS = {"script", "style", "code"}
READ_ATTRIBUTES = {"alt", "title", "aria-label", "placeholder"}
ENGLISH_WORD = re.compile(r"[A-Za-z]{3,}")
CJK = r"[\u3400-\u9fff\uff08\uff09]"
ASCII_COLON = re.compile(rf"{CJK}\s*:|:\s*{CJK}")
SPACE_BETWEEN_CJK = re.compile(rf"{CJK} +{CJK}")
SAMPLE = 16


class _Text(HTMLParser):
    """The text a reader sees (and the attributes a screen reader reads), outside SKIPPED_ELEMENTS."""

    def __init__(self) -> None:
        super().__init__()
        self.skipping = 0
        self.texts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in SKIPPED_ELEMENTS:
            self.skipping += 1
        self.texts += [v for k, v in attrs if k in READ_ATTRIBUTES and v]

    def handle_endtag(self, tag: str) -> None:
        if tag in SKIPPED_ELEMENTS:
            self.skipping -= 1

    def handle_data(self, data: str) -> None:
        if not self.skipping and data.strip():
            self.texts.append(data.strip())


def visible_texts(html: str) -> list[str]:
    parser = _Text()
    parser.feed(html)
    return parser.texts


def problems(texts: list[str]) -> list[str]:
    """What a Chinese RM would not write, one line per text that has it."""
    found = []
    for text in texts:
        words = set(ENGLISH_WORD.findall(text)) - ALLOWED_WORDS
        if words:
            found.append(f"English {sorted(words)} in {text!r}")
        if ASCII_COLON.search(text):
            found.append(f"ASCII colon in {text!r}")
        if SPACE_BETWEEN_CJK.search(text):
            found.append(f"space between Chinese characters in {text!r}")
    return found


def test_the_checks_find_what_they_look_for() -> None:
    assert problems(["职业：employee", "偏好渠道: 电话", "授信额度 缺失", "签约 API"]) == [
        "English ['employee'] in '职业：employee'", "ASCII colon in '偏好渠道: 电话'",
        "space between Chinese characters in '授信额度 缺失'", "English ['API'] in '签约 API'"]
    assert problems(["English", "客户号 C00000042", "2026-12-01 09:30", "风险承受能力 C3", "购买概率 28.1%"]) == []
    assert visible_texts('<p title="年龄">a<code>decision_id</code>b<script>x()</script></p>') == ["年龄", "a", "b"]


@pytest.fixture(scope="module")
def signed_in(app_client: TestClient, trained: Trained) -> Iterator[dict[str, str]]:
    """A Cookie header of an RM session (the shared client's own cookie jar is left empty)."""
    response = app_client.post("/workbench/login", data={"key": trained.keys["rm"], "lang": "zh"},
                               follow_redirects=False)
    assert response.status_code == 303, response.text
    cookie = response.cookies[COOKIE]
    app_client.cookies.clear()
    yield {"Cookie": f"{COOKIE}={cookie}"}


@pytest.fixture(scope="module")
def sample(bank_dir: Path) -> list[str]:
    """Customers of every kind: closed and open, with and without consent, with and without credit."""
    customers = read_table(bank_dir, "customers")
    credit = set(read_table(bank_dir, "credit")["customer_id"])
    kinds = [customers["close_date"].notna(), customers["marketing_consent"] & customers["close_date"].isna(),
             ~customers["marketing_consent"], customers["customer_id"].isin(credit),
             ~customers["customer_id"].isin(credit)]
    picked = pd.concat([customers.loc[kind, "customer_id"].head(SAMPLE // len(kinds) + 1) for kind in kinds])
    return sorted(set(picked))[:SAMPLE]


def _page(client: TestClient, path: str, cookie: dict[str, str]) -> str:
    response = client.get(path, params={"lang": "zh"}, headers=cookie)
    assert response.status_code == 200, response.text[:500]
    assert 'lang="zh-CN"' in response.text
    return response.text


def test_zh_customer_pages_have_no_english_values_and_no_ascii_colons(app_client: TestClient,
                                                                       signed_in: dict[str, str],
                                                                       sample: list[str]) -> None:
    found = {}
    for customer_id in sample:
        texts = visible_texts(_page(app_client, f"/workbench/customers/{customer_id}", signed_in))
        if wrong := problems(texts):
            found[customer_id] = wrong
        assert not [t for t in texts if "您" in t], f"{customer_id}: the RM page speaks about the customer"
    assert found == {}


@pytest.mark.parametrize("path", ["/workbench", "/workbench/campaigns"])
def test_zh_home_and_campaign_pages_have_no_english_values(app_client: TestClient, signed_in: dict[str, str],
                                                            path: str) -> None:
    assert problems(visible_texts(_page(app_client, path, signed_in))) == []
