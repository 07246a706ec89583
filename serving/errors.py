"""One handler for every error: RFC 9457 problem+json, never internals in a 500."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from nbo.errors import ContractViolation, NboError
from serving.auth import check_route_access

log = logging.getLogger(__name__)
PROBLEM = "application/problem+json"


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


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers on the app."""

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
        return problem(request, err.status_code, "HTTPError", str(err.detail))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, err: Exception) -> JSONResponse:
        log.exception("unhandled_error", extra={"path": request.url.path, "error_type": type(err).__name__})
        return problem(request, 500, "InternalError", "an internal error occurred; it has been logged")
