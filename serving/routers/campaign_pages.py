"""The workbench's campaign detail page: definition, state, history and sends by day × channel × status,
with forms to approve, start, run (a send day) and finish the campaign as the session's RM.

A move or run that the campaign's rules refuse (self-approval, the wrong state, a day off the
schedule) is shown as a notice on the page with the error's status, never a 500.
"""

from __future__ import annotations

import logging
from datetime import date
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import RedirectResponse

from nbo.errors import ContractViolation, InputFileError, NboError
from serving.campaigns.result_views import results_view
from serving.campaigns.sends import CampaignSends
from serving.decisions.offers import OfferService
from serving.deps import runtime_of
from serving.routers.campaign_runs import CampaignKey, run_campaign
from serving.routers.workbench import (
    RM,
    Form,
    Lang,
    SessionRoute,
    _page,
    same_origin,
    session_of,
    session_rm,
)
from serving.workbench.i18n import HTML_LANG, labels

log = logging.getLogger(__name__)
MOVES = ("approve", "start", "finish")
pages = APIRouter(route_class=SessionRoute)


def _who(request: Request) -> str:
    """The session's RM id (its key's `rm_id`), else `key:` and the key's id, as the API records callers."""
    rm = session_rm(request)
    if rm:
        return rm
    session = session_of(request)
    return f"key:{session.key_prefix}" if session else RM


def _detail(request: Request, campaign_id: str, lang: str, status: int = 200, notice: str | None = None,
            done: dict[str, Any] | None = None) -> Response:
    state = request.app.state
    try:
        campaign = state.campaign_board.one(campaign_id)
    except NboError as err:
        return _page(request, "error.html", lang, err.status, status=err.status, detail=str(err))
    sends = CampaignSends(state.audit.engine).summary(campaign_id)
    results = _results(request, campaign_id) if sends["groups"] else None
    return _page(request, "campaign_detail.html", lang, status, c=campaign, s=sends, notice=notice, done=done,
                 rm_id=_who(request), segment_names=state.offer_policy.segments.names(lang), results=results)


def _results(request: Request, campaign_id: str) -> dict[str, Any] | None:
    """The campaign's results against control (`GET /v1/campaigns/{id}/results`); None, logged, when the
    bank's holdings cannot be read (the page still shows everything else)."""
    state = request.app.state
    try:
        return results_view(state.campaign_board, state.audit.engine, state.settings.data_dir, campaign_id)
    except InputFileError:
        log.warning("campaign_results_unavailable", exc_info=True, extra={"campaign_id": campaign_id})
        return None


@pages.get("/campaigns/{campaign_id}")
def campaign_detail(request: Request, campaign_id: CampaignKey, lang: Lang = "en", done: str = "") -> Response:
    """One campaign: its definition, state, history and sends, with the moves the session's RM may make."""
    words = labels(lang)["campaign_detail"]
    return _detail(request, campaign_id, lang, done={"text": words["done"][done]} if done in words["done"] else None)


@pages.post("/campaigns/{campaign_id}/{action}", dependencies=[Depends(same_origin)])
def campaign_action(request: Request, campaign_id: CampaignKey, action: str, form: Form) -> Response:
    """Approve, start or finish the campaign, or run it for the form's `as_of`, as the session's RM."""
    lang = form.get("lang") if form.get("lang") in HTML_LANG else "en"
    words = labels(lang)["campaign_detail"]
    state = request.app.state
    try:
        if action in MOVES:
            state.campaign_board.store.move(campaign_id, action, _who(request), form.get("reason", "")[:500])
        elif action == "run":
            try:
                day = date.fromisoformat(form.get("as_of", ""))
            except ValueError as err:
                raise ContractViolation(words["bad_day"]) from err
            offers = OfferService(runtime_of(request), state.audit, state.offer_policy)
            summary = run_campaign(request, offers, campaign_id, day, lang)
            counts = ", ".join(f"{words['statuses'].get(k, k)} {n}" for k, n in summary.by_status.items())
            return _detail(request, campaign_id, lang, done={"text": words["ran"].format(day=day, counts=counts)})
        else:
            return _detail(request, campaign_id, lang, 404, notice=words["unknown_action"])
    except NboError as err:
        return _detail(request, campaign_id, lang, err.status, notice=str(err))
    query = urlencode({"lang": lang, "done": action})
    return RedirectResponse(f"/workbench/campaigns/{campaign_id}?{query}", status_code=303)


router = APIRouter(include_in_schema=False)
router.include_router(pages, prefix="/workbench")
