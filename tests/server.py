"""`nbo serve` as a real process on a free loopback port: start, wait for /readyz, stop or kill.

Shared by the HTTP and reliability tests and by the service and load benchmarks. The server's
stdout and stderr go to a log file that a test can read (the log leak check does). The port is
never free between choosing and serving: this process binds port 0 and hands the listening socket
to `nbo serve --fd`.
"""

from __future__ import annotations

import os
import random
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


EPHEMERAL_PORTS = Path("/proc/sys/net/ipv4/ip_local_port_range")


def cli_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """The caller's environment without any NBO_* variable, plus `env`: an `nbo` process started by a
    test sees the test's settings only, never those exported in the shell that runs the tests."""
    return {k: v for k, v in os.environ.items() if not k.startswith("NBO_")} | (env or {})


def listening_socket() -> socket.socket:
    """A TCP socket on 127.0.0.1, bound to a port the kernel picked and listening, to hand to a server.

    TCP_NODELAY is set here: uvicorn, given a descriptor, does not know it is TCP and leaves Nagle's
    algorithm on, while accepted connections inherit the listener's option (as with --port).
    """
    sock = socket.socket()
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(2048)
    return sock


def spare_port() -> int:
    """A port nobody listens on, below the kernel's ephemeral range, for a server that must bind it itself
    and keep it across restarts (Redis, PostgreSQL): the kernel never hands such a port out for port 0 or
    as a connection's source port, so only another explicit choice can race for it."""
    first_ephemeral = int(EPHEMERAL_PORTS.read_text().split()[0])
    while True:
        port = random.randrange(10_000, first_ephemeral)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port


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


def start_service(env: dict[str, str], *args: str, log_path: Path | None = None,
                  timeout_s: float = READY_TIMEOUT_S) -> Server:
    """Start `nbo serve ARGS` with these NBO_* variables (and no other NBO_* of the caller's) on a socket
    bound here, and wait until /readyz answers 200."""
    if log_path is None:
        log_path = Path(tempfile.mkstemp(prefix="nbo-serve-", suffix=".log")[1])
    with listening_socket() as sock, log_path.open("ab") as log:
        port = int(sock.getsockname()[1])
        proc = subprocess.Popen([str(NBO), "serve", "--fd", str(sock.fileno()), *args], pass_fds=(sock.fileno(),),
                                env=cli_env(env), cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
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
