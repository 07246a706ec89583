"""The RM's 360° profile, and what the app reports back: events and offer feedback."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import pandas as pd
from fastapi import APIRouter, Depends, Path

from features.push import push_intent_events
from serving.auth import Role, require_role
from serving.deps import AuditDep, RuntimeDep
from serving.risk import freshness
from serving.schemas import (
    ERRORS,
    CustomerIdPattern,
    CustomerProfile,
    EventAck,
    EventBatch,
    FeedbackAck,
    FeedbackRequest,
)

router = APIRouter(prefix="/v1", tags=["customers"], responses=ERRORS)
CustomerId = Annotated[str, Path(pattern=CustomerIdPattern, examples=["C00000042"])]


@router.get("/customers/{customer_id}/profile", dependencies=[Depends(require_role(Role.RM))])
def profile(customer_id: CustomerId, runtime: RuntimeDep) -> CustomerProfile:
    """The customer's 360° view from the online store, with each feature's timestamp."""
    features = runtime.reader.read_customer(customer_id)
    return CustomerProfile(customer_id=customer_id, features=features.values,
                           feature_timestamps=features.timestamps, freshness=freshness(features))


@router.post("/events", dependencies=[Depends(require_role(Role.APP))], status_code=202)
def events(body: EventBatch, runtime: RuntimeDep) -> EventAck:
    """Real-time intent (page views, searches by topic) into the feature store: the next offers
    request sees it, and the offline store keeps it for training. All or nothing."""
    now = datetime.now(UTC)
    frame = pd.DataFrame([{"customer_id": e.customer_id, "event_type": e.event_type, "topic": e.topic,
                           "event_time": e.event_time or now} for e in body.events])
    pushed = push_intent_events(runtime.reader.store, frame)
    return EventAck(accepted=pushed.events, customers=pushed.customers)


@router.post("/offers/{decision_id}/feedback", dependencies=[Depends(require_role(Role.APP, Role.RM))],
             status_code=201)
def feedback(decision_id: Annotated[str, Path(pattern=r"^[0-9a-f]{32}$")], body: FeedbackRequest,
             audit: AuditDep) -> FeedbackAck:
    """Record shown / clicked / accepted / dismissed on an audited decision (404 if unknown)."""
    feedback_id = audit.record_feedback(decision_id, body.product_id, body.outcome)
    return FeedbackAck(feedback_id=feedback_id, decision_id=decision_id, product_id=body.product_id,
                       outcome=body.outcome)
