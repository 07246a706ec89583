"""Scoring one payment: features from the profile and the counters, the model and the rules, the audit.

Order of work, so that nothing acknowledged is lost or counted twice: the features are read from the
customer's counters as they stand before this payment, the decision is recorded (a unique key on
payment_id: a replay, even a concurrent one, loses the insert, writes nothing and returns the first
answer, or 409 when its body differs), and only the request that recorded it adds the payment to the
counters (a read-modify-write of its own). The replay check is the insert itself: a query before it
would cost every payment a round trip to spare the rare replay some reading.
"""

from __future__ import annotations

import hashlib
import math
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fastapi import Request

from features.payments.counters import PROFILE_FEATURES, AccountEvent, Payment
from nbo.errors import CustomerNotFound
from serving.payments.counter_store import CounterStore, CustomerState
from serving.payments.ledger import PaymentConflict, PaymentLedger, Stored
from serving.payments.scoring import judge
from serving.runtime import Runtime
from serving.schemas import PaymentAlert, PaymentAlerts, PaymentDecision, PaymentRequest
from serving.security.auth import API_KEY_HEADER
from serving.security.keys import hash_key, key_id
from serving.triggers.store import Event

COUNTED_EVENTS = ("login", "password_change", "device_bound", "credit_received")


def caller_id(request: Request) -> str:
    """Who acted, for the audit: the role and id of the request's key (never the key)."""
    return f"{request.state.role} key {key_id(hash_key(request.headers.get(API_KEY_HEADER, '')))}"


def body_hash(body: PaymentRequest) -> str:
    """A fingerprint of the body (time in UTC), to tell a replay from a reused payment_id."""
    return hashlib.sha256(body.model_dump_json().encode()).hexdigest()


@dataclass
class PaymentService:
    runtime: Runtime
    counters: CounterStore
    ledger: PaymentLedger

    def score(self, body: PaymentRequest, request_id: str) -> PaymentDecision:
        """The decision on one payment (the recorded one for a replay); CustomerNotFound, PaymentConflict."""
        fingerprint = body_hash(body)
        profile = self._profile(body.customer_id)
        payment = Payment(body.payment_id, body.customer_id, body.amount, body.currency, body.payee_id,
                          body.channel, body.device_id, body.city, body.time)
        features: dict[str, Any] = self.counters.read(body.customer_id).counters.features(payment) | profile
        verdict = judge(self.runtime.fraud, features, body.currency)
        answer = {"payment_id": body.payment_id, "decision": verdict.decision, "score": verdict.score,
                  "reasons": verdict.reasons, "decision_id": uuid.uuid4().hex,
                  "model_version": verdict.model_version, "rules_only": verdict.model_version is None,
                  "created_at": datetime.now(UTC).isoformat()}
        payload = {"payment": body.model_dump(mode="json"), "features": features, "answer": answer}
        recorded = self.ledger.record(decision_id=answer["decision_id"], payment_id=body.payment_id,
                                      customer_id=body.customer_id, payment_time=body.time, body_hash=fingerprint,
                                      request_id=request_id, model_versions=verdict.versions, payload=payload)
        if not recorded:  # a replay, or a concurrent request that recorded this payment first
            stored = self.ledger.find(body.payment_id)
            assert stored is not None
            return _replay(stored, fingerprint, body.payment_id)
        self.counters.update(body.customer_id, lambda s: _add_payment(s, payment, verdict.decision))
        return PaymentDecision(**answer)

    def _profile(self, customer_id: str) -> dict[str, float]:
        """The profile features the model reads (NaN when absent); CustomerNotFound for an unknown customer."""
        [found] = self.runtime.reader.read_customers([customer_id], names=PROFILE_FEATURES)  # their view only
        if isinstance(found, CustomerNotFound):
            raise CustomerNotFound(f"customer {customer_id!r} not found; nothing recorded") from found
        return {n: _number(found.values.get(n)) for n in PROFILE_FEATURES}

    def open_alerts(self) -> PaymentAlerts:
        """Open alerts with each customer's recent payments and events."""
        return PaymentAlerts(alerts=[
            PaymentAlert(payment_id=a["payment_id"], customer_id=a["customer_id"], held_at=a["held_at"],
                         payment=a["payment"], decision=PaymentDecision(**a["answer"]),
                         recent=self.counters.read(a["customer_id"]).recent)
            for a in self.ledger.open_alerts()])


def count_events(counters: CounterStore, events: list[Event], extras: list[dict[str, Any]]) -> None:
    """Add each new account event (login, password change, device bound, credit received) to its
    customer's counters, one transaction per customer; `extras` holds each event's device_id, city and amount."""
    by_customer: dict[str, list[AccountEvent]] = {}
    for event, extra in zip(events, extras, strict=True):
        if event.event_type in COUNTED_EVENTS:
            by_customer.setdefault(event.customer_id, []).append(
                AccountEvent(event.customer_id, event.event_type, event.event_time, **extra))
    for customer_id, account_events in by_customer.items():
        counters.update(customer_id, lambda s, found=account_events: _add_events(s, found))


def _add_payment(state: CustomerState, payment: Payment, decision: str) -> None:
    state.counters.add_payment(payment)
    state.remember({"kind": "payment", "time": payment.time.isoformat(), "payment_id": payment.payment_id,
                    "amount": payment.amount, "currency": payment.currency, "payee_id": payment.payee_id,
                    "channel": payment.channel, "device_id": payment.device_id, "city": payment.city,
                    "decision": decision})


def _add_events(state: CustomerState, events: list[AccountEvent]) -> None:
    for event in events:
        state.counters.add_event(event)
        state.remember({"kind": event.event_type, "time": event.time.isoformat(), "device_id": event.device_id,
                        "city": event.city, "amount": event.amount})


def _replay(stored: Stored, fingerprint: str, payment_id: str) -> PaymentDecision:
    if stored.body_hash != fingerprint:
        raise PaymentConflict(f"payment {payment_id!r} was already scored with another body "
                              f"(decision {stored.decision_id}); a new payment needs a new payment_id")
    return PaymentDecision(**stored.answer)


def _number(value: object) -> float:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.nan
    return number
