"""`nbo campaigns ...`: load campaign files, list and show campaigns, and move them through their states."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import click

from features.build.monthly import offline_dir
from features.segments.rules import load_segment_rules
from nbo.console import emit, handles_errors, json_option
from nbo.databases import audit_engine
from nbo.settings import Settings, load_settings
from serving.campaigns.board import CampaignBoard
from serving.campaigns.checks import bank_terms
from serving.campaigns.files import read_campaign_files
from serving.campaigns.run_cli import run as run_command
from serving.campaigns.run_cli import sends as sends_command
from serving.campaigns.store import CampaignStore

USER = r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}"  # as `--by` names a person (an RM id such as RM011, a login)


def _user(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    if not re.fullmatch(USER, value):
        raise click.BadParameter(f"{value!r}: letters, digits, _ . @ or -, at most 64 (e.g. RM011)")
    return value


by_option = click.option("--by", "by", required=True, callback=_user,
                         help="Who does this (an RM id such as RM011, or a login): recorded in the history.")
reason_option = click.option("--reason", default="", show_default=False, help="Why (recorded in the history).")


def _store(settings: Settings) -> CampaignStore:
    return CampaignStore(audit_engine(settings.audit_url))


def _board(settings: Settings) -> CampaignBoard:
    return CampaignBoard(_store(settings), load_segment_rules(), offline_dir(settings))


@click.group("campaigns")
def campaigns_group() -> None:
    """Campaigns: files in config/campaigns/, states draft → approved → running → finished."""


@campaigns_group.command("load")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@by_option
@reason_option
@json_option
@handles_errors
def load(files: tuple[Path, ...], by: str, reason: str, as_json: bool) -> None:
    """Check campaign files (all before any is stored) and store each as a draft, or as a new version of
    a draft; a file equal to the stored campaign changes nothing."""
    settings = load_settings()
    specs = read_campaign_files(list(files), bank_terms(settings))
    store = _store(settings)
    saved = [store.save_draft(spec, by, reason) for spec in specs]
    result = {"campaigns": [{"id": c["id"], "state": c["state"], "version": c["version"], "changed": c["changed"]}
                            for c in saved]}
    emit(result, as_json, lambda r: "\n".join(
        f"{c['id']:<32} {c['state']:<9} v{c['version']} {'stored' if c['changed'] else 'unchanged'}"
        for c in r["campaigns"]))


@campaigns_group.command("list")
@json_option
@handles_errors
def list_campaigns(as_json: bool) -> None:
    """Every campaign: state, channels, audience and its size in the latest feature month, author, approver."""
    board = _board(load_settings()).overview()
    rows = [_summary(c) for c in board["campaigns"]]
    emit({"audience_as_of": board["audience_as_of"], "campaigns": rows}, as_json, _list_text)


@campaigns_group.command("show")
@click.argument("campaign_id")
@json_option
@handles_errors
def show(campaign_id: str, as_json: bool) -> None:
    """One campaign: its definition, state, audience size and every change (who, when, from → to, why)."""
    emit(_board(load_settings()).one(campaign_id), as_json, _show_text)


def _move_command(action: str, help_text: str) -> click.Command:
    @click.argument("campaign_id")
    @by_option
    @reason_option
    @json_option
    @handles_errors
    def command(campaign_id: str, by: str, reason: str, as_json: bool) -> None:
        campaign = _store(load_settings()).move(campaign_id, action, by, reason)
        emit(campaign, as_json, lambda c: f"{c['id']}: {c['state']} (by {by})")

    command.__doc__ = help_text
    return campaigns_group.command(action)(command)


_move_command("approve", "Approve a draft (by someone who wrote no version of it): draft → approved.")
_move_command("withdraw", "Take an approved campaign back to draft (to change it; it needs approval again).")
_move_command("start", "Start an approved campaign: approved → running.")
_move_command("finish", "Finish a running campaign: running → finished.")
campaigns_group.add_command(run_command)
campaigns_group.add_command(sends_command)


def _summary(campaign: dict[str, Any]) -> dict[str, Any]:
    d = campaign["definition"]
    return {"id": campaign["id"], "name_zh": d["name_zh"], "name_en": d["name_en"], "state": campaign["state"],
            "version": campaign["version"], "channels": d["channels"], "audience": d["audience"],
            "audience_size": campaign["audience_size"], "start": d["schedule"]["start"], "end": d["schedule"]["end"],
            "created_by": campaign["created_by"], "approved_by": campaign["approved_by"],
            "changes": len(campaign["history"])}


def _audience_text(audience: dict[str, Any]) -> str:
    return " and ".join([*([audience["segment"]] if audience["segment"] else []), *audience["rule"]])


def _list_text(r: dict[str, Any]) -> str:
    if not r["campaigns"]:
        return "no campaigns (load some: nbo campaigns load config/campaigns/*.toml --by USER)"
    lines = [f"audience sizes as of {r['audience_as_of'] or '— (no feature tables)'}",
             f"{'campaign':<28} {'state':<9} {'audience':>8}  {'channels':<26} {'dates':<23} author / approver"]
    for c in r["campaigns"]:
        size = "—" if c["audience_size"] is None else str(c["audience_size"])
        lines.append(f"{c['id']:<28} {c['state']:<9} {size:>8}  {','.join(c['channels']):<26} "
                     f"{c['start']}..{c['end']} {c['created_by']} / {c['approved_by'] or '—'}")
    return "\n".join(lines)


def _show_text(c: dict[str, Any]) -> str:
    d = c["definition"]
    lines = [f"{c['id']} ({d['name_en']} / {d['name_zh']}): {c['state']}, version {c['version']}",
             f"audience   {_audience_text(d['audience'])}: {c['audience_size'] if c['audience_size'] is not None else '—'}"
             f" customers as of {c['audience_as_of'] or '—'}",
             f"offer      {', '.join(d['offer']['products']) or '—'}; content {d['offer']['content'] or '—'}",
             "channels   " + ", ".join(f"{ch} ({d['budget']['cost_per_contact_cny'][ch]:g} CNY)" for ch in d["channels"]),
             f"schedule   {d['schedule']['start']}..{d['schedule']['end']} {','.join(d['schedule']['send_days'])} "
             f"at {d['schedule']['send_time']}",
             f"budget     {d['budget']['total_cny']:,.0f} CNY; control share {d['control_share']:g}",
             *[f"variant    {v['name']} {v['share']:g}" + (f" at {v['send_time']}" if v["send_time"] else "")
               + (f": {v['message_en']}" if v["message_en"] else "") for v in d["variants"]],
             "history"]
    lines += [f"  {h['at']} {h['action']:<8} {h['from'] or '—'} → {h['to']} by {h['by']}"
              + (f": {h['reason']}" if h["reason"] else "") for h in c["history"]]
    return "\n".join(lines)
