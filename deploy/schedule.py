"""nbo's recurring jobs (config/schedule.toml) as a crontab and systemd units.

    .venv/bin/python -m deploy.schedule cron --root /opt/nbo > deploy/cron/nbo.crontab
    .venv/bin/python -m deploy.schedule systemd --root /opt/nbo --out deploy/systemd

Only the standard library, so the Airflow DAG (deploy/airflow/nbo_dag.py, in its own environment)
reads the file through the same `load_schedule`.
"""

from __future__ import annotations

import argparse
import re
import shlex
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SCHEDULE_FILE = REPO / "config" / "schedule.toml"
DATE = "{date}"
CADENCES = ("daily", "monthly")
KEYS = {"about", "cadence", "at", "day", "after", "commands"}


class ScheduleError(ValueError):
    """The schedule file breaks its own rules; the message names the job and the key."""


@dataclass(frozen=True)
class Job:
    """One recurring job: nbo commands run in order at a time of day (UTC), daily or monthly."""

    name: str
    about: str
    cadence: str
    hour: int
    minute: int
    day: int | None
    after: tuple[str, ...]
    commands: tuple[str, ...]

    @property
    def is_placeholder(self) -> bool:
        """Declared but without a command yet: scheduled nowhere."""
        return not self.commands


def load_schedule(path: Path = SCHEDULE_FILE) -> list[Job]:
    """The jobs of the schedule file, checked (ScheduleError names the job and key that is wrong)."""
    with path.open("rb") as f:
        table = tomllib.load(f).get("jobs", {})
    jobs = [_job(name, spec) for name, spec in table.items()]
    _check_order(jobs)
    return jobs


def _job(name: str, spec: dict) -> Job:
    where = f"jobs.{name}"
    if unknown := set(spec) - KEYS:
        raise ScheduleError(f"{where}: unknown key(s) {sorted(unknown)}")
    if spec.get("cadence") not in CADENCES:
        raise ScheduleError(f"{where}.cadence: one of {CADENCES}, not {spec.get('cadence')!r}")
    if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", str(spec.get("at", ""))):
        raise ScheduleError(f"{where}.at: a time HH:MM (UTC), not {spec.get('at')!r}")
    day = spec.get("day")
    if (spec["cadence"] == "monthly") != isinstance(day, int) or (day is not None and not 1 <= day <= 28):
        raise ScheduleError(f"{where}.day: a day 1-28 for a monthly job, none for a daily one")
    commands = tuple(spec.get("commands", ()))
    if bad := [c for c in commands if not c.startswith("nbo ")]:
        raise ScheduleError(f"{where}.commands: each is an nbo command, not {bad}")
    hour, minute = map(int, spec["at"].split(":"))
    return Job(name, spec.get("about", ""), spec["cadence"], hour, minute, day, tuple(spec.get("after", ())),
               commands)


def _check_order(jobs: list[Job]) -> None:
    """Each job's `after` names a scheduled job of its cadence that starts earlier in the day."""
    by_name = {job.name: job for job in jobs}
    for job in jobs:
        for name in job.after:
            first = by_name.get(name)
            if first is None or first.cadence != job.cadence or first.is_placeholder:
                raise ScheduleError(f"jobs.{job.name}.after: {name!r} is not a scheduled {job.cadence} job")
            if (first.hour, first.minute) >= (job.hour, job.minute):
                raise ScheduleError(f"jobs.{job.name}.at: must be later than {name}'s {first.hour:02}:{first.minute:02}")


def shell_command(command: str, root: Path, date_expr: str) -> str:
    """The job's command for a shell in `root`: the venv's nbo, `{date}` as `date_expr`."""
    words = [str(root / ".venv" / "bin" / "nbo"), *shlex.split(command)[1:]]
    return " ".join(date_expr if w == DATE else shlex.quote(w) for w in words)


def render_cron(jobs: list[Job], root: Path) -> str:
    """A crontab (the machine's clock in UTC): one line per job, never two runs of a job at once (flock)."""
    lines = ["# nbo's recurring jobs, written by deploy/schedule.py from config/schedule.toml: do not edit.",
             "# Times are UTC (Debian's cron uses the system time zone). Logs: var/schedule-JOB.log.",
             "SHELL=/bin/sh"]
    for job in jobs:
        lines.append(f"# {job.name}: {job.about}")
        if job.is_placeholder:
            continue
        day = str(job.day) if job.cadence == "monthly" else "*"
        steps = " && ".join(shell_command(c, root, r"$(date -u +\%F)") for c in job.commands)
        lines.append(f"{job.minute} {job.hour} {day} * * cd {shlex.quote(str(root))} && "
                     f"flock -n var/schedule-{job.name}.lock sh -c {shlex.quote(steps)} "
                     f">>var/schedule-{job.name}.log 2>&1")
    return "\n".join(lines) + "\n"


def on_calendar(job: Job) -> str:
    """The job's time as a systemd calendar event."""
    day = f"{job.day:02}" if job.cadence == "monthly" else "*"
    return f"*-*-{day} {job.hour:02}:{job.minute:02}:00 UTC"


def render_systemd(jobs: list[Job], root: Path) -> dict[str, str]:
    """Unit file name → text: a oneshot `nbo-JOB.service` (one ExecStart per command) and its `.timer`."""
    units = {}
    for job in jobs:
        if job.is_placeholder:
            continue
        head = f"# Written by deploy/schedule.py from config/schedule.toml: do not edit.\n[Unit]\nDescription=nbo {job.name}: {job.about}\n"
        exec_lines = "".join(f"ExecStart={_systemd_exec(c, root)}\n" for c in job.commands)
        units[f"nbo-{job.name}.service"] = (f"{head}\n[Service]\nType=oneshot\nWorkingDirectory={root}\n"
                                            f"EnvironmentFile=-/etc/nbo/nbo.env\n{exec_lines}")
        units[f"nbo-{job.name}.timer"] = (f"{head}\n[Timer]\nOnCalendar={on_calendar(job)}\nPersistent=true\n\n"
                                          "[Install]\nWantedBy=timers.target\n")
    return units


def _systemd_exec(command: str, root: Path) -> str:
    """An ExecStart value: the command itself, or through sh when it needs today's date."""
    if DATE not in command.split():
        return shell_command(command, root, DATE)
    return "/bin/sh -c " + shlex.quote(shell_command(command, root, "$$(date -u +%%F)"))


def main(argv: list[str] | None = None) -> None:
    """Write the crontab to stdout, or the systemd units into --out."""
    parser = argparse.ArgumentParser(prog="python -m deploy.schedule", description=__doc__.splitlines()[0])
    parser.add_argument("target", choices=("cron", "systemd"))
    parser.add_argument("--root", type=Path, default=REPO, help="the nbo directory the jobs run in")
    parser.add_argument("--out", type=Path, help="directory for the systemd units")
    parser.add_argument("--schedule", type=Path, default=SCHEDULE_FILE)
    args = parser.parse_args(argv)
    try:
        jobs = load_schedule(args.schedule)
    except (ScheduleError, OSError, tomllib.TOMLDecodeError) as e:
        sys.exit(f"{args.schedule}: {e}")
    if args.target == "cron":
        sys.stdout.write(render_cron(jobs, args.root))
        return
    if args.out is None:
        parser.error("systemd needs --out DIR")
    args.out.mkdir(parents=True, exist_ok=True)
    for name, text in render_systemd(jobs, args.root).items():
        (args.out / name).write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
