"""The RM's 360° profile, and what the app reports back: events and offer feedback."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request

from nbo.errors import ContractViolation, CustomerNotFound
from serving.decisions.risk import freshness
from serving.deps import (
    AuditDep,
    IntentWriterDep,
    PaymentCountersDep,
    RequestIdDep,
    RuntimeDep,
    TriggerEngineDep,
)
from serving.payments.service import count_events
from serving.routers.params import CustomerId
from serving.runtime import Runtime
from serving.schemas import (
    ERRORS,
    ContactAck,
    ContactRequest,
    CustomerEvent,
    CustomerProfile,
    EventAck,
    EventBatch,
    FeedbackAck,
    FeedbackRequest,
    Lang,
    Problem,
    SegmentTags,
    TriggerAction,
)
from serving.security.auth import Role, require_role
from serving.triggers.store import Event
from serving.workbench.contacts import log_contact, recorded_by

router = APIRouter(prefix="/v1", tags=["customers"], responses=ERRORS)


@router.get("/customers/{customer_id}/profile", dependencies=[Depends(require_role(Role.RM))])
def profile(customer_id: CustomerId, runtime: RuntimeDep, triggers: TriggerEngineDep) -> CustomerProfile:
    """The customer's 360° view from the online store, with each feature's timestamp, and the
    customer's tags: segment, lifecycle stage, lifetime value and intent (from features and the
    events of the last days)."""
    features = runtime.reader.read_customer(customer_id)
    return CustomerProfile(customer_id=customer_id, features=features.values,
                           feature_timestamps=features.timestamps, freshness=freshness(features),
                           tags=SegmentTags(**triggers.tags(features).as_dict()),
                           open_tasks=len(triggers.store.open_tasks(customer_id)))


@router.post("/events", dependencies=[Depends(require_role(Role.APP))], status_code=202,
             responses={409: {"model": Problem, "description": "An event_id already logged with other content"}})
def events(body: EventBatch, runtime: RuntimeDep, triggers: TriggerEngineDep, request_id: RequestIdDep,
           intent: IntentWriterDep, counters: PaymentCountersDep,
           lang: Annotated[Lang, Query(description="Language of the actions' names and reasons")] = "en") -> EventAck:
    """Customer events of known customers. Page views and searches (real-time intent) go into the
    online feature store at once (the next offers request sees them) and into the offline store,
    for training, within seconds (see the README). Account events (login with device and city,
    password_change, device_bound, credit_received with its amount) update the customer's payment
    counters, which `POST /v1/payments/score` reads. Every event is logged once per event_id (a
    replay adds nothing and is counted as not new; the same id with other content is 409) and fires
    the triggers it completes (`serving/triggers/triggers.toml`); the answer lists their next-best-actions.
    All or nothing: the whole batch is checked first (times from 2000-01-01 to 5 minutes from now,
    customers known: 404 for a single event, 422 naming the items of a batch) and one invalid
    event rejects the batch, with nothing written."""
    now = datetime.now(UTC)
    batch = [Event(e.event_id or _event_id(e), e.customer_id, e.event_type, e.topic, e.event_time or now)
             for e in body.events]
    _check_customers_known(runtime, batch)

    def online(new_intent: list[Event]) -> None:
        intent.write([{"customer_id": e.customer_id, "event_type": e.event_type, "topic": e.topic,
                       "event_time": e.event_time} for e in new_intent])

    new, fired = triggers.on_events(batch, request_id, lang, online=online)
    count_events(counters, [e for e, n in zip(batch, new, strict=True) if n],
                 [{"device_id": e.device_id, "city": e.city, "amount": e.amount}
                  for e, n in zip(body.events, new, strict=True) if n])
    return EventAck(accepted=len(batch), customers=len({e.customer_id for e in batch}), new=sum(new),
                    actions=[TriggerAction(**f.for_app()) for f in fired])


def _check_customers_known(runtime: Runtime, batch: list[Event]) -> None:
    """CustomerNotFound for a single event's unknown customer; ContractViolation naming each item of
    a batch whose customer is unknown."""
    missing = set(runtime.reader.missing_customers(e.customer_id for e in batch))
    if not missing:
        return
    if len(batch) == 1:
        raise CustomerNotFound(f"customer {batch[0].customer_id!r} not found; nothing written")
    violations: list[dict[str, object]] = [
        {"item": i, "customer_id": e.customer_id, "text": f"events[{i}]: customer {e.customer_id!r} not found"}
        for i, e in enumerate(batch) if e.customer_id in missing]
    shown = "; ".join(str(v["text"]) for v in violations[:5])
    raise ContractViolation(f"events rejected ({len(violations)} unknown customers): {shown}; nothing written",
                            violations)


def _event_id(event: CustomerEvent) -> str:
    """An event without the sender's id: its fields, when it has a time; else a fresh id."""
    if event.event_time is None:
        return uuid.uuid4().hex
    key = "|".join([event.customer_id, event.event_type, event.topic or "", event.event_time.isoformat(),
                    *(f"{v}" for v in (event.device_id, event.city, event.amount) if v is not None)])
    return "h:" + hashlib.sha256(key.encode()).hexdigest()[:40]


@router.post("/offers/{decision_id}/feedback", dependencies=[Depends(require_role(Role.APP, Role.RM))],
             status_code=201, responses={422: ERRORS[422] | {"description": "Invalid request, or the decision "
                                                                            "offered nothing or not this product"}})
def feedback(decision_id: Annotated[str, Path(pattern=r"^[0-9a-f]{32}$")], body: FeedbackRequest,
             audit: AuditDep) -> FeedbackAck:
    """Record shown / clicked / accepted / dismissed on a product the audited offer decision offered.

    404: no decision has this id. 422: the decision offered nothing (a churn or delinquency score,
    a trigger action without an offer) or the product is not among its offers."""
    feedback_id = audit.record_feedback(decision_id, body.product_id, body.outcome)
    return FeedbackAck(feedback_id=feedback_id, decision_id=decision_id, product_id=body.product_id,
                       outcome=body.outcome)


@router.post("/customers/{customer_id}/contacts", dependencies=[Depends(require_role(Role.RM))], status_code=201)
def contact(customer_id: CustomerId, body: ContactRequest, request: Request, runtime: RuntimeDep,
            audit: AuditDep) -> ContactAck:
    """Log a call with the customer and its outcome (reached / not_reached / interested / declined),
    with an optional note (at most 500 characters) and product, in the audit; the workbench's
    "log a call" form records the same. A declined product is not offered again for 30 days.
    404: unknown customer. 422: another outcome, a longer note, a product not in the catalogue."""
    row = log_contact(runtime, audit, customer_id, body.outcome, body.note, body.product_id,
                      recorded_by(request.headers.get("X-API-Key", "")))
    return ContactAck(**{k: row[k] for k in ("contact_id", "customer_id", "outcome", "product_id", "created_at")})
