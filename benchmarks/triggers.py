"""Trigger evaluation throughput with the full rule set (serving/triggers/triggers.toml): events/s.

Builds (or reuses, with --work DIR) the bank, features, champions and demo keys as
benchmarks/service.py does, and a stream of N customer events over many active customers:
mostly page views and searches on random topics, some logins and account openings, with
timestamps spread over the last few days and sent in time order. Then, each configuration on a
fresh audit database (SQLite, as the embedded profile; its own file, so no run sees another's
claims), measures:

- in-process: `TriggerEngine.on_events` over the stream in batches of each --batch-sizes:
  events/s, p50/p99/max ms per batch and the triggers fired (sent / suppressed / skipped);
- replay: the same stream again on the same database: events/s, and that nothing fires (asserted);
- over HTTP: POST /v1/events (app key) against a real `nbo serve` on a free loopback port, rate
  limit off, for each --http BATCHxCONCURRENCY (the stream's first --http-max-requests batches):
  events/s, p50/p99 ms per request, triggers fired; the first configuration is replayed too (0
  actions asserted). The route also writes the page views and searches into the bank's online
  store, and the service's background flush appends them to the push source's parquet file, as
  in production: each row reports that file's rows before it and the rows it added after
  `nbo events flush` (a replay adds none: asserted);
- `nbo triggers run --as-of TODAY` (the date triggers: journeys, birthdays, conditions) over the
  bank: occasions, fired and seconds (customers/s), then the same day again (nothing fires).

The load generator runs on the same machine as the service and takes some of its CPU.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pyarrow.parquet as pq
from harness import timed_threads, write_result
from service import add_bank_arguments, prepared_work, run_nbo

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from serving.audit.store import sqlite_url  # noqa: E402 - the repo root is on the path only now
from sources.contract import TOPICS  # noqa: E402
from tests.server import running_service  # noqa: E402

EVENT_MIX = (("page_view", 0.70), ("search", 0.20), ("login", 0.08), ("account_opened", 0.02))
STATUSES = ("sent", "suppressed", "skipped")


def event_stream(customers: list[str], n: int, days: float, pool: int, seed: int, prefix: str) -> list[dict[str, Any]]:
    """`n` events of `pool` random customers, oldest first, within the last `days` days (JSON-ready)."""
    rng = np.random.default_rng(seed)
    chosen = rng.choice(customers, size=min(pool, len(customers)), replace=False)
    who = rng.choice(chosen, size=n)
    kinds = rng.choice([k for k, _ in EVENT_MIX], size=n, p=[p for _, p in EVENT_MIX])
    topics = rng.choice(TOPICS, size=n)
    now = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
    ages = np.sort(rng.uniform(0, days * 86_400, size=n))[::-1]
    return [{"event_id": f"{prefix}-{i:07d}", "customer_id": str(c), "event_type": str(k),
             "topic": str(t) if k in ("page_view", "search") else None,
             "event_time": (now - timedelta(seconds=float(a))).isoformat()}
            for i, (c, k, t, a) in enumerate(zip(who, kinds, topics, ages, strict=True))]


def batches(stream: list[dict[str, Any]], size: int) -> list[list[dict[str, Any]]]:
    return [stream[i:i + size] for i in range(0, len(stream), size)]


def latency(ms: list[float]) -> dict[str, float]:
    p50, p99 = (round(float(p), 2) for p in np.percentile(ms, [50, 99]))
    return {"p50_ms": p50, "p99_ms": p99, "max_ms": round(max(ms), 2)}


def fired_counts(statuses: list[str], triggers: list[str]) -> dict[str, Any]:
    counts = Counter(statuses)
    return {"fired": len(statuses), **{s: counts[s] for s in STATUSES},
            "fired_by_trigger": dict(sorted(Counter(triggers).items()))}


# --- in-process ---

class InProcess:
    """The service's runtime and policies, loaded once; a TriggerEngine per audit database."""

    def __init__(self, env: dict[str, str]):
        os.environ.update(env)  # this process is the benchmark's: the settings come from the environment
        from nbo.settings import load_settings
        from serving.app import offer_policy
        from serving.runtime import load_runtime
        from serving.triggers.rules import load_trigger_rules

        settings = load_settings()
        self.rules, self.policy = load_trigger_rules(), offer_policy(settings)
        started = time.perf_counter()
        self.runtime = load_runtime(settings)
        self.load_seconds = round(time.perf_counter() - started, 1)

    @contextlib.contextmanager
    def engine(self, audit_path: Path) -> Any:
        from serving.audit.store import AuditStore
        from serving.decisions.offers import OfferService
        from serving.triggers.engine import TriggerEngine
        from serving.triggers.store import TriggerStore

        audit = AuditStore(sqlite_url(audit_path))
        try:
            yield TriggerEngine(self.rules, TriggerStore(audit.engine), OfferService(self.runtime, audit, self.policy))
        finally:
            audit.close()

    def run(self, engine: Any, stream: list[dict[str, Any]], size: int, request_id: str) -> dict[str, Any]:
        """The stream through `engine.on_events` in batches of `size`; throughput, latency, fires."""
        from serving.triggers.store import Event

        events = [Event(e["event_id"], e["customer_id"], e["event_type"], e["topic"],
                        datetime.fromisoformat(e["event_time"])) for e in stream]
        ms, new, statuses, triggers = [], 0, [], []
        began = time.perf_counter()
        for i in range(0, len(events), size):
            started = time.perf_counter()
            flags, fired = engine.on_events(events[i:i + size], request_id, "en")
            ms.append((time.perf_counter() - started) * 1000)
            new += sum(flags)
            statuses += [f.status for f in fired]
            triggers += [f.trigger_id for f in fired]
        seconds = time.perf_counter() - began
        return {"events": len(events), "batches": len(ms), "new_events": new, "seconds": round(seconds, 2),
                "events_per_s": round(len(events) / seconds, 1), **latency(ms), **fired_counts(statuses, triggers)}


