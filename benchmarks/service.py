"""The HTTP service under load: offers latency and throughput, and batch delinquency scoring.

Builds (or reuses, with --work DIR) a synthetic bank (20,000 customers by default), its features
and the three champions, trained with the CLI as a user would (`--fast` optional), and demo keys.
Then for each online store profile (embedded: SQLite; scale: Redis with the Feast registry and the
audit log on a throw-away PostgreSQL database and its own Feast project, both removed afterwards)
it starts `nbo serve` on a free loopback port, waits for /readyz and measures over HTTP:

- GET /v1/customers/{id}/offers?k=5&lang=en (app key) for random active customers: latency
  p50/p95/p99 and requests/s at concurrency 1 and 16 (httpx, one keep-alive client per thread,
  after a warm-up). Targets: p99 under 20 ms at concurrency 1, 150 requests/s at 16 (goal 250).
- POST /v1/delinquency/batch (risk key) with 10,000 customers (or every active one if fewer): rows/s.

The load generator runs on the same machine as the service and takes some of its CPU.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import psycopg
from harness import timed_threads, write_result

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.server import NBO, running_service  # noqa: E402 - the repo root is on the path only now

POSTGRES_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
STORE_OF_PROFILE = {"embedded": "sqlite", "scale": "redis"}
TARGET_P99_MS = 20.0  # at concurrency 1
TARGET_REQUESTS_PER_S = 150.0  # at concurrency 16 (goal 250)
GOAL_REQUESTS_PER_S = 250.0


def run_nbo(env: dict[str, str], *args: object) -> dict[str, Any]:
    """`nbo ARGS... --json` with these NBO_* variables; its JSON answer (stderr to ours on failure)."""
    proc = subprocess.run([str(NBO), *map(str, args), "--json"], env=os.environ | env, cwd=ROOT,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr[-4000:])
        raise SystemExit(f"nbo {' '.join(map(str, args))} exited {proc.returncode}")
    return json.loads(proc.stdout)


def add_bank_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `prepare`: bank size, seed, fast models and a work directory to keep."""
    parser.add_argument("--customers", type=int, default=20_000, help="Bank size when preparing one.")
    parser.add_argument("--months", type=int, default=24)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--fast", action="store_true", help="Train the models with `--fast` (small trees).")
    parser.add_argument("--work", type=Path, help="Keep (or reuse) the bank, state and models in this directory.")


def prepared_work(stack: contextlib.ExitStack, args: argparse.Namespace, name: str) -> dict[str, Any]:
    """`prepare` in `--work`, or in a temporary directory removed when `stack` closes."""
    work = args.work or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix=f"nbo-bench-{name}-")))
    work.mkdir(parents=True, exist_ok=True)
    return prepare(work, args)


