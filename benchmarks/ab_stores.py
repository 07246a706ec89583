"""The scale profile for both trees: one Redis online store and Feast registry, two audit databases.

OLD applies and materializes the features once into Redis (its own Feast project) with the Feast
registry in a throw-away PostgreSQL database; both trees read them. Each tree writes its audit log
into a PostgreSQL database of its own. Everything is removed afterwards: the databases dropped, the
project's keys deleted from Redis (Feast's Redis keys end with the project's name).
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator

import psycopg
import redis
from ab_trees import Tree, new_project, progress

POSTGRES_SERVER = "postgresql://postgres@127.0.0.1:5432"
REDIS_URL = "redis://127.0.0.1:6379/0"


@contextlib.contextmanager
def databases(*prefixes: str) -> Iterator[list[str]]:
    """Fresh PostgreSQL databases, one per prefix (their URLs), dropped afterwards."""
    names = [f"{prefix}_{uuid.uuid4().hex[:10]}" for prefix in prefixes]
    try:
        with psycopg.connect(f"{POSTGRES_SERVER}/postgres", autocommit=True) as conn:
            for name in names:
                conn.execute(f'CREATE DATABASE "{name}"')
        yield [f"{POSTGRES_SERVER}/{name}" for name in names]
    finally:
        with psycopg.connect(f"{POSTGRES_SERVER}/postgres", autocommit=True) as conn:
            for name in names:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def delete_project_keys(url: str, project: str) -> int:
    """Delete the Redis keys of one Feast project; how many there were."""
    client = redis.Redis.from_url(url)
    deleted = 0
    batch: list[bytes] = []
    for key in client.scan_iter(match=f"*{project}", count=10_000):
        batch.append(key)
        if len(batch) >= 10_000:
            deleted += client.delete(*batch)
            batch = []
    if batch:
        deleted += client.delete(*batch)
    return deleted


@contextlib.contextmanager
def scale_profile(old: Tree, new: Tree) -> Iterator[dict[str, dict[str, str]]]:
    """NBO_* variables of the scale profile per tree, features applied and materialized once (by OLD)."""
    project = new_project()
    with databases("nbo_ab_registry", "nbo_ab_audit_old", "nbo_ab_audit_new") as (registry, audit_old, audit_new):
        shared = {"NBO_STORES__PROFILE": "scale", "NBO_STORES__FEAST_PROJECT": project,
                  "NBO_STORES__REDIS_URL": REDIS_URL, "NBO_STORES__POSTGRES_URL": registry}
        envs = {"old": old.env | shared | {"NBO_SERVICE__AUDIT_URL": audit_old},
                "new": new.env | shared | {"NBO_SERVICE__AUDIT_URL": audit_new}}
        scaled = Tree(old.name, old.code, old.work, envs["old"])
        try:
            progress("old: nbo features apply, materialize (scale profile: Redis, PostgreSQL registry)")
            scaled.nbo("features", "apply")
            scaled.nbo("features", "materialize")
            yield envs
        finally:
            progress(f"scale profile: {delete_project_keys(REDIS_URL, project)} Redis keys deleted")
