"""Keyed hashes for identifiers (ID numbers, phones, e-mails) so they never leave the extracts in clear."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from pathlib import Path

from nbo.files import make_private

KEY_FILE = "identity.key"


def keyed_hash(value: str, key: bytes) -> str:
    """HMAC-SHA256 of `value` under `key`, as hex: equal values give equal hashes, nothing else is revealed."""
    return hmac.new(key, value.encode("utf-8"), hashlib.sha256).hexdigest()


def load_or_create_key(state_dir: Path) -> bytes:
    """The key in STATE/identity.key (mode 0600), created with 32 random bytes on first use."""
    path = Path(state_dir) / KEY_FILE
    if path.exists() and path.stat().st_size:
        make_private(path)
        return bytes.fromhex(path.read_text(encoding="ascii").strip())
    make_private(path)
    path.write_text(secrets.token_hex(32) + "\n", encoding="ascii")
    return bytes.fromhex(path.read_text(encoding="ascii").strip())
