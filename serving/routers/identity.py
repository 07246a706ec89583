"""Manual OneID corrections from the service: admins through the API, RMs through the workbench.

Both apply the decision at once (`identity.decisions`: links, aliases and decisions rewritten
atomically; every later `nbo identity resolve` keeps it) and audit it with who, when and why
(`kind` identity_merge or identity_split in the audit store). An admin may correct any customer; an
rm session only the customers its key's RM owns (`rm_assignments.parquet`), else 403 naming the owner.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from identity import decisions
from nbo.errors import ContractViolation
from serving.deps import RequestIdDep
from serving.routers.params import CustomerId
from serving.routers.workbench import RM, Form, SessionRoute, same_origin, session_of, session_rm
from serving.schemas import ERRORS
from serving.security import keys
from serving.security.auth import API_KEY_HEADER, Role, require_role
from serving.workbench.identity import IdentityPanels
from serving.workbench.session import KEY_PREFIX_LEN

Text = Annotated[str, StringConstraints(max_length=500)]
Id = Annotated[str, StringConstraints(min_length=1, max_length=40)]


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """The workbench's OneID panels (the customer page's identity.html reads them)."""
    app.state.identity_panels = IdentityPanels(app.state.settings)
    yield


class MergeRequest(BaseModel):
    """Merge two OneID customers."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    first: Id
    second: Id
    reason: Text


class SplitRequest(BaseModel):
    """Split one source record (SYSTEM:RECORD_ID) out of its customer, alone or into `into`."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    record: Annotated[str, StringConstraints(min_length=3, max_length=200)]
    into: Id | None = None
    reason: Text


class Correction(BaseModel):
    """A correction made and applied."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    decision_id: str
    kind: str
    subjects: list[str]
    customer_id: str = Field(description="merge: the surviving id; split: the record's customer now")
    other_id: str = Field(description="merge: the id that became an alias; split: the record's customer before")
    who: str
    when: str
    why: str


api = APIRouter(prefix="/v1/identity", tags=["identity"], responses=ERRORS,
                dependencies=[Depends(require_role(Role.ADMIN))])
pages = APIRouter(prefix="/workbench", route_class=SessionRoute)


@api.post("/merge")
def merge(request: Request, body: MergeRequest, request_id: RequestIdDep) -> Correction:
    """Merge two customers; the id held by more records survives, the other becomes its alias.

    Roles: admin."""
    done = decisions.merge(request.app.state.settings.oneid_dir, body.first, body.second, why=body.reason,
                           who=_admin(request))
    return _audit(request, done, request_id)


@api.post("/split")
def split(request: Request, body: SplitRequest, request_id: RequestIdDep) -> Correction:
    """Split a source record out of its customer (on its own, or into a named customer).

    Roles: admin."""
    done = decisions.split(request.app.state.settings.oneid_dir, body.record, into=body.into, why=body.reason,
                           who=_admin(request))
    return _audit(request, done, request_id)


@pages.post("/customers/{customer_id}/identity/merge", dependencies=[Depends(same_origin)])
def merge_form(request: Request, customer_id: CustomerId, form: Form, request_id: RequestIdDep) -> Response:
    """The workbench's merge form: this customer and the id typed in, both the RM's own."""
    other = _field(form, "other", 40)
    request.app.state.identity_panels.check_owner(session_rm(request), [customer_id, other])
    done = decisions.merge(request.app.state.settings.oneid_dir, customer_id, other,
                           why=_field(form, "reason", 500), who=_rm(request))
    return _back(customer_id, form, _audit(request, done, request_id))


@pages.post("/customers/{customer_id}/identity/split", dependencies=[Depends(same_origin)])
def split_form(request: Request, customer_id: CustomerId, form: Form, request_id: RequestIdDep) -> Response:
    """The workbench's split form: one of the RM's own customers' source records, on its own."""
    record, panels = _field(form, "record", 200), request.app.state.identity_panels
    panels.check_owner(session_rm(request), [panels.customer_of(record) or customer_id])
    done = decisions.split(request.app.state.settings.oneid_dir, record, why=_field(form, "reason", 500),
                           who=_rm(request))
    return _back(customer_id, form, _audit(request, done, request_id))


def _field(form: dict[str, str], name: str, limit: int) -> str:
    value = form.get(name, "")
    if len(value) > limit:
        raise ContractViolation(f"{name}: at most {limit} characters")
    return value.strip()


def _admin(request: Request) -> str:
    return f"admin:{keys.hash_key(request.headers.get(API_KEY_HEADER, ''))[:KEY_PREFIX_LEN]}"


def _rm(request: Request) -> str:
    """Who corrected, for the audit: `rm:` and the key's RM (when it has one) and hash prefix."""
    session, rm = session_of(request), session_rm(request)
    return (f"rm:{rm}:{session.key_prefix}" if rm else f"rm:{session.key_prefix}") if session else RM


def _audit(request: Request, done: decisions.Outcome, request_id: str) -> Correction:
    d: dict[str, Any] = done.decision
    correction = Correction(decision_id=d["decision_id"], kind=d["kind"], subjects=list(d["subjects"]),
                            customer_id=done.customer_id, other_id=done.other_id, who=d["who"],
                            when=d["when"].isoformat(), why=d["why"])
    request.app.state.audit.record_decision(kind=f"identity_{d['kind']}", customer_id=done.customer_id,
                                            request_id=request_id, variant="manual", model_versions={},
                                            payload=correction.model_dump())
    return correction


def _back(customer_id: str, form: dict[str, str], correction: Correction) -> Response:
    lang = form.get("lang") if form.get("lang") in ("zh", "en") else "en"
    query = urlencode({"lang": lang, "oneid": correction.decision_id})
    return RedirectResponse(f"/workbench/customers/{customer_id}?{query}#oneid", status_code=303)


router = APIRouter(lifespan=lifespan)
router.include_router(api)
router.include_router(pages, include_in_schema=False)
