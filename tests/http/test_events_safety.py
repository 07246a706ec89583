"""POST /v1/events is safe to face the internet: known customers only, once per event_id under
concurrency, a re-sent id with other content refused, all or nothing, one date window; the offline
copy follows through the flush, once."""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from features.tables import INTENT_REALTIME
from serving.triggers.event_log import Event
from sources.io import read_table

UNKNOWN = "C99999999"


@pytest.fixture(scope="module")
def customers(bank_dir: Path) -> list[str]:
    credit = read_table(bank_dir, "credit")
    return sorted(credit.loc[credit["month"] == credit["month"].max(), "customer_id"].unique())[-40:]


def _event(customer_id: str, **fields: object) -> dict:
    at = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    return {"customer_id": customer_id, "event_type": "search", "topic": "fund", "event_time": at,
            "event_id": uuid.uuid4().hex} | fields


def _post(client: TestClient, as_role, events: list[dict]):
    return client.post("/v1/events", json={"events": events}, headers=as_role("app"))


def _logged(client: TestClient, **where: str) -> list[dict]:
    """Rows of the event log matching `where` (column = value)."""
    clause = " AND ".join(f"{column} = :{column}" for column in where)
    with client.app.state.trigger_store.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(sa.text(f"SELECT * FROM nbo_events WHERE {clause}"), where)]


def _offline(client: TestClient) -> pd.DataFrame:
    """The push source's offline rows after a flush."""
    client.app.state.event_flusher.flush()
    store = client.app.state.runtime.reader.store
    return pd.read_parquet(store.get_feature_view(INTENT_REALTIME.name).batch_source.path)


def test_an_event_for_an_unknown_customer_is_404_and_writes_nothing(app_client, as_role) -> None:
    response = _post(app_client, as_role, [_event(UNKNOWN, topic="unknown_probe")])
    assert response.status_code == 404, response.text
    assert UNKNOWN in response.json()["detail"]
    assert _logged(app_client, customer_id=UNKNOWN) == []
    assert app_client.get(f"/v1/customers/{UNKNOWN}/profile", headers=as_role("rm")).status_code == 404
    assert (_offline(app_client)["customer_id"] == UNKNOWN).sum() == 0


def test_a_batch_naming_an_unknown_customer_is_422_naming_the_item_and_writes_nothing(
        app_client, as_role, customers) -> None:
    good = _event(customers[0])
    response = _post(app_client, as_role, [good, _event(UNKNOWN)])
    assert response.status_code == 422, response.text
    body = response.json()
    assert "nothing written" in body["detail"] and UNKNOWN in body["detail"]
    assert [v["item"] for v in body["violations"]] == [1]
    assert _logged(app_client, event_id=good["event_id"]) == []


