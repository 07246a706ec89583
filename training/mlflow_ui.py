"""`nbo mlflow-ui`: MLflow's own UI on the project's store (what `make mlflow-ui` runs)."""

from __future__ import annotations

import logging
import os

import click

from nbo.console import handles_errors
from nbo.settings import load_settings

log = logging.getLogger(__name__)


@click.command("mlflow-ui")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(1, 65535), default=5000, show_default=True, help="Port to listen on.")
@handles_errors
def mlflow_ui(host: str, port: int) -> None:
    """Serve MLflow's UI on the configured store: runs, their datasets and reports, registered models.

    Runs `mlflow server` with the settings' tracking URI and artifact folder (a file store left by
    an older nbo is migrated first); Ctrl-C stops it.
    """
    from models.tracking_store import prepare_store, ui_command

    settings = load_settings().mlflow
    prepare_store(settings)
    command = ui_command(settings, host, port)
    log.info("mlflow_ui", extra={"store": settings.tracking_uri, "url": f"http://{host}:{port}", "stop": "Ctrl-C"})
    # MLflow's job workers serve its GenAI features (judges, evaluations): nine processes nbo never uses.
    os.execve(command[0], command, os.environ | {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"})
