"""Cheap checks that the online store answers (for /readyz)."""

from __future__ import annotations

from pathlib import Path

import redis
from feast import FeatureStore

from nbo.settings import Settings


def online_store_status(store: FeatureStore, settings: Settings) -> str:
    """`ok`, or why the online store cannot serve."""
    config = store.config.online_store
    try:
        if config.type == "redis":
            redis.Redis.from_url(settings.stores.redis_url, socket_timeout=1, socket_connect_timeout=1).ping()
        elif not Path(config.path).exists():
            return f"unavailable: {config.path} does not exist"
    except redis.RedisError as err:
        return f"unavailable: {type(err).__name__}"
    return "ok"
