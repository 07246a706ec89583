"""Store faults: Redis (online features) or PostgreSQL (audit log and Feast registry) stops while
`nbo serve` runs in the scale profile. /readyz turns 503, requests get a clear 503 problem (never
a 500, never an answer from missing data), and the service recovers by itself when the store is back.

The stores are private servers of this module (tests/reliability/stores.py), never the machine's.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.conftest import Trained, _apply_and_materialize, settings_from
from tests.reliability.stores import PrivatePostgres, PrivateRedis
from tests.server import Server, start_service

RECOVERY_TIMEOUT_S = 60.0


@dataclass
class FaultStack:
    """A service on private stores."""

    server: Server
    redis: PrivateRedis
    postgres: PrivatePostgres
    keys: dict[str, str]

    def call(self, role: str, method: str, path: str, **kwargs: object) -> httpx.Response:
        return httpx.request(method, f"{self.server.url}{path}", headers={"X-API-Key": self.keys[role]},
                             timeout=60, **kwargs)  # type: ignore[arg-type]

    def ready(self) -> httpx.Response:
        return httpx.get(f"{self.server.url}/readyz", timeout=30)


@pytest.fixture(scope="module")
def stack(trained: Trained, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaultStack]:
    pg_dir = Path(tempfile.mkdtemp(prefix="nbo-pg-"))  # not under pytest's 0700 tree: postgres must enter it
    private_redis, private_pg = PrivateRedis(tmp_path_factory.mktemp("redis")), PrivatePostgres(pg_dir)
    server = None
    try:
        private_redis.start()
        private_pg.start()
        env = trained.env | {"NBO_STORES__PROFILE": "scale", "NBO_STORES__REDIS_URL": private_redis.url,
                             "NBO_STORES__POSTGRES_URL": private_pg.url}
        _apply_and_materialize(settings_from(env))
        server = start_service(env)
        yield FaultStack(server, private_redis, private_pg, trained.keys)
    finally:
        if server is not None:
            server.stop()
        private_redis.kill()
        private_pg.stop()
        shutil.rmtree(pg_dir, ignore_errors=True)


def wait_until(condition: Callable[[], bool], timeout_s: float = RECOVERY_TIMEOUT_S) -> float:
    """Seconds until `condition()` holds (fails after `timeout_s`)."""
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < timeout_s, f"not recovered within {timeout_s:.0f} s"
        time.sleep(0.2)
    return time.monotonic() - started


def assert_store_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, (response.status_code, response.text[:500])
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["title"] in {"StoreUnavailable", "ModelUnavailable"} and body["detail"], body
    assert "Traceback" not in response.text


def requests_during_fault(stack: FaultStack, customer: str, offers: httpx.Response) -> dict[str, httpx.Response]:
    """One of each kind of request a store fault can break, by name (feedback on `offers`' first offer)."""
    decision_id, product_id = offers.json()["decision_id"], offers.json()["offers"][0]["product_id"]
    return {"offers": stack.call("app", "GET", f"/v1/customers/{customer}/offers"),
            "delinquency": stack.call("risk", "GET", f"/v1/customers/{customer}/delinquency"),
            "churn": stack.call("rm", "GET", f"/v1/customers/{customer}/churn"),
            "profile": stack.call("rm", "GET", f"/v1/customers/{customer}/profile"),
            "events": stack.call("app", "POST", "/v1/events",
                                 json={"events": [{"customer_id": customer, "event_type": "search", "topic": "fund"}]}),
            "feedback": stack.call("app", "POST", f"/v1/offers/{decision_id}/feedback",
                                   json={"product_id": product_id, "outcome": "shown"})}


def test_redis_down_answers_503_and_the_service_recovers_by_itself(stack: FaultStack, active_customers,
                                                                   record_property) -> None:
    customer = active_customers[0]
    before = stack.call("app", "GET", f"/v1/customers/{customer}/offers")
    assert before.status_code == 200, before.text
    stack.redis.kill()
    ready = stack.ready()
    assert ready.status_code == 503 and ready.json()["checks"]["features"].startswith("unavailable"), ready.text
    failed = requests_during_fault(stack, customer, before)
    for name, response in failed.items():
        if name != "feedback":  # feedback reads and writes only the audit log
            assert_store_unavailable(response)
    stack.redis.start()
    seconds = wait_until(lambda: stack.ready().status_code == 200)
    record_property("redis_recovery_s", round(seconds, 2))
    after = stack.call("app", "GET", f"/v1/customers/{customer}/offers")
    assert after.status_code == 200, after.text
    assert [o["product_id"] for o in after.json()["offers"]] == [o["product_id"] for o in before.json()["offers"]]


def test_postgres_down_answers_503_audits_nothing_unanswered_and_recovers(stack: FaultStack, active_customers,
                                                                         record_property) -> None:
    customer = active_customers[1]
    before = stack.call("app", "GET", f"/v1/customers/{customer}/offers")
    assert before.status_code == 200, before.text
    stack.postgres.stop()
    ready = stack.ready()
    assert ready.status_code == 503 and ready.json()["checks"]["audit"].startswith("unavailable"), ready.text
    failed = requests_during_fault(stack, customer, before)
    for response in failed.values():  # every route reads or writes the audit log or the trigger store
        assert_store_unavailable(response)
    stack.postgres.start()
    seconds = wait_until(lambda: stack.ready().status_code == 200)
    record_property("postgres_recovery_s", round(seconds, 2))
    after = stack.call("app", "GET", f"/v1/customers/{customer}/offers")
    assert after.status_code == 200, after.text
    feedback = stack.call("app", "POST", f"/v1/offers/{after.json()['decision_id']}/feedback",
                          json={"product_id": after.json()["offers"][0]["product_id"], "outcome": "clicked"})
    assert feedback.status_code == 201, feedback.text
    with psycopg.connect(stack.postgres.url) as conn:
        audited = {row[0] for row in conn.execute("SELECT request_id FROM nbo_decisions WHERE customer_id = %s",
                                                  (customer,))}
    answered = {before.headers["X-Request-ID"], after.headers["X-Request-ID"]}
    unanswered = {r.headers["X-Request-ID"] for r in failed.values()}
    assert answered <= audited and not (unanswered & audited), (answered, unanswered, audited)


@contextmanager
def read_only(postgres: PrivatePostgres) -> Iterator[None]:
    """The server refuses every write (as a standby after a failover does), then takes them again."""
    def set_read_only(value: str) -> None:
        with psycopg.connect(postgres.url, autocommit=True) as conn:
            conn.execute("SET default_transaction_read_only = off")
            conn.execute(f"ALTER SYSTEM SET default_transaction_read_only = {value}")
            conn.execute("SELECT pg_reload_conf()")
        time.sleep(0.5)  # every backend reads the reloaded configuration

    set_read_only("on")
    try:
        yield
    finally:
        set_read_only("off")


def test_a_read_only_audit_answers_503_to_writes_never_500_and_audits_nothing(stack: FaultStack,
                                                                              active_customers) -> None:
    customer = active_customers[2]
    before = stack.call("app", "GET", f"/v1/customers/{customer}/offers")
    assert before.status_code == 200, before.text
    with read_only(stack.postgres):
        failed = requests_during_fault(stack, customer, before)
        profile = failed.pop("profile")  # reads only: the truth, not a pretence
        assert profile.status_code == 200 and profile.json()["customer_id"] == customer, profile.text
        for response in failed.values():  # each one writes the audit log or the trigger store
            assert_store_unavailable(response)
    after = stack.call("app", "GET", f"/v1/customers/{customer}/offers")
    assert after.status_code == 200, after.text
    with psycopg.connect(stack.postgres.url) as conn:
        audited = {row[0] for row in conn.execute("SELECT request_id FROM nbo_decisions WHERE customer_id = %s",
                                                  (customer,))}
        feedback = conn.execute("SELECT count(*) FROM nbo_feedback WHERE decision_id = %s",
                                (before.json()["decision_id"],)).fetchone()
    assert not {r.headers["X-Request-ID"] for r in failed.values()} & audited and feedback == (0,)
