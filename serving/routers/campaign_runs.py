"""Campaign runs over HTTP: run a running campaign for one send day, and what its runs sent (rm and admin keys)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel, ConfigDict, Field

from serving.campaigns.runner import CampaignRunner, RunSummary, default_out_dir
from serving.campaigns.sends import CampaignSends
from serving.decisions.offers import OfferService
from serving.deps import OfferServiceDep
from serving.schemas import ERRORS, Problem
from serving.security.auth import Role, require_role
from serving.triggers.store import TriggerStore

router = APIRouter(prefix="/v1", tags=["campaigns"], responses=ERRORS)
CAMPAIGN_ROLES = Depends(require_role(Role.RM, Role.ADMIN))
CampaignKey = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$", description="the campaign's id")]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class RunRequest(_Frozen):
    """The send day to run, inside the schedule and on one of its send days."""

    as_of: date = Field(examples=["2026-11-03"])
    lang: Literal["en", "zh"] = Field(default="en", description="language of the offers' reasons in the send lists")


class RunAnswer(_Frozen):
    """What the run did; counts are of every stored row of the day (a rerun shows the same, `new_rows` 0)."""

    campaign_id: str
    campaign_version: int
    as_of: str
    feature_month: str = Field(description="the feature month the audience was taken from (at or before as_of)")
    audience: int
    new_rows: int
    already_done: int = Field(description="audience customers sent to or held out on another day")
    by_status: dict[str, int]
    by_channel: dict[str, int] = Field(description="sent rows per channel")
    by_arm: dict[str, dict[str, int]]
    cost_cny: float
    cost_total_cny: float
    budget_cny: float
    rm_tasks: int
    files: list[str]
    seconds: float


class SendGroup(_Frozen):
    day: str
    channel: str | None
    status: Literal["sent", "held_out", "refused", "blocked"]
    customers: int
    cost_cny: float


class SendsAnswer(_Frozen):
    """The campaign's sends by day × channel × status, with cost in CNY."""

    campaign_id: str
    day: str | None
    rows: int
    customers: int
    by_status: dict[str, int]
    cost_cny: float
    groups: list[SendGroup]


def run_campaign(request: Request, offers: OfferService, campaign_id: str, as_of: date, lang: str,
                 request_id: str | None = None) -> RunSummary:
    """Run through the app's stores, writing the files under STATE/campaign-sends."""
    state = request.app.state
    runner = CampaignRunner(state.campaign_board.store, CampaignSends(state.audit.engine), offers,
                            TriggerStore(state.audit.engine), state.offer_policy.segments,
                            state.campaign_board.offline_dir)
    return runner.run(campaign_id, as_of, lang=lang, out=default_out_dir(state.settings.state_dir),
                      request_id=request_id)


@router.post("/campaigns/{campaign_id}/run", dependencies=[CAMPAIGN_ROLES],
             responses={404: {"model": Problem, "description": "No campaign with this id"},
                        409: {"model": Problem, "description": "The campaign is not running"},
                        422: {"model": Problem, "description": "as_of is not one of the campaign's send days"}})
def run(request: Request, campaign_id: CampaignKey, body: RunRequest, offers: OfferServiceDep) -> RunAnswer:
    """Run a running campaign for one send day, as `nbo campaigns run` does: the control group held out,
    the others offered the campaign's products through suitability, arbitration and the contact policy,
    within the budget; writes the send lists under STATE/campaign-sends. Idempotent: a rerun of the
    day sends nothing twice. 409 when the campaign is not running; 422 when as_of is outside its
    schedule or not a send day."""
    return RunAnswer.model_validate(run_campaign(request, offers, campaign_id, body.as_of, body.lang).as_dict())


@router.get("/campaigns/{campaign_id}/sends", dependencies=[CAMPAIGN_ROLES],
            responses={404: {"model": Problem, "description": "No campaign with this id"}})
def sends(request: Request, campaign_id: CampaignKey, day: date | None = None) -> SendsAnswer:
    """What the campaign's runs did: customers by day × channel × status, with cost (of one day, if given)."""
    state = request.app.state
    state.campaign_board.store.get(campaign_id)
    return SendsAnswer.model_validate(CampaignSends(state.audit.engine).summary(campaign_id, day))
