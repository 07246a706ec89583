"""API-key authentication: each key maps to one role; routes declare the roles they admit."""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum

from fastapi import Request

from nbo.errors import Forbidden, NboError
from serving import keys


class Role(StrEnum):
    APP = "app"
    RM = "rm"
    RISK = "risk"
    ADMIN = "admin"


class Unauthorized(NboError):
    """No API key, or a key nbo does not know."""

    status = 401
    exit_code = 4


API_KEY_HEADER = "X-API-Key"


def caller_role(request: Request) -> Role:
    """The role of the request's API key (401 without a known key)."""
    presented = request.headers.get(API_KEY_HEADER)
    if not presented:
        raise Unauthorized(f"send an API key in the {API_KEY_HEADER} header")
    role = keys.role_for(presented, request.app.state.key_hashes)
    if role is None:
        raise Unauthorized("unknown API key")
    request.state.role = Role(role)
    return Role(role)


def require_role(*allowed: Role) -> Callable[[Request], Role]:
    """A dependency admitting only callers whose key has one of `allowed` roles (403 otherwise)."""

    def dependency(request: Request) -> Role:
        role = caller_role(request)
        if role not in allowed:
            raise Forbidden(f"role {role.value!r} may not call this endpoint "
                            f"(allowed: {', '.join(r.value for r in allowed)})")
        return role

    return dependency
