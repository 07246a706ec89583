"""`nbo keys`: create, list and revoke API keys while the service runs (it sees changes within a second)."""

from __future__ import annotations

from typing import Any

import click

from identity.owners import load_owners
from nbo.console import emit, handles_errors, json_option
from nbo.settings import load_settings
from serving.security import keys as api_keys


@click.group("keys")
def keys_group() -> None:
    """API keys for the service (stored hashed in the state directory)."""


RM_ID_HELP = ("rm keys: the relationship manager the key belongs to (e.g. RM011, as `rm_assignments.parquet` "
              "names them); the workbench lets it correct only that RM's customers.")


@keys_group.command("create")
@click.option("--role", type=click.Choice(api_keys.ROLES), required=True)
@click.option("--rm-id", default=None, help=RM_ID_HELP)
@json_option
@handles_errors
def keys_create(role: str, rm_id: str | None, as_json: bool) -> None:
    """Create an API key for a role; the key is printed once (with its id) and only its hash is kept."""
    s = load_settings()
    try:
        key_id, key = api_keys.add_key(s.api_keys_file, role, rm_id)
    except ValueError as err:
        raise click.BadParameter(str(err), param_hint="--rm-id") from err
    emit({"id": key_id, "role": role, "rm_id": rm_id, "key": key, "api_keys_file": s.api_keys_file.resolve()},
         as_json, lambda r: f"{r['role']} key {r['id']}{' of ' + r['rm_id'] if r['rm_id'] else ''} (shown once): "
                            f"{r['key']}")


@keys_group.command("list")
@json_option
@handles_errors
def keys_list(as_json: bool) -> None:
    """List the live keys: id, role, when created and when last used (to the minute); never a key."""
    emit({"keys": api_keys.list_keys(load_settings().api_keys_file)}, as_json, _list_text)


def _list_text(result: dict[str, Any]) -> str:
    rows = [f"{'id':<14}{'role':<7}{'rm':<8}{'created':<34}last used"]
    rows += [f"{k['id']:<14}{k['role']:<7}{k['rm_id'] or '-':<8}{k['created'] or '-':<34}{k['last_used'] or '-'}"
             for k in result["keys"]]
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
@click.option("--rm-id", default=None, help=RM_ID_HELP + " Default: the RM who owns the most customers of "
                                                          "NBO_DATA_DIR (none when it has no assignments).")
@json_option
@handles_errors
def keys_demo(rm_id: str | None, as_json: bool) -> None:
    """Create one demo key per role (kept in plain text for `nbo info`; for demos only)."""
    s = load_settings()
    if rm_id is None:
        owners = load_owners(s.data_dir).dropna()
        rm_id = str(owners.value_counts().sort_index().idxmax()) if len(owners) else None
    try:
        keys = api_keys.create_demo_keys(s.api_keys_file, s.demo_keys_file, rm_id)
    except ValueError as err:
        raise click.BadParameter(str(err), param_hint="--rm-id") from err
    demo_rm = api_keys.rm_of(api_keys.load_records(s.api_keys_file), api_keys.hash_key(keys["rm"]))
    emit({"demo_api_keys": keys, "demo_rm_id": demo_rm, "demo_keys_file": s.demo_keys_file.resolve()}, as_json,
         lambda r: "\n".join(f"{role:<8} {key}" for role, key in r["demo_api_keys"].items()))
