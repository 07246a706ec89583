"""OneID resolution speed and memory: records/s and peak memory of `identity.resolve` (rules, Splink
training and scoring, ids) at 100,000 and 1,000,000 records on DuckDB and 100,000 on local Spark.

Extracts come from the synthetic bank's own generator, `write_identity_extracts` (the six systems'
extracts for people drawn without a bank history; about 3.9 records per person), made in a separate
process first so the figures are resolution's own. Peak memory is the Python process's
(with DuckDB, which runs inside it); for Spark the JVM's is reported apart (a child process).
Writes benchmarks/results/identity.json.

    .venv/bin/python benchmarks/identity.py [--duckdb 100000 1000000] [--spark 100000]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from harness import run_child, write_result

RECORDS_PER_PERSON = 3.9  # the generator's records per person over the six systems, duplicates included

GENERATE = """
from pathlib import Path
from sources.synthetic.extracts import write_identity_extracts

def main(customers, out):
    rows = write_identity_extracts(Path(out), int(customers), seed=7)
    return {"records": sum(rows.values())}
"""

RESOLVE = """
import resource, time
from pathlib import Path
from identity.io import Extract
from identity.resolve import resolve

def main(data, out, backend):
    extracts = [Extract(p.stem, p) for p in sorted(Path(data, "sources").glob("*.parquet"))]
    started = time.perf_counter()
    report = resolve(extracts, Path(out), Path(out).parent / "state", backend=backend)
    seconds = time.perf_counter() - started
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"records": report["records"], "resolve_seconds": round(seconds, 1),
            "records_per_s": round(report["records"] / seconds),
            "candidate_pairs_compared": report["candidate_pairs_compared"], "clusters": report["clusters"],
            "steps_seconds": report["timings"], "child_peak_rss_mb": round(children, 1)}
"""


def measure(records: int, backend: str, work: Path) -> dict:
    data = work / f"extracts-{records}"
    if not data.exists():
        run_child(GENERATE, str(round(records / RECORDS_PER_PERSON)), str(data))
    row = run_child(RESOLVE, str(data), str(work / f"out-{backend}-{records}"), backend)
    return {"backend": backend, "target_records": records, **row}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duckdb", type=int, nargs="*", default=[100_000, 1_000_000])
    parser.add_argument("--spark", type=int, nargs="*", default=[100_000])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="nbo-identity-bench-") as tmp:
        rows = [measure(n, "duckdb", Path(tmp)) for n in args.duckdb]
        rows += [measure(n, "spark", Path(tmp)) for n in args.spark]
    write_result("identity", {"duckdb_records": args.duckdb, "spark_records": args.spark,
                              "generator": "sources.synthetic.extracts.write_identity_extracts seed 7"}, rows)


if __name__ == "__main__":
    main()
