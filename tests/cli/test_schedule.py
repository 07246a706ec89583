"""The recurring jobs are declared once (config/schedule.toml) and cron and systemd run exactly them.

The crontab and the units are read back here on their own terms (cron's five fields, systemd's own
`systemd-analyze`), not through the generator that wrote them.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from deploy.schedule import SCHEDULE_FILE, ScheduleError, load_schedule, render_cron, render_systemd
from tests.conftest import ROOT, run_cli

DEPLOY = ROOT / "deploy"
INSTALL_ROOT = Path("/opt/nbo")  # where the checked-in entries expect nbo
CRON_DATE = r"$(date -u +\%F)"


def declared() -> dict[str, dict]:
    """The schedule file's jobs as plain TOML."""
    return tomllib.loads(SCHEDULE_FILE.read_text(encoding="utf-8"))["jobs"]


def expected_steps(spec: dict, root: Path, date_expr: str) -> list[str]:
    """A job's commands as a shell in `root` runs them: the venv's nbo, the run's day for {date}."""
    return [command.replace("nbo ", f"{root}/.venv/bin/nbo ", 1).replace("{date}", date_expr)
            for command in spec["commands"]]


def exec_command(value: str) -> str:
    """What an ExecStart= value runs, as a shell line: systemd's $$ and %% unescaped, `sh -c` unwrapped."""
    words = shlex.split(value.replace("$$", "$").replace("%%", "%"))
    return words[2] if words[:2] == ["/bin/sh", "-c"] else " ".join(words)


def test_checked_in_entries_are_the_schedule_files() -> None:
    """deploy/cron and deploy/systemd are what deploy/schedule.py writes from the schedule today."""
    jobs = load_schedule()
    assert (DEPLOY / "cron" / "nbo.crontab").read_text(encoding="utf-8") == render_cron(jobs, INSTALL_ROOT)
    units = render_systemd(jobs, INSTALL_ROOT)
    assert {p.name for p in (DEPLOY / "systemd").iterdir()} == set(units)
    for name, text in units.items():
        assert (DEPLOY / "systemd" / name).read_text(encoding="utf-8") == text, name


def test_crontab_runs_each_job_at_its_time() -> None:
    """One line per job with commands, at its minute, hour (and day), running them in order; none for a placeholder."""
    lines = [line for line in (DEPLOY / "cron" / "nbo.crontab").read_text(encoding="utf-8").splitlines()
             if line and not line.startswith("#") and "=" not in line.split()[0]]
    entries = {re.search(r"var/schedule-(\w+)\.lock", line).group(1): line for line in lines}
    jobs = declared()
    assert set(entries) == {name for name, spec in jobs.items() if spec["commands"]}
    for name, line in entries.items():
        spec = jobs[name]
        minute, hour, day, month, weekday, command = line.split(maxsplit=5)
        assert (int(hour), int(minute)) == tuple(map(int, spec["at"].split(":"))), name
        assert (day, month, weekday) == (str(spec.get("day", "*")), "*", "*"), name
        inner = shlex.split(command.split(" sh -c ", 1)[1])[0]  # what flock runs
        assert inner == " && ".join(expected_steps(spec, INSTALL_ROOT, CRON_DATE)), name
        assert command.startswith(f"cd {INSTALL_ROOT} && flock -n var/schedule-{name}.lock ")
        shell = command.replace(r"\%", "%")  # what cron hands /bin/sh
        assert subprocess.run(["/bin/sh", "-n", "-c", shell]).returncode == 0, f"{name}: not valid sh"


def test_systemd_units_verify_and_fire_at_the_job_time(tmp_path: Path) -> None:
    """`systemd-analyze verify` accepts the units for a real nbo directory; each timer fires at its job's time."""
    root = tmp_path / "nbo"
    (root / ".venv").mkdir(parents=True)
    (root / ".venv" / "bin").symlink_to(Path(sys.executable).parent)
    units = render_systemd(load_schedule(), root)
    for name, text in units.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    verify = subprocess.run(["systemd-analyze", "verify", *sorted(str(tmp_path / n) for n in units)],
                            capture_output=True, text=True, cwd=tmp_path)
    assert verify.returncode == 0, verify.stderr
    for name, spec in declared().items():
        if not spec["commands"]:
            assert f"nbo-{name}.service" not in units
            continue
        calendar = re.search(r"^OnCalendar=(.+)$", units[f"nbo-{name}.timer"], re.MULTILINE).group(1)
        nexts = subprocess.run(["systemd-analyze", "calendar", "--iterations", "3", calendar],
                               capture_output=True, text=True, check=True).stdout
        elapses = re.findall(r"(?:Next elapse|Iter\. #\d): \w+ (\d{4}-\d\d-(\d\d)) (\d\d:\d\d):00 UTC", nexts)
        assert len(elapses) == 3, nexts
        assert {at for _, _, at in elapses} == {spec["at"]}, name
        days = {int(day) for _, day, _ in elapses}
        assert days == {spec["day"]} if spec["cadence"] == "monthly" else len(days) == 3, name
        runs = [exec_command(v) for v in re.findall(r"^ExecStart=(.+)$", units[f"nbo-{name}.service"], re.MULTILINE)]
        assert runs == expected_steps(spec, root, "$(date -u +%F)"), name


@pytest.mark.parametrize("command", sorted({c for spec in declared().values() for c in spec["commands"]}))
def test_each_scheduled_command_is_an_nbo_command(command: str) -> None:
    """Each command's sub-command exists and takes every option the schedule gives it."""
    words = shlex.split(command)[1:]
    path = [w for w in words[:2] if re.fullmatch(r"[a-z-]+", w) and "/" not in w]
    text = run_cli(*path, "--help").stdout
    for option in (w for w in words if w.startswith("--")):
        assert option in text, f"`nbo {' '.join(path)}` has no {option}"


@pytest.mark.parametrize(("job", "message"), [
    ('cadence = "weekly"\nat = "01:00"', "jobs.x.cadence"),
    ('cadence = "daily"\nat = "1:00"', "jobs.x.at"),
    ('cadence = "monthly"\nat = "01:00"', "jobs.x.day"),
    ('cadence = "daily"\nat = "01:00"\nday = 3', "jobs.x.day"),
    ('cadence = "daily"\nat = "01:00"\ncommands = ["rm -rf /"]', "jobs.x.commands"),
    ('cadence = "daily"\nat = "01:00"\nwhen = "x"', "unknown key"),
    ('cadence = "daily"\nat = "01:00"\nafter = ["nope"]', "jobs.x.after"),
    ('cadence = "daily"\nat = "00:30"\nafter = ["y"]\n[jobs.y]\ncadence = "daily"\nat = "01:00"\n'
     'commands = ["nbo info"]', "jobs.x.at"),
])
def test_a_bad_schedule_is_refused_by_job_and_key(tmp_path: Path, job: str, message: str) -> None:
    """Each rule of the file, broken once: ScheduleError names the job and key; the generator exits non-zero."""
    bad = tmp_path / "schedule.toml"
    bad.write_text(f"[jobs.x]\n{job}\n", encoding="utf-8")
    with pytest.raises(ScheduleError, match=re.escape(message)):
        load_schedule(bad)
    proc = subprocess.run([sys.executable, "-m", "deploy.schedule", "cron", "--schedule", str(bad)],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode != 0 and message in proc.stderr and "Traceback" not in proc.stderr
