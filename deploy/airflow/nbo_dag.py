"""nbo's recurring jobs as Airflow DAGs, read from config/schedule.toml: `nbo_daily` and `nbo_monthly`.

Point Airflow's `dags_folder` at deploy/airflow of an nbo checkout, or link this file into it (the
link is followed to find config/schedule.toml). Each command of a job is one BashOperator task that
runs `.venv/bin/nbo ...` in the nbo directory: the Airflow Variable `nbo_root`, by default the
checkout that holds this file. `{date}` is the run's logical date (`{{ ds }}`). A DAG starts at the
earliest time of its jobs and runs them in their `after` order; NBO_* settings come from the
worker's environment, as for any nbo command.
"""

from __future__ import annotations

import shlex
import sys
from datetime import UTC, datetime
from pathlib import Path

from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import DAG

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
from deploy.schedule import Job, load_schedule, shell_command  # noqa: E402 - the checkout is on the path now

NBO_ROOT = "{{ var.value.get('nbo_root', '%s') }}" % REPO  # noqa: UP031 - braces of Jinja beside a value


def task_id(command: str) -> str:
    """`nbo features build data/bank` → `features_build`: the command's words up to its arguments."""
    words = shlex.split(command)[1:3]
    return "_".join(w for w in words if w.isidentifier())


def build_dag(cadence: str, jobs: list[Job]) -> DAG:
    """One DAG for the scheduled jobs of a cadence: each job's commands in order, jobs after their `after`."""
    scheduled = sorted((job for job in jobs if job.cadence == cadence and not job.is_placeholder),
                       key=lambda job: (job.hour, job.minute))  # a job's `after` start earlier
    first = scheduled[0]
    day = str(first.day) if cadence == "monthly" else "*"
    with DAG(f"nbo_{cadence}", schedule=f"{first.minute} {first.hour} {day} * *",
             start_date=datetime(2026, 1, 1, tzinfo=UTC), catchup=False, max_active_runs=1, tags=["nbo"],
             doc_md=f"nbo's {cadence} jobs from config/schedule.toml: "
                    + ", ".join(job.name for job in scheduled)) as dag:
        ends = {}
        for job in scheduled:
            tasks = [BashOperator(task_id=task_id(command), cwd=NBO_ROOT, doc=job.about,
                                  bash_command=shell_command(command, Path("."), "{{ ds }}"))
                     for command in job.commands]
            for before, after in zip(tasks, tasks[1:], strict=False):
                before >> after
            for name in job.after:
                ends[name] >> tasks[0]
            ends[job.name] = tasks[-1]
    return dag


SCHEDULE = load_schedule()
nbo_daily = build_dag("daily", SCHEDULE)
nbo_monthly = build_dag("monthly", SCHEDULE)
