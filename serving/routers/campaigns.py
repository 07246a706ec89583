"""Campaign effect for the RM team: what offers achieved, read from the audit and feedback records."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from serving.deps import AuditDep, RuntimeDep
from serving.reports.campaign import campaign_effect
from serving.schemas import ERRORS, CampaignEffect
from serving.security.auth import Role, require_role

router = APIRouter(prefix="/v1", tags=["campaigns"], responses=ERRORS)
Moment = Annotated[datetime | None, Query(description="ISO 8601 date or date-time; without an offset, UTC",
                                          examples=["2026-01-01", "2026-01-01T00:00:00+08:00"])]


@router.get("/campaigns/effect", dependencies=[Depends(require_role(Role.RM))])
def effect(audit: AuditDep, runtime: RuntimeDep, since: Moment = None, until: Moment = None) -> CampaignEffect:
    """The funnel shown → clicked → accepted of offer decisions (offers and triggers) created at or
    after `since` and before `until`: overall and by product, channel and RFM segment; champion vs
    challenger acceptance with 95% intervals and a z-test; the value of accepted offers (margin rate
    × the category's reference ticket, in CNY); the trend by ISO week; and the lift of personalised
    offers over the control group (NBO_SERVICE__CONTROL_SHARE) in acceptance and value, with 95% intervals.

    An offer counts once per decision and product: shown when it has any feedback, clicked or
    accepted when that feedback was recorded. 422 when a date is not ISO 8601 or `since` is not
    before `until`."""
    catalogue = runtime.recommender("champion").scorer.catalogue.records
    return CampaignEffect.model_validate(campaign_effect(audit, catalogue, since, until))
