"""`nbo serve` as a real process: reloading the champions under concurrent load drops no request.

Eight threads call offers and delinquency for a few seconds while an admin reloads the models
several times; every response is counted and every one must be a 200 carrying valid model
versions. The ops endpoints are checked on the same process afterwards.
"""

from __future__ import annotations

import re
import threading
import time
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest

from sources.io import read_table
from tests.server import running_service

THREADS = 8
LOAD_SECONDS = 6.0
RELOADS = 3


@pytest.fixture(scope="module")
def service(trained) -> Iterator[str]:
    """`nbo serve` (one worker) with the trained environment."""
    with running_service(trained.env) as server:
        yield server.url


@pytest.fixture(scope="module")
def active_customers(bank_dir) -> list[str]:
    credit = read_table(bank_dir, "credit")
    last = credit[credit["month"] == credit["month"].max()]
    return sorted(last["customer_id"].unique())[:40]


def test_reload_under_concurrent_load_drops_no_request(service, trained, active_customers,
                                                       record_property) -> None:
    keys = trained.keys
    models = httpx.get(f"{service}/v1/models", headers={"X-API-Key": keys["app"]}, timeout=10).json()
    valid = {(m["name"], m["version"]) for m in models}
    assert {name for name, _ in valid} == {"nbo-churn", "nbo-delinquency", "nbo-recommender", "nbo-fraud"}

    stop = threading.Event()
    lock = threading.Lock()
    outcomes: Counter[str] = Counter()
    problems: list[str] = []

    def record(kind: str, outcome: str, problem: str | None = None) -> None:
        with lock:
            outcomes[f"{kind} {outcome}"] += 1
            if problem:
                problems.append(problem)

    def worker(n: int) -> None:
        kind = "offers" if n % 2 == 0 else "delinquency"
        role = "app" if kind == "offers" else "risk"
        with httpx.Client(base_url=service, headers={"X-API-Key": keys[role]}, timeout=60) as client:
            i = n
            while not stop.is_set():
                customer = active_customers[i % len(active_customers)]
                i += THREADS
                try:
                    response = client.get(f"/v1/customers/{customer}/{kind}")
                except httpx.HTTPError as err:
                    record(kind, type(err).__name__, f"{kind} {customer}: {type(err).__name__} {err}")
                    continue
                if response.status_code != 200:
                    record(kind, str(response.status_code), f"{kind} {customer}: {response.status_code} "
                                                            f"{response.text[:200]}")
                    continue
                body = response.json()
                versions = (body["model_versions"].items() if kind == "offers"
                            else [("nbo-delinquency", body["model_version"])])
                bad = [v for v in versions if tuple(v) not in valid]
                record(kind, "200", f"{kind} {customer}: unknown model versions {bad}" if bad else None)

    threads = [threading.Thread(target=worker, args=(n,), daemon=True) for n in range(THREADS)]
    for t in threads:
        t.start()
    reloads = []
    started = time.monotonic()
    with httpx.Client(base_url=service, headers={"X-API-Key": keys["admin"]}, timeout=120) as admin:
        for _ in range(RELOADS):
            time.sleep(LOAD_SECONDS / (RELOADS + 1))
            reloads.append(admin.post("/v1/admin/reload"))
    while time.monotonic() - started < LOAD_SECONDS:
        time.sleep(0.1)
    stop.set()
    for t in threads:
        t.join(timeout=90)
    assert not any(t.is_alive() for t in threads)

    record_property("load", f"{sum(outcomes.values())} requests in {time.monotonic() - started:.1f}s: "
                            f"{dict(outcomes)}")
    assert [r.status_code for r in reloads] == [200] * RELOADS, [r.text[:300] for r in reloads]
    for r in reloads:
        assert {(name, v) for name, aliases in r.json()["versions"].items() for v in aliases.values()} <= valid
    assert problems == [], f"{len(problems)} failed requests, first 10: {problems[:10]}"
    assert outcomes["offers 200"] >= THREADS and outcomes["delinquency 200"] >= THREADS, outcomes

    # the same process answers its ops endpoints, and /metrics saw the load
    assert httpx.get(f"{service}/healthz", timeout=10).status_code == 200
    ready = httpx.get(f"{service}/readyz", timeout=10)
    assert ready.status_code == 200 and ready.json()["ready"] is True, ready.text
    text = httpx.get(f"{service}/metrics", timeout=10).text

    def sample(pattern: str) -> float:
        found = re.search(pattern, text)
        assert found, f"no metric matches {pattern}"
        return float(found.group(1))

    offers_route = re.escape('route="/v1/customers/{customer_id}/offers"')
    assert sample(r'nbo_requests_total\{method="GET",' + offers_route + r',status="200"\} (\S+)') >= outcomes[
        "offers 200"]
    assert sample(r'nbo_request_seconds_count\{method="GET",' + offers_route + r'\} (\S+)') >= outcomes["offers 200"]
    assert sample(r'nbo_request_seconds_bucket\{le="\+Inf",method="GET",'
                  r'route="/v1/customers/\{customer_id\}/delinquency"\} (\S+)') >= outcomes["delinquency 200"]
    assert sample(r'nbo_requests_total\{method="POST",route="/v1/admin/reload",status="200"\} (\S+)') == RELOADS
    for name, version in valid:
        assert sample(r'nbo_model_version\{alias="champion",model="' + name + r'"\} (\S+)') == float(version)


def test_a_reload_reaches_every_worker(trained, tmp_path) -> None:
    """Two worker processes; the champion moves to a new version; one reload call reaches one
    worker, and within a minute every answer, from whichever worker, names the new version."""
    from tests.conftest import private_mlflow_store, settings_from
    from training.registry import connect

    env = trained.env | private_mlflow_store(trained, tmp_path)
    client = connect(settings_from(env).mlflow)
    first = client.get_model_version_by_alias("nbo-churn", "champion")
    app_key, admin_key = trained.keys["app"], trained.keys["admin"]

    def churn_versions(n: int) -> set[str]:
        seen = set()
        for _ in range(n):  # a fresh connection each time, so the kernel spreads them over the workers
            models = httpx.get(f"{url}/v1/models", headers={"X-API-Key": app_key}, timeout=10).json()
            seen |= {m["version"] for m in models if m["name"] == "nbo-churn" and m["alias"] == "champion"}
        return seen

    with running_service(env, "--workers", "2") as server:
        url = server.url
        assert churn_versions(20) == {str(first.version)}
        second = client.create_model_version("nbo-churn", first.source, run_id=first.run_id)
        client.set_registered_model_alias("nbo-churn", "champion", second.version)
        reloaded = httpx.post(f"{url}/v1/admin/reload", headers={"X-API-Key": admin_key}, timeout=120)
        assert reloaded.status_code == 200
        assert reloaded.json()["versions"]["nbo-churn"]["champion"] == str(second.version)
        deadline = time.monotonic() + 60
        while (seen := churn_versions(20)) != {str(second.version)} and time.monotonic() < deadline:
            time.sleep(1)
        assert seen == {str(second.version)}
