"""GET /v1/customers/{id}/offers through the real app, models and stores."""

from __future__ import annotations

import pandas as pd
import pytest

from serving.decisions.suitability import age_on
from sources.io import read_table
from tests.conftest import service_today


@pytest.fixture(scope="module")
def customers(bank_dir) -> pd.DataFrame:
    """Customers active in the last month, with what the rules need to know about them."""
    frame = read_table(bank_dir, "customers")
    txn = read_table(bank_dir, "transactions")
    active = set(txn.loc[txn["month"] == txn["month"].max(), "customer_id"])
    credit = read_table(bank_dir, "credit")
    last = credit[credit["month"] == credit["month"].max()].set_index("customer_id")["days_past_due"]
    frame = frame[frame["customer_id"].isin(active)].copy()
    frame["days_past_due"] = frame["customer_id"].map(last).fillna(0)
    frame["age"] = [age_on(b.date(), service_today()) for b in frame["birth_date"]]
    return frame


@pytest.fixture(scope="module")
def products(bank_dir) -> pd.DataFrame:
    return read_table(bank_dir, "products").set_index("product_id")


def _offers(client, headers, customer_id, **params):
    response = client.get(f"/v1/customers/{customer_id}/offers", params=params, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def test_offers_have_the_documented_shape(app_client, as_role, customers) -> None:
    customer = customers.loc[customers["marketing_consent"], "customer_id"].iloc[0]
    body = _offers(app_client, as_role("app"), customer, k=3, lang="en")
    assert set(body) >= {"decision_id", "customer_id", "model_versions", "offers"}
    assert body["blocked"] is None
    assert [o["rank"] for o in body["offers"]] == list(range(1, len(body["offers"]) + 1))
    assert 0 < len(body["offers"]) <= 3
    assert not {"score", "p_adopt"} & {field for o in body["offers"] for field in o}  # rm only (issue 18)
    rm = _offers(client=app_client, headers=as_role("rm"), customer_id=customer, k=3, lang="en")
    scores = [o["score"] for o in rm["offers"]]
    assert scores == sorted(scores, reverse=True)
    assert all(o["reasons"] and o["reasons"][0]["text"] for o in body["offers"])
    assert set(body["model_versions"]) == {"nbo-recommender", "nbo-churn", "nbo-delinquency"}
    assert not {"pd", "probability", "score_band", "churn"} & set(body)


def test_reasons_follow_the_language(app_client, as_role, customers) -> None:
    consenting = customers.loc[customers["marketing_consent"], "customer_id"].iloc[1:11]
    # the first (after the one above) whose offers are not all blocked
    customer = next(c for c in consenting if _offers(app_client, as_role("rm"), c, lang="en")["offers"])
    zh = _offers(app_client, as_role("rm"), customer, lang="zh")
    en = _offers(app_client, as_role("rm"), customer, lang="en")
    assert [o["product_id"] for o in zh["offers"]] == [o["product_id"] for o in en["offers"]]
    assert any("\u4e00" <= ch <= "\u9fff" for o in zh["offers"] for ch in o["reasons"][0]["text"] + o["name"])
    assert en["offers"] and all(ch.isascii() for o in en["offers"] for ch in o["reasons"][0]["text"])


def test_blocked_products_are_for_the_rm_only(app_client, as_role, customers) -> None:
    customer = customers["customer_id"].iloc[2]
    rm = _offers(app_client, as_role("rm"), customer, include_blocked="true")
    assert isinstance(rm["blocked"], list)
    assert rm["blocked"] and all(b["rule_id"] and b["message"] for b in rm["blocked"])
    app = app_client.get(f"/v1/customers/{customer}/offers", params={"include_blocked": "true"},
                         headers=as_role("app"))
    assert app.status_code == 403


@pytest.mark.parametrize(("params", "words"), [
    ({"k": 0}, "greater than or equal to 1"), ({"k": 21}, "less than or equal to 20"),
    ({"lang": "fr"}, "lang"), ({"channel": "fax"}, "channel"),
])
def test_bad_parameters_get_422_with_a_message(app_client, as_role, params, words) -> None:
    response = app_client.get("/v1/customers/O0000000001/offers", params=params, headers=as_role("app"))
    assert response.status_code == 422 and words in response.json()["detail"]


def test_unknown_customer_is_404_and_roles_are_enforced(app_client, as_role) -> None:
    assert app_client.get("/v1/customers/C99999999/offers", headers=as_role("app")).status_code == 404
    assert app_client.get("/v1/customers/O0000000001/offers", headers=as_role("risk")).status_code == 403
    assert app_client.get("/v1/customers/O0000000001/offers").status_code == 401


def test_no_consent_gets_the_non_personalised_default(app_client, as_role, customers) -> None:
    customer = customers.loc[~customers["marketing_consent"], "customer_id"].iloc[0]
    body = _offers(app_client, as_role("app"), customer)
    assert body["personalised"] is False
    assert body["offers"] and all(o["reasons"][0]["code"] == "GENERAL" for o in body["offers"])


def _violations(body, row, products) -> list[str]:
    found = []
    tolerance = int(str(row["risk_tolerance"])[1]) if isinstance(row["risk_tolerance"], str) else 1
    for offer in body["offers"]:
        p = products.loc[offer["product_id"]]
        level = int(p["risk_level"][1])
        if row["age"] >= 65 and level >= 4:
            found.append(f"{row['customer_id']} aged {row['age']} got {offer['product_id']} ({p['risk_level']})")
        if level > tolerance:
            found.append(f"{row['customer_id']} {row['risk_tolerance']} got {offer['product_id']} ({p['risk_level']})")
        if row["days_past_due"] > 0 and p["is_credit"]:
            found.append(f"{row['customer_id']} in arrears got credit {offer['product_id']}")
    return found


def test_suitability_holds_for_the_customers_each_rule_protects(app_client, as_role, customers, products) -> None:
    seniors = customers[customers["age"] >= 65]
    cautious = customers[customers["risk_tolerance"].isin(["C1", "C2"])]
    arrears = customers[customers["days_past_due"] > 0]
    sample = pd.concat([seniors.head(40), cautious.head(40), arrears.head(40)]).drop_duplicates("customer_id")
    assert len(seniors) and len(cautious) and len(arrears)
    problems = []
    for _, row in sample.iterrows():
        problems += _violations(_offers(app_client, as_role("app"), row["customer_id"], k=20), row, products)
    assert problems == []


def test_fatigue_blocks_an_offer_shown_three_times_without_acceptance(app_client, as_role, customers) -> None:
    customer = customers.loc[customers["marketing_consent"], "customer_id"].iloc[5]
    first = _offers(app_client, as_role("app"), customer)
    product = first["offers"][0]["product_id"]
    for _ in range(3):
        ack = app_client.post(f"/v1/offers/{first['decision_id']}/feedback",
                              json={"product_id": product, "outcome": "shown"}, headers=as_role("app"))
        assert ack.status_code == 201
    again = _offers(app_client, as_role("rm"), customer, include_blocked="true")
    assert product not in [o["product_id"] for o in again["offers"]]
    assert {"product_id": product, "rule_id": "fatigue"}.items() <= next(
        b for b in again["blocked"] if b["product_id"] == product).items()