def measure_in_process(prepared: dict[str, Any], stream: list[dict[str, Any]], warm: list[dict[str, Any]],
                       args: argparse.Namespace, scratch: Path) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    bench = InProcess(prepared["env"])
    with bench.engine(scratch / "audit-warmup.db") as engine:  # models, SHAP, SQL compilation caches
        bench.run(engine, warm, 10, "bench-triggers-warmup")
    rows = []
    for size in args.batch_sizes:
        with bench.engine(scratch / f"audit-inprocess-b{size}.db") as engine:
            for run in ("first", "replay"):
                figures = bench.run(engine, stream, size, f"bench-triggers-b{size}-{run}")
                row = {"path": "in-process on_events", "pass": run, "batch_size": size, "concurrency": 1, **figures}
                print(f"  in-process b={size} {run}: {figures}", file=sys.stderr)
                if run == "replay":
                    assert figures["fired"] == 0 and figures["new_events"] == 0, f"the replay fired: {figures}"
                    row["replay_fired_nothing"] = True
                rows.append(row)
    return rows, {"runtime_load_seconds": bench.load_seconds, "rules_version": bench.rules.version,
                  "triggers": [t.id for t in bench.rules.triggers]}


# --- over HTTP ---

def post_events(url: str, key: str, stream: list[dict[str, Any]], size: int, concurrency: int) -> dict[str, Any]:
    """POST /v1/events with the stream in batches of `size`, batch i from thread i % concurrency."""
    parts = batches(stream, size)
    shares = [parts[i::concurrency] for i in range(concurrency)]
    ms: list[list[float]] = [[] for _ in range(concurrency)]
    statuses: list[list[str]] = [[] for _ in range(concurrency)]
    triggers: list[list[str]] = [[] for _ in range(concurrency)]
    codes: list[Counter[int]] = [Counter() for _ in range(concurrency)]
    new = [0] * concurrency

    def worker(i: int, start: threading.Barrier) -> None:
        with httpx.Client(base_url=url, headers={"X-API-Key": key}, timeout=120) as client:
            start.wait()
            for part in shares[i]:
                began = time.perf_counter()
                response = client.post("/v1/events", params={"lang": "en"}, json={"events": part})
                ms[i].append((time.perf_counter() - began) * 1000)
                codes[i][response.status_code] += 1
                if response.status_code == 202:
                    body = response.json()
                    new[i] += body["new"]
                    statuses[i] += [a["status"] for a in body["actions"]]
                    triggers[i] += [a["trigger_id"] for a in body["actions"]]

    seconds = timed_threads(concurrency, worker)
    status_codes = sum(codes, Counter())
    return {"events": len(stream), "requests": len(parts), "errors": len(parts) - status_codes[202],
            "new_events": sum(new), "seconds": round(seconds, 2), "events_per_s": round(len(stream) / seconds, 1),
            "requests_per_s": round(len(parts) / seconds, 1), **latency([m for part in ms for m in part]),
            **fired_counts([s for p in statuses for s in p], [t for p in triggers for t in p])}


