"""Reasons the service gives, over the session's customers, through the real app: no untranslated code in
any reason (zh or en, offers, churn and delinquency), and "customers who hold X also hold this" names only
products the customer holds, never the offered product, by name."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from sources.io import read_table

Headers = Callable[[str | None], dict[str, str]]
SWEEP = 240  # customers with marketing consent (their offers are personalised); every one of them is read
RISK_SAMPLE = 120
CODE = re.compile(r"\bR\d{2,}\b|\b[a-z]+_[a-z0-9_]+\b|\b[A-Z]+_[A-Z0-9_]+\b|\{|\}")
ENGLISH_WORD = re.compile(r"[A-Za-z]{3,}")
PEERS = {"zh": re.compile(r"^持有(.+)的客户也常持有该产品$"),
         "en": re.compile(r"^customers who hold the (.+) often hold this too$")}
HOLDS = {"zh": re.compile(r"^已持有(.+)，常与该产品搭配$"), "en": re.compile(r"^holds the (.+), often held together with it$")}
SEPARATOR = {"zh": "、", "en": ", "}


def untranslated(text: str, lang: str) -> list[str]:
    """Codes left in a reason: reason codes (R088), snake_case names, product codes, template slots; on zh
    any English word too."""
    found = CODE.findall(text)
    return found + (ENGLISH_WORD.findall(text) if lang == "zh" else [])


def test_the_code_check_finds_codes() -> None:
    assert untranslated("because customers who hold FUND_BALANCED, FUND_BOND also hold this", "en") == [
        "FUND_BALANCED", "FUND_BOND"]
    assert untranslated("职业：employee", "zh") == ["employee"]
    assert untranslated("R088 utilization_max_12m {value}", "en") == ["R088", "utilization_max_12m", "{", "}"]
    assert untranslated("月收入：1.2万元", "zh") == untranslated("monthly income ¥12,000", "en") == []


@pytest.fixture(scope="module")
def products(bank_dir: Path) -> pd.DataFrame:
    return read_table(bank_dir, "products").set_index("product_id")


@pytest.fixture(scope="module")
def consenting(bank_dir: Path) -> list[str]:
    customers = read_table(bank_dir, "customers")
    return sorted(customers.loc[customers["marketing_consent"] & customers["close_date"].isna(), "customer_id"])[:SWEEP]


def _get(client: TestClient, path: str, headers: dict[str, str], **params: object) -> dict:
    response = client.get(path, params=params, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_offer_reasons_have_no_codes_and_name_only_held_products(app_client: TestClient, as_role: Headers,
                                                                 consenting: list[str], products: pd.DataFrame,
                                                                 lang: str) -> None:
    rm = as_role("rm")
    names = products[f"name_{lang}"].to_dict()
    codes, wrong_peers, peers_seen = [], [], 0
    for customer_id in consenting:
        held = _get(app_client, f"/v1/customers/{customer_id}/profile", rm)["features"]["held_product_ids"] or []
        held_names = {names[p] for p in held}
        for offer in _get(app_client, f"/v1/customers/{customer_id}/offers", rm, lang=lang)["offers"]:
            for reason in offer["reasons"]:
                text = reason["text"]
                codes += [(customer_id, text, c) for c in untranslated(text, lang)]
                named = PEERS[lang].match(text) or HOLDS[lang].match(text)
                if named is None:
                    continue
                peers_seen += 1
                said = set(named.group(1).split(SEPARATOR[lang])) if reason["code"] == "PEERS" else {named.group(1)}
                if not said <= held_names or names[offer["product_id"]] in said:
                    wrong_peers.append((customer_id, offer["product_id"], sorted(held), text))
    assert codes == []
    assert wrong_peers == []
    assert peers_seen > 0, "no offer reason named a held product: the sweep checked nothing"


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_risk_reasons_have_no_codes(app_client: TestClient, as_role: Headers, bank_dir: Path, lang: str) -> None:
    rm = as_role("rm")
    customers = sorted(read_table(bank_dir, "customers")["customer_id"])[::2000 // RISK_SAMPLE]
    codes = []
    for customer_id in customers:
        churn = _get(app_client, f"/v1/customers/{customer_id}/churn", rm, lang=lang)
        delinquency = _get(app_client, f"/v1/customers/{customer_id}/delinquency", rm, lang=lang)
        texts = [r["text"] for r in churn["reasons"] + delinquency["reason_codes"]] + [churn["action"]["text"]]
        codes += [(customer_id, t, c) for t in texts for c in untranslated(t, lang)]
    assert codes == []
