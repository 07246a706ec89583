"""RM workbench: how long the service takes to answer a customer's page, over loopback.

Uses the bank, features and champions that benchmarks/service.py prepares (`--work DIR` to keep or
reuse them), or with `--demo` the nbo that `make demo` set up in this checkout (`nbo info`).
Starts `nbo serve` (one worker) on a free loopback port, signs in through the login form with
the rm key, then, one request at a time, for N random active customers:

- the page: GET /workbench/customers/{id}?lang=en and ?lang=zh (profile, offers with the blocked
  ones, churn and delinquency, each answered and audited by the service's own code);
- the page and the three charts it links (what a browser fetches before it can draw the page);
- a search by a name fragment.

Reports p50/p95/p99/max in ms. Target: the page in under 300 ms (p95).
"""

from __future__ import annotations

import argparse
import contextlib
import random
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
from harness import write_result
from service import active_customers, add_bank_arguments, prepared_work, run_nbo

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.server import running_service  # noqa: E402 - the repo root is on the path only now

TARGET_PAGE_P95_MS = 300.0
CHART_SRC = re.compile(r'<img class="chart"[^>]* src="([^"]+)"')


def percentiles(latencies_ms: list[float]) -> dict[str, float]:
    p50, p95, p99 = (round(float(p), 1) for p in np.percentile(latencies_ms, [50, 95, 99]))
    return {"p50_ms": p50, "p95_ms": p95, "p99_ms": p99, "max_ms": round(max(latencies_ms), 1)}


def timed(requests: list[Callable[[], None]]) -> list[float]:
    """Run each request in turn; its wall time in ms."""
    out = []
    for request in requests:
        started = time.perf_counter()
        request()
        out.append((time.perf_counter() - started) * 1000)
    return out


def page_with_charts(client: httpx.Client, customer_id: str, lang: str, charts: bool) -> None:
    page = client.get(f"/workbench/customers/{customer_id}", params={"lang": lang})
    page.raise_for_status()
    if charts:
        for src in CHART_SRC.findall(page.text):
            client.get(src.replace("&amp;", "&")).raise_for_status()


def measure(url: str, rm_key: str, warm: list[str], customers: list[str], names: list[str]) -> list[dict[str, Any]]:
    """Sign in, warm up on `warm`, then time each kind of request over `customers` and `names`."""
    with httpx.Client(base_url=url, timeout=60) as client:
        signed_in = client.post("/workbench/login", data={"key": rm_key, "lang": "en"})
        if signed_in.status_code != 303:
            raise SystemExit(f"the rm key was refused: HTTP {signed_in.status_code}")
        timed([lambda c=c: page_with_charts(client, c, "en", True) for c in warm])
        kinds = {
            ("page", "en"): [lambda c=c: page_with_charts(client, c, "en", False) for c in customers],
            ("page", "zh"): [lambda c=c: page_with_charts(client, c, "zh", False) for c in customers],
            ("page_and_3_charts", "en"): [lambda c=c: page_with_charts(client, c, "en", True) for c in customers],
            ("search_by_name", "en"): [lambda n=n: client.get("/workbench", params={"q": n}).raise_for_status()
                                       for n in names],
        }
        return [{"request": kind, "lang": lang, "requests": len(calls), **percentiles(timed(calls))}
                for (kind, lang), calls in kinds.items()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--demo", action="store_true", help="Measure the nbo `make demo` set up here.")
    add_bank_arguments(parser)
    parser.add_argument("--pages", type=int, default=200, help="Customers sampled (one page each per row).")
    parser.add_argument("--warmup", type=int, default=20)
    args = parser.parse_args()
    with contextlib.ExitStack() as stack:
        if args.demo:
            env: dict[str, str] = {}
            info = run_nbo(env, "info")
            rm_key, state_dir, data_dir = info["demo_api_keys"]["rm"], Path(info["state_dir"]), Path(info["data_dir"])
            active, bank = active_customers(state_dir), f"demo ({data_dir})"
        else:
            prepared = prepared_work(stack, args, "wb")
            env, rm_key, active = prepared["env"], prepared["keys"]["rm"], prepared["active_customers"]
            data_dir, bank = Path(env["NBO_DATA_DIR"]), f"{prepared['customers']} customers, fast={prepared['fast']}"
        sample = random.Random(0).sample(active, min(args.pages + args.warmup, len(active)))
        warm, customers = sample[:args.warmup], sample[args.warmup:]
        names = pd.read_parquet(data_dir / "customers.parquet", columns=["name"])["name"].dropna().str[:2]
        server = stack.enter_context(running_service(env))
        rows = measure(server.url, rm_key, warm, customers, names.sample(len(customers), random_state=0).tolist())
    settings = {"bank": bank, "pages": len(customers), "warmup": len(warm), "workers": 1,
                "active_customers": len(active), "client": "httpx, one keep-alive client, sequential, same machine",
                "target": {"page_p95_ms": TARGET_PAGE_P95_MS}}
    write_result("workbench", settings, rows)


if __name__ == "__main__":
    main()