def warm_up(url: str, key: str, customers: list[str]) -> None:
    """Offers (the decision path) and logins (no trigger fires on a login) for a few customers."""
    with httpx.Client(base_url=url, headers={"X-API-Key": key}, timeout=120) as client:
        for customer in customers:
            client.get(f"/v1/customers/{customer}/offers", params={"k": 1, "lang": "en"}).raise_for_status()
        client.post("/v1/events", json={"events": [{"customer_id": c, "event_type": "login"}
                                                   for c in customers]}).raise_for_status()


def intent_rows(prepared: dict[str, Any]) -> int:
    """Rows of the intent push source's offline parquet file (every pushed page view and search)."""
    offline = Path(prepared["env"]["NBO_STATE_DIR"]) / "feast" / "offline"
    return sum(pq.ParquetFile(p).metadata.num_rows for p in offline.glob("customer_intent_realtime*.parquet"))


def measure_http(prepared: dict[str, Any], stream: list[dict[str, Any]], args: argparse.Namespace,
                 scratch: Path) -> list[dict[str, Any]]:
    key, rows = prepared["keys"]["app"], []
    warm = [str(c) for c in np.random.default_rng(1).choice(prepared["active_customers"], size=20)]
    for n, (size, concurrency) in enumerate(args.http):
        audit = scratch / f"audit-http-b{size}-c{concurrency}.db"
        env = prepared["env"] | {"NBO_SERVICE__AUDIT_URL": sqlite_url(audit), "NBO_SERVICE__RATE_LIMIT_PER_S": "0"}
        sent = stream[:args.http_max_requests * size]
        with running_service(env, "--workers", str(args.workers)) as server:
            warm_up(server.url, key, warm)
            for run in ("first", "replay") if n == 0 else ("first",):
                before = intent_rows(prepared)
                figures = post_events(server.url, key, sent, size, concurrency)
                run_nbo(env, "events", "flush")  # the offline copy of what the service logged, now
                row = {"path": "HTTP POST /v1/events", "pass": run, "batch_size": size, "concurrency": concurrency,
                       "workers": args.workers, **figures, "intent_offline_rows_before": before,
                       "intent_offline_rows_added": intent_rows(prepared) - before}
                print(f"  HTTP b={size} c={concurrency} {run}: {figures}", file=sys.stderr)
                if run == "replay":
                    assert figures["fired"] == 0 and figures["new_events"] == 0, f"the replay fired: {figures}"
                    assert row["intent_offline_rows_added"] == 0, f"the replay was pushed again: {row}"
                    row["replay_fired_nothing"] = True
                rows.append(row)
    return rows


# --- nbo triggers run ---