def test_the_same_event_id_sent_at_once_is_stored_once_online_and_offline(app_client, as_role, customers) -> None:
    event = _event(customers[1], topic="same_id_race")
    answers: list[dict] = []

    def send() -> None:
        response = _post(app_client, as_role, [event])
        answers.append({"status": response.status_code, **response.json()})

    threads = [threading.Thread(target=send) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [a["status"] for a in answers] == [202] * 6, answers
    assert sum(a["new"] for a in answers) == 1
    assert len(_logged(app_client, event_id=event["event_id"])) == 1
    offline = _offline(app_client)
    assert (offline["event_id"] == event["event_id"]).sum() == 1
    assert (offline["last_intent_topic"] == "same_id_race").sum() == 1
    profile = app_client.get(f"/v1/customers/{customers[1]}/profile", headers=as_role("rm")).json()
    assert profile["features"]["last_intent_topic"] == "same_id_race"


def test_a_resent_event_id_with_other_content_is_409_naming_it(app_client, as_role, customers) -> None:
    first = _event(customers[2])
    assert _post(app_client, as_role, [first]).status_code == 202
    other = first | {"topic": "gold"}
    response = _post(app_client, as_role, [other])
    assert response.status_code == 409, response.text
    assert first["event_id"] in response.json()["detail"] and response.json()["title"] == "Conflict"
    [row] = _logged(app_client, event_id=first["event_id"])
    assert row["topic"] == "fund"
    replay = _post(app_client, as_role, [first])
    assert replay.status_code == 202 and replay.json()["new"] == 0 and replay.json()["accepted"] == 1


@pytest.mark.parametrize(("bad", "status", "words"), [
    ({"topic": "gold", "event_id": "conflict"}, 409, "nothing written"),  # an id logged with other content
    ({"event_time": "1999-12-31T23:59:59Z"}, 422, "events.2.event_time"),
    ({"customer_id": UNKNOWN}, 422, "nothing written"),
], ids=["conflicting-id", "before-the-window", "unknown-customer"])
def test_a_batch_with_one_bad_event_writes_none_of_it(app_client, as_role, customers, bad, status, words) -> None:
    logged = _event(customers[3], event_id=f"logged-{uuid.uuid4().hex}")
    assert _post(app_client, as_role, [logged]).status_code == 202
    if bad.get("event_id") == "conflict":
        bad = bad | {"event_id": logged["event_id"]}
    good = [_event(customers[4], event_type="login", topic=None), _event(customers[5], topic="all_or_nothing")]
    response = _post(app_client, as_role, [*good, _event(customers[6]) | bad])
    assert response.status_code == status, response.text
    assert words in response.json()["detail"]
    assert [e for e in good if _logged(app_client, event_id=e["event_id"])] == []
    assert (_offline(app_client)["last_intent_topic"] == "all_or_nothing").sum() == 0


@pytest.mark.parametrize("event_type", ["page_view", "search", "login", "account_opened"])
@pytest.mark.parametrize("event_time", ["0001-01-01T00:00:00Z", "1999-12-31T23:59:59Z", "2999-01-01T00:00:00Z"])
def test_every_event_type_has_one_date_window_and_one_message(app_client, as_role, customers,
                                                              event_type, event_time) -> None:
    event = _event(customers[7], event_type=event_type, event_time=event_time)
    response = _post(app_client, as_role, [event])
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert "event_time must be between 2000-01-01T00:00:00Z and 5 minutes from now" in detail, detail
    assert "dtype" not in detail and "datetime64" not in detail
    assert _logged(app_client, event_id=event["event_id"]) == []


def test_the_offline_copy_is_written_once_even_when_a_flush_is_repeated(app_client, as_role, customers) -> None:
    events = [_event(customers[8], topic="flush_once", event_time=(datetime.now(UTC) - timedelta(seconds=s))
                     .isoformat()) for s in (30, 20, 10)]
    assert _post(app_client, as_role, events).status_code == 202
    first = _offline(app_client)
    again = _offline(app_client)
    ids = {e["event_id"] for e in events}
    assert Counter(first.loc[first["event_id"].isin(ids), "event_id"]) == dict.fromkeys(ids, 1)
    assert len(again) == len(first)
    logged = [r for e in events for r in _logged(app_client, event_id=e["event_id"])]
    assert {r["event_id"] for r in logged} == ids and all(r["pushed_at"] is not None for r in logged)


def test_a_retry_after_a_crash_before_the_online_write_reaches_the_online_store(app_client, as_role,
                                                                               customers) -> None:
    event = _event(customers[9], topic="retried_after_crash")
    logged = Event(event["event_id"], event["customer_id"], "search", "retried_after_crash",
                   datetime.fromisoformat(event["event_time"]))
    assert app_client.app.state.trigger_store.record_events([logged]) == [True]  # logged, then SIGKILL
    retry = _post(app_client, as_role, [event])
    assert retry.status_code == 202 and retry.json()["new"] == 0
    profile = app_client.get(f"/v1/customers/{customers[9]}/profile", headers=as_role("rm")).json()
    assert profile["features"]["last_intent_topic"] == "retried_after_crash"
