"""Churn (rm) and delinquency (risk, rm) scores, single and batch."""

from __future__ import annotations

from typing import Annotated

import orjson
from fastapi import APIRouter, Depends, Query, Response

from serving.deps import RequestIdDep, RiskServiceDep
from serving.routers.params import CustomerId
from serving.schemas import (
    ERRORS,
    ChurnScore,
    DelinquencyBatch,
    DelinquencyBatchRequest,
    DelinquencyScore,
    Lang,
)
from serving.security.auth import Role, require_role

router = APIRouter(prefix="/v1", tags=["risk"], responses=ERRORS)
LangQuery = Annotated[Lang, Query(description="Language of reasons: zh (简体中文) or en")]


@router.get("/customers/{customer_id}/churn", dependencies=[Depends(require_role(Role.RM))])
def churn(customer_id: CustomerId, service: RiskServiceDep, request_id: RequestIdDep,
          lang: LangQuery = "en") -> ChurnScore:
    """Probability of leaving within 90 days, its band, top reasons and a suggested retention action.

    Roles: rm."""
    return service.churn(customer_id, lang, request_id)


@router.get("/customers/{customer_id}/delinquency",
            dependencies=[Depends(require_role(Role.RISK, Role.RM))])
def delinquency(customer_id: CustomerId, service: RiskServiceDep, request_id: RequestIdDep,
                lang: LangQuery = "en") -> DelinquencyScore:
    """Calibrated PD of 30+ DPD within 12 months, scorecard points, band, up to 4 reason codes
    (each pushing risk up) and the freshness of the features behind them.

    Roles: risk, rm (DESIGN §8: the relationship manager sees the score of their customer)."""
    return service.delinquency(customer_id, lang, request_id)


@router.post("/delinquency/batch", dependencies=[Depends(require_role(Role.RISK))],
             response_model=DelinquencyBatch,
             responses={422: ERRORS[422] | {"description": "Invalid request, or more than 10,000 customers "
                                                             "(the detail says which)"}})
def delinquency_batch(body: DelinquencyBatchRequest, service: RiskServiceDep,
                      request_id: RequestIdDep) -> Response:
    """Score up to 10,000 customers; unknown customers come back in `errors`, never dropped.

    Roles: risk."""
    answer = service.delinquency_batch(body.customer_ids, body.lang, request_id)
    # Serialised once, as built: validating 10,000 nested answers again would cost more than scoring them.
    return Response(orjson.dumps(answer, option=orjson.OPT_UTC_Z), media_type="application/json")
