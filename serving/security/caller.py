"""Who is calling, as campaigns record it: the RM an rm key belongs to, else the key's public id."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from serving.security.auth import API_KEY_HEADER, caller_role
from serving.security.keys import hash_key, key_id


def caller_of(request: Request) -> str:
    """An rm key's `rm_id` (the person, as `--by RM011` names them on the CLI), else `key:<id>`
    (401 without a live key)."""
    caller_role(request)
    hashed = hash_key(request.headers[API_KEY_HEADER])
    return request.app.state.keys.rm_of(hashed) or f"key:{key_id(hashed)}"


async def get_caller(request: Request) -> str:
    return caller_of(request)


CallerDep = Annotated[str, Depends(get_caller)]
