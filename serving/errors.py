"""One handler for every error: RFC 9457 problem+json, never internals in a 500."""

from __future__ import annotations

import logging
from typing import Any

import redis.exceptions
import sqlalchemy.exc
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from nbo.errors import ContractViolation, NboError
from serving.security.auth import check_route_access

log = logging.getLogger(__name__)
PROBLEM = "application/problem+json"
# A store that does not answer: Redis (online features) or the SQL audit log / Feast registry.
STORE_ERRORS: tuple[type[Exception], ...] = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError,
                                             sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError)
STORE_RETRY_AFTER_S = 5
# SQLSTATEs of a database that cannot serve now rather than a bug: connection exception (08),
# insufficient resources (53), operator intervention (57), system error (58), and a server that
# refuses writes (25006: a standby after a failover, or default_transaction_read_only).
STORE_SQLSTATES = ("08", "53", "57", "58", "25006")


def is_store_fault(err: sqlalchemy.exc.DBAPIError) -> bool:
    """Whether a database error means the store cannot serve now (503), not a bug (500)."""
    state = getattr(err.orig, "sqlstate", None) or ""
    return isinstance(err, STORE_ERRORS) or str(state).startswith(STORE_SQLSTATES)


def problem(request: Request, status: int, title: str, detail: str, **extra: object) -> JSONResponse:
    """A problem+json response."""
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail,
            "instance": request.url.path} | extra
    return JSONResponse(body, status_code=status, media_type=PROBLEM)


def _validation_detail(err: RequestValidationError) -> tuple[str, list[dict[str, object]]]:
    errors = []
    for e in err.errors():
        where = ".".join(str(p) for p in e.get("loc", ()))
        errors.append({"location": where, "message": e.get("msg", "")})
    text = "; ".join(f"{x['location']}: {x['message']}" for x in errors) or "invalid request"
    return text, errors


def document_problems(app: FastAPI) -> None:
    """Make the OpenAPI schema say what errors really carry: `application/problem+json`, not JSON."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            for operation in (op for path in schema.get("paths", {}).values() for op in path.values()):
                for status, response in operation.get("responses", {}).items():
                    content = response.get("content", {})
                    if status[0] in "45" and "application/json" in content:
                        content[PROBLEM] = content.pop("application/json")
        return app.openapi_schema  # type: ignore[return-value] - set by `build`

    app.openapi = openapi  # type: ignore[method-assign]


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers on the app (and document their problem+json answers)."""
    document_problems(app)

    @app.exception_handler(NboError)
    async def nbo_error(request: Request, err: NboError) -> JSONResponse:
        extra = {}
        if isinstance(err, ContractViolation) and err.violations:
            extra["violations"] = err.violations[:100]
        return problem(request, err.status, type(err).__name__, str(err), **extra)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, err: RequestValidationError) -> JSONResponse:
        try:
            check_route_access(request)  # no key or the wrong role outranks a bad request
        except NboError as denied:
            return problem(request, denied.status, type(denied).__name__, str(denied))
        detail, errors = _validation_detail(err)
        return problem(request, 422, "InvalidRequest", detail, errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, err: StarletteHTTPException) -> JSONResponse:
        if err.status_code == 400:  # FastAPI could not read the body: check access first, as above
            try:
                check_route_access(request)
            except NboError as denied:
                return problem(request, denied.status, type(denied).__name__, str(denied))
            # an unreadable body is an invalid request like any other: the documented 422
            return problem(request, 422, "InvalidRequest", f"body: {err.detail}; send UTF-8 JSON")
        return problem(request, err.status_code, "HTTPError", str(err.detail))

    async def store_unavailable(request: Request, err: Exception) -> JSONResponse:
        log.warning("store_unavailable", extra={"path": request.url.path, "error_type": type(err).__name__})
        response = problem(request, 503, "StoreUnavailable",
                           "a data store (online features or audit log) is not answering or not taking "
                           "writes; nothing was answered from partial data; retry later (see /readyz)")
        response.headers["Retry-After"] = str(STORE_RETRY_AFTER_S)
        return response

    for error_class in STORE_ERRORS:
        app.add_exception_handler(error_class, store_unavailable)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, err: Exception) -> JSONResponse:
        log.exception("unhandled_error", extra={"path": request.url.path, "error_type": type(err).__name__})
        return problem(request, 500, "InternalError", "an internal error occurred; it has been logged")

    @app.exception_handler(sqlalchemy.exc.DBAPIError)
    async def database_error(request: Request, err: sqlalchemy.exc.DBAPIError) -> JSONResponse:
        if is_store_fault(err):
            return await store_unavailable(request, err)
        return await unexpected(request, err)