def prepare(work: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Bank, features (embedded profile), three champions and demo keys in WORK; reused when already there."""
    marker = work / "prepared.json"
    if marker.exists():
        return json.loads(marker.read_text())
    env = {"NBO_STATE_DIR": str(work / "state"), "NBO_DATA_DIR": str(work / "bank"),
           "NBO_MLFLOW__TRACKING_URI": f"file:{work / 'mlruns'}", "NBO_FEATURE_REPO": str(ROOT / "features"),
           "NBO_STORES__PROFILE": "embedded", "NBO_STORES__FEAST_PROJECT": f"nbo_bench_{uuid.uuid4().hex[:8]}"}
    seconds: dict[str, float] = {}
    steps: list[tuple[str, tuple[object, ...]]] = [
        ("generate", ("data", "generate", "--customers", args.customers, "--months", args.months,
                      "--seed", args.seed, "--out", work / "bank")),
        ("features_build", ("features", "build", work / "bank")),
        ("features_apply", ("features", "apply")),
        ("features_materialize", ("features", "materialize")),
        *((f"train_{m}", ("train", m, *(("--fast",) if args.fast else ()))) for m in ("churn", "delinquency",
                                                                                         "recommender")),
    ]
    for name, step in steps:
        started = time.perf_counter()
        print(f"setup: nbo {' '.join(map(str, step))}", file=sys.stderr)
        run_nbo(env, *step)
        seconds[name] = round(time.perf_counter() - started, 1)
    keys = run_nbo(env, "keys", "demo")["demo_api_keys"]
    prepared = {"env": env, "keys": keys, "setup_seconds": seconds, "customers": args.customers,
                "fast": args.fast, "active_customers": active_customers(work / "state")}
    marker.write_text(json.dumps(prepared, indent=1))
    return prepared


def active_customers(state_dir: Path) -> list[str]:
    """Customers with a profile row in the latest month of the feature tables."""
    [path] = (state_dir / "feast" / "offline").glob("customer_profile*")
    profile = pd.read_parquet(path, columns=["customer_id", "event_timestamp"])
    latest = profile["event_timestamp"] == profile["event_timestamp"].max()
    return sorted(profile.loc[latest, "customer_id"].astype(str).unique().tolist())


@contextlib.contextmanager
def profile_env(profile: str, prepared: dict[str, Any]) -> Iterator[dict[str, str]]:
    """NBO_* variables of one store profile; `scale` gets its own database and Feast project, removed after."""
    env = dict(prepared["env"])
    if profile == "embedded":
        yield env
        return
    project = f"nbo_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{project}"')
    env |= {"NBO_STORES__PROFILE": "scale", "NBO_STORES__FEAST_PROJECT": project,
            "NBO_STORES__POSTGRES_URL": POSTGRES_ADMIN.rsplit("/", 1)[0] + f"/{project}"}
    try:
        run_nbo(env, "features", "apply")
        run_nbo(env, "features", "materialize")
        yield env
    finally:
        teardown_redis(env)
        with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{project}" WITH (FORCE)')


def teardown_redis(env: dict[str, str]) -> None:
    """The scale project's keys out of the shared Redis (Feast's teardown, in a child with these settings)."""
    code = "from nbo.settings import load_settings\nfrom features.repo.store import open_store\n" \
           "open_store(load_settings()).teardown()\n"
    subprocess.run([sys.executable, "-c", code], env=os.environ | env, cwd=ROOT, check=True,
                   capture_output=True, text=True)


def serve_options(workers: int) -> list[str]:
    """`--workers N` if this `nbo serve` has the option; none otherwise (one process)."""
    help_text = subprocess.run([str(NBO), "serve", "--help"], capture_output=True, text=True, check=True).stdout
    return ["--workers", str(workers)] if "--workers" in help_text else []


def offers_load(url: str, key: str, customer_ids: list[str], requests: int, concurrency: int,
                k: int) -> dict[str, Any]:
    """`requests` GETs of random customers' offers from `concurrency` threads; latency and throughput."""
    chosen = [str(c) for c in np.random.default_rng(concurrency).choice(customer_ids, size=requests)]
    shares = [chosen[i::concurrency] for i in range(concurrency)]
    ms: list[list[float]] = [[] for _ in range(concurrency)]
    errors = [0] * concurrency

    def worker(i: int, start: threading.Barrier) -> None:
        with httpx.Client(base_url=url, headers={"X-API-Key": key}, timeout=60) as client:
            start.wait()
            for customer_id in shares[i]:
                began = time.perf_counter()
                response = client.get(f"/v1/customers/{customer_id}/offers", params={"k": k, "lang": "en"})
                ms[i].append((time.perf_counter() - began) * 1000)
                errors[i] += response.status_code != 200

    seconds = timed_threads(concurrency, worker)
    latencies = [m for part in ms for m in part]
    p50, p95, p99 = (round(float(p), 2) for p in np.percentile(latencies, [50, 95, 99]))
    return {"requests": requests, "errors": sum(errors), "p50_ms": p50, "p95_ms": p95, "p99_ms": p99,
            "mean_ms": round(float(np.mean(latencies)), 2), "max_ms": round(max(latencies), 2),
            "requests_per_s": round(requests / seconds, 1)}


