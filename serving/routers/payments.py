"""Payment fraud: scoring (payments role) and the alert queue of held payments (risk role)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request

from serving.deps import PaymentServiceDep, RequestIdDep
from serving.payments.service import caller_id
from serving.schemas import (
    ERRORS,
    AlertDecision,
    AlertOutcome,
    PaymentAlerts,
    PaymentDecision,
    PaymentIdPattern,
    PaymentRequest,
    Problem,
)
from serving.security.auth import Role, require_role

router = APIRouter(prefix="/v1/payments", tags=["payments"], responses=ERRORS)
PaymentId = Annotated[str, Path(pattern=PaymentIdPattern)]


@router.post("/score", dependencies=[Depends(require_role(Role.PAYMENTS))],
             responses={409: {"model": Problem, "description": "The payment_id was already scored with another body"}})
def score(body: PaymentRequest, service: PaymentServiceDep, request_id: RequestIdDep) -> PaymentDecision:
    """Decide on one outbound transfer before it is executed: allow, step_up (confirm with the customer)
    or hold (stopped; an alert for the risk team), with a risk score and reasons in zh-CN and en.

    Features: the customer's online profile and real-time counters (payments and new payees in the
    last hour and day, device and city changes, time since the last password change ...), updated by
    each scored payment and by account events sent to `POST /v1/events`. Without a fraud model the
    plain rules decide alone (`rules_only`). Idempotent: the same payment_id with the same body
    returns the first answer (same decision_id) and records nothing more; with another body, 409.
    404: unknown customer. Roles: payments."""
    return service.score(body, request_id)


@router.get("/alerts", dependencies=[Depends(require_role(Role.RISK))])
def alerts(service: PaymentServiceDep) -> PaymentAlerts:
    """Held payments not decided yet, oldest first, with their reasons and the customer's recent
    payments and account events. Roles: risk."""
    return service.open_alerts()


@router.post("/alerts/{payment_id}", dependencies=[Depends(require_role(Role.RISK))],
             responses={409: {"model": Problem, "description": "The alert was already decided"}})
def decide(payment_id: PaymentId, body: AlertOutcome, request: Request, service: PaymentServiceDep) -> AlertDecision:
    """Close a held payment's alert: `confirmed_fraud` or `released`, audited with who and when (the
    risk key's id). 404: no held payment has this id; 409: already decided. Roles: risk."""
    return AlertDecision(**service.ledger.decide(payment_id, body.outcome, caller_id(request)))
