"""The live API keys of one worker process: changes to the key file are seen within a second.

`nbo keys create|revoke` replace the key file (`serving/security/keys.py`). Each worker and replica checks
the file's identity (inode, mtime, size) with one `stat` at most every CHECK_INTERVAL_S and
re-reads it only when it changed, so a request pays a clock read and a comparison, and a created
or revoked key takes effect everywhere within a second, without a restart. A workbench session
is checked against the same live keys on every request, so revoking its key ends it.

"Last used" is the modification time of one empty file per key, touched at most once per
USAGE_INTERVAL_S per key and process: no write on the request path beyond that.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path

from serving.security import keys

log = logging.getLogger(__name__)
CHECK_INTERVAL_S = 0.5
USAGE_INTERVAL_S = 60.0


def _stamp(path: Path) -> tuple[int, int, int] | None:
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return (stat.st_ino, stat.st_mtime_ns, stat.st_size)


class KeyRing:
    """hash → role of the live keys in one key file, as this process sees it."""

    def __init__(self, path: Path):
        self.path = path
        self._lock = threading.Lock()
        self._hashes: dict[str, str] = {}
        self._records: dict[str, dict] = {}
        self._stamp: tuple[int, int, int] | None = None
        self._checked = -CHECK_INTERVAL_S
        self._noted: dict[str, float] = {}
        self._refresh(time.monotonic())

    def hashes(self) -> dict[str, str]:
        """hash → role of the live keys (the key file is looked at most every CHECK_INTERVAL_S)."""
        now = time.monotonic()
        if now - self._checked >= CHECK_INTERVAL_S:
            self._refresh(now)
        return self._hashes

    def rm_of(self, hash_prefix: str) -> str | None:
        """The RM of the live rm key whose hash starts with `hash_prefix` (a workbench session's), or None."""
        self.hashes()
        return keys.rm_of(self._records, hash_prefix)

    def role_for(self, key: str) -> str | None:
        """The role of a presented key, or None when it is not a live key."""
        return self.role_for_hash(keys.hash_key(key))

    def role_for_hash(self, hashed: str) -> str | None:
        """The role of a presented key's hash (compared in constant time with every live hash)."""
        role = keys.role_for_hash(hashed, self.hashes())
        if role is not None:
            self._note_use(hashed)
        return role

    def _refresh(self, now: float) -> None:
        with self._lock:
            if now - self._checked < CHECK_INTERVAL_S:
                return
            self._checked = now
            stamp = _stamp(self.path)
            if stamp == self._stamp:
                return
            try:
                self._records = keys.load_records(self.path)
                self._hashes = {h: r["role"] for h, r in self._records.items()}
            except (OSError, ValueError) as err:  # a hand-edited file: keep the keys we have
                log.error("api_keys_unreadable", extra={"error_type": type(err).__name__})
                return
            self._stamp = stamp
            log.info("api_keys_loaded", extra={"keys": len(self._hashes)})

    def _note_use(self, hashed: str) -> None:
        now = time.monotonic()
        if now - self._noted.get(hashed, -USAGE_INTERVAL_S) < USAGE_INTERVAL_S:
            return
        self._noted[hashed] = now
        usage = keys.usage_file(self.path, keys.key_id(hashed))
        try:
            usage.parent.mkdir(mode=0o700, exist_ok=True)
            os.close(os.open(usage, os.O_WRONLY | os.O_CREAT, 0o600))
            os.utime(usage)
        except OSError as err:  # "last used" is informational: never fail a request for it
            log.warning("key_use_not_noted", extra={"error_type": type(err).__name__})
