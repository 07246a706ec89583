"""`nbo serve`: run the service with uvicorn; `nbo report challenger | shadow`: reports from the audit."""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from nbo.console import emit, handles_errors, json_option
from nbo.errors import PortUnavailable
from nbo.settings import load_settings

log = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1  # prctl(2): the signal this process gets when its parent dies


@click.command("serve")
@click.option("--host", help="Listen address (default: NBO_SERVICE__HOST, 127.0.0.1).")
@click.option("--port", type=click.IntRange(1, 65535), help="Port (default: NBO_SERVICE__PORT, 8000).")
@click.option("--workers", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Worker processes, each with its own models; a reload reaches them all.")
@click.option("--fd", type=click.IntRange(0), help="Serve on this inherited, bound and listening socket "
              "instead of --host/--port (a caller that bound port 0 knows its port before the start).")
@handles_errors
def serve(host: str | None, port: int | None, workers: int, fd: int | None) -> None:
    """Serve the HTTP API and the RM workbench until interrupted; the offline copy of logged events is
    flushed every 2 seconds by a process beside the workers. A port already in use: exit 5."""
    import uvicorn

    from serving.app import create_app

    settings = load_settings()
    host, port = host or settings.service.host, port or settings.service.port
    where: dict[str, Any] = {"host": host, "port": port} if fd is None else {"fd": fd}
    if fd is None:
        _require_free(host, port)
    url = f"http://{host}:{port}" if fd is None else f"socket fd {fd}"
    log.info("serving", extra={"url": url, "workers": workers, "docs": f"{url}/docs" if fd is None else "/docs"})
    flusher = _start_event_flusher()
    try:
        if workers == 1:
            uvicorn.run(create_app(settings), **where, log_level="warning", access_log=False)
        else:  # each worker process builds the app from the same environment (and its rate-limit share)
            os.environ["NBO_SERVICE__WORKERS"] = str(workers)
            uvicorn.run("serving.app:app_from_environment", factory=True, workers=workers, **where,
                        log_level="warning", access_log=False)
    finally:
        flusher.terminate()  # it flushes once more, then exits
        flusher.wait(timeout=60)


def _require_free(host: str, port: int) -> None:
    """PortUnavailable unless `host:port` can be bound now (as uvicorn binds it: SO_REUSEADDR)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        with socket.socket(infos[0][0], socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(infos[0][4])
    except OSError as err:
        raise PortUnavailable(f"cannot listen on {host}:{port}: {err.strerror or err}") from err


def _start_event_flusher() -> subprocess.Popen[bytes]:
    """`nbo events flush --every 2` beside the workers: the offline copy of logged events, in a
    process of its own so that rewriting the push source's file never holds a worker's
    interpreter. It gets SIGTERM when this process dies, even by SIGKILL (PR_SET_PDEATHSIG)."""
    from serving.triggers.event_flush import FLUSH_INTERVAL_S

    def die_with_parent() -> None:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)

    command = [str(Path(sys.executable).parent / "nbo"), "events", "flush", "--every", str(FLUSH_INTERVAL_S)]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, preexec_fn=die_with_parent)  # noqa: PLW1509


@click.group("report")
def report_group() -> None:
    """Reports from the service's audit store."""


@report_group.command("challenger")
@click.option("--since", type=click.DateTime(formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S"]),
              help="Only offer decisions made at or after this time (UTC), e.g. 2026-11-01.")
@json_option
@handles_errors
def challenger(since: datetime | None, as_json: bool) -> None:
    """Acceptance rate of the champion's and the challenger's offers, from audited decisions and
    their feedback, with 95% Wilson intervals and a two-proportion z-test.

    Reads the audit store the service writes (NBO_SERVICE__AUDIT_URL, else PostgreSQL in the
    scale profile, else SQLite in the state directory)."""
    from serving.reports.challenger import challenger_report, report_text

    emit(_from_audit(challenger_report, since), as_json, report_text)


@report_group.command("shadow")
@click.option("--since", type=click.DateTime(formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S"]),
              help="Only decisions made at or after this time (UTC), e.g. 2026-11-01.")
@json_option
@handles_errors
def shadow(since: datetime | None, as_json: bool) -> None:
    """The shadow model against the champion on the same requests: rank agreement, score
    distributions, band agreement, and for the recommender the offers it would have made.

    Reads the audit store the service writes (as `nbo report challenger` does)."""
    from serving.reports.shadow import report_text, shadow_report

    emit(_from_audit(shadow_report, since), as_json, report_text)


def _from_audit(report: Callable[[Any, datetime | None], dict[str, Any]], since: datetime | None) -> dict[str, Any]:
    """`report(store, since)` on the audit store the service writes (`since` naive: UTC)."""
    from serving.audit.store import AuditStore

    store = AuditStore(load_settings().audit_url)
    try:
        return report(store, since.replace(tzinfo=UTC) if since else None)
    finally:
        store.close()
