"""The two trees of an A/B run: extracting OLD, running each tree's `nbo`, one shared bank and state.

A tree is a directory with the project's packages; it runs as the venv's `nbo` console script with
`PYTHONPATH=<tree>` (children such as `nbo serve`'s event flusher inherit it, so they import the
same tree) and the tree as working directory. Nothing here imports the trees' code.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

NBO = Path(sys.executable).parent / "nbo"
MODELS = ("churn", "delinquency", "recommender")


def progress(message: str) -> None:
    """One line of progress on stderr."""
    print(f"[ab {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@dataclass
class Tree:
    """One side of the comparison: its code, its state and the NBO_* variables it runs with."""

    name: str  # "old" or "new"
    code: Path
    work: Path  # state/, mlruns/ of this tree
    env: dict[str, str] = field(default_factory=dict)

    def run_env(self) -> dict[str, str]:
        """The whole environment of a child: ours, the tree on PYTHONPATH, the NBO_* variables."""
        inherited = {k: v for k, v in os.environ.items() if not k.startswith("NBO_")}
        return inherited | {"PYTHONPATH": str(self.code)} | self.env

    def nbo(self, *args: object, as_json: bool = True) -> dict[str, Any]:
        """`nbo ARGS... [--json]` in this tree; its JSON answer (SystemExit with its stderr on failure)."""
        argv = [str(NBO), *map(str, args), *(["--json"] if as_json else [])]
        proc = subprocess.run(argv, env=self.run_env(), cwd=self.code, capture_output=True, text=True)
        if proc.returncode != 0:
            sys.stderr.write(proc.stderr[-4000:])
            raise SystemExit(f"{self.name}: nbo {' '.join(map(str, args))} exited {proc.returncode}")
        return json.loads(proc.stdout) if as_json else {}

    def python(self, code: str) -> str:
        """Run `code` with this tree's interpreter setup; its stdout."""
        proc = subprocess.run([sys.executable, "-c", code], env=self.run_env(), cwd=self.code,
                              capture_output=True, text=True, check=True)
        return proc.stdout.strip()


def archive_tree(repo: Path, rev: str, into: Path) -> tuple[Path, str]:
    """`git archive REV` of `repo` extracted into INTO/old-tree; the directory and the full commit id."""
    commit = subprocess.run(["git", "-C", str(repo), "rev-parse", "--verify", f"{rev}^{{commit}}"],
                            capture_output=True, text=True, check=True).stdout.strip()
    tar_path = into / "old.tar"
    with tar_path.open("wb") as out:
        subprocess.run(["git", "-C", str(repo), "archive", "--format=tar", commit], stdout=out, check=True)
    code = into / "old-tree"  # beside, not inside, the work dirs old/ and new/
    with tarfile.open(tar_path) as tar:
        tar.extractall(code, filter="data")
    tar_path.unlink()
    return code, commit


def describe_tree(path: Path) -> str:
    """The commit a working tree is at, with `+changes` when it has uncommitted ones."""
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(path), *args], capture_output=True, text=True).stdout.strip()
    commit = git("rev-parse", "HEAD")
    return f"{commit}{'+changes' if git('status', '--porcelain') else ''}" if commit else str(path)


def check_imports(tree: Tree) -> None:
    """Fail unless `serving` and `nbo` import from the tree itself (not the venv's editable install)."""
    where = tree.python("import nbo, serving; print(nbo.__file__); print(serving.__file__)").splitlines()
    if not all(Path(p).resolve().is_relative_to(tree.code.resolve()) for p in where):
        raise SystemExit(f"{tree.name}: imports come from {where}, not from {tree.code}")


def base_env(tree: Tree, data_dir: Path, project: str) -> dict[str, str]:
    """The embedded profile's NBO_* variables for a tree (its own state dir and MLflow store)."""
    return {"NBO_STATE_DIR": str(tree.work / "state"), "NBO_DATA_DIR": str(data_dir),
            "NBO_MLFLOW__TRACKING_URI": f"file:{tree.work / 'mlruns'}", "NBO_STORES__PROFILE": "embedded",
            "NBO_STORES__FEAST_PROJECT": project}


def prepare_state(old: Tree, new: Tree, bank: Path, customers: int, months: int, seed: int) -> dict[str, float]:
    """Generate the bank and build, apply, materialize its features once with OLD; copy the state for NEW."""
    seconds: dict[str, float] = {}
    steps: list[tuple[str, tuple[object, ...]]] = [
        ("generate", ("data", "generate", "--customers", customers, "--months", months, "--seed", seed,
                      "--out", bank)),
        ("features_build", ("features", "build", bank)),
        ("features_apply", ("features", "apply")),
        ("features_materialize", ("features", "materialize")),
    ]
    for name, step in steps:
        started = time.perf_counter()
        progress(f"old: nbo {' '.join(map(str, step))}")
        old.nbo(*step)
        seconds[name] = round(time.perf_counter() - started, 1)
    shutil.copytree(old.work / "state", new.work / "state", symlinks=True)
    return seconds


def train_models(tree: Tree, fast: bool) -> dict[str, float]:
    """`nbo train MODEL [--fast]` for the three models into the tree's own MLflow store; seconds each."""
    has_fast = "--fast" in subprocess.run([str(NBO), "train", "--help"], env=tree.run_env(), cwd=tree.code,
                                          capture_output=True, text=True).stdout
    seconds = {}
    for model in MODELS:
        started = time.perf_counter()
        progress(f"{tree.name}: nbo train {model}")
        tree.nbo("train", model, "--data", tree.env["NBO_DATA_DIR"], *(["--fast"] if fast and has_fast else []))
        seconds[model] = round(time.perf_counter() - started, 1)
    return seconds


def demo_keys(tree: Tree) -> dict[str, str]:
    """`nbo keys demo` in the tree's state: role → key."""
    return dict(tree.nbo("keys", "demo")["demo_api_keys"])


def feature_repo(tree: Tree) -> str:
    """The tree's own default feature repo, absolute (what `nbo info` resolves from the tree's directory)."""
    env = {k: v for k, v in tree.env.items() if k != "NBO_FEATURE_REPO"}
    return str(Tree(tree.name, tree.code, tree.work, env).nbo("info")["feature_repo"])


def customers_table(bank: Path) -> pd.DataFrame:
    """The bank's customers, with the latest month's credit balance and days past due."""
    customers = pd.read_parquet(bank / "customers.parquet")
    credit = pd.read_parquet(bank / "credit.parquet", columns=["customer_id", "month", "balance", "days_past_due"])
    end_month = credit["month"].max()
    latest = credit[credit["month"] == end_month].drop(columns="month")
    table = customers.merge(latest, on="customer_id", how="left")
    table.attrs["end_month"] = end_month
    return table


def new_project() -> str:
    """A Feast project name of its own, so a shared Redis keeps this run's keys apart."""
    return f"nbo_ab_{uuid.uuid4().hex[:10]}"
