"""A/B of two trees of nbo in one run: the same answers, and speed side by side.

OLD is `git archive REV` extracted into a temporary directory, NEW a working tree (default: this
repository). Each runs as the venv's `nbo` with PYTHONPATH=<tree>. One bank and one feature state
are made once (by OLD) and copied for NEW; each tree trains the three models into its own MLflow
store and the model files are compared byte by byte (`--models old`: NEW serves OLD's models).
Then both services run (each its own state dir and audit database) and:

1. the same 600 requests go to each (offers over k 1..20, zh/en, app/rm/include_blocked; churn,
   delinquency; 404s); answers must be identical but for decision and request ids;
2. offers p50/p99 at concurrency 1 and requests/s at concurrency 16 (`--workers 2`), and seconds
   of POST /v1/delinquency/batch of 10,000 customers, in alternating turns, on the embedded stores
   (SQLite) and on Redis with PostgreSQL (the scale profile).

Writes benchmarks/results/ab.json and prints a table; exits 1 when any answer differs.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from ab_answers import compare_answers, request_plan
from ab_services import compare_models, serving
from ab_speed import ORDER, batch_speed, offers_speed
from ab_stores import scale_profile
from ab_trees import (
    Tree,
    archive_tree,
    base_env,
    check_imports,
    customers_table,
    demo_keys,
    describe_tree,
    feature_repo,
    new_project,
    prepare_state,
    progress,
    train_models,
)
from harness import machine, write_result

ROOT = Path(__file__).resolve().parents[1]
# Speed runs without the per-key rate limit (300 requests/s by default), the same for both trees.
SPEED_ENV = {"NBO_SERVICE__RATE_LIMIT_PER_S": "0"}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--old", required=True, help="Git revision of the old tree (git archive of this repo).")
    parser.add_argument("--new", type=Path, default=ROOT, help="The new tree's directory (default: this repo).")
    parser.add_argument("--customers", type=int, default=10_000, help="Bank size.")
    parser.add_argument("--months", type=int, default=24)
    parser.add_argument("--seed", type=int, default=42, help="Bank, request plan and customer samples.")
    parser.add_argument("--full", action="store_true", help="Train full models (default: `--fast`).")
    parser.add_argument("--models", choices=["own", "old"], default="own",
                        help="own: each tree serves the models it trained; old: NEW serves a copy of OLD's store.")
    parser.add_argument("--stores", nargs="+", choices=["sqlite", "redis"], default=["sqlite", "redis"])
    parser.add_argument("--workers", type=int, default=2, help="`nbo serve --workers`.")
    parser.add_argument("--requests", type=int, default=1_000, help="Offers requests at concurrency 1, per tree.")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--concurrent-requests", type=int, default=2_000, help="Offers requests at --concurrency.")
    parser.add_argument("--turns", type=int, default=2, help="Alternating turns the offers requests are split in.")
    parser.add_argument("--warmup", type=int, default=200, help="Offers requests per tree before timing.")
    parser.add_argument("--batch", type=int, default=10_000, help="Customers per delinquency batch (0: skip).")
    parser.add_argument("--batch-runs", type=int, default=3)
    parser.add_argument("--no-speed", action="store_true", help="Compare answers only.")
    parser.add_argument("--work", type=Path, help="Keep the trees' state, stores and logs here (default: temporary).")
    parser.add_argument("--json", action="store_true", help="Print the result object on stdout.")
    return parser.parse_args(argv)


def make_trees(args: argparse.Namespace, work: Path) -> tuple[Tree, Tree, str]:
    """OLD (archived) and NEW, each with its own work dir and NBO_* variables; OLD's full commit id."""
    old_code, commit = archive_tree(ROOT, args.old, work)
    project = new_project()
    trees = []
    for name, code in (("old", old_code), ("new", args.new.resolve())):
        tree = Tree(name, code, work / name)
        tree.work.mkdir(parents=True, exist_ok=True)
        tree.env = base_env(tree, work / "bank", project)
        tree.env["NBO_FEATURE_REPO"] = feature_repo(tree)
        check_imports(tree)
        trees.append(tree)
    return trees[0], trees[1], commit


def models_of(old: Tree, new: Tree, args: argparse.Namespace) -> dict[str, Any]:
    """Train with each tree (or only OLD, `--models old`) and compare the model files."""
    seconds = {"old": train_models(old, not args.full)}
    if args.models == "old":
        shutil.copytree(old.work / "mlruns", new.work / "mlruns-old")
        new.env["NBO_MLFLOW__TRACKING_URI"] = f"file:{new.work / 'mlruns-old'}"
        return {"mode": "old", "train_seconds": seconds}
    seconds["new"] = train_models(new, not args.full)
    comparison = compare_models(old.work / "mlruns", new.work / "mlruns")
    progress(f"models byte-identical: {comparison['identical']}")
    for name, row in comparison["models"].items():
        if not row["identical"]:
            progress(f"  {name}: differ {row.get('different') or row}")
    return {"mode": "own", "train_seconds": seconds, **comparison}


