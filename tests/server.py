"""`nbo serve` as a real process on a free loopback port: start, wait for /readyz, stop or kill.

Shared by the HTTP and reliability tests and by the service and load benchmarks. The server's
stdout and stderr go to a log file that a test can read (the log leak check does).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
NBO = Path(sys.executable).parent / "nbo"
READY_TIMEOUT_S = 180.0


def free_port() -> int:
    """A TCP port nobody listens on right now (on 127.0.0.1)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    """One running `nbo serve`: its URL, process, log and the NBO_* variables it runs with."""

    url: str
    proc: subprocess.Popen[bytes]
    log_path: Path
    env: dict[str, str]

    def log_text(self) -> str:
        """Everything the server wrote on stdout and stderr so far."""
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def kill(self) -> None:
        """SIGKILL: no shutdown, no flush (a crash)."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        """SIGTERM and wait; SIGKILL if it does not stop within 30 s."""
        if self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.kill()


def start_service(env: dict[str, str], *args: str, port: int | None = None, log_path: Path | None = None,
                  timeout_s: float = READY_TIMEOUT_S) -> Server:
    """Start `nbo serve ARGS` with these NBO_* variables and wait until /readyz answers 200."""
    port = port or free_port()
    if log_path is None:
        log_path = Path(tempfile.mkstemp(prefix="nbo-serve-", suffix=".log")[1])
    with log_path.open("ab") as log:
        proc = subprocess.Popen([str(NBO), "serve", "--host", "127.0.0.1", "--port", str(port), *args],
                                env=os.environ | env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    server = Server(f"http://127.0.0.1:{port}", proc, log_path, env)
    try:
        wait_ready(server, timeout_s)
    except BaseException:
        server.stop()
        raise
    return server


def wait_ready(server: Server, timeout_s: float = READY_TIMEOUT_S) -> float:
    """Poll /readyz until it answers 200; the seconds it took. Fails if the process exits first."""
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        if server.proc.poll() is not None:
            raise RuntimeError(f"nbo serve exited {server.proc.returncode}:\n{server.log_text()[-4000:]}")
        try:
            if httpx.get(f"{server.url}/readyz", timeout=5).status_code == 200:
                return time.monotonic() - started
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{server.url}/readyz not ready after {timeout_s:.0f} s:\n{server.log_text()[-2000:]}")


@contextmanager
def running_service(env: dict[str, str], *args: str, log_path: Path | None = None) -> Iterator[Server]:
    """`nbo serve ARGS` on a free port, ready; stopped afterwards."""
    server = start_service(env, *args, log_path=log_path)
    try:
        yield server
    finally:
        server.stop()
