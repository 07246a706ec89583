"""API keys: one per client, mapped to a role, stored only as SHA-256 hashes.

Keys are random 256-bit tokens, so a plain SHA-256 is enough to store them (no password
stretching needed); comparisons use `hmac.compare_digest`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from pathlib import Path

ROLES = ("app", "rm", "risk", "admin")


def hash_key(key: str) -> str:
    """Return the stored form of a key."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def load_key_hashes(path: Path) -> dict[str, str]:
    """Return hash → role from the keys file (empty when there is none)."""
    if not path.exists():
        return {}
    return dict(json.loads(path.read_text(encoding="utf-8")))


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


def add_key(path: Path, role: str) -> str:
    """Create a new key for `role`, store its hash and return the key (shown once)."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; roles are {', '.join(ROLES)}")
    key = f"nbo_{role}_{secrets.token_urlsafe(32)}"
    hashes = load_key_hashes(path) | {hash_key(key): role}
    _write_private(path, hashes)
    return key


def create_demo_keys(keys_file: Path, demo_file: Path) -> dict[str, str]:
    """Create one key per role and keep the plain keys in `demo_file` for `nbo info` (demo only)."""
    if demo_file.exists():
        return dict(json.loads(demo_file.read_text(encoding="utf-8")))
    keys = {role: add_key(keys_file, role) for role in ROLES}
    _write_private(demo_file, keys)
    return keys


def read_demo_keys(demo_file: Path) -> dict[str, str]:
    """Return role → plain demo key, or an empty dict outside demo mode."""
    if not demo_file.exists():
        return {}
    return dict(json.loads(demo_file.read_text(encoding="utf-8")))


def _write_private(path: Path, payload: dict[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(payload, fh, indent=2)
    os.replace(tmp, path)
