"""Browser sessions of the RM workbench: a signed cookie instead of the API key.

The cookie holds `payload.signature`: the payload is base64url JSON of the role, the first 16
hex digits of the key's SHA-256 hash and the expiry (Unix seconds); the signature is its
HMAC-SHA256 under a secret kept in the state dir (created once, mode 0600, so every worker
process of `nbo serve --workers N` signs and checks with the same secret). The raw key never
leaves the login request. A session is valid only while its key is still a live rm key: every
workbench request checks the prefix against the live keys (`serving/security/keyring.py`), so
`nbo keys revoke` ends the session within a second.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from serving.security import keys

COOKIE = "nbo_workbench"
LIFETIME_S = 8 * 3600  # one working day
SECRET_FILE = "workbench-session.key"
KEY_PREFIX_LEN = 16


@dataclass(frozen=True)
class Session:
    """A verified session."""

    role: str
    key_prefix: str
    expires_at: int


def load_secret(state_dir: Path) -> bytes:
    """The signing secret in `state_dir`, created atomically (0600) by whichever process comes first."""
    path = state_dir / SECRET_FILE
    if not path.exists():
        state_dir.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{SECRET_FILE}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(secrets.token_hex(32))
        try:
            os.link(tmp, path)  # atomic: fails if another worker created it first
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    return bytes.fromhex(path.read_text(encoding="ascii").strip())


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(secret: bytes, payload: str) -> str:
    return _b64(hmac.new(secret, payload.encode("ascii"), hashlib.sha256).digest())


def issue(secret: bytes, role: str, key: str, now: float | None = None) -> str:
    """A cookie value for a session of `key` (already verified to have `role`)."""
    body = {"role": role, "key": keys.hash_key(key)[:KEY_PREFIX_LEN],
            "exp": int((now or time.time()) + LIFETIME_S)}
    payload = _b64(json.dumps(body, separators=(",", ":")).encode("utf-8"))
    return f"{payload}.{_sign(secret, payload)}"


def verify(secret: bytes, cookie: str | None, key_hashes: dict[str, str], role: str,
           now: float | None = None) -> Session | None:
    """The session in `cookie` if its signature is ours, it has not expired, it is for `role` and its
    key is still known with that role; else None."""
    if not cookie or not cookie.isascii():
        return None
    payload, _, signature = cookie.partition(".")
    if not payload or not hmac.compare_digest(signature, _sign(secret, payload)):
        return None
    try:
        body = json.loads(_unb64(payload))
        session = Session(str(body["role"]), str(body["key"]), int(body["exp"]))
    except (ValueError, KeyError, TypeError):
        return None
    still_known = any(h.startswith(session.key_prefix) and r == role for h, r in key_hashes.items())
    if session.role != role or session.expires_at <= (now or time.time()) or not still_known:
        return None
    return session
