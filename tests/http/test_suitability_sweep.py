"""Suitability over EVERY customer of the session's synthetic bank, through the real service.

The bank comes from the `bank_dir` fixture: 2,000 customers in a test session (the demo bank the
issue names has 20,000; this test sweeps whatever bank the fixture holds). Each customer is asked
for offers as the rm role with k=20 and include_blocked=true over HTTP (TestClient), and the real
answer is checked against facts computed here from the canonical tables, independently of the
serving code:

- aged 65 and over: never an R4/R5 product;
- risk tolerance C1..C5: never a product above it (DESIGN §7 risk match);
- a risk assessment more than 12 months old: no investment product above R1;
- in arrears (days_past_due > 0 in the bank's latest credit month): never a credit product;
- outside the product's age range: never offered;
- no marketing consent: the non-personalised default (personalised=false, the default list, the
  general reason), with marketing consent: personalised.

Customers whose account is closed may be gone from the online store: only they may get 404.
"""

from __future__ import annotations

import time
import tomllib
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from sources.io import read_table

ROOT = Path(__file__).resolve().parents[2]
INVESTMENT = {"wealth", "fund", "gold", "fx"}  # DESIGN §4's investment categories


def _age(birth: pd.Timestamp, today: date) -> int | None:
    if pd.isna(birth):
        return None
    return today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))


@pytest.fixture(scope="module")
def bank(bank_dir) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every customer with age, tolerance, assessment, arrears and consent; and the products."""
    today = date.today()
    customers = read_table(bank_dir, "customers").copy()
    credit = read_table(bank_dir, "credit")
    latest = credit[credit["month"] == credit["month"].max()].set_index("customer_id")["days_past_due"]
    customers["days_past_due"] = customers["customer_id"].map(latest).fillna(0)
    customers["age"] = [_age(b, today) for b in customers["birth_date"]]
    customers["max_risk"] = customers["risk_tolerance"].map(
        lambda t: int(t[1]) if isinstance(t, str) and t in {"C1", "C2", "C3", "C4", "C5"} else 1)
    expires = customers["risk_assessed_at"] + pd.DateOffset(months=12)
    customers["assessment_expired"] = customers["risk_assessed_at"].isna() | (expires < pd.Timestamp(today))
    customers["closed"] = customers["close_date"].notna() & (customers["close_date"] <= pd.Timestamp(today))
    products = read_table(bank_dir, "products").set_index("product_id")
    products["risk"] = products["risk_level"].str[1].astype(int)
    return customers, products


def _violations(row: pd.Series, body: dict, products: pd.DataFrame, defaults: list[str]) -> list[str]:
    who = f"{row['customer_id']} (age {row['age']}, {row['risk_tolerance']}, dpd {row['days_past_due']:.0f})"
    found = []
    if body["personalised"] != bool(row["marketing_consent"]):
        found.append(f"{who}: personalised={body['personalised']} but consent={row['marketing_consent']}")
    blocked = {b["product_id"] for b in body["blocked"] or []}
    for offer in body["offers"]:
        pid = offer["product_id"]
        p = products.loc[pid]
        if row["age"] is not None and row["age"] >= 65 and p["risk"] >= 4:
            found.append(f"{who}: aged 65+ got {pid} ({p['risk_level']})")
        if p["risk"] > row["max_risk"]:
            found.append(f"{who}: tolerance {row['risk_tolerance']} got {pid} ({p['risk_level']})")
        if row["assessment_expired"] and p["category"] in INVESTMENT and p["risk"] > 1:
            found.append(f"{who}: expired assessment got {pid} ({p['risk_level']})")
        if row["days_past_due"] > 0 and p["is_credit"]:
            found.append(f"{who}: in arrears got credit product {pid}")
        if row["age"] is not None and not p["min_age"] <= row["age"] <= p["max_age"]:
            found.append(f"{who}: outside {pid}'s age range {p['min_age']}-{p['max_age']}")
        if pid in blocked:
            found.append(f"{who}: {pid} both offered and blocked")
        if not row["marketing_consent"]:
            if pid not in defaults:
                found.append(f"{who}: no consent but got {pid}, not in the default list")
            if [r["code"] for r in offer["reasons"]] != ["GENERAL"]:
                found.append(f"{who}: no consent but personalised reasons on {pid}")
    if not row["marketing_consent"]:
        order = [o["product_id"] for o in body["offers"]]
        if order != [p for p in defaults if p in order]:
            found.append(f"{who}: default offers {order} not in the default list's order")
    return found


def test_every_customer_gets_only_suitable_offers(app_client, as_role, bank, record_property) -> None:
    customers, products = bank
    defaults = tomllib.loads((ROOT / "serving" / "decisions" / "levers.toml").read_text())["default_offers"]["products"]
    # the test can fail: each protected group exists in the bank
    served = customers[~customers["closed"]]
    counts = {
        "aged 65+": int((served["age"] >= 65).sum()),
        "C1/C2": int(served["risk_tolerance"].isin(["C1", "C2"]).sum()),
        "in arrears": int((served["days_past_due"] > 0).sum()),
        "no consent": int((~served["marketing_consent"]).sum()),
        "expired assessment": int(served["assessment_expired"].sum()),
    }
    assert all(n > 0 for n in counts.values()), counts

    headers = as_role("rm")
    problems: list[str] = []
    statuses: dict[int, int] = {}
    offered: dict[str, int] = {}
    started = time.perf_counter()
    for _, row in customers.iterrows():
        response = app_client.get(f"/v1/customers/{row['customer_id']}/offers",
                                  params={"k": 20, "include_blocked": "true"}, headers=headers)
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        if response.status_code == 404 and row["closed"]:
            continue
        if response.status_code != 200:
            problems.append(f"{row['customer_id']} (closed={row['closed']}): {response.status_code} "
                            f"{response.text[:200]}")
            continue
        body = response.json()
        assert body["customer_id"] == row["customer_id"]
        for offer in body["offers"]:
            offered[offer["product_id"]] = offered.get(offer["product_id"], 0) + 1
        problems += _violations(row, body, products, defaults)
    elapsed = time.perf_counter() - started
    record_property("sweep", f"{len(customers)} customers in {elapsed:.1f}s, statuses {statuses}, groups {counts}")
    assert problems == [], f"{len(problems)} problems, first 20:\n" + "\n".join(problems[:20])
    # the answers are not trivially empty: most open customers got offers, of several products
    assert statuses.get(200, 0) >= len(served)  # every open customer answered (a just-closed one may be too)
    assert len(offered) >= 5, offered
