"""A bounded, fixed-rate load of the realistic mix, and the audit checked against what was acknowledged.

Offers 70 % (app key, GET /v1/customers/{id}/offers), events 20 % (POST /v1/events, one page view
with its own event id) and feedback 10 % (POST /v1/offers/{decision_id}/feedback on an offer served
earlier in the run; `--mix` changes the shares) are sent on a
fixed schedule (open loop: request i starts at i / rate seconds, whatever the answers before it),
for a fixed time, from a bounded pool of loopback clients. Latency is measured from each request's
scheduled start, so a service that falls behind shows it. Afterwards the audit store must hold
exactly one decision per acknowledged offer, one row per acknowledged feedback and one event-log
row per acknowledged event. Targets: error rate 0, offers and events p99 <= 50 ms.

Builds (or reuses, with --work DIR) the bank, features and champions as benchmarks/service.py does,
runs `nbo serve` on a free loopback port and writes benchmarks/results/load.json.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from serving.audit.store import AuditStore  # noqa: E402
from tests.conftest import settings_from  # noqa: E402
from tests.server import running_service  # noqa: E402

MIX = (("offers", 0.7), ("events", 0.2), ("feedback", 0.1))
TARGET_P99_MS = 50.0  # offers and events
CLIENTS = 32  # concurrent requests at most: the bound on the load generator's threads
DRAIN_TIMEOUT_S = 60.0


@dataclass
class MixRun:
    """What a run sent and what the service acknowledged."""

    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    latency_ms: dict[str, list[float]] = field(default_factory=lambda: {kind: [] for kind, _ in MIX})
    statuses: Counter[str] = field(default_factory=Counter)
    offers_acked: int = 0
    events_acked: list[str] = field(default_factory=list)  # event ids
    feedback_ids: list[str] = field(default_factory=list)
    decisions: list[tuple[str, str]] = field(default_factory=list)  # (decision id, first product)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _send(client: httpx.Client, kind: str, customer: str, keys: dict[str, str], run: MixRun, i: int) -> int:
    """One request of the mix; returns its status (0 for a transport error)."""
    headers = {"X-API-Key": keys["app"], "X-Request-ID": f"load-{run.run_id}-{i}"}
    with run.lock:
        decision = run.decisions[-1] if run.decisions else None
    if kind == "feedback" and decision is not None:
        r = client.post(f"/v1/offers/{decision[0]}/feedback", headers=headers,
                        json={"product_id": decision[1], "outcome": "shown"})
        if r.status_code == 201:
            with run.lock:
                run.feedback_ids.append(r.json()["feedback_id"])
    elif kind == "events":
        event_id = f"load-{run.run_id}-{i}"
        r = client.post("/v1/events", headers=headers, json={"events": [
            {"event_id": event_id, "customer_id": customer, "event_type": "page_view", "topic": "fund"}]})
        if r.status_code == 202:
            with run.lock:
                run.events_acked.append(event_id)
    else:
        r = client.get(f"/v1/customers/{customer}/offers", headers=headers)
        if r.status_code == 200:
            body = r.json()
            with run.lock:
                run.offers_acked += 1
                if body["offers"]:
                    run.decisions.append((body["decision_id"], body["offers"][0]["product_id"]))
    return r.status_code


def warm_up(url: str, keys: dict[str, str], customers: list[str], requests: int, clients: int = 4) -> None:
    """`requests` offers requests, not measured, so that every worker has loaded and run its code
    paths before the schedule starts (a cold worker's first answers take hundreds of ms)."""
    def task(i: int) -> None:
        with httpx.Client(base_url=url, timeout=30) as client:
            for j in range(i, requests, clients):
                client.get(f"/v1/customers/{customers[j % len(customers)]}/offers",
                           headers={"X-API-Key": keys["app"], "X-Request-ID": f"warmup-{j}"})

    with ThreadPoolExecutor(max_workers=clients) as pool:
        list(pool.map(task, range(clients)))


def run_mix(url: str, keys: dict[str, str], customers: list[str], rate_per_s: float, seconds: float,
            seed: int = 0, mix: tuple[tuple[str, float], ...] = MIX) -> MixRun:
    """Send the mix at `rate_per_s` for `seconds` (open loop), then wait for the answers (bounded)."""
    rng = np.random.default_rng(seed)
    total = int(rate_per_s * seconds)
    kinds = rng.choice([k for k, _ in mix], size=total, p=[p for _, p in mix])
    chosen = rng.choice(customers, size=total)
    run, local = MixRun(), threading.local()

    def task(i: int, scheduled: float) -> None:
        if not hasattr(local, "client"):
            local.client = httpx.Client(base_url=url, timeout=30)
        try:
            status = _send(local.client, str(kinds[i]), str(chosen[i]), keys, run, i)
        except httpx.HTTPError as err:
            status, kind = 0, type(err).__name__
        else:
            kind = str(status)
        with run.lock:
            run.latency_ms[str(kinds[i])].append((time.perf_counter() - scheduled) * 1000)
            run.statuses[f"{kinds[i]} {kind}"] += 1

    def connect(ready: threading.Barrier) -> None:
        local.client = httpx.Client(base_url=url, timeout=30)  # ~0.1 s each (TLS context): not on the clock
        ready.wait()

    with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
        ready = threading.Barrier(CLIENTS)
        wait([pool.submit(connect, ready) for _ in range(CLIENTS)])  # every thread started, with its client
        started, futures = time.perf_counter(), []
        for i in range(total):
            scheduled = started + i / rate_per_s
            time.sleep(max(0.0, scheduled - time.perf_counter()))
            futures.append(pool.submit(task, i, scheduled))
        wait(futures, timeout=DRAIN_TIMEOUT_S)
    return run


def audited(env: dict[str, str], run: MixRun) -> dict[str, int]:
    """How many of the run's decisions, acknowledged feedback rows and acknowledged events (in the
    event log) the audit store holds."""
    store = AuditStore(settings_from(env).audit_url)
    try:
        with store.engine.connect() as conn:
            decisions = conn.execute(sa.text("SELECT count(*) FROM nbo_decisions WHERE request_id LIKE :p "
                                             "AND kind <> 'trigger'"),  # an event's triggers decide too
                                     {"p": f"load-{run.run_id}-%"}).scalar_one()
            feedback = sum(conn.execute(sa.text("SELECT count(*) FROM nbo_feedback WHERE feedback_id = :f"),
                                        {"f": f}).scalar_one() for f in run.feedback_ids)
            logged = set(conn.execute(sa.text("SELECT event_id FROM nbo_events WHERE event_id LIKE :p"),
                                      {"p": f"load-{run.run_id}-%"}).scalars())
    finally:
        store.close()
    return {"audit_decisions": int(decisions), "audit_feedback": int(feedback),
            "event_log_acknowledged": len(logged & set(run.events_acked)), "event_log_rows": len(logged)}


def summarize(run: MixRun, audit: dict[str, int], rate_per_s: float, seconds: float,
              mix: tuple[tuple[str, float], ...] = MIX) -> list[dict[str, Any]]:
    """One row per kind of request and one for the whole mix."""
    rows = []
    for kind, share in [*mix, ("all", 1.0)]:
        ms = [m for k, values in run.latency_ms.items() if kind in (k, "all") for m in values]
        ok = sum(n for key, n in run.statuses.items()
                 if kind in ("all", key.split()[0]) and key.split()[1].startswith("2"))
        p50, p99 = (round(float(v), 1) for v in np.percentile(ms, [50, 99])) if ms else (None, None)
        rows.append({"request": kind, "share": share, "requests": len(ms), "errors": len(ms) - ok,
                     "error_rate_pct": round(100 * (len(ms) - ok) / len(ms), 3) if ms else None,
                     "p50_ms": p50, "p99_ms": p99, "rate_per_s": rate_per_s, "seconds": seconds})
        if kind in ("offers", "events"):
            rows[-1] |= {"target_p99_ms": TARGET_P99_MS, "meets_target": p99 is not None and p99 <= TARGET_P99_MS}
    acked = set(run.events_acked)
    rows[-1] |= {"offers_acknowledged": run.offers_acked, "feedback_acknowledged": len(run.feedback_ids),
                 "events_acknowledged": len(acked), **audit,
                 "audit_equals_acknowledged": audit["audit_decisions"] == run.offers_acked
                 and audit["audit_feedback"] == len(run.feedback_ids)
                 and audit["event_log_acknowledged"] == len(acked)}
    return rows


def mix_option(text: str) -> tuple[tuple[str, float], ...]:
    """`offers=0.7,events=0.2,feedback=0.1` as the mix (shares summing to 1)."""
    shares = {kind: float(share) for kind, _, share in (part.partition("=") for part in text.split(","))}
    if set(shares) - {k for k, _ in MIX} or abs(sum(shares.values()) - 1) > 1e-9:
        raise argparse.ArgumentTypeError(f"--mix {text!r}: shares of offers, events, feedback summing to 1")
    return tuple(shares.items())


def main() -> None:
    from harness import write_result
    from service import add_bank_arguments, prepared_work

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_bank_arguments(parser)
    parser.add_argument("--rate", type=float, default=20.0, help="Requests per second (all kinds).")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--workers", type=int, default=1, help="`nbo serve --workers`.")
    parser.add_argument("--warmup", type=int, default=400, help="Offers requests before the schedule, not measured.")
    parser.add_argument("--mix", type=mix_option, default=MIX, metavar="offers=0.7,events=0.2,feedback=0.1",
                        help="Shares of the request kinds.")
    args = parser.parse_args()
    with contextlib.ExitStack() as stack:
        prepared = prepared_work(stack, args, "load")
        with running_service(prepared["env"], "--workers", str(args.workers)) as server:
            warm_up(server.url, prepared["keys"], prepared["active_customers"], args.warmup)
            run = run_mix(server.url, prepared["keys"], prepared["active_customers"], args.rate, args.seconds,
                          mix=args.mix)
        rows = summarize(run, audited(prepared["env"], run), args.rate, args.seconds, args.mix)
    settings = {k: v for k, v in vars(args).items() if k not in ("work", "mix")} | {
        "mix": dict(args.mix), "clients": CLIENTS, "store": "embedded (SQLite audit, SQLite online store)",
        "client": "httpx, open loop on a fixed schedule, latency from each request's scheduled start",
        "statuses": dict(run.statuses)}
    write_result("load", settings, rows)


if __name__ == "__main__":
    main()
