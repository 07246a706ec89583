"""State files that hold customer data are readable by their owner only (mode 0600)."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

PRIVATE = 0o600
SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")


def make_private(path: Path) -> Path:
    """Create `path` empty with mode 0600 if it is missing (its folder too), else set it to 0600.

    Create a SQLite database this way before SQLite opens it: SQLite gives its `-wal`, `-shm` and
    `-journal` files the main file's mode. Any of those left by an earlier run are set to 0600 too.
    An existing file is never opened: closing a descriptor of a SQLite database releases the POSIX
    locks every connection of this process holds on it, and another process may then corrupt it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, PRIVATE))
    os.chmod(path, PRIVATE)
    for suffix in SQLITE_COMPANIONS:
        with contextlib.suppress(FileNotFoundError):
            os.chmod(path.with_name(path.name + suffix), PRIVATE)
    return path
