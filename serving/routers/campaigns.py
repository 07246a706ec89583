"""Campaigns: their effect for the RM team (what offers achieved, read from the audit and feedback
records), and the campaign objects themselves (define, list, show, approve, start, finish)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from serving.campaigns.board import CampaignBoard
from serving.campaigns.checks import bank_terms, check_against_bank
from serving.campaigns.schemas import CampaignList, CampaignOne, MoveRequest
from serving.campaigns.spec import CampaignSpec
from serving.deps import AuditDep, RuntimeDep
from serving.reports.campaign import campaign_effect
from serving.schemas import ERRORS, CampaignEffect, Problem
from serving.security.auth import Role, require_role
from serving.security.caller import CallerDep

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


# --- Campaign objects (serving/campaigns/): rm and admin keys; app and risk keys get 403 ---
CAMPAIGN_ROLES = Depends(require_role(Role.RM, Role.ADMIN))
CampaignKey = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$", description="the campaign's id")]


def _board(request: Request) -> CampaignBoard:
    return request.app.state.campaign_board


@router.post("/campaigns", dependencies=[CAMPAIGN_ROLES], status_code=201,
             responses={200: {"model": CampaignOne, "description": "An existing draft changed, or nothing changed"},
                        403: ERRORS[403], 409: {"model": Problem, "description": "The campaign is not a draft"}})
def create_campaign(request: Request, response: Response, spec: CampaignSpec, caller: CallerDep,
                    reason: Annotated[str, Query(max_length=500)] = "") -> CampaignOne:
    """Store a campaign (the body mirrors a `config/campaigns/*.toml` file) as a draft: 201 when created;
    200 when it changed a draft (a new version, which needs approval) or equals the stored campaign.
    The caller is recorded as its author. 422 names every bad field (an unknown segment, feature or
    product, a negative cost, a control share outside [0, 1), variant shares not adding up to 1, ...);
    409 when the campaign exists and is not a draft (withdraw it first)."""
    check_against_bank(spec, bank_terms(request.app.state.settings), "body")
    saved = _board(request).store.save_draft(spec, caller, reason)
    if saved["version"] > 1 or not saved["changed"]:
        response.status_code = 200
    return CampaignOne.model_validate(_board(request).one(spec.id) | {"changed": saved["changed"]})


@router.get("/campaigns", dependencies=[CAMPAIGN_ROLES])
def list_campaigns(request: Request) -> CampaignList:
    """Every campaign, by id, with its state, approver, audience size (in the latest feature month) and
    history."""
    return CampaignList.model_validate(_board(request).overview())


@router.get("/campaigns/{campaign_id}", dependencies=[CAMPAIGN_ROLES],
            responses={404: {"model": Problem, "description": "No campaign with this id"}})
def show_campaign(request: Request, campaign_id: CampaignKey) -> CampaignOne:
    """One campaign with its history (who, when, from → to, why) and audience size."""
    return CampaignOne.model_validate(_board(request).one(campaign_id))


def _move(action: str, doc: str) -> None:
    def move(request: Request, campaign_id: CampaignKey, caller: CallerDep,
             body: MoveRequest | None = None) -> CampaignOne:
        _board(request).store.move(campaign_id, action, caller, body.reason if body else "")
        return CampaignOne.model_validate(_board(request).one(campaign_id))

    move.__doc__ = doc
    router.post(f"/campaigns/{{campaign_id}}/{action}", dependencies=[CAMPAIGN_ROLES], name=f"{action}_campaign",
                responses={404: {"model": Problem, "description": "No campaign with this id"},
                           409: {"model": Problem, "description": "Not in the state this move starts from"}})(move)


_move("approve", "Approve a draft: draft → approved. 403 when the caller wrote any version of it (approval "
                 "takes another person); 409 when it is not a draft.")
_move("withdraw", "Take an approved campaign back to draft, to change it (it needs approval again); 409 otherwise.")
_move("start", "Start an approved campaign: approved → running; 409 otherwise.")
_move("finish", "Finish a running campaign: running → finished; 409 otherwise.")
