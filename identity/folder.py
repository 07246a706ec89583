"""A OneID folder's files: written atomically (temporary file, fsync, rename; mode 0600) under one lock.

`nbo identity resolve` and every manual correction hold the lock while they read and rewrite the
links, so a correction made during a resolve is neither lost nor overwritten."""

from __future__ import annotations

import fcntl
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd


def write_parquet(frame: pd.DataFrame, path: Path) -> None:
    """Parquet written beside `path` (mode 0600), flushed, then renamed over it."""
    _replace(path, lambda fh: frame.to_parquet(fh, index=False))


def write_text(text: str, path: Path) -> None:
    """UTF-8 text written beside `path` (mode 0600), flushed, then renamed over it."""
    _replace(path, lambda fh: fh.write(text.encode("utf-8")))


def _replace(path: Path, write: object) -> None:
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)  # type: ignore[operator]
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(name, path)
    finally:
        Path(name).unlink(missing_ok=True)


@contextmanager
def locked(out: Path) -> Iterator[None]:
    """An exclusive lock on the folder itself (nothing is created in it); released on exit."""
    fd = os.open(out, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock
