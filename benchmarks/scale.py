"""The pipeline at growing bank sizes: time and peak memory of each stage, and how each grows.

For each `--customers` size it runs, as a user would, each stage as its own `nbo` process:

  generate     nbo data generate --customers N --no-extracts
  build        nbo features build (every feature table, the offline store's parquet files)
  materialize  nbo features apply + materialize into Redis (the scale profile: Feast registry on a
               throw-away PostgreSQL database, its own Feast project in the machine's Redis)
  train        nbo train churn, nbo train delinquency (`--fast` optional; `--engine` if given; banks
               above `--sample-customers` train on that many customers drawn at random)
  portfolio    nbo features training-set --label delinquency at the latest as-of date its 12-month
               label covers (the point-in-time join of every customer: the batch portfolio)
  score        nbo score delinquency on that portfolio (PD, score, band, reason codes)

Each stage's wall time and peak RSS (the child's own `ru_maxrss`, from `wait4`) are recorded;
with two or more sizes, the growth exponent b of time ≈ a·N^b between consecutive sizes says
how each stage scales (1: linear). Work folders are removed after each size unless `--keep`.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import pandas as pd
import psycopg
from harness import write_result

ROOT = Path(__file__).resolve().parents[1]
NBO = Path(sys.executable).parent / "nbo"
POSTGRES_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


def run_stage(env: dict[str, str], *args: object) -> dict[str, Any]:
    """`nbo ARGS --json` as a child: its answer, wall seconds and peak RSS (MB)."""
    command = [str(NBO), *map(str, args), "--json"]
    print(f"  nbo {' '.join(map(str, args))}", file=sys.stderr, flush=True)
    started = time.perf_counter()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(command, env=os.environ | env, cwd=ROOT, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.perf_counter() - started
        out.seek(0), err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode(errors="replace")
    if proc.returncode != 0:
        sys.stderr.write(stderr[-4000:])
        raise SystemExit(f"nbo {' '.join(map(str, args))} exited {proc.returncode}")
    return {"answer": json.loads(stdout), "seconds": seconds, "peak_rss_mb": usage.ru_maxrss / 1024}


def portfolio_as_of(last_as_of: str) -> str:
    """The latest as-of date whose 12-month delinquency label the data covers (the portfolio's date)."""
    return str((pd.Period(last_as_of[:7], "M") - 12).to_timestamp().date())


def one_size(customers: int, args: argparse.Namespace, work: Path) -> list[dict[str, Any]]:
    """Every stage for a bank of `customers`; one row per stage."""
    bank, database, project = work / "bank", f"nbo_scale_{uuid.uuid4().hex[:8]}", f"nbo_scale_{uuid.uuid4().hex[:8]}"
    env = {"NBO_STATE_DIR": str(work / "state"), "NBO_DATA_DIR": str(bank), "NBO_FEATURE_REPO": str(ROOT / "features"),
           "NBO_MLFLOW__TRACKING_URI": f"file:{work / 'mlruns'}", "NBO_STORES__FEAST_PROJECT": project,
           "NBO_STORES__PROFILE": "embedded", "NBO_CONFIG": ""}
    scale = env | {"NBO_STORES__PROFILE": "scale",
                   "NBO_STORES__POSTGRES_URL": POSTGRES_ADMIN.rsplit("/", 1)[0] + f"/{database}"}
    train_options = [*(["--fast"] if args.fast else []), *(["--engine", args.engine] if args.engine else []),
                     *(["--sample-customers", args.sample_customers]
                       if args.sample_customers and customers > args.sample_customers else [])]
    rows: list[dict[str, Any]] = []

    def stage(name: str, stage_env: dict[str, str], *stage_args: object, count: int | None = None,
              unit: str = "rows") -> dict[str, Any]:
        result = run_stage(stage_env, *stage_args)
        row = {"customers": customers, "stage": name, "seconds": round(result["seconds"], 1),
               "peak_rss_mb": round(result["peak_rss_mb"])}
        if count is not None:
            row |= {unit: count, f"{unit}_per_s": round(count / result["seconds"], 1)}
        rows.append(row)
        print(f"    {row}", file=sys.stderr, flush=True)
        return result["answer"]

    with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{database}"')
    try:
        stage("generate", env, "data", "generate", "--customers", customers, "--months", args.months,
              "--seed", args.seed, "--out", bank, "--no-extracts", count=customers, unit="customers")
        built = stage("build", env, "features", "build", bank)
        rows[-1] |= {"rows": sum(built["rows"].values())}
        stage("apply", scale, "features", "apply")
        materialized = stage("materialize_redis", scale, "features", "materialize")
        rows[-1] |= {"rows": materialized["total_rows"]}
        for model in ("churn", "delinquency"):
            trained = stage(f"train_{model}", env, "train", model, *train_options)
            rows[-1] |= {"training_customers": trained["training_customers"], "test_rows": trained["metrics"].get("rows"),
                         "test_roc_auc": round(trained["metrics"]["roc_auc"], 4)}
        as_of = portfolio_as_of(str(built["last_as_of"]))
        portfolio = work / "portfolio.parquet"
        made = stage("portfolio", scale, "features", "training-set", "--label", "delinquency", "--as-of", as_of,
                     "--out", portfolio)
        rows[-1] |= {"rows": made["rows"]}
        scored = stage("score", env, "score", "delinquency", "--input", portfolio, "--output", work / "scores.parquet")
        rows[-1] |= {"rows": scored["rows_scored"], "rows_per_s": round(scored["rows_scored"] / rows[-1]["seconds"], 1)}
    finally:
        teardown = "from nbo.settings import load_settings\nfrom features.repo.store import open_store\n" \
                   "open_store(load_settings()).teardown()\n"
        subprocess.run([sys.executable, "-c", teardown], env=os.environ | scale, cwd=ROOT, capture_output=True)
        with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    return rows


def growth(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per stage and consecutive sizes: b in seconds ≈ a·N^b, and the memory ratio."""
    out = []
    for name in dict.fromkeys(r["stage"] for r in rows):
        by_size = sorted((r for r in rows if r["stage"] == name), key=lambda r: r["customers"])
        for small, large in zip(by_size, by_size[1:], strict=False):
            size_ratio = large["customers"] / small["customers"]
            out.append({"stage": name, "from_customers": small["customers"], "to_customers": large["customers"],
                        "time_growth_exponent": round(math.log(max(large["seconds"], 0.1) / max(small["seconds"], 0.1))
                                                      / math.log(size_ratio), 2),
                        "peak_rss_ratio": round(large["peak_rss_mb"] / max(small["peak_rss_mb"], 1), 2)})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, nargs="+", default=[100_000, 1_000_000],
                        help="Bank sizes, smallest first (default: 100,000 and 1,000,000).")
    parser.add_argument("--months", type=int, default=24)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--fast", action="store_true", help="Train with `--fast` (small trees).")
    parser.add_argument("--engine", help="Passed to `nbo train --engine` (e.g. dask) when given.")
    parser.add_argument("--sample-customers", type=int, default=100_000,
                        help="Banks larger than this train on this many customers drawn at random "
                             "(`nbo train --sample-customers`; 0: always the whole bank).")
    parser.add_argument("--work", type=Path, help="Parent folder of the work folders (default: a temp folder).")
    parser.add_argument("--keep", action="store_true", help="Keep each size's work folder.")
    args = parser.parse_args()
    parent = args.work or Path(tempfile.mkdtemp(prefix="nbo-bench-scale-"))
    rows: list[dict[str, Any]] = []
    for customers in sorted(args.customers):
        print(f"== {customers:,} customers", file=sys.stderr, flush=True)
        work = parent / f"customers-{customers}"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        try:
            rows += one_size(customers, args, work)
        finally:
            if not args.keep:
                shutil.rmtree(work, ignore_errors=True)
    settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()} | {
        "stages": "each a separate nbo process; peak RSS is that process's own",
        "materialize_store": "redis (scale profile)", "growth": growth(rows)}
    write_result("scale", settings, rows)


if __name__ == "__main__":
    main()
