"""Risk, profile, events, models, admin and ops endpoints over HTTP, for every role."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import pytest

from features.tables import MONTHLY_TTL
from sources.io import read_table
from tests.conftest import BANK_AS_OF, reaches_measured

CUSTOMER = "O0000000042"


def _active_customer(bank_dir) -> str:
    credit = read_table(bank_dir, "credit")
    last = credit[credit["month"] == credit["month"].max()]
    return str(last["customer_id"].iloc[0])


@pytest.mark.parametrize(("role", "path", "status"), [
    (None, f"/v1/customers/{CUSTOMER}/churn", 401),
    ("app", f"/v1/customers/{CUSTOMER}/churn", 403),
    ("risk", f"/v1/customers/{CUSTOMER}/churn", 403),
    ("admin", f"/v1/customers/{CUSTOMER}/churn", 403),
    ("rm", f"/v1/customers/{CUSTOMER}/churn", 200),
    (None, f"/v1/customers/{CUSTOMER}/delinquency", 401),
    ("app", f"/v1/customers/{CUSTOMER}/delinquency", 403),
    ("risk", f"/v1/customers/{CUSTOMER}/delinquency", 200),
    ("rm", f"/v1/customers/{CUSTOMER}/delinquency", 200),
    ("app", f"/v1/customers/{CUSTOMER}/profile", 403),
    ("rm", f"/v1/customers/{CUSTOMER}/profile", 200),
    ("rm", "/v1/customers/C99999999/delinquency", 404),
    ("rm", "/v1/customers/C99999999/churn", 404),
    ("rm", "/v1/customers/C99999999/profile", 404),
    ("rm", "/v1/customers/not-an-id/churn", 422),
    ("app", "/v1/models", 200),
    (None, "/v1/models", 401),
])
def test_access_by_role(app_client, as_role, role, path, status) -> None:
    response = app_client.get(path, headers=as_role(role))
    assert response.status_code == status, response.text
    if status >= 400:
        body = response.json()
        assert body["status"] == status and body["detail"]
        assert response.headers["content-type"].startswith("application/problem+json")


def test_a_wrong_key_is_refused(app_client) -> None:
    response = app_client.get(f"/v1/customers/{CUSTOMER}/churn", headers={"X-API-Key": "nbo_rm_guess"})
    assert response.status_code == 401 and response.json()["detail"] == "unknown API key"


def test_delinquency_answer_has_pd_score_band_reasons_and_freshness(app_client, as_role, bank_dir) -> None:
    customer = _active_customer(bank_dir)
    body = app_client.get(f"/v1/customers/{customer}/delinquency?lang=zh", headers=as_role("risk")).json()
    assert 0 < body["pd"] < 1
    assert set(body) >= {"pd", "score", "band", "reason_codes", "freshness", "decision_id", "flags"}
    assert 0 < len(body["reason_codes"]) <= 4
    for flag in body["flags"]:  # values beyond the development range (the bank's months move on); no unseen category
        assert flag["why"] in ("below_range", "above_range") and isinstance(flag["bound"], float), flag
    assert any("\u4e00" <= ch <= "\u9fff" for r in body["reason_codes"] for ch in r["text"])
    # the rows are the fixed bank's latest (BANK_AS_OF): fresh while the service's clock (UTC) is within
    # the views' TTL of them, stale after, and then every model feature is named
    now = datetime.now(UTC)
    fresh = now - BANK_AS_OF <= MONTHLY_TTL
    assert body["freshness"]["is_fresh"] is fresh, (now, body["freshness"])
    assert (body["freshness"]["stale_features"] == []) is fresh
    assert pd.Timestamp(body["freshness"]["oldest_feature_at"]) == BANK_AS_OF


def test_churn_answer_has_probability_band_reasons_and_action(app_client, as_role, bank_dir) -> None:
    customer = _active_customer(bank_dir)
    body = app_client.get(f"/v1/customers/{customer}/churn?lang=en", headers=as_role("rm")).json()
    assert 0 <= body["probability"] <= 1 and body["band"]
    assert body["reasons"] and body["action"]["text"]


def test_scores_are_audited_before_they_are_returned(app_client, as_role, trained) -> None:
    from serving.audit.store import AuditStore
    from tests.conftest import settings_from

    body = app_client.get(f"/v1/customers/{CUSTOMER}/delinquency", headers=as_role("rm")).json()
    store = AuditStore(settings_from(trained.env).audit_url)
    record = store.get_decision(body["decision_id"])
    assert record.customer_id == CUSTOMER and record.kind == "delinquency"
    assert record.model_versions["nbo-delinquency"]["alias"] == "champion"
    assert "utilization" in record.payload["features"]  # the model's inputs, as scored
    store.close()


def test_batch_scores_known_customers_and_lists_unknown_ones(app_client, as_role, trained) -> None:
    from serving.audit.store import AuditStore
    from serving.schemas import DelinquencyBatch
    from tests.conftest import settings_from

    ids = ["O0000000001", "O0000000002", "C99999999"]
    response = app_client.post("/v1/delinquency/batch", json={"customer_ids": ids}, headers=as_role("risk"))
    assert response.status_code == 200
    body = response.json()
    assert DelinquencyBatch.model_validate(body).model_dump(mode="json") == body  # serialised unvalidated
    assert [s["customer_id"] for s in body["scores"]] == ids[:2]
    project = trained.env["NBO_STORES__FEAST_PROJECT"]
    assert body["errors"] == [{"customer_id": "C99999999", "status": 404, "detail": (
        f"customer 'C99999999' has no features in the online store (Feast project {project!r})")}]
    for score in body["scores"]:  # scored in one frame, the same as one at a time; each audited
        single = app_client.get(f"/v1/customers/{score['customer_id']}/delinquency", headers=as_role("risk")).json()
        assert score["pd"] == pytest.approx(single["pd"], abs=1e-12)
        assert {k: v for k, v in score.items() if k not in ("decision_id", "pd")} == {
            k: v for k, v in single.items() if k not in ("decision_id", "pd")}
        store = AuditStore(settings_from(trained.env).audit_url)
        record = store.get_decision(score["decision_id"])
        store.close()
        assert (record.customer_id, record.kind, record.payload["answer"]["pd"]) == (
            score["customer_id"], "delinquency", score["pd"])


@pytest.mark.parametrize(("payload", "status"), [
    ({"customer_ids": [f"C{i:08d}" for i in range(10_001)]}, 422),
    ({"customer_ids": []}, 422),
    ({"customer_ids": ["bad"]}, 422),
    ({"customer_ids": ["O0000000001"], "lang": "fr"}, 422),
])
def test_bad_batches_are_refused_with_a_message(app_client, as_role, payload, status) -> None:
    response = app_client.post("/v1/delinquency/batch", json=payload, headers=as_role("risk"))
    assert response.status_code == status and response.json()["detail"]


def test_malformed_json_is_a_4xx(app_client, as_role) -> None:
    response = app_client.post("/v1/delinquency/batch", content=b"{not json", headers=as_role("risk")
                               | {"content-type": "application/json"})
    assert 400 <= response.status_code < 500


def test_an_event_is_seen_by_the_next_profile_read(app_client, as_role, bank_dir) -> None:
    customer = _active_customer(bank_dir)
    event = {"customer_id": customer, "event_type": "search", "topic": "study_abroad"}
    ack = app_client.post("/v1/events", json={"events": [event]}, headers=as_role("app"))
    assert ack.status_code == 202 and ack.json() == {"accepted": 1, "customers": 1, "new": 1, "actions": []}
    profile = app_client.get(f"/v1/customers/{customer}/profile", headers=as_role("rm")).json()
    assert profile["features"]["last_intent_topic"] == "study_abroad"
    assert profile["features"]["last_intent_event_type"] == "search"


@pytest.mark.parametrize("event", [
    {"customer_id": "O0000000001", "event_type": "purchase", "topic": "fund"},
    {"customer_id": "O0000000001", "event_type": "search", "topic": "Fund Pages"},
    {"customer_id": "nobody", "event_type": "search", "topic": "fund"},
    {"customer_id": "O0000000001", "event_type": "page_view"},  # intent without a topic
    {"customer_id": "O0000000001", "event_type": "login", "event_id": "has spaces"},
])
def test_malformed_events_are_refused(app_client, as_role, event) -> None:
    response = app_client.post("/v1/events", json={"events": [event]}, headers=as_role("app"))
    assert response.status_code == 422 and response.json()["detail"]


def test_feedback_needs_an_audited_decision(app_client, as_role) -> None:
    decision = app_client.get(f"/v1/customers/{CUSTOMER}/churn", headers=as_role("rm")).json()["decision_id"]
    not_offers = app_client.post(f"/v1/offers/{decision}/feedback", json={"product_id": "FUND_BOND", "outcome": "shown"},
                                 headers=as_role("app"))  # a churn score offered nothing (issue 18)
    assert not_offers.status_code == 422 and "not an offer decision" in not_offers.json()["detail"]
    missing = app_client.post(f"/v1/offers/{'0' * 32}/feedback", json={"product_id": "FUND_BOND", "outcome": "shown"},
                              headers=as_role("app"))
    assert missing.status_code == 404 and "no decision" in missing.json()["detail"]
    bad = app_client.post(f"/v1/offers/{decision}/feedback", json={"product_id": "FUND_BOND", "outcome": "loved"},
                          headers=as_role("app"))
    assert bad.status_code == 422


def test_ops_endpoints(app_client, as_role) -> None:
    assert app_client.get("/healthz").json() == {"status": "ok"}
    ready = app_client.get("/readyz")
    assert ready.status_code == 200, ready.json()
    reload = app_client.post("/v1/admin/reload", headers=as_role("admin"))
    assert reload.status_code == 200 and reload.json()["versions"]["nbo-churn"]["champion"] == "1"
    assert app_client.post("/v1/admin/reload", headers=as_role("rm")).status_code == 403
    metrics = app_client.get("/metrics").text
    assert 'nbo_requests_total{method="GET",route="/healthz",status="200"}' in metrics
    assert 'nbo_model_version{alias="champion",model="nbo-delinquency"} 1.0' in metrics
    models = app_client.get("/v1/models", headers=as_role("risk")).json()
    assert {m["name"] for m in models} == {"nbo-churn", "nbo-delinquency", "nbo-recommender", "nbo-fraud"}
    for m in models:  # each champion's primary metric is there, at what the session bank gives
        assert reaches_measured(m["name"], m["metrics"]), m


def test_security_headers_and_openapi(app_client) -> None:
    response = app_client.get("/healthz")
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "Content-Security-Policy" in response.headers
    schema = app_client.get("/openapi.json").json()
    for path in ("/v1/customers/{customer_id}/churn", "/v1/customers/{customer_id}/delinquency",
                 "/v1/delinquency/batch", "/v1/events", "/v1/offers/{decision_id}/feedback",
                 "/v1/customers/{customer_id}/profile", "/v1/models", "/v1/admin/reload"):
        assert path in schema["paths"]
    assert "pd" in schema["components"]["schemas"]["DelinquencyScore"]["properties"]
    assert pd.notna(schema["info"]["version"])
