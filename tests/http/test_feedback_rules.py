"""Feedback names a product of its decision, on an offer decision (issue 18, item 8)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient

Headers = Callable[[str | None], dict[str, str]]


@pytest.fixture(scope="module")
def customer_id(bank_dir: Path) -> str:
    frame = pd.read_parquet(bank_dir / "customers.parquet")
    return str(sorted(frame.loc[frame["close_date"].isna() & frame["marketing_consent"], "customer_id"])[7])


def _post(client: TestClient, as_role: Headers, decision_id: str, product_id: str, outcome: str = "accepted",
          role: str = "app"):
    return client.post(f"/v1/offers/{decision_id}/feedback", json={"product_id": product_id, "outcome": outcome},
                       headers=as_role(role))


def _problem(response, status: int, title: str, *words: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["title"] == title and body["status"] == status, body
    for word in words:
        assert word in body["detail"], body["detail"]


def test_feedback_on_a_product_never_offered_is_refused_and_not_stored(app_client: TestClient, as_role: Headers,
                                                                       customer_id: str) -> None:
    answer = app_client.get(f"/v1/customers/{customer_id}/offers", params={"k": 2, "include_blocked": "true"},
                            headers=as_role("rm")).json()
    offered = [o["product_id"] for o in answer["offers"]]
    catalogue = app_client.app.state.runtime.recommender("champion").scorer.catalogue.records
    never = sorted(set(catalogue) - set(offered))[0]
    for role in ("app", "rm"):
        _problem(_post(app_client, as_role, answer["decision_id"], never, role=role), 422, "ProductNotInDecision",
                 never, answer["decision_id"], *offered)
    _problem(_post(app_client, as_role, answer["decision_id"], "NO_SUCH_PRODUCT"), 422, "ProductNotInDecision")
    assert app_client.app.state.audit.feedback_for(answer["decision_id"]) == []
    ok = _post(app_client, as_role, answer["decision_id"], offered[0])
    assert ok.status_code == 201 and ok.json()["product_id"] == offered[0], ok.text
    assert [f["product_id"] for f in app_client.app.state.audit.feedback_for(answer["decision_id"])] == [offered[0]]


@pytest.mark.parametrize(("role", "path"), [("rm", "churn"), ("risk", "delinquency")])
def test_feedback_on_a_risk_score_is_refused(app_client: TestClient, as_role: Headers, customer_id: str,
                                             role: str, path: str) -> None:
    decision = app_client.get(f"/v1/customers/{customer_id}/{path}", headers=as_role(role)).json()["decision_id"]
    for outcome in ("shown", "accepted"):
        _problem(_post(app_client, as_role, decision, "FUND_BOND", outcome), 422, "NotAnOfferDecision",
                 decision, "not an offer decision")
    assert app_client.app.state.audit.feedback_for(decision) == []


def test_feedback_on_an_unknown_decision_stays_404(app_client: TestClient, as_role: Headers) -> None:
    _problem(_post(app_client, as_role, uuid.uuid4().hex, "FUND_BOND"), 404, "DecisionNotFound", "no decision")
