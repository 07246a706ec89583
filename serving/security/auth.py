"""API-key authentication: each key maps to one role; routes declare the roles they admit."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from enum import StrEnum
from typing import Any

from fastapi import Request

from nbo.errors import Forbidden, NboError


class Role(StrEnum):
    APP = "app"
    RM = "rm"
    RISK = "risk"
    ADMIN = "admin"
    PAYMENTS = "payments"  # the payment system: may score payments, nothing else


class Unauthorized(NboError):
    """No API key, or a key nbo does not know."""

    status = 401
    exit_code = 4


API_KEY_HEADER = "X-API-Key"
NO_KEY_DETAIL = f"send an API key in the {API_KEY_HEADER} header"
UNKNOWN_KEY_DETAIL = "unknown API key"


def caller_role(request: Request) -> Role:
    """The role of the request's API key (401 without a live key)."""
    presented = request.headers.get(API_KEY_HEADER)
    if not presented:
        raise Unauthorized(NO_KEY_DETAIL)
    role = request.app.state.keys.role_for(presented)
    if role is None:
        raise Unauthorized(UNKNOWN_KEY_DETAIL)
    request.state.role = Role(role)
    return Role(role)


def require_role(*allowed: Role) -> Callable[[Request], Awaitable[Role]]:
    """A dependency admitting only callers whose key has one of `allowed` roles (403 otherwise).

    It is a coroutine so FastAPI runs it on the event loop (no thread hop); the check itself is
    plain code, kept as `.check` for `check_route_access`."""

    def check(request: Request) -> Role:
        role = caller_role(request)
        if role not in allowed:
            raise Forbidden(f"role {role.value!r} may not call this endpoint "
                            f"(allowed: {', '.join(r.value for r in allowed)})")
        return role

    async def dependency(request: Request) -> Role:
        return check(request)

    dependency.allowed_roles = allowed  # type: ignore[attr-defined] - found by `check_route_access`
    dependency.check = check  # type: ignore[attr-defined]
    return dependency


def _guards(dependant: Any) -> Iterator[Callable[[Request], Role]]:
    for dep in getattr(dependant, "dependencies", ()):
        if dep.call is caller_role:
            yield caller_role
        elif hasattr(dep.call, "allowed_roles"):
            yield dep.call.check
        yield from _guards(dep)


def check_route_access(request: Request) -> None:
    """Run the key and role checks of the matched route now (401/403 raised as usual).

    FastAPI parses a JSON body before it runs a route's dependencies, so a malformed body would
    otherwise answer 422 to a caller with no key or the wrong role; the validation handler calls
    this first so that access is always checked before input."""
    route = request.scope.get("route")
    for guard in _guards(getattr(route, "dependant", None)):
        guard(request)
