"""The workbench's lead list: the session RM's leads best first, with outcome buttons (forms posted
same-origin; the same store and rules as `POST /v1/leads/{lead_id}/outcome`)."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.responses import RedirectResponse

from nbo.errors import ContractViolation
from serving.leads.store import OUTCOMES
from serving.leads.views import ranked_leads
from serving.routers.leads import lead_store
from serving.routers.workbench import Form, Lang, SessionRoute, _page, same_origin, session_rm
from serving.workbench.i18n import HTML_LANG

pages = APIRouter(route_class=SessionRoute)
LeadId = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$")]


@pages.get("/leads")
def leads_page(request: Request, lang: Lang = "en",
               recorded: Annotated[str | None, Query(max_length=80)] = None) -> Response:
    """The session RM's leads, newest week and best score first: customer, product, score, reasons in
    the page's language, status and the buttons for the next outcome."""
    rm = session_rm(request)
    leads = ranked_leads(lead_store(request), rm) if rm else []
    catalogue = request.app.state.runtime.recommender("champion").scorer.catalogue.names(lang) \
        if request.app.state.runtime is not None else {}
    lead_id, _, outcome = (recorded or "").partition(":")
    shown = next((x for x in leads if x["lead_id"] == lead_id), None) if outcome in OUTCOMES else None
    return _page(request, "leads.html", lang, leads=leads, rm_id=rm, products=catalogue,
                 recorded=(shown["customer_id"], outcome) if shown else None)


@pages.post("/leads/{lead_id}/outcome", dependencies=[Depends(same_origin)])
def lead_outcome(request: Request, lead_id: LeadId, form: Form) -> Response:
    """Record the next outcome of one of the session RM's leads (403 for another RM's, 409 for a
    move its status does not allow)."""
    outcome = form.get("outcome", "")
    if outcome not in OUTCOMES:
        raise ContractViolation(f"outcome must be one of {', '.join(OUTCOMES)}")
    rm = session_rm(request) or "rm"
    lead_store(request).record_outcome(lead_id, outcome, rm, note=form.get("note") or None)
    lang = form.get("lang") if form.get("lang") in HTML_LANG else "en"
    query = urlencode({"lang": lang, "recorded": f"{lead_id}:{outcome}"})
    return RedirectResponse(f"/workbench/leads?{query}#lead-{lead_id}", status_code=303)


router = APIRouter(include_in_schema=False)
router.include_router(pages, prefix="/workbench")
