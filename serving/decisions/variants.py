"""Champion/challenger/control split by a stable hash of the customer id.

A customer's bucket is the first 32 bits of SHA-256(customer id) scaled to [0, 1). The challenger
takes the bottom `challenger_share` of that range and the control group the top `control_share`,
so the two never overlap while their shares add up to at most 1, and moving one share never moves
a customer of the other group.
"""

from __future__ import annotations

import hashlib

CONTROL = "control"  # the variant of the control group: the non-personalised default


def bucket_of(customer_id: str) -> float:
    """The customer's stable place in [0, 1)."""
    return int(hashlib.sha256(customer_id.encode("utf-8")).hexdigest()[:8], 16) / 0x1_0000_0000


def variant_for(customer_id: str, challenger_share: float, control_share: float = 0.0) -> str:
    """`challenger` for a stable `challenger_share` of customers, `control` (the non-personalised
    default) for a disjoint stable `control_share`, `champion` for the rest.

    Raises:
        ValueError: a share outside [0, 1], or shares adding up to more than 1.
    """
    if not (0 <= challenger_share <= 1 and 0 <= control_share <= 1 and challenger_share + control_share <= 1):
        raise ValueError(f"challenger_share {challenger_share} and control_share {control_share} must lie in "
                         "[0, 1] and add up to at most 1")
    bucket = bucket_of(customer_id)
    if bucket < challenger_share:
        return "challenger"
    return CONTROL if bucket >= 1 - control_share else "champion"
