"""Next-best offers for the app and the RM."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from nbo.errors import Forbidden
from serving.deps import OfferServiceDep, RequestIdDep
from serving.routers.params import CustomerId
from serving.schemas import ERRORS, AppOfferList, Channel, Lang, RmOfferList
from serving.security.auth import Role, require_role

router = APIRouter(prefix="/v1", tags=["offers"], responses=ERRORS)


@router.get("/customers/{customer_id}/offers",
            responses={200: {"description": "AppOfferList for the app role, RmOfferList for the rm role"}})
def list_offers(
    customer_id: CustomerId,
    service: OfferServiceDep, request_id: RequestIdDep,
    role: Annotated[Role, Depends(require_role(Role.APP, Role.RM))],
    k: Annotated[int, Query(ge=1, le=20, description="How many offers (1–20)")] = 5,
    lang: Annotated[Lang, Query(description="Language of names and reasons: zh or en")] = "en",
    channel: Annotated[Channel | None, Query(description=(
        "Where the offers will be shown: app, web, branch, rm, phone (in the app or in person); or a contact "
        "channel, app_push, sms, rm_call or wechat, when the caller sends them out: the contact policy decides"))] = None,
    include_blocked: Annotated[bool, Query(description="rm only: add blocked products and the rule")] = False,
) -> AppOfferList | RmOfferList:
    """The customer's best suitable offers, highest expected value first, each with its reasons.

    The app gets what it shows: product, rank, name, category and reasons (`AppOfferList`). The
    rm also gets each offer's expected value and P(adopt), and blocked products on request
    (`RmOfferList`). Without marketing consent the customer gets the non-personalised default.
    On a contact channel (app_push, sms, rm_call, wechat) the contact policy (consent per channel, quiet
    hours, weekly and monthly caps, suppression after dismissals) decides first: a refusal answers no
    offers and `contact` with the reason code and text; an allowed answer is counted against the caps.
    Every answer is audited (its `decision_id` is what feedback refers to)."""
    if include_blocked and role is not Role.RM:
        raise Forbidden("include_blocked=true is for the rm role only")
    answer = service.for_customer(customer_id, k, lang, include_blocked, request_id, channel)
    return answer if role is Role.RM else answer.for_app()
