"""`airflow dags test nbo_daily` runs the schedule's daily jobs for real, from Airflow's own environment.

Airflow cannot share nbo's lock, so it lives in .venv-airflow (deploy/airflow/requirements.lock,
`make airflow-env`; `make test` builds it first). The DAG's tasks run `.venv/bin/nbo` in an nbo
directory laid out as after `make demo` (the Airflow Variable `nbo_root`): the session's venv and
generated bank (its extracts), a state folder of its own (OneID resolved, features built, applied and
materialized there, triggers audited there), the tables assembled through it, and the session's trained
models.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, Trained, run_json
from tests.server import cli_env

AIRFLOW = ROOT / ".venv-airflow" / "bin" / "airflow"
RUN_DATE = "2026-12-01"  # the session bank's as-of day
DAILY = ["identity_resolve", "data_assemble", "features_build", "features_apply", "features_materialize",
         "triggers_run"]


def nbo_directory(root: Path, generated_bank: Path) -> Path:
    """An nbo directory as after `make demo`, with the session's venv and generated bank (the extracts the
    job resolves and assembles into `data/customers`) and an empty `var/`."""
    (root / "data").mkdir(parents=True)
    (root / "var").mkdir()
    (root / ".venv").symlink_to(Path(sys.executable).parent.parent)
    (root / "data" / "bank").symlink_to(generated_bank)
    return root


def airflow(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run the Airflow CLI of .venv-airflow."""
    return subprocess.run([str(AIRFLOW), *args], capture_output=True, text=True, env=env, timeout=900)


@pytest.mark.airflow
def test_airflow_dags_test_runs_the_daily_jobs(trained: Trained, generated_bank: Path, tmp_path: Path) -> None:
    """Every daily task succeeds in the schedule's order, with the run's date, and leaves served features."""
    assert AIRFLOW.exists(), "no Airflow environment: run `make airflow-env` (make test builds it first)"
    repo = nbo_directory(tmp_path / "nbo", generated_bank)
    nbo_env = {k: v for k, v in trained.env.items() if k not in ("NBO_DATA_DIR", "NBO_STATE_DIR")}
    env = cli_env(nbo_env) | {"AIRFLOW_HOME": str(tmp_path / "airflow"),
                              "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "deploy" / "airflow"),
                              "AIRFLOW__CORE__LOAD_EXAMPLES": "False", "AIRFLOW_VAR_NBO_ROOT": str(repo)}
    migrate = airflow("db", "migrate", env=env)
    assert migrate.returncode == 0, migrate.stdout[-3000:] + migrate.stderr[-3000:]

    run = airflow("dags", "test", "nbo_daily", RUN_DATE, env=env)
    log = run.stdout + run.stderr
    assert run.returncode == 0, log[-6000:]
    assert re.search(r"DagRun Finished: dag_id=nbo_daily.*state=success", log), log[-4000:]
    started = [m.group(1) for m in re.finditer(r"\[DAG TEST\] starting task_id=(\w+)", log)]
    assert started == DAILY
    assert log.count("Command exited with return code 0") == len(DAILY)
    assert f".venv/bin/nbo triggers run --as-of {RUN_DATE} --lang zh" in log

    assert (repo / "data" / "customers" / "customers.parquet").is_file()  # assembled through the DAG's OneID
    customer = run_json("features", "online", "O0000000001", env=nbo_env, cwd=repo)  # read from the DAG's var/
    assert sum(value is not None for value in customer["values"].values()) > len(customer["values"]) / 2, customer
    assert any(customer["timestamps"].values()), customer
