"""What every HTTP request goes through, as one plain ASGI middleware.

In order: a request id (the caller's `X-Request-ID` when it is safe, else a new one), a reload
announced by another worker is started in the background, the per-key rate limit (429 with
`Retry-After`), for the /v1 API the key (401 before any body is read), the body size (413 from
Content-Length, or while a chunked body streams in), the route, then the security headers and
the request id on the answer, and the request counted and timed by its route template for /metrics.

One ASGI layer instead of one `@app.middleware("http")` per concern: each of those runs the rest
of the app in a task of its own and copies the response through a stream, which measured as a
large share of a small request's time.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from nbo.errors import NboError
from serving.errors import problem
from serving.metrics import ServiceMetrics
from serving.security import keys
from serving.security.auth import API_KEY_HEADER, NO_KEY_DETAIL, UNKNOWN_KEY_DETAIL, Unauthorized
from serving.security.ratelimit import UNKNOWN_KEY, RateLimiter
from serving.security.request_limits import (
    LimitedBody,
    declared_too_large,
    request_id_from,
    too_large,
)

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'",
}
_API_KEY = API_KEY_HEADER.lower().encode("latin-1")
_REQUEST_ID = b"x-request-id"
_CONTENT_LENGTH = b"content-length"


class RequestPipeline:
    """Request id, reload follow-up, rate limit, security headers and metrics around the app."""

    def __init__(self, app: ASGIApp, *, service: FastAPI, metrics: ServiceMetrics, limiter: RateLimiter | None,
                 rate_text: str, follow_reload: Callable[[FastAPI], None], max_body_bytes: int):
        self.app, self.service, self.metrics, self.limiter = app, service, metrics, limiter
        self.rate_text, self.follow_reload, self.max_body_bytes = rate_text, follow_reload, max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        headers = dict(scope["headers"])
        request_id = request_id_from(headers.get(_REQUEST_ID))
        scope.setdefault("state", {})["request_id"] = request_id
        signal = self.service.state.reload_signal
        if signal.claim():
            threading.Thread(target=self.follow_reload, args=(self.service,), name="nbo-reload", daemon=True).start()
        status, body = 500, LimitedBody(receive, self.max_body_bytes)

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                response_headers = MutableHeaders(scope=message)
                response_headers["X-Request-ID"] = request_id
                for name, value in SECURITY_HEADERS.items():  # a page may set its own CSP (/redoc)
                    response_headers.setdefault(name, value)
            await send(message)

        is_replaced = False

        async def send_or_refuse(message: Message) -> None:
            """The app's answer, unless it answers a body that passed the limit: then 413 instead."""
            nonlocal is_replaced
            if message["type"] == "http.response.start" and body.is_exceeded:
                is_replaced = True
                await self._refuse(scope, receive, send_with_headers, too_large(self.max_body_bytes))
            elif not is_replaced:
                await send_with_headers(message)

        try:
            presented = headers.get(_API_KEY, b"").decode("latin-1")
            hashed = keys.hash_key(presented) if presented else ""
            role = self.service.state.keys.role_for_hash(hashed) if hashed else None
            wait_s = self._rate_limit_wait(hashed, role)
            refused = None if wait_s else self._refusal(scope["path"], headers, hashed, role)
            if wait_s:
                await self._too_many(scope, receive, send_with_headers, wait_s)
            elif refused:
                await self._refuse(scope, receive, send_with_headers, refused)
            else:
                await self.app(scope, body, send_or_refuse)
        finally:
            template = getattr(scope.get("route"), "path", "unmatched")
            self.metrics.requests.labels(template, scope["method"], str(status)).inc()
            self.metrics.latency.labels(template, scope["method"]).observe(time.perf_counter() - started)

    def _rate_limit_wait(self, hashed: str, role: str | None) -> float:
        """0 when admitted (or no key, or no limit), else the seconds until the key's next token."""
        if self.limiter is None or not hashed:
            return 0.0
        return self.limiter.wait_s(hashed if role else UNKNOWN_KEY)

    def _refusal(self, path: str, headers: dict[bytes, bytes], hashed: str, role: str | None) -> NboError | None:
        """What refuses the request before the app reads its body: a /v1 call without a live key
        (401), or a body announced larger than the limit (413); None to go on."""
        if path.startswith("/v1/") and role is None:
            return Unauthorized(UNKNOWN_KEY_DETAIL if hashed else NO_KEY_DETAIL)
        if declared_too_large(headers.get(_CONTENT_LENGTH), self.max_body_bytes):
            return too_large(self.max_body_bytes)
        return None

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, err: NboError) -> None:
        """Answer the error as problem+json; close the connection when a body is left unread."""
        response = problem(Request(scope, receive), err.status, type(err).__name__, str(err))
        headers = dict(scope["headers"])
        if headers.get(_CONTENT_LENGTH, b"0") != b"0" or b"transfer-encoding" in headers:
            response.headers["Connection"] = "close"
        await response(scope, receive, send)

    async def _too_many(self, scope: Scope, receive: Receive, send: Send, wait_s: float) -> None:
        response = problem(Request(scope, receive), 429, "TooManyRequests",
                           f"rate limit of {self.rate_text} requests/s per API key exceeded; "
                           "retry after the Retry-After seconds")
        response.headers["Retry-After"] = str(math.ceil(wait_s))
        await response(scope, receive, send)


def install_pipeline(app: FastAPI, metrics: ServiceMetrics, limiter: RateLimiter | None, rate_text: str,
                     follow_reload: Callable[[FastAPI], Any], max_body_bytes: int) -> None:
    """Wrap the app's routes in the pipeline (inside Starlette's error middleware, like `@app.middleware`)."""
    app.add_middleware(RequestPipeline, service=app, metrics=metrics, limiter=limiter, rate_text=rate_text,
                       follow_reload=follow_reload, max_body_bytes=max_body_bytes)