def batch_load(url: str, key: str, customer_ids: list[str], size: int, runs: int) -> dict[str, Any]:
    """POST /v1/delinquency/batch of `size` customers, `runs` times after one warm-up; the median run."""
    body = {"customer_ids": customer_ids[:size], "lang": "en"}
    seconds = []
    with httpx.Client(base_url=url, headers={"X-API-Key": key}, timeout=600) as client:
        client.post("/v1/delinquency/batch", json={"customer_ids": customer_ids[:50], "lang": "en"}).raise_for_status()
        for _ in range(runs):
            began = time.perf_counter()
            response = client.post("/v1/delinquency/batch", json=body)
            seconds.append(time.perf_counter() - began)
            response.raise_for_status()
    median = float(np.median(seconds))
    return {"rows": len(body["customer_ids"]), "runs": runs, "seconds": round(median, 2),
            "rows_per_s": round(len(body["customer_ids"]) / median, 1),
            "scored": len(response.json()["scores"]), "errors": len(response.json()["errors"])}


def measure(profile: str, url: str, prepared: dict[str, Any], args: argparse.Namespace,
            workers: int) -> list[dict[str, Any]]:
    store, keys, ids = STORE_OF_PROFILE[profile], prepared["keys"], prepared["active_customers"]
    offers_key = keys[args.role]
    offers_load(url, offers_key, ids, args.warmup, 1, args.k)  # warm-up: caches, connections, code paths
    rows = []
    for concurrency in args.concurrency:
        figures = offers_load(url, offers_key, ids, args.requests, concurrency, args.k)
        row = {"endpoint": "GET /v1/customers/{id}/offers", "store": store, "concurrency": concurrency,
               "k": args.k, "role": args.role, "workers": workers, **figures}
        if concurrency == 1:
            row |= {"target_p99_ms": TARGET_P99_MS, "meets_target": figures["p99_ms"] < TARGET_P99_MS}
        else:
            row |= {"target_requests_per_s": TARGET_REQUESTS_PER_S, "goal_requests_per_s": GOAL_REQUESTS_PER_S,
                    "meets_target": figures["requests_per_s"] >= TARGET_REQUESTS_PER_S}
        rows.append(row)
        print(f"  {store} c={concurrency}: {figures}", file=sys.stderr)
    if args.batch:
        figures = batch_load(url, keys["risk"], ids, args.batch, args.batch_runs)
        rows.append({"endpoint": "POST /v1/delinquency/batch", "store": store, "concurrency": 1,
                     "workers": workers, **figures})
        print(f"  {store} batch: {figures}", file=sys.stderr)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_bank_arguments(parser)
    parser.add_argument("--profiles", nargs="+", choices=sorted(STORE_OF_PROFILE), default=["embedded", "scale"])
    parser.add_argument("--requests", type=int, default=1_000, help="Offer requests per concurrency level.")
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--role", choices=["app", "rm"], default="app")
    parser.add_argument("--workers", type=int, default=2, help="Passed to `nbo serve` if it has --workers.")
    parser.add_argument("--batch", type=int, default=10_000, help="Customers per batch call (0: skip).")
    parser.add_argument("--batch-runs", type=int, default=1)
    args = parser.parse_args()
    with contextlib.ExitStack() as stack:
        prepared = prepared_work(stack, args, "service")
        options = serve_options(args.workers)
        workers = args.workers if options else 1
        rows = []
        for profile in args.profiles:
            with profile_env(profile, prepared) as env, running_service(env, *options) as server:
                rows += measure(profile, server.url, prepared, args, workers)
    settings = {k: v for k, v in vars(args).items() if k != "work"} | {
        "customers": prepared["customers"], "fast": prepared["fast"], "active_customers": len(prepared["active_customers"]),
        "workers": workers, "serve_has_workers_option": bool(options), "setup_seconds": prepared["setup_seconds"],
        "client": "httpx, one keep-alive client per thread, on the same machine",
        "targets": {"p99_ms_at_concurrency_1": TARGET_P99_MS, "requests_per_s_at_concurrency_16": TARGET_REQUESTS_PER_S,
                    "goal_requests_per_s_at_concurrency_16": GOAL_REQUESTS_PER_S}}
    write_result("service", settings, rows)


if __name__ == "__main__":
    main()
