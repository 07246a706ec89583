"""Tell every worker process of `nbo serve --workers N` to reload its models.

`POST /v1/admin/reload` reaches one worker. That worker reloads, then replaces a small file in the
state directory; every worker compares the file's identity (inode and mtime) with the one it last
saw on each request, and when it changed reloads in a background thread while it keeps answering
with the models it has — so no request waits for a reload and none is dropped.
"""

from __future__ import annotations

import os
import threading
import uuid
from pathlib import Path

FILE_NAME = "reload-signal"


class ReloadSignal:
    """The reload file of one state directory, as one worker process sees it."""

    def __init__(self, state_dir: Path):
        self.path = Path(state_dir) / FILE_NAME
        self._seen = self._stamp()
        self._lock = threading.Lock()
        self._busy = False

    def _stamp(self) -> tuple[int, int]:
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return (0, 0)
        return (stat.st_ino, stat.st_mtime_ns)

    def announce(self) -> None:
        """After this worker reloaded: tell the others (and remember that this worker is current)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        staged = self.path.with_name(f".{FILE_NAME}.{uuid.uuid4().hex}")
        staged.write_text(uuid.uuid4().hex, encoding="ascii")
        os.replace(staged, self.path)
        with self._lock:
            self._seen = self._stamp()

    def claim(self) -> bool:
        """True (once) when another worker announced a reload this worker has not started yet."""
        stamp = self._stamp()
        with self._lock:
            if self._busy or stamp == self._seen:
                return False
            self._busy, self._seen = True, stamp
            return True

    def release(self) -> None:
        """The claimed reload finished (or failed; the next announce tries again)."""
        with self._lock:
            self._busy = False
