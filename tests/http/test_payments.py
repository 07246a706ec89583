"""Payment scoring, account events into the counters, the alert queue and its labels, on the real app."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pandas as pd
import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from serving.payments.labels_cli import payments_group
from sources.io import read_table
from tests.conftest import Trained
from tests.server import running_service

Headers = Callable[[str | None], dict[str, str]]


@pytest.fixture(scope="module")
def customers(bank_dir: Path) -> list[str]:
    """Customers of the bank, one per test that changes counters (they are per customer)."""
    return sorted(read_table(bank_dir, "customers")["customer_id"])[:12]


def night(days_ago: int = 1) -> datetime:
    """02:30 in Shanghai, `days_ago` days ago, in UTC."""
    local = datetime.now(UTC).astimezone().replace(microsecond=0) - timedelta(days=days_ago)
    return datetime(local.year, local.month, local.day, 2, 30, tzinfo=UTC) - timedelta(hours=8)


def payment(customer_id: str, when: datetime, **changes: object) -> dict[str, object]:
    body: dict[str, object] = {"payment_id": f"P-{uuid.uuid4().hex[:16]}", "customer_id": customer_id,
                               "amount": 300.0, "currency": "CNY", "payee_id": "PAYEE-HOME", "channel": "app",
                               "device_id": "DEV-OLD", "city": "上海", "time": when.isoformat()}
    return body | changes


def event(customer_id: str, event_type: str, when: datetime, **fields: object) -> dict[str, object]:
    return {"customer_id": customer_id, "event_type": event_type, "event_time": when.isoformat(),
            "event_id": f"E-{uuid.uuid4().hex[:16]}"} | fields


def takeover(send_events: Callable[[list[dict[str, object]]], httpx.Response | object],
             customer_id: str, when: datetime) -> None:
    """A new device bound and the password changed an hour before `when`."""
    response = send_events([event(customer_id, "device_bound", when - timedelta(hours=1), device_id="DEV-NEW"),
                            event(customer_id, "password_change", when - timedelta(minutes=50))])
    assert response.status_code == 202, response.text  # type: ignore[union-attr]


def test_account_takeover_is_held_with_reasons_and_decided_once(app_client: TestClient, as_role: Headers,
                                                                 customers: list[str]) -> None:
    customer = customers[0]
    when = night()
    known = app_client.post("/v1/events", headers=as_role("app"), json={"events": [  # the usual phone, known for days
        event(customer, "login", when - timedelta(days=10, hours=-10), device_id="DEV-OLD", city="上海")]})
    assert known.status_code == 202, known.text
    history = app_client.post("/v1/payments/score", headers=as_role("payments"),  # an ordinary payment by day
                              json=payment(customer, when - timedelta(days=3, hours=-10)))
    assert history.status_code == 200, history.text
    # not held: the session's small model may ask to confirm a customer's first payment to a payee (3 % budget)
    assert history.json()["decision"] in ("allow", "step_up"), history.json()
    takeover(lambda events: app_client.post("/v1/events", headers=as_role("app"), json={"events": events}),
             customer, when)
    body = payment(customer, when, amount=48_000.0, payee_id="PAYEE-STRANGER", device_id="DEV-NEW")
    held = app_client.post("/v1/payments/score", headers=as_role("payments"), json=body)
    assert held.status_code == 200, held.text
    answer = held.json()
    assert answer["decision"] == "hold"
    assert answer["rules_only"] is (answer["model_version"] is None)
    text = " ".join(r["en"] for r in answer["reasons"])
    assert "new device" in text and "new payee" in text, answer["reasons"]
    assert all(r["zh"] for r in answer["reasons"])

    queue = app_client.get("/v1/payments/alerts", headers=as_role("risk"))
    assert queue.status_code == 200, queue.text
    [alert] = [a for a in queue.json()["alerts"] if a["payment_id"] == body["payment_id"]]
    assert alert["decision"]["decision_id"] == answer["decision_id"]
    assert {"device_bound", "password_change"} <= {r["kind"] for r in alert["recent"]}

    url = f"/v1/payments/alerts/{body['payment_id']}"
    for role in ("app", "rm", "payments"):
        assert app_client.post(url, headers=as_role(role), json={"outcome": "released"}).status_code == 403
    assert app_client.post(url, headers=as_role("risk"), json={"outcome": "maybe"}).status_code == 422
    decided = app_client.post(url, headers=as_role("risk"), json={"outcome": "confirmed_fraud"})
    assert decided.status_code == 200, decided.text
    assert decided.json()["decided_by"].startswith("risk key ")
    again = app_client.post(url, headers=as_role("risk"), json={"outcome": "released"})
    assert again.status_code == 409 and "already decided" in again.json()["detail"]
    assert app_client.post("/v1/payments/alerts/P-NONE", headers=as_role("risk"),
                           json={"outcome": "released"}).status_code == 404
    open_ids = {a["payment_id"] for a in app_client.get("/v1/payments/alerts", headers=as_role("risk")).json()["alerts"]}
    assert body["payment_id"] not in open_ids


def test_labels_export_has_decided_alerts(app_client: TestClient, as_role: Headers, trained: Trained,
                                          customers: list[str], tmp_path: Path) -> None:
    customer = customers[1]
    when = night()
    takeover(lambda events: app_client.post("/v1/events", headers=as_role("app"), json={"events": events}),
             customer, when)
    body = payment(customer, when, amount=30_000.0, payee_id="PAYEE-X", device_id="DEV-NEW")
    assert app_client.post("/v1/payments/score", headers=as_role("payments"), json=body).json()["decision"] == "hold"
    assert app_client.post(f"/v1/payments/alerts/{body['payment_id']}", headers=as_role("risk"),
                           json={"outcome": "released"}).status_code == 200
    out = tmp_path / "labels.parquet"
    result = CliRunner().invoke(payments_group, ["labels", "--out", str(out), "--json"], env=trained.env)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    frame = pd.read_parquet(out)
    assert report["rows"] == len(frame)
    row = frame.set_index("payment_id").loc[body["payment_id"]]
    assert row["label"] == 0 and row["customer_id"] == customer
    assert row["new_payee"] == 1 and row["amount"] == 30_000.0


def test_only_the_payments_role_scores(app_client: TestClient, as_role: Headers, customers: list[str]) -> None:
    body = payment(customers[2], night())
    for role in ("app", "rm", "risk", "admin"):
        response = app_client.post("/v1/payments/score", headers=as_role(role), json=body)
        assert response.status_code == 403, (role, response.text)
    assert app_client.post("/v1/payments/score", headers=as_role(None), json=body).status_code == 401
    assert app_client.get("/v1/payments/alerts", headers=as_role("payments")).status_code == 403
    assert app_client.get("/v1/payments/alerts", headers=as_role("app")).status_code == 403


def test_replayed_payment_is_one_decision(app_client: TestClient, as_role: Headers, customers: list[str]) -> None:
    customer = customers[3]
    body = payment(customer, night(), amount=1234.5)
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(lambda _: app_client.post("/v1/payments/score", headers=as_role("payments"),
                                                          json=body), range(8)))
    assert {a.status_code for a in answers} == {200}
    assert len({a.json()["decision_id"] for a in answers}) == 1
    audit = app_client.app.state.audit  # type: ignore[attr-defined]
    assert sum(d.payload["payment"]["payment_id"] == body["payment_id"]
               for d in audit.decisions_for(customer) if d.kind == "payment") == 1
    recent = app_client.app.state.payment_counters.read(customer).recent  # type: ignore[attr-defined]
    assert [r["payment_id"] for r in recent if r["kind"] == "payment"] == [body["payment_id"]]
    other = app_client.post("/v1/payments/score", headers=as_role("payments"), json=body | {"amount": 99.0})
    assert other.status_code == 409 and "another body" in other.json()["detail"]


@pytest.mark.parametrize("changes", [
    {"amount": -5}, {"amount": 0}, {"amount": "100"}, {"amount": 1e308}, {"amount": None},
    {"currency": "cny"}, {"currency": "EURO"}, {"channel": "atm"}, {"payment_id": "a b"}, {"payment_id": ""},
    {"time": "2026-12-01T02:00:00"}, {"time": "yesterday"}, {"time": "2999-01-01T00:00:00Z"},
    {"customer_id": "'; DROP TABLE"}, {"city": "\x00"}, {"extra": 1}, {"device_id": "x" * 65},
])
def test_bad_bodies_are_422(app_client: TestClient, as_role: Headers, customers: list[str],
                            changes: dict[str, object]) -> None:
    response = app_client.post("/v1/payments/score", headers=as_role("payments"),
                               json=payment(customers[4], night()) | changes)
    assert response.status_code == 422, response.text
    assert response.json()["detail"]


def test_unknown_customer_and_bad_events(app_client: TestClient, as_role: Headers, customers: list[str]) -> None:
    response = app_client.post("/v1/payments/score", headers=as_role("payments"),
                               json=payment("C99999999", night()))
    assert response.status_code == 404, response.text
    for bad in ({"event_type": "credit_received"}, {"event_type": "device_bound"},
                {"event_type": "password_change", "device_id": "D1"}, {"event_type": "login", "amount": 5.0},
                {"event_type": "credit_received", "amount": float("nan")}):
        sent = app_client.post("/v1/events", headers=as_role("app") | {"Content-Type": "application/json"},
                               content=json.dumps({"events": [event(customers[5], "x", night()) | bad]}))
        assert sent.status_code == 422, (bad, sent.text)


def test_counters_survive_a_restart(app_client: TestClient, as_role: Headers, trained: Trained,
                                   customers: list[str]) -> None:
    """A device bound and a password changed, sent to one service, still make the transfer a takeover for
    a service started afterwards (a real `nbo serve` process on the same state)."""
    customer = customers[6]
    when = night()
    keys = trained.keys
    takeover(lambda events: app_client.post("/v1/events", headers=as_role("app"), json={"events": events}),
             customer, when)
    with running_service(trained.env) as server:
        body = payment(customer, when, amount=20_000.0, payee_id="PAYEE-NEW", device_id="DEV-NEW")
        answer = httpx.post(f"{server.url}/v1/payments/score", headers={"X-API-Key": keys["payments"]},
                            json=body, timeout=30).json()
    assert answer["decision"] == "hold", answer
    assert any(r["code"] == "R2_TAKEOVER" for r in answer["reasons"])
