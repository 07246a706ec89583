"""POST /v1/payments/score under load: latency at concurrency 1 and throughput at 16, on SQLite and Redis.

Prepares (or reuses, with --work DIR) a synthetic bank, its features, `--fast` champions and demo keys
as `benchmarks/service.py` does, then for each store profile (embedded: the counters in SQLite;
scale: in Redis, with the Feast registry and audit on a throw-away PostgreSQL database) starts
`nbo serve` and sends payments of random active customers (each a new payment_id, to one of a few
payees, some new), from `concurrency` threads with one keep-alive httpx client each, after a warm-up.
Every request reads the profile and the counters, decides, audits the decision and updates the counters.
Goal: p99 ≤ 10 ms at concurrency 1. The load generator shares the machine with the service.
"""

from __future__ import annotations

import argparse
import contextlib
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import numpy as np
from harness import timed_threads, write_result
from service import (
    STORE_OF_PROFILE,
    add_bank_arguments,
    prepared_work,
    profile_env,
    running_service,
)

GOAL_P99_MS = 10.0  # at concurrency 1


def payments_load(url: str, key: str, customer_ids: list[str], requests: int, concurrency: int,
                  seed: int) -> dict[str, Any]:
    """`requests` payments of random customers from `concurrency` threads; latency, throughput, decisions."""
    rng = np.random.default_rng(seed)
    now = datetime.now(UTC)
    bodies = [{"payment_id": f"B-{uuid.uuid4().hex}", "customer_id": str(c), "currency": "CNY",
               "amount": round(float(rng.lognormal(7, 1.2)), 2), "payee_id": f"PAYEE-{int(rng.integers(0, 40))}",
               "channel": str(rng.choice(["app", "web", "phone"])), "device_id": f"DEV-{int(rng.integers(0, 3))}",
               "city": "上海", "time": (now - timedelta(minutes=float(rng.uniform(0, 600)))).isoformat()}
              for c in rng.choice(customer_ids, size=requests)]
    shares = [bodies[i::concurrency] for i in range(concurrency)]
    ms: list[list[float]] = [[] for _ in range(concurrency)]
    decisions: list[list[str]] = [[] for _ in range(concurrency)]
    errors = [0] * concurrency

    def worker(i: int, start: threading.Barrier) -> None:
        with httpx.Client(base_url=url, headers={"X-API-Key": key}, timeout=60) as client:
            start.wait()
            for body in shares[i]:
                began = time.perf_counter()
                response = client.post("/v1/payments/score", json=body)
                ms[i].append((time.perf_counter() - began) * 1000)
                if response.status_code == 200:
                    decisions[i].append(response.json()["decision"])
                else:
                    errors[i] += 1

    seconds = timed_threads(concurrency, worker)
    latencies = [m for part in ms for m in part]
    made = [d for part in decisions for d in part]
    p50, p95, p99 = (round(float(p), 2) for p in np.percentile(latencies, [50, 95, 99]))
    return {"requests": requests, "errors": sum(errors), "p50_ms": p50, "p95_ms": p95, "p99_ms": p99,
            "max_ms": round(max(latencies), 2), "requests_per_s": round(requests / seconds, 1),
            "decisions": {d: made.count(d) for d in ("allow", "step_up", "hold")}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_bank_arguments(parser)
    parser.set_defaults(customers=5_000, fast=True)  # the payments path reads no churn/offer model
    parser.add_argument("--profiles", nargs="+", choices=sorted(STORE_OF_PROFILE), default=["embedded", "scale"])
    parser.add_argument("--requests", type=int, default=1_000, help="Payments per concurrency level.")
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16])
    args = parser.parse_args()
    rows = []
    with contextlib.ExitStack() as stack:
        prepared = prepared_work(stack, args, "payments")
        ids, key = prepared["active_customers"], prepared["keys"]["payments"]
        for profile in args.profiles:
            store = STORE_OF_PROFILE[profile]
            with profile_env(profile, prepared) as env, running_service(env) as server:
                payments_load(server.url, key, ids, args.warmup, 1, seed=0)
                for concurrency in args.concurrency:
                    figures = payments_load(server.url, key, ids, args.requests, concurrency, seed=concurrency)
                    row = {"endpoint": "POST /v1/payments/score", "store": store, "concurrency": concurrency,
                           "workers": 1, **figures}
                    if concurrency == 1:
                        row |= {"goal_p99_ms": GOAL_P99_MS, "meets_goal": figures["p99_ms"] <= GOAL_P99_MS}
                    rows.append(row)
                    print(f"  {store} c={concurrency}: {figures}", flush=True)
    settings = {k: v for k, v in vars(args).items() if k != "work"} | {
        "customers": prepared["customers"], "active_customers": len(ids), "workers": 1,
        "client": "httpx, one keep-alive client per thread, on the same machine",
        "goal": {"p99_ms_at_concurrency_1": GOAL_P99_MS}}
    write_result("payments", settings, rows)


if __name__ == "__main__":
    main()
