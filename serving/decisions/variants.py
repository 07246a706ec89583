"""Champion/challenger split by a stable hash of the customer id."""

from __future__ import annotations

import hashlib


def variant_for(customer_id: str, challenger_share: float) -> str:
    """`challenger` for a stable `challenger_share` of customers, `champion` for the rest."""
    bucket = int(hashlib.sha256(customer_id.encode("utf-8")).hexdigest()[:8], 16) / 0x1_0000_0000
    return "challenger" if bucket < challenger_share else "champion"
