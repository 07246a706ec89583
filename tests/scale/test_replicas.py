"""Two `nbo serve` replicas behind HAProxy (Debian's; `.ci/run` installs it) on the scale stores:
Redis online features, the Feast registry and the audit log on PostgreSQL. They share nothing
but those stores (and the model artifacts and key file every replica mounts). Traffic through
the balancer reaches both, and the audit holds every acknowledged answer once, in each
customer's order."""

from __future__ import annotations

import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from serving.audit.store import AuditStore
from sources.io import read_table
from tests.conftest import Trained, private_database, run_json
from tests.server import Server, listening_socket, start_service

CUSTOMERS = 24  # each gets REQUESTS offers, one after another
REQUESTS = 5
CLIENTS = 6

HAPROXY_CONFIG = """\
global
    maxconn 256
defaults
    mode http
    timeout connect 5s
    timeout client 60s
    timeout server 60s
frontend nbo
    bind fd@{fd}
    default_backend replicas
backend replicas
    balance roundrobin
    option httpchk GET /readyz
{servers}
"""


@pytest.fixture
def audit_database() -> Iterator[str]:
    """A fresh PostgreSQL database for this test's audit log, dropped afterwards."""
    with private_database("nbo_replicas") as url:
        yield url


@pytest.fixture
def balancer(tmp_path: Path, replicas: list[Server]) -> Iterator[str]:
    """HAProxy on a socket bound here to a free port (handed over as fd@N: nobody can take the port
    meanwhile), round robin over the replicas, health-checked on /readyz."""
    haproxy = shutil.which("haproxy") or "/usr/sbin/haproxy"
    assert Path(haproxy).exists(), "HAProxy is missing: .ci/run installs Debian's haproxy package"
    servers = "\n".join(f"    server replica{i} {r.url.removeprefix('http://')} check inter 1s"
                        for i, r in enumerate(replicas, 1))
    with listening_socket() as sock:
        port, fd = int(sock.getsockname()[1]), sock.fileno()
        config = tmp_path / "haproxy.cfg"
        config.write_text(HAPROXY_CONFIG.format(fd=fd, servers=servers), encoding="utf-8")
        subprocess.run([haproxy, "-c", "-f", str(config)], check=True, capture_output=True, pass_fds=(fd,))
        proc = subprocess.Popen([haproxy, "-db", "-f", str(config)], stdout=subprocess.DEVNULL,
                                stderr=(tmp_path / "haproxy.log").open("wb"), pass_fds=(fd,))
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/readyz", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.fixture
def replicas(trained: Trained, postgres_url: str, audit_database: str, tmp_path: Path) -> Iterator[list[Server]]:
    """Two one-worker `nbo serve` processes on the scale stores (the session's Redis/PostgreSQL
    Feast project, this test's audit database)."""
    env = trained.env | {"NBO_STORES__PROFILE": "scale", "NBO_STORES__POSTGRES_URL": postgres_url,
                         "NBO_SERVICE__AUDIT_URL": audit_database}
    with ThreadPoolExecutor(max_workers=2) as pool:
        started = list(pool.map(lambda i: start_service(env, log_path=tmp_path / f"replica{i}.log"), (1, 2)))
    try:
        yield started
    finally:
        for server in started:
            server.stop()


def _offers_in_order(url: str, key: str, customers: list[str]) -> list[tuple[str, str, str, list[str]]]:
    """REQUESTS offers per customer, one after another; (customer, request id, decision id, products) per 200."""
    acknowledged = []
    with httpx.Client(base_url=url, headers={"X-API-Key": key}, timeout=60) as client:
        for n in range(REQUESTS):
            for customer in customers:
                request_id = f"{customer}-{n}-{uuid.uuid4().hex[:8]}"
                response = client.get(f"/v1/customers/{customer}/offers", params={"k": 3},
                                      headers={"X-Request-ID": request_id})
                assert response.status_code == 200, response.text
                answer = response.json()
                acknowledged.append((customer, request_id, answer["decision_id"],
                                     [o["product_id"] for o in answer["offers"]]))
    return acknowledged


def _served_offers(server: Server) -> float:
    """Offer requests this replica answered 200, from its own /metrics."""
    text = httpx.get(f"{server.url}/metrics", timeout=10).text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("nbo_requests_total{") and "/offers" in line and 'status="200"' in line)


def test_replicas_behind_haproxy_audit_every_answer_once_in_customer_order(
        bank_dir: Path, trained: Trained, replicas: list[Server], balancer: str, audit_database: str) -> None:
    credit = read_table(bank_dir, "credit")
    customers = sorted(credit.loc[credit["month"] == credit["month"].max(), "customer_id"].unique())[:CUSTOMERS]
    shares = [customers[i::CLIENTS] for i in range(CLIENTS)]
    with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
        acknowledged = [a for part in pool.map(lambda s: _offers_in_order(balancer, trained.keys["app"], s), shares)
                        for a in part]
    with httpx.Client(base_url=balancer, headers={"X-API-Key": trained.keys["app"]}, timeout=60) as client:
        shown = [(decision, products[0]) for _, _, decision, products in acknowledged if products][:20]
        feedback = [client.post(f"/v1/offers/{decision}/feedback", json={"product_id": product, "outcome": "shown"})
                    for decision, product in shown]
    assert len(shown) == 20 and [r.status_code for r in feedback] == [201] * 20

    served = [_served_offers(r) for r in replicas]
    assert sum(served) == len(acknowledged) == CUSTOMERS * REQUESTS
    assert min(served) >= 0.25 * len(acknowledged), f"the balancer did not spread the load: {served}"

    audit = AuditStore(audit_database)
    try:
        assert audit.count("offers") == len(acknowledged)
        for customer in customers:
            stored = list(reversed(audit.decisions_for(customer, limit=100)))  # oldest first
            sent = [(request_id, decision) for c, request_id, decision, _ in acknowledged if c == customer]
            assert [(d.request_id, d.decision_id) for d in stored] == sent, f"audit order differs for {customer}"
        assert [len(audit.feedback_for(decision)) for decision, _ in shown] == [1] * 20
    finally:
        audit.close()


def test_a_created_or_revoked_key_reaches_both_replicas_within_a_second(
        trained: Trained, replicas: list[Server], balancer: str) -> None:
    """The replicas mount one state folder: a key change reaches each within a second, no restart."""
    def statuses(key: str) -> list[int]:  # round robin: every other request goes to each replica
        return [httpx.get(f"{balancer}/v1/models", headers={"X-API-Key": key}, timeout=30).status_code
                for _ in range(8)]

    created = run_json("keys", "create", "--role", "app", env=replicas[0].env)
    time.sleep(1.0)
    assert statuses(created["key"]) == [200] * 8
    run_json("keys", "revoke", created["id"], env=replicas[0].env)
    time.sleep(1.0)
    assert statuses(created["key"]) == [401] * 8
