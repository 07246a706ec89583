"""Security: hashed keys compared in constant time, nothing secret or personal in the log, rate
limiting per key, CORS closed, security headers on every answer."""

from __future__ import annotations

import hmac
import json
import time
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

import httpx
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from nbo.settings import ServiceSettings
from serving.app import create_app
from serving.middleware import SECURITY_HEADERS
from serving.security import keys
from serving.security.ratelimit import limiter_for
from tests.conftest import Trained, settings_from
from tests.server import Server

BAD_KEYS = ("nbo_app_guessed-key-0123456789", "Bearer sk-live-abcdef", "' OR 1=1 --")
RATE_PER_S, BURST = 2.0, 4


def test_keys_are_stored_only_as_sha256_hashes_readable_by_the_owner_alone(trained: Trained) -> None:
    path = Path(trained.env["NBO_STATE_DIR"]) / "api-keys.json"
    stored = json.loads(path.read_text(encoding="utf-8"))
    assert set(stored) == {keys.hash_key(k) for k in trained.keys.values()}
    assert all(len(h) == 64 and int(h, 16) >= 0 for h in stored)
    assert not any(k in path.read_text(encoding="utf-8") for k in trained.keys.values())
    assert path.stat().st_mode & 0o077 == 0


@pytest.mark.parametrize("presented", ["known", "unknown"])
def test_a_key_is_compared_in_constant_time_with_every_stored_hash(trained: Trained, presented: str) -> None:
    """Known or not, the key's hash meets every stored hash in `hmac.compare_digest`: no early exit."""
    hashes = {keys.hash_key(k): role for role, k in trained.keys.items()}
    key = trained.keys["risk"] if presented == "known" else BAD_KEYS[0]
    with mock.patch("serving.security.keys.hmac.compare_digest", wraps=hmac.compare_digest) as compare:
        role = keys.role_for(key, hashes)
    assert role == ("risk" if presented == "known" else None)
    assert compare.call_count == len(hashes)


def traffic(server: Server, trained: Trained, customers: list[str]) -> None:
    """Every kind of request, good and bad, so that every log path runs."""
    with httpx.Client(base_url=server.url, timeout=30) as client:
        for bad in BAD_KEYS:
            assert client.get(f"/v1/customers/{customers[0]}/offers", headers={"X-API-Key": bad}).status_code == 401
        for role, path in [("app", "offers"), ("rm", "profile"), ("rm", "churn"), ("risk", "delinquency")]:
            for customer in [*customers, "C99999999"]:
                client.get(f"/v1/customers/{customer}/{path}", headers={"X-API-Key": trained.keys[role]})
        client.post("/v1/events", headers={"X-API-Key": trained.keys["app"]},
                    json={"events": [{"customer_id": customers[0], "event_type": "search", "topic": "BAD TOPIC"}]})
        client.post("/v1/delinquency/batch", headers={"X-API-Key": trained.keys["risk"]},
                    json={"customer_ids": [*customers, "C99999999"]})
        client.get("/v1/customers/C1/offers", headers={"X-API-Key": trained.keys["app"]})


def test_the_log_holds_no_key_no_pii_and_no_feature_value(served: Server, trained: Trained, bank_dir: Path,
                                                          active_customers: list[str]) -> None:
    customers = active_customers[:5]
    traffic(served, trained, customers)
    profile = httpx.get(f"{served.url}/v1/customers/{customers[0]}/profile",
                        headers={"X-API-Key": trained.keys["rm"]}, timeout=30).json()
    time.sleep(0.5)  # let the server flush its log
    log = served.log_text()
    assert log.strip(), "the server logged nothing at all: this check would be empty"
    people = pd.read_parquet(bank_dir / "customers.parquet").set_index("customer_id").loc[customers]
    secrets = [*trained.keys.values(), *BAD_KEYS, *people["name"].dropna(), *people["phone"].dropna()]
    values = [str(v) for v in profile["features"].values()
              if isinstance(v, float) and abs(v) >= 100 and v != round(v)]
    assert values, profile["features"]
    leaked = [s for s in [*secrets, *values] if s in log]
    assert leaked == [], f"the log shows {leaked[:5]}"
    assert "X-API-Key" not in log or all(k not in log for k in trained.keys.values())


def test_a_foreign_origin_gets_no_cors_grant(served: Server, trained: Trained) -> None:
    origin = {"Origin": "https://evil.example"}
    get = httpx.get(f"{served.url}/v1/models", headers=origin | {"X-API-Key": trained.keys["app"]}, timeout=30)
    preflight = httpx.options(f"{served.url}/v1/models", timeout=30, headers=origin | {
        "Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "X-API-Key"})
    assert get.status_code == 200
    assert preflight.status_code >= 400
    for response in (get, preflight):
        assert not any(h.lower().startswith("access-control-allow") for h in response.headers), response.headers


@pytest.mark.parametrize(("path", "role", "status"), [
    ("/healthz", None, 200), ("/v1/models", "app", 200), ("/v1/models", None, 401),
    ("/v1/customers/C99999999/offers", "app", 404), ("/v1/customers/O0000000001/churn", "app", 403),
    ("/docs", None, 200),
])
def test_every_answer_carries_the_security_headers(served: Server, trained: Trained, path: str, role: str | None,
                                                   status: int) -> None:
    headers = {"X-API-Key": trained.keys[role]} if role else {}
    response = httpx.get(f"{served.url}{path}", headers=headers, timeout=30)
    assert response.status_code == status
    assert {h: response.headers.get(h) for h in SECURITY_HEADERS} == SECURITY_HEADERS
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]


@pytest.fixture(scope="module")
def limited(trained: Trained) -> Iterator[TestClient]:
    """The app with a low rate limit (2/s, burst 4), in process."""
    settings = settings_from(trained.env | {"NBO_SERVICE__RATE_LIMIT_PER_S": str(RATE_PER_S),
                                            "NBO_SERVICE__RATE_LIMIT_BURST": str(BURST)})
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


def test_a_key_over_its_rate_gets_429_with_retry_after_and_others_are_unaffected(limited, trained) -> None:
    app = {"X-API-Key": trained.keys["app"]}
    answers = [limited.get("/v1/models", headers=app) for _ in range(BURST + 3)]
    assert [r.status_code for r in answers] == [200] * BURST + [429] * 3
    refused = answers[-1]
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused.json()["title"] == "TooManyRequests" and "rate limit" in refused.json()["detail"]
    assert int(refused.headers["Retry-After"]) >= 1 and refused.headers["X-Frame-Options"] == "DENY"
    assert limited.get("/v1/models", headers={"X-API-Key": trained.keys["rm"]}).status_code == 200
    assert limited.get("/healthz").status_code == 200  # no key: not limited
    time.sleep(1.1 / RATE_PER_S)
    assert limited.get("/v1/models", headers=app).status_code == 200


def test_unknown_keys_share_one_bucket(limited) -> None:
    answers = [limited.get("/v1/models", headers={"X-API-Key": f"guess-{i}"}).status_code for i in range(BURST + 2)]
    assert answers == [401] * BURST + [429] * 2


def test_each_worker_gets_its_share_of_the_limit() -> None:
    limiter = limiter_for(ServiceSettings(rate_limit_per_s=100, rate_limit_burst=50, workers=4))
    assert limiter is not None and (limiter.rate_per_s, limiter.burst) == (25, 12.5)
    assert limiter_for(ServiceSettings(rate_limit_per_s=0)) is None
