"""Speed, OLD and NEW in one run: both services up, measured in turns (old, new, old, new ...).

- GET /v1/customers/{id}/offers (app key, k=5, en) of seeded random active customers: latency at
  concurrency 1 and requests/s at concurrency 16; each thread opens its keep-alive connection
  before the clock starts. Every turn measures a share of the requests; percentiles over all turns.
- POST /v1/delinquency/batch (risk key) of up to 10,000 customers: seconds per call over HTTP,
  audit included, the median of the repeats (turns alternate too).
"""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx
import numpy as np
from ab_trees import progress
from harness import timed_threads

ORDER = ("old", "new")


def offers_turn(url: str, key: str, customers: list[str], requests: int, concurrency: int,
                seed: int) -> tuple[list[float], float, int]:
    """`requests` offers GETs from `concurrency` threads: latencies (ms), wall seconds, errors."""
    chosen = [str(c) for c in np.random.default_rng(seed).choice(customers, size=requests)]
    ms: list[list[float]] = [[] for _ in range(concurrency)]
    errors = [0] * concurrency

    def worker(i: int, start: threading.Barrier) -> None:
        with httpx.Client(base_url=url, headers={"X-API-Key": key}, timeout=60) as client:
            client.get("/healthz")  # the connection is open before the clock starts
            start.wait()
            for customer_id in chosen[i::concurrency]:
                began = time.perf_counter()
                response = client.get(f"/v1/customers/{customer_id}/offers", params={"k": 5, "lang": "en"})
                ms[i].append((time.perf_counter() - began) * 1000)
                errors[i] += response.status_code != 200

    seconds = timed_threads(concurrency, worker)
    return [m for part in ms for m in part], seconds, sum(errors)


def offers_speed(urls: dict[str, str], keys: dict[str, dict[str, str]], customers: list[str],
                 settings: dict[str, int]) -> dict[str, dict[str, Any]]:
    """p50/p99 at concurrency 1 and requests/s at `concurrency`, per tree, in alternating turns."""
    for tree in ORDER:  # warm-up: caches, code paths of every worker
        offers_turn(urls[tree], keys[tree]["app"], customers, settings["warmup"], 4, seed=0)
    figures: dict[str, dict[str, Any]] = {t: {"ms": [], "seconds": 0.0, "requests": 0, "errors": 0} for t in ORDER}
    turns = settings["turns"]
    for turn in range(turns):
        for tree in ORDER:
            ms, _, errors = offers_turn(urls[tree], keys[tree]["app"], customers,
                                        settings["requests"] // turns, 1, seed=1 + turn)
            _, seconds, errors_c = offers_turn(urls[tree], keys[tree]["app"], customers,
                                               settings["concurrent_requests"] // turns,
                                               settings["concurrency"], seed=100 + turn)
            f = figures[tree]
            f["ms"] += ms
            f["seconds"] += seconds
            f["requests"] += settings["concurrent_requests"] // turns
            f["errors"] += errors + errors_c
            progress(f"  turn {turn + 1}/{turns} {tree}: c=1 p50 {np.percentile(ms, 50):.2f} ms, "
                     f"c={settings['concurrency']} {settings['concurrent_requests'] // turns / seconds:.0f} req/s")
    return {tree: {"p50_ms": round(float(np.percentile(f["ms"], 50)), 2),
                   "p99_ms": round(float(np.percentile(f["ms"], 99)), 2),
                   "requests_per_s": round(f["requests"] / f["seconds"], 1),
                   "offers_errors": f["errors"]} for tree, f in figures.items()}


def batch_call(client: httpx.Client, customers: list[str]) -> tuple[float, dict[str, Any]]:
    """One POST /v1/delinquency/batch: seconds and the answer."""
    began = time.perf_counter()
    response = client.post("/v1/delinquency/batch", json={"customer_ids": customers, "lang": "en"})
    seconds = time.perf_counter() - began
    response.raise_for_status()
    return seconds, response.json()


def batch_speed(urls: dict[str, str], keys: dict[str, dict[str, str]], customers: list[str],
                runs: int) -> dict[str, dict[str, Any]]:
    """Median seconds of `runs` batch calls per tree (turns alternate), with the rows scored and refused."""
    clients = {t: httpx.Client(base_url=urls[t], headers={"X-API-Key": keys[t]["risk"]}, timeout=900) for t in ORDER}
    seconds: dict[str, list[float]] = {t: [] for t in ORDER}
    counts: dict[str, dict[str, int]] = {}
    try:
        for tree in ORDER:
            batch_call(clients[tree], customers[:50])  # warm-up
        for run in range(runs):
            for tree in ORDER:
                took, body = batch_call(clients[tree], customers)
                seconds[tree].append(took)
                counts[tree] = {"batch_scored": len(body["scores"]), "batch_errors": len(body["errors"])}
                progress(f"  batch {run + 1}/{runs} {tree}: {len(customers)} customers in {took:.2f} s")
    finally:
        for client in clients.values():
            client.close()
    return {t: {"batch_rows": len(customers), "batch_10k_s": round(float(np.median(seconds[t])), 2),
                "batch_runs_s": [round(s, 2) for s in seconds[t]], **counts[t]} for t in ORDER}
