"""Private, throw-away Redis and PostgreSQL servers that a test may stop and start at will.

The machine's own servers (6379, 5432) are shared with other tests, so fault tests never touch
them: each of these runs on a free loopback port with its data in a temporary directory, keeps
its data across a kill (Redis: append-only file fsynced on every write), and is removed after.
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

from tests.server import free_port

PG_BINS = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
PG_USER = "postgres"  # initdb and postgres refuse to run as root


def _wait(ready: Callable[[], bool], what: str, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while not ready():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not come up within {timeout_s:.0f} s")
        time.sleep(0.1)


class PrivateRedis:
    """redis-server on its own port; `kill()` is a crash, `start()` brings the same data back."""

    def __init__(self, work: Path):
        self.work, self.port = work, free_port()
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
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.work),
             "--save", "", "--appendonly", "yes", "--appendfsync", "always", "--daemonize", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait(self._pings, f"redis-server on {self.port}")

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
        self.work, self.port = work, free_port()
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
        self._as_postgres(self.bin / "pg_ctl", "-D", self.data, "-l", self.work / "log", "-w", "start", "-o",
                          f"-p {self.port} -k {self.work} -c listen_addresses=127.0.0.1")
        _wait(self._answers, f"PostgreSQL on {self.port}")

    def stop(self) -> None:
        """Stop at once (immediate mode: no checkpoint, like a crash; WAL replays on start)."""
        self._as_postgres(self.bin / "pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop")