def measure_run(prepared: dict[str, Any], as_of: date, scratch: Path) -> list[dict[str, Any]]:
    env = prepared["env"] | {"NBO_SERVICE__AUDIT_URL": sqlite_url(scratch / "audit-triggers-run.db")}
    customers, rows = len(prepared["active_customers"]), []
    for run in ("first", "rerun"):
        began = time.perf_counter()
        out = run_nbo(env, "triggers", "run", "--as-of", as_of.isoformat())
        wall = time.perf_counter() - began
        by_trigger = out["by_trigger"]
        rows.append({"path": "nbo triggers run", "pass": run, "as_of": out["as_of"], "customers": customers,
                     "occasions": out["occasions"], "fired": out["fired"], "already_fired": out["already_fired"],
                     **{s: sum(c.get(s, 0) for c in by_trigger.values()) for s in STATUSES},
                     "rm_tasks": out["rm_tasks"], "fired_by_trigger": by_trigger, "seconds": out["seconds"],
                     "wall_seconds": round(wall, 2), "customers_per_s": round(customers / out["seconds"], 1),
                     "occasions_per_s": round(out["occasions"] / out["seconds"], 1)})
        print(f"  triggers run {run}: {rows[-1]}", file=sys.stderr)
    assert rows[1]["fired"] == 0, f"the rerun fired: {rows[1]}"
    return rows


def http_config(text: str) -> tuple[int, int]:
    size, _, concurrency = text.partition("x")
    return int(size), int(concurrency or 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_bank_arguments(parser)
    parser.add_argument("--events", type=int, default=20_000, help="Events in the stream.")
    parser.add_argument("--event-customers", type=int, default=2_000,
                        help="Active customers the stream is spread over (fewer: more triggers complete).")
    parser.add_argument("--days", type=float, default=3.0, help="The stream's timestamps: the last DAYS days.")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 100], help="In-process batch sizes.")
    parser.add_argument("--http", type=http_config, nargs="*", default=[(100, 1), (1, 1), (1, 16), (100, 4)],
                        metavar="BATCHxCONCURRENCY", help="Over HTTP (none: skip); the first is replayed too.")
    parser.add_argument("--http-max-requests", type=int, default=1_000,
                        help="Requests per HTTP configuration at most (the stream's first batches).")
    parser.add_argument("--workers", type=int, default=1, help="`nbo serve --workers`.")
    parser.add_argument("--no-run", action="store_true", help="Skip `nbo triggers run`.")
    args = parser.parse_args()
    with contextlib.ExitStack() as stack:
        prepared = prepared_work(stack, args, "triggers")
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="nbo-bench-triggers-audit-")))
        active = prepared["active_customers"]
        stream = event_stream(active, args.events, args.days, args.event_customers, args.seed, "bench")
        warm = event_stream(active, 200, args.days, 50, args.seed + 1, "warmup")
        kinds = dict(Counter(e["event_type"] for e in stream))
        rows, loaded = measure_in_process(prepared, stream, warm, args, scratch)
        if args.http:
            rows += measure_http(prepared, stream, args, scratch)
        if not args.no_run:
            rows += measure_run(prepared, datetime.now(UTC).date(), scratch)
    settings = {k: v for k, v in vars(args).items() if k not in ("work", "http")} | {
        "http": [f"{b}x{c}" for b, c in args.http], "customers": prepared["customers"], "fast": prepared["fast"],
        "active_customers": len(active), "stream_event_types": kinds,
        "stream_customers": len({e["customer_id"] for e in stream}), "setup_seconds": prepared["setup_seconds"],
        **loaded, "audit": "SQLite (WAL, synchronous=FULL), a fresh file per configuration",
        "rules": "serving/triggers/triggers.toml (all triggers)", "rate_limit": "off (NBO_SERVICE__RATE_LIMIT_PER_S=0)",
        "client": "httpx, one keep-alive client per thread, on the same machine",
        "p50_p99_ms": "per on_events call (in-process) or per request (HTTP)"}
    write_result("triggers", settings, rows)


if __name__ == "__main__":
    main()
