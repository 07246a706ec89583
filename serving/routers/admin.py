"""Administration: reload the champions without dropping requests."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from serving.runtime import reload_models
from serving.schemas import ERRORS
from serving.security.auth import API_KEY_HEADER, Role, require_role
from serving.security.keys import hash_key, key_id

router = APIRouter(prefix="/v1/admin", tags=["admin"], responses=ERRORS,
                   dependencies=[Depends(require_role(Role.ADMIN))])


@router.post("/reload")
def reload(request: Request) -> dict[str, dict[str, dict[str, str]]]:
    """Load the current champions and challengers, then switch to them; requests in flight finish
    on the models they started with. With several workers, the others follow in the background."""
    by = f"{Role.ADMIN.value} key {key_id(hash_key(request.headers.get(API_KEY_HEADER, '')))}"
    versions = reload_models(request.app.state, by)
    request.app.state.reload_signal.announce()
    return {"versions": versions}
