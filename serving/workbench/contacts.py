"""Logging a call with a customer: one validation for the workbench form and `POST /v1/customers/{id}/contacts`.

A known customer, a catalogue product (if any), then the audit store's checks (outcome one of
reached / not_reached / interested / declined, a note of at most 500 characters). A "declined" call
naming a product counts as a dismissal of that product: the suitability rule `declined` keeps it
out of the customer's offers for `Policy.decline_days` (30) days.
"""

from __future__ import annotations

from typing import Any

from nbo.errors import ContractViolation
from serving.audit.store import AuditStore
from serving.runtime import Runtime
from serving.security.keys import hash_key
from serving.workbench.session import KEY_PREFIX_LEN


def recorded_by(api_key: str) -> str:
    """Who logged a contact: a prefix of the key's hash (never the key)."""
    return hash_key(api_key)[:KEY_PREFIX_LEN]


def log_contact(runtime: Runtime, audit: AuditStore, customer_id: str, outcome: str, note: str | None,
                product_id: str | None, by: str) -> dict[str, Any]:
    """Check and store one contact; the stored record (CustomerNotFound, ContractViolation on bad input)."""
    runtime.reader.read_customer(customer_id)  # CustomerNotFound (404) for an unknown customer
    product_id = (product_id or "").strip() or None
    if product_id is not None and product_id not in runtime.recommender("champion").scorer.catalogue.records:
        raise ContractViolation(f"product {product_id[:40]!r} is not in the catalogue")
    return audit.record_contact(customer_id, outcome, note=note, product_id=product_id, recorded_by=by)
