"""Leads for relationship managers: an rm key lists its own RM's leads and records their outcomes;
an admin key sees and records all. App and risk keys get 403."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request

from nbo.errors import Forbidden
from serving.leads.schemas import Lead, LeadList, OutcomeRequest
from serving.leads.store import LeadStore
from serving.leads.views import lead_view, ranked_leads
from serving.schemas import ERRORS, Problem
from serving.security.auth import Role, caller_role, require_role
from serving.security.caller import CallerDep

router = APIRouter(prefix="/v1", tags=["leads"], responses=ERRORS)
LEAD_ROLES = Depends(require_role(Role.RM, Role.ADMIN))
LeadId = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$", description="the lead's id")]


def lead_store(request: Request) -> LeadStore:
    """The service's lead store (made on first use, on the audit database)."""
    state = request.app.state
    if getattr(state, "lead_store", None) is None:
        state.lead_store = LeadStore(state.audit.engine)
    return state.lead_store


@router.get("/leads", dependencies=[LEAD_ROLES])
def list_leads(request: Request, caller: CallerDep,
               rm: Annotated[str | None, Query(max_length=32, description="admin only: one RM's leads")] = None,
               status: Annotated[str | None, Query(pattern="^(open|contacted|won|lost|expired)$")] = None
               ) -> LeadList:
    """Leads best first (newest ISO week, then score). An rm key sees its own RM's leads only (an rm
    key without an RM sees none, and `rm` other than its own is 403); an admin sees all, or one RM's."""
    admin = caller_role(request) == Role.ADMIN
    if not admin:
        if rm is not None and rm != caller:
            raise Forbidden(f"an rm key sees its own RM's leads only, not {rm}'s")
        rm = caller
    return LeadList(leads=[Lead.model_validate(x) for x in ranked_leads(lead_store(request), rm, status)])


@router.post("/leads/{lead_id}/outcome", dependencies=[LEAD_ROLES],
             responses={409: {"model": Problem, "description": "The lead cannot move to this outcome from its status"}})
def record_outcome(request: Request, lead_id: LeadId, body: OutcomeRequest, caller: CallerDep) -> Lead:
    """Record an outcome: open → contacted → won | lost. Only the lead's RM (or an admin) may; 403
    otherwise, 404 for an unknown lead, 409 for any other move (a second `won`, `won` while open)."""
    admin = caller_role(request) == Role.ADMIN
    row = lead_store(request).record_outcome(lead_id, body.outcome, caller, admin=admin, note=body.note)
    return Lead.model_validate(lead_view(row))
