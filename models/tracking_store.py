"""The MLflow tracking store the settings name: prepared before first use, and the UI's command line.

The default is a SQLite database in `mlruns/` with artifacts in `mlruns/artifacts/`. A `mlruns/`
written by an older nbo (MLflow's file store: experiment folders, `models/`) and no database yet
is migrated once, with MLflow's own `mlflow migrate-filestore` code; its artifacts stay where they
are and the database points at them. A `file:` URI named explicitly still works: nbo opts into
MLflow 3's file store for it (MLflow's UI and new features need a database).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import sys
from pathlib import Path

from mlflow.environment_variables import MLFLOW_ALLOW_FILE_STORE

from nbo.settings import MlflowSettings

log = logging.getLogger(__name__)


def is_file_store(uri: str) -> bool:
    """Whether `uri` names MLflow's file store (a `file:` URI or a bare folder)."""
    return uri.startswith("file:") or "://" not in uri


def old_file_store(folder: Path) -> bool:
    """Whether `folder` holds an MLflow file store: experiment folders (`0/meta.yaml`, ...) or
    registered models (`models/<name>/meta.yaml`)."""
    experiments = (d for d in folder.glob("[0-9]*") if d.name.isdigit() and (d / "meta.yaml").is_file())
    return any(experiments) or any(folder.glob("models/*/meta.yaml"))


def prepare_store(settings: MlflowSettings) -> None:
    """Make the configured store usable: opt into a named file store; create a SQLite database's
    folder, migrating an old file store found there once (said on stderr)."""
    if is_file_store(settings.tracking_uri):
        MLFLOW_ALLOW_FILE_STORE.set(True)
        return
    db = settings.sqlite_path
    if db is None or db.exists():
        return
    db.parent.mkdir(parents=True, exist_ok=True)
    if not old_file_store(db.parent):
        return
    with (db.parent / ".migration.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another process (a second worker) may be migrating it now
        if not db.exists():
            migrate_file_store(db.parent, db)


def migrate_file_store(folder: Path, db: Path) -> None:
    """Copy the file store in `folder` into the new SQLite database `db` (`mlflow migrate-filestore`)."""
    from mlflow.store.fs2db import migrate

    log.warning("MLflow: migrating the file store into the database, once (artifacts stay in place)",
                extra={"folder": str(folder), "database": str(db)})
    target = f"sqlite:///{db.resolve()}"
    try:
        with contextlib.redirect_stdout(sys.stderr):  # MLflow prints its summary; stdout stays the command's
            migrate(folder.resolve(), target, progress=False)
    except BaseException:
        db.unlink(missing_ok=True)  # a half-made database would hide the file store next time
        raise
    log.info("mlflow_file_store_migrated", extra={"source": str(folder), "target": target})


def ui_command(settings: MlflowSettings, host: str, port: int) -> list[str]:
    """`mlflow server` on the configured store: its runs, registry and artifacts, on host:port."""
    uri = settings.tracking_uri
    if settings.sqlite_path is not None:
        uri = f"sqlite:///{settings.sqlite_path.resolve()}"
    command = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", uri, "--host", host,
               "--port", str(port), "--workers", "1"]  # one person browsing: one worker, not MLflow's four
    location = settings.artifact_location
    if location is not None:
        if "://" not in location and not location.startswith("file:"):
            location = str(Path(location).resolve())
        command += ["--default-artifact-root", location, "--artifacts-destination", location]
    return command
