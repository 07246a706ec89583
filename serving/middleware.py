"""What every HTTP request goes through, as one plain ASGI middleware.

In order: a request id (the caller's `X-Request-ID` or a new one), a reload announced by another
worker is started in the background, the per-key rate limit (429 with `Retry-After`), the route,
then the security headers and the request id on the answer, and the request counted and timed by
its route template for /metrics.

One ASGI layer instead of one `@app.middleware("http")` per concern: each of those runs the rest
of the app in a task of its own and copies the response through a stream, which measured as a
large share of a small request's time.
"""

from __future__ import annotations

import math
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serving import keys
from serving.auth import API_KEY_HEADER
from serving.errors import problem
from serving.metrics import ServiceMetrics
from serving.ratelimit import UNKNOWN_KEY, RateLimiter

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'",
}
_API_KEY = API_KEY_HEADER.lower().encode("latin-1")
_REQUEST_ID = b"x-request-id"


class RequestPipeline:
    """Request id, reload follow-up, rate limit, security headers and metrics around the app."""

    def __init__(self, app: ASGIApp, *, service: FastAPI, metrics: ServiceMetrics, limiter: RateLimiter | None,
                 rate_text: str, follow_reload: Callable[[FastAPI], None]):
        self.app, self.service, self.metrics, self.limiter = app, service, metrics, limiter
        self.rate_text, self.follow_reload = rate_text, follow_reload

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        headers = dict(scope["headers"])
        request_id = headers.get(_REQUEST_ID, b"").decode("latin-1") or uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        signal = self.service.state.reload_signal
        if signal.claim():
            threading.Thread(target=self.follow_reload, args=(self.service,), name="nbo-reload", daemon=True).start()
        status = 500

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                response_headers = MutableHeaders(scope=message)
                response_headers["X-Request-ID"] = request_id
                for name, value in SECURITY_HEADERS.items():  # a page may set its own CSP (/redoc)
                    response_headers.setdefault(name, value)
            await send(message)

        try:
            wait_s = self._rate_limit_wait(headers.get(_API_KEY))
            if wait_s:
                await self._too_many(scope, receive, send_with_headers, wait_s)
            else:
                await self.app(scope, receive, send_with_headers)
        finally:
            template = getattr(scope.get("route"), "path", "unmatched")
            self.metrics.requests.labels(template, scope["method"], str(status)).inc()
            self.metrics.latency.labels(template, scope["method"]).observe(time.perf_counter() - started)

    def _rate_limit_wait(self, presented: bytes | None) -> float:
        """0 when admitted (or no key, or no limit), else the seconds until the key's next token."""
        if self.limiter is None or not presented:
            return 0.0
        hashed = keys.hash_key(presented.decode("latin-1"))
        known = keys.role_for_hash(hashed, self.service.state.key_hashes) is not None
        return self.limiter.wait_s(hashed if known else UNKNOWN_KEY)

    async def _too_many(self, scope: Scope, receive: Receive, send: Send, wait_s: float) -> None:
        response = problem(Request(scope, receive), 429, "TooManyRequests",
                           f"rate limit of {self.rate_text} requests/s per API key exceeded; "
                           "retry after the Retry-After seconds")
        response.headers["Retry-After"] = str(math.ceil(wait_s))
        await response(scope, receive, send)


def install_pipeline(app: FastAPI, metrics: ServiceMetrics, limiter: RateLimiter | None, rate_text: str,
                     follow_reload: Callable[[FastAPI], Any]) -> None:
    """Wrap the app's routes in the pipeline (inside Starlette's error middleware, like `@app.middleware`)."""
    app.add_middleware(RequestPipeline, service=app, metrics=metrics, limiter=limiter, rate_text=rate_text,
                       follow_reload=follow_reload)
