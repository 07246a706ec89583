"""Bounds on what a caller sends: a safe request id and a body of at most `max_body_bytes`.

A body over the limit is refused with 413 as soon as that is known: from its Content-Length
before any of it is read, or, for a chunked body, when the bytes read so far pass the limit.
"""

from __future__ import annotations

import re
import uuid

from starlette.types import Message, Receive

from nbo.errors import NboError

SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


class PayloadTooLarge(NboError):
    """The request body is larger than the service accepts."""

    status = 413


def request_id_from(sent: bytes | None) -> str:
    """The caller's request id if it is 1-64 characters of [A-Za-z0-9._-], else a new one."""
    text = (sent or b"").decode("latin-1")
    return text if SAFE_REQUEST_ID.fullmatch(text) else uuid.uuid4().hex


def declared_too_large(content_length: bytes | None, limit: int) -> bool:
    """Whether the Content-Length header announces more than `limit` bytes."""
    return content_length is not None and content_length.isdigit() and int(content_length) > limit


def too_large(limit: int) -> PayloadTooLarge:
    """The error for a body over `limit` bytes."""
    return PayloadTooLarge(f"the request body is over the limit of {limit} bytes")


class LimitedBody:
    """The app's `receive`, counting body bytes; past the limit it raises PayloadTooLarge instead
    of handing the app more (and remembers that, so the pipeline answers 413 whatever the app says)."""

    def __init__(self, receive: Receive, limit: int):
        self.receive, self.limit = receive, limit
        self.read, self.is_exceeded = 0, False

    async def __call__(self) -> Message:
        message = await self.receive()
        if message["type"] == "http.request":
            self.read += len(message.get("body", b""))
            if self.read > self.limit:
                self.is_exceeded = True
                raise too_large(self.limit)
        return message
