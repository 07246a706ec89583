"""Time and peak memory of synthetic-bank generation at growing sizes (make bench).

Each size runs in a fresh process so its peak RSS is its own. Growth is reported as the ratio of
each size's seconds and memory per customer to the smallest size's (1.0 = linear).
"""

from __future__ import annotations

import argparse
import tempfile

from harness import run_child, write_result

CHILD = """
import shutil, tempfile, time
from sources.synthetic.bank import generate_bank
def main(customers, months, seed):
    out = tempfile.mkdtemp(prefix='nbo-bench-gen-')
    started = time.perf_counter()
    bank = generate_bank(out, int(customers), int(months), int(seed))
    seconds = time.perf_counter() - started
    shutil.rmtree(out)
    return {'generate_seconds': round(seconds, 2), 'rows_total': sum(bank.rows.values())}
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, nargs="+", default=[20_000, 100_000, 500_000])
    parser.add_argument("--months", type=int, default=24)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    rows = []
    for customers in args.customers:
        measured = run_child(CHILD, str(customers), str(args.months), str(args.seed))
        rows.append({"customers": customers, "months": args.months, **measured})
    base = rows[0]
    for row in rows:
        scale = row["customers"] / base["customers"]
        row["seconds_per_customer_vs_smallest"] = round(row["generate_seconds"] / base["generate_seconds"] / scale, 3)
        row["rss_per_customer_vs_smallest"] = round(row["peak_rss_mb"] / base["peak_rss_mb"] / scale, 3)
    write_result("generate", {"customers": args.customers, "months": args.months, "seed": args.seed,
                              "tmpdir": tempfile.gettempdir()}, rows)


if __name__ == "__main__":
    main()
