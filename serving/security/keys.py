"""API keys: one per client, mapped to a role, stored only as SHA-256 hashes in the key file.

Keys are random 256-bit tokens, so a plain SHA-256 is enough to store them (no password
stretching needed); comparisons use `hmac.compare_digest`.

Where keys live: `api-keys.json` in the state directory, mode 0600, hash → {id, role, created} and, for
an `rm` key, `rm_id`: the relationship manager it belongs to (what the workbench checks ownership by).
Every worker of `nbo serve --workers N` reads the same file, and so does every replica, which
mounts the state directory anyway for the workbench session secret and the reload signal
(`tests/scale/test_replicas.py` runs them so). A file keeps `nbo keys` working without a
database, keeps credentials out of the audit database (which reports and analysts read), and
lets a worker notice a change with one `stat` (see `serving/security/keyring.py`). Changes are written
under an exclusive lock and replace the file atomically. A key's id is the first 12 hex digits
of its hash, so files of earlier installs (hash → role) keep their ids when they are rewritten.
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import json
import os
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from nbo.errors import NotFound

ROLES = ("app", "rm", "risk", "admin", "payments")  # payments: the payment system (scoring only)
ID_LEN = 12
RM_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,31}\Z")  # as the bank's systems name an RM (`RM011`)


class KeyNotFound(NotFound):
    """No live key has this id."""


def hash_key(key: str) -> str:
    """Return the stored form of a key."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def key_id(hashed: str) -> str:
    """The public id of a key: a prefix of its hash (shown by `nbo keys list`, used to revoke)."""
    return hashed[:ID_LEN]


def load_records(path: Path) -> dict[str, dict[str, Any]]:
    """Return hash → {id, role, created} from the key file (empty when there is none).

    Entries of earlier installs (hash → role) are read as keys with an unknown creation time."""
    if not path.exists():
        return {}
    stored = json.loads(path.read_text(encoding="utf-8"))
    return {h: (v if isinstance(v, dict) else {"role": v, "created": None}) | {"id": key_id(h)}
            for h, v in stored.items()}


def load_key_hashes(path: Path) -> dict[str, str]:
    """Return hash → role from the key file (empty when there is none)."""
    return {h: r["role"] for h, r in load_records(path).items()}


def role_for(key: str, hashes: dict[str, str]) -> str | None:
    """Return the role of a presented key, comparing every stored hash in constant time."""
    return role_for_hash(hash_key(key), hashes)


def role_for_hash(presented: str, hashes: dict[str, str]) -> str | None:
    """Return the role of a presented key's hash, comparing every stored hash in constant time."""
    role = None
    for stored, stored_role in hashes.items():
        if hmac.compare_digest(presented, stored):
            role = stored_role
    return role


def add_key(path: Path, role: str, rm_id: str | None = None) -> tuple[str, str]:
    """Create a new key for `role` (an `rm` key may name its RM), store its hash and return (id, key);
    the key is shown once."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; roles are {', '.join(ROLES)}")
    if rm_id is not None and (role != "rm" or not RM_ID.match(rm_id)):
        raise ValueError(f"--rm-id {rm_id!r}: only an rm key names an RM, as letters, digits, _ or - "
                         "(at most 32, e.g. RM011)")
    key = f"nbo_{role}_{secrets.token_urlsafe(32)}"
    hashed = hash_key(key)
    record = {"role": role, "created": datetime.now(UTC).isoformat()} | ({"rm_id": rm_id} if rm_id else {})
    with _locked(path):
        _write_records(path, load_records(path) | {hashed: record})
    return key_id(hashed), key


def rm_of(records: dict[str, dict[str, Any]], hash_prefix: str) -> str | None:
    """The RM of the live rm key whose hash starts with `hash_prefix` (a workbench session's), or None."""
    found = [r.get("rm_id") for h, r in records.items() if h.startswith(hash_prefix) and r["role"] == "rm"]
    return found[0] if len(found) == 1 else None


def revoke_key(path: Path, wanted_id: str) -> dict[str, Any]:
    """Remove the key with this id from the key file; return its record (KeyNotFound if none)."""
    with _locked(path):
        records = load_records(path)
        found = [h for h, r in records.items() if r["id"] == wanted_id]
        if not found:
            raise KeyNotFound(f"no API key has the id {wanted_id!r} (see `nbo keys list`)")
        record = records.pop(found[0])
        _write_records(path, records)
    usage_file(path, wanted_id).unlink(missing_ok=True)
    return record


def list_keys(path: Path) -> list[dict[str, Any]]:
    """Return id, role, RM (rm keys), created and last used of every live key (never the key or its
    hash), oldest first."""
    rows = [{"id": r["id"], "role": r["role"], "rm_id": r.get("rm_id"), "created": r["created"],
             "last_used": _last_used(usage_file(path, r["id"]))} for r in load_records(path).values()]
    return sorted(rows, key=lambda r: (r["created"] or "", r["id"]))


def usage_file(path: Path, wanted_id: str) -> Path:
    """The empty file whose modification time is when the key was last used (see `serving/security/keyring.py`)."""
    return path.with_name(f"{path.stem}-used") / wanted_id


def _last_used(usage: Path) -> str | None:
    try:
        return datetime.fromtimestamp(usage.stat().st_mtime, UTC).isoformat(timespec="seconds")
    except FileNotFoundError:
        return None


def create_demo_keys(keys_file: Path, demo_file: Path, rm_id: str | None = None) -> dict[str, str]:
    """Return one live key per role, kept in plain text in `demo_file` for `nbo info` (demo only);
    roles without a live demo key get a new one (the rm key belongs to `rm_id`)."""
    demo = read_demo_keys(demo_file, load_key_hashes(keys_file))
    missing = [role for role in ROLES if role not in demo]
    if missing:
        demo |= {role: add_key(keys_file, role, rm_id if role == "rm" else None)[1] for role in missing}
        _write_private(demo_file, demo)
    return demo


def read_demo_keys(demo_file: Path, live: dict[str, str]) -> dict[str, str]:
    """Return role → plain demo key for the demo keys still in `live` (hash → role); empty outside demo mode."""
    if not demo_file.exists():
        return {}
    demo = json.loads(demo_file.read_text(encoding="utf-8"))
    return {role: key for role, key in demo.items() if hash_key(key) in live}


def _write_records(path: Path, records: dict[str, dict[str, Any]]) -> None:
    _write_private(path, {h: {"role": r["role"], "created": r["created"]} | ({"rm_id": r["rm_id"]} if r.get("rm_id")
                                                                            else {})
                          for h, r in records.items()})


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock beside the key file, so that concurrent `nbo keys` commands do not
    lose each other's changes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path.with_name(f"{path.name}.lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _write_private(path: Path, payload: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(payload, fh, indent=2)
    os.replace(tmp, path)
