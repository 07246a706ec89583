"""`nbo campaigns run CAMPAIGN --as-of DATE` and `nbo campaigns sends CAMPAIGN`: a day's sends and their record."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from nbo.console import emit, handles_errors, json_option, lang_option, progress_bar
from nbo.errors import Conflict
from nbo.settings import Settings, load_settings
from serving.campaigns.runner import FORMATS, check_send_day, default_out_dir, running_campaign
from serving.campaigns.spec import CampaignSpec
from serving.campaigns.store import CampaignNotFound, CampaignStore


class FileNotStored(Conflict):
    """A campaign file that is not (or not as it now reads) the stored campaign."""


def campaign_of(argument: str, settings: Settings, store: CampaignStore) -> str:
    """The campaign id of CAMPAIGN: an id, or a campaign file whose campaign is stored exactly as the file says."""
    path = Path(argument)
    if not (argument.endswith(".toml") or path.is_file()):
        return argument
    from serving.campaigns.checks import bank_terms
    from serving.campaigns.files import read_campaign_file

    spec = read_campaign_file(path, bank_terms(settings))
    try:
        stored = store.get(spec.id)
    except CampaignNotFound as err:
        raise FileNotStored(f"{path}: campaign {spec.id!r} is not stored: `nbo campaigns load {path} --by USER`, "
                            "then have another person approve it and start it") from err
    if json.loads(CampaignSpec.model_validate(stored["definition"]).model_dump_json()) != \
            json.loads(spec.model_dump_json()):
        raise FileNotStored(f"{path}: differs from the stored campaign {spec.id!r} (version {stored['version']}, "
                            f"{stored['state']}): run it by id to send the stored version, or withdraw it, load the "
                            "file and have it approved and started again")
    return spec.id


@click.command("run")
@click.argument("campaign")
@click.option("--as-of", "as_of", type=click.DateTime(formats=["%Y-%m-%d"]), required=True,
              help="The send day (YYYY-MM-DD): inside the campaign's schedule, on one of its send days.")
@click.option("--out", "out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder for the send lists: OUT/CAMPAIGN/DAY/CHANNEL.csv and assignments.parquet "
                   "[default: STATE/campaign-sends, i.e. var/campaign-sends].")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="csv", show_default=True,
              help="Format of the per-channel send lists (assignments are always parquet).")
@lang_option("Language of the offers' reasons in the send lists.")
@json_option
@handles_errors
def run(campaign: str, as_of: datetime, out: Path | None, fmt: str, lang: str, as_json: bool) -> None:
    """Run a running campaign for one send day: its audience in the feature month at or before --as-of,
    the control group held out, the others offered the campaign's products through suitability,
    arbitration and the contact policy on its channels in order (audited, recorded in the contact
    ledger), within the budget; rm_call sends become RM tasks. Writes one send list per channel and
    assignments.parquet. Idempotent: a rerun of a day sends nothing twice and writes the same files.

    CAMPAIGN is a campaign id or its file (which must equal the stored campaign). Exit 2 when the
    campaign is not running or --as-of is not one of its send days; 3 when it does not exist."""
    from features.build.monthly import offline_dir
    from serving.app import offer_policy
    from serving.audit.store import AuditStore
    from serving.campaigns.runner import CampaignRunner
    from serving.campaigns.sends import CampaignSends
    from serving.decisions.offers import OfferService
    from serving.runtime import load_runtime
    from serving.triggers.store import TriggerStore

    settings = load_settings()
    audit = AuditStore(settings.audit_url)
    try:
        store = CampaignStore(audit.engine)
        campaign_id = campaign_of(campaign, settings, store)
        spec, _ = running_campaign(store, campaign_id)  # what cannot run fails before the models load
        check_send_day(spec, as_of.date())
        policy = offer_policy(settings)
        runner = CampaignRunner(store, CampaignSends(audit.engine), OfferService(load_runtime(settings), audit, policy),
                                TriggerStore(audit.engine), policy.segments, offline_dir(settings))
        with progress_bar(f"running {campaign_id}", None, unit="customers") as bar:
            def progress(total: int, note: str) -> None:
                if note:
                    bar.advance(note=note)
                else:
                    bar.set_total(total)

            summary = runner.run(campaign_id, as_of.date(), lang=lang, fmt=fmt, progress=progress,
                                 out=out or default_out_dir(settings.state_dir))
    finally:
        audit.close()
    emit(summary.as_dict(), as_json, _run_text)


def _run_text(r: dict[str, Any]) -> str:
    lines = [f"{r['campaign_id']} v{r['campaign_version']} on {r['as_of']} (features of {r['feature_month']}): "
             f"audience {r['audience']}, {r['already_done']} done on other days, {r['new_rows']} new rows, "
             f"{r['seconds']} s",
             "  status   " + (", ".join(f"{s} {n}" for s, n in r["by_status"].items()) or "—"),
             "  channel  " + (", ".join(f"{c} {n}" for c, n in r["by_channel"].items()) or "—"),
             *[f"  arm      {a}: " + ", ".join(f"{s} {n}" for s, n in c.items()) for a, c in r["by_arm"].items()],
             f"  cost     {r['cost_cny']:,.2f} CNY this day; {r['cost_total_cny']:,.2f} of {r['budget_cny']:,.0f} "
             f"CNY so far; {r['rm_tasks']} RM tasks",
             "  files"]
    return "\n".join(lines + [f"    {f}" for f in r["files"]])


@click.command("sends")
@click.argument("campaign_id")
@click.option("--day", type=click.DateTime(formats=["%Y-%m-%d"]), default=None, help="Only this run day (YYYY-MM-DD).")
@json_option
@handles_errors
def sends(campaign_id: str, day: datetime | None, as_json: bool) -> None:
    """What the campaign's runs did: customers by day × channel × status, and the cost in CNY."""
    from nbo.databases import audit_engine
    from serving.campaigns.sends import CampaignSends

    engine = audit_engine(load_settings().audit_url)
    CampaignStore(engine).get(campaign_id)  # 404 / exit 3 for an unknown campaign
    emit(CampaignSends(engine).summary(campaign_id, day.date() if day else None), as_json, _sends_text)


def _sends_text(r: dict[str, Any]) -> str:
    if not r["groups"]:
        return f"{r['campaign_id']}: no sends yet (nbo campaigns run {r['campaign_id']} --as-of DATE)"
    lines = [f"{r['campaign_id']}: {r['customers']} customers, {r['rows']} rows, {r['cost_cny']:,.2f} CNY",
             f"  {'day':<10} {'channel':<9} {'status':<9} {'customers':>9} {'cost CNY':>10}"]
    lines += [f"  {g['day']:<10} {g['channel'] or '—':<9} {g['status']:<9} {g['customers']:>9} {g['cost_cny']:>10,.2f}"
              for g in r["groups"]]
    return "\n".join(lines)

