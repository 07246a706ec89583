"""`nbo keys`: create, list and revoke API keys while the service runs (it sees changes within a second)."""

from __future__ import annotations

from typing import Any

import click

from nbo.console import emit, handles_errors, json_option
from nbo.settings import load_settings
from serving.security import keys as api_keys


@click.group("keys")
def keys_group() -> None:
    """API keys for the service (stored hashed in the state directory)."""


@keys_group.command("create")
@click.option("--role", type=click.Choice(api_keys.ROLES), required=True)
@json_option
@handles_errors
def keys_create(role: str, as_json: bool) -> None:
    """Create an API key for a role; the key is printed once (with its id) and only its hash is kept."""
    s = load_settings()
    key_id, key = api_keys.add_key(s.api_keys_file, role)
    emit({"id": key_id, "role": role, "key": key, "api_keys_file": s.api_keys_file.resolve()}, as_json,
         lambda r: f"{r['role']} key {r['id']} (shown once): {r['key']}")


@keys_group.command("list")
@json_option
@handles_errors
def keys_list(as_json: bool) -> None:
    """List the live keys: id, role, when created and when last used (to the minute); never a key."""
    emit({"keys": api_keys.list_keys(load_settings().api_keys_file)}, as_json, _list_text)


def _list_text(result: dict[str, Any]) -> str:
    rows = [f"{'id':<14}{'role':<7}{'created':<34}last used"]
    rows += [f"{k['id']:<14}{k['role']:<7}{k['created'] or '-':<34}{k['last_used'] or '-'}" for k in result["keys"]]
    return "\n".join(rows)


@keys_group.command("revoke")
@click.argument("key_id")
@json_option
@handles_errors
def keys_revoke(key_id: str, as_json: bool) -> None:
    """Revoke the key with this id: within a second every worker refuses it (401) and its
    workbench sessions end."""
    record = api_keys.revoke_key(load_settings().api_keys_file, key_id)
    emit({"id": record["id"], "role": record["role"], "revoked": True}, as_json,
         lambda r: f"revoked {r['role']} key {r['id']}")


@keys_group.command("demo")
@json_option
@handles_errors
def keys_demo(as_json: bool) -> None:
    """Create one demo key per role (kept in plain text for `nbo info`; for demos only)."""
    s = load_settings()
    keys = api_keys.create_demo_keys(s.api_keys_file, s.demo_keys_file)
    emit({"demo_api_keys": keys, "demo_keys_file": s.demo_keys_file.resolve()}, as_json,
         lambda r: "\n".join(f"{role:<6} {key}" for role, key in r["demo_api_keys"].items()))