def store_envs(stack: contextlib.ExitStack, store: str, old: Tree, new: Tree) -> dict[str, dict[str, str]]:
    """The NBO_* variables of each tree for one store."""
    if store == "sqlite":
        return {"old": dict(old.env), "new": dict(new.env)}
    return stack.enter_context(scale_profile(old, new))


def measure_store(store: str, old: Tree, new: Tree, args: argparse.Namespace, keys: dict[str, dict[str, str]],
                  customers: Any) -> tuple[dict[str, Any] | None, dict[str, dict[str, Any]]]:
    """Both services on one store: the answers compared (SQLite only) and the speed figures."""
    with contextlib.ExitStack() as stack:
        envs = store_envs(stack, store, old, new)
        trees = {"old": old, "new": new}
        urls = {t: stack.enter_context(serving(trees[t], envs[t] | SPEED_ENV, args.workers)) for t in ORDER}
        answers = None
        if store == "sqlite":
            progress("answers: 600 requests to each tree")
            answers = compare_answers(urls, keys, request_plan(customers, args.seed))
            progress(f"answers: {answers['identical']} identical, {answers['different']} different")
        figures: dict[str, dict[str, Any]] = {t: {} for t in ORDER}
        if not args.no_speed:
            is_open = customers["close_date"].isna()
            active = sorted(customers.loc[is_open, "customer_id"].astype(str))
            closed = sorted(customers.loc[~is_open, "customer_id"].astype(str))
            progress(f"speed on {store}: offers")
            speed = offers_speed(urls, keys, active, vars(args))
            # the batch: active customers first, then closed ones (refused in the answer) up to --batch
            batch = batch_speed(urls, keys, (active + closed)[:args.batch], args.batch_runs) if args.batch else {}
            figures = {t: speed[t] | batch.get(t, {}) for t in ORDER}
    return answers, figures


def table(rows: list[dict[str, Any]]) -> str:
    """The figures as a text table."""
    columns = ("tree", "store", "p50_ms", "p99_ms", "requests_per_s", "batch_10k_s", "offers_errors")
    lines = ["  ".join(f"{c:>14}" for c in columns)]
    lines += ["  ".join(f"{str(row.get(c, '')):>14}" for c in columns) for row in rows]
    return "\n".join(lines)


def run(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """The whole A/B; the result object."""
    started = time.perf_counter()
    old, new, commit = make_trees(args, work)
    setup = prepare_state(old, new, work / "bank", args.customers, args.months, args.seed)
    models = models_of(old, new, args)
    keys = {"old": demo_keys(old), "new": demo_keys(new)}
    customers = customers_table(work / "bank")
    answers, rows = None, []
    for store in args.stores:
        store_answers, figures = measure_store(store, old, new, args, keys, customers)
        answers = answers or store_answers
        revisions = {"old": commit, "new": describe_tree(new.code)}
        rows += [{"tree": t, "revision": revisions[t], "store": store, **figures[t]} for t in ORDER]
    settings = {"old": commit, "new": describe_tree(new.code), "new_path": str(new.code),
                "customers": args.customers, "months": args.months, "seed": args.seed,
                "fast_models": not args.full, "models": models, "workers": args.workers,
                "concurrency": args.concurrency, "requests_concurrency_1": args.requests,
                "requests_concurrency_n": args.concurrent_requests, "turns": args.turns,
                "batch_customers": args.batch, "batch_runs": args.batch_runs, "env": SPEED_ENV,
                "setup_seconds": setup, "equivalence": answers, "runtime_s": round(time.perf_counter() - started)}
    return {"benchmark": "ab", "machine": machine(), "settings": settings, "results": rows}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    for name in [n for n in os.environ if n.startswith("NBO_")]:
        del os.environ[name]  # the trees run with the variables this script gives them, no others
    with contextlib.ExitStack() as stack:
        work = args.work or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="nbo-ab-")))
        if work.exists() and any(work.iterdir()):
            raise SystemExit(f"--work {work}: not empty (each run starts from nothing)")
        work.mkdir(parents=True, exist_ok=True)
        result = run(args, work)
    with contextlib.redirect_stdout(sys.stderr if args.json else sys.stdout):
        write_result("ab", result["settings"], result["results"])
        print(table(result["results"]))
    if args.json:
        print(json.dumps(result, indent=2))
    answers = result["settings"]["equivalence"]
    return 1 if answers and answers["different"] else 0


if __name__ == "__main__":
    sys.exit(main())
