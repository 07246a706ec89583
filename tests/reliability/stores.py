"""Private, throw-away Redis and PostgreSQL servers that a test may stop and start at will.

The machine's own servers (6379, 5432) are shared with other tests, so fault tests never touch
them: each of these runs on a free loopback port with its data in a temporary directory, keeps
its data across a kill (Redis: append-only file fsynced on every write), and is removed after.
They bind their port themselves and keep it across restarts, so it is a spare port below the
kernel's ephemeral range; should another process take it before the first start, that start moves
to another spare port.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import psycopg
import redis

from tests.server import spare_port

PG_BINS = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
PG_USER = "postgres"  # initdb and postgres refuse to run as root
FIRST_START_TRIES = 5  # spare ports tried by a first start whose port was taken


def _wait(ready: Callable[[], bool], what: str, timeout_s: float = 30,
          proc: subprocess.Popen[bytes] | None = None) -> None:
    """Until `ready()`; RuntimeError after `timeout_s`, ChildProcessError as soon as `proc` exits."""
    deadline = time.monotonic() + timeout_s
    while not ready():
        if proc is not None and proc.poll() is not None:
            raise ChildProcessError(f"{what} exited {proc.returncode} (its port taken?)")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not come up within {timeout_s:.0f} s")
        time.sleep(0.1)


def _start_on_a_spare_port(server: PrivateRedis | PrivatePostgres, start_once: Callable[[], None]) -> None:
    """`start_once()`; on a first start that fails, again on another spare port (a restart keeps its port)."""
    for attempt in range(1 if server.started else FIRST_START_TRIES):
        try:
            start_once()
        except (ChildProcessError, subprocess.CalledProcessError):
            if server.started or attempt == FIRST_START_TRIES - 1:
                raise
            server.port = spare_port()
        else:
            server.started = True
            return


class PrivateRedis:
    """redis-server on its own port; `kill()` is a crash, `start()` brings the same data back."""

    def __init__(self, work: Path):
        self.work, self.port, self.started = work, spare_port(), False
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def _pings(self) -> bool:
        try:
            return bool(redis.Redis(port=self.port, socket_connect_timeout=0.5).ping())
        except redis.RedisError:
            return False

    def start(self) -> None:
        _start_on_a_spare_port(self, self._start_once)

    def _start_once(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.work),
             "--save", "", "--appendonly", "yes", "--appendfsync", "always", "--daemonize", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait(self._pings, f"redis-server on {self.port}", proc=self.proc)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)


class PrivatePostgres:
    """A PostgreSQL cluster of its own (initdb in a temporary directory), stopped and started at will."""

    def __init__(self, work: Path):
        if not PG_BINS:
            raise RuntimeError("no PostgreSQL server binaries under /usr/lib/postgresql")
        self.bin = Path(PG_BINS[-1])
        self.work, self.port, self.started = work, spare_port(), False
        self.data = work / "data"
        shutil.chown(work, PG_USER)
        self._as_postgres(self.bin / "initdb", "-D", self.data, "-A", "trust", "-U", PG_USER, "--no-sync",
                          "-E", "UTF8")

    @property
    def url(self) -> str:
        return f"postgresql://{PG_USER}@127.0.0.1:{self.port}/postgres"

    def _as_postgres(self, *args: object) -> None:
        prefix = ["runuser", "-u", PG_USER, "--"] if os.geteuid() == 0 else []
        subprocess.run([*prefix, *map(str, args)], check=True, capture_output=True, timeout=60)

    def _answers(self) -> bool:
        try:
            with psycopg.connect(self.url, connect_timeout=1) as conn:
                conn.execute("SELECT 1")
            return True
        except psycopg.Error:
            return False

    def start(self) -> None:
        _start_on_a_spare_port(self, self._start_once)

    def _start_once(self) -> None:
        self._as_postgres(self.bin / "pg_ctl", "-D", self.data, "-l", self.work / "log", "-w", "start", "-o",
                          f"-p {self.port} -k {self.work} -c listen_addresses=127.0.0.1")
        _wait(self._answers, f"PostgreSQL on {self.port}")

    def stop(self) -> None:
        """Stop at once (immediate mode: no checkpoint, like a crash; WAL replays on start)."""
        self._as_postgres(self.bin / "pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop")
