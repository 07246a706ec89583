"""`nbo leads ...`: build the week's leads for relationship managers, list them, read their outcomes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import click
import pandas as pd

from nbo.console import emit, handles_errors, json_option, progress_bar
from nbo.settings import load_settings
from sources.ids import CUSTOMER


@click.group("leads")
def leads_group() -> None:
    """Leads for RMs: intent and propensity make a lead score; leads go to the customer's RM or an RM
    with capacity and the product skill (settings in serving/leads/leads.toml)."""


@leads_group.command("build")
@click.option("--as-of", "as_of", type=click.DateTime(formats=["%Y-%m-%d"]), required=True,
              help="The day to build for (YYYY-MM-DD): its ISO week gets the leads, the latest feature month "
                   "at or before it gives the intent.")
@click.option("--customer", "only", multiple=True, type=CUSTOMER,
              help="Only this customer, C00000042 or 42 (repeat for more): a rerun for a few, say after a fix.")
@json_option
@handles_errors
def build(as_of: datetime, only: tuple[str, ...], as_json: bool) -> None:
    """Score every customer with marketing consent and an open account (intent for the product's topic
    blended with the champion recommender's P(adopt), suitable products only), keep each customer's
    best leads above min_score and assign them best first: the customer's own RM if they have capacity
    and the skill, else the RM with the most spare capacity and the skill, else unassigned.

    Idempotent per customer, product and ISO week: a rerun adds nothing twice. Open leads of earlier
    weeks expire. When enough outcomes are recorded the blend is refitted first (a new version)."""
    from features.build.monthly import offline_dir
    from features.segments.report import read_monthly_features
    from identity.owners import load_owners
    from serving.app import offer_policy
    from serving.audit.store import AuditStore
    from serving.decisions.offers import OfferService
    from serving.leads.assign import load_roster
    from serving.leads.build import build_leads
    from serving.leads.score import intent_columns, load_lead_settings
    from serving.leads.store import LeadStore
    from serving.runtime import load_runtime

    settings = load_settings()
    lead_settings = load_lead_settings()
    audit = AuditStore(settings.audit_url)
    try:
        offers = OfferService(load_runtime(settings), audit, offer_policy(settings))
        catalogue = offers.runtime.recommender("champion").scorer.catalogue.records
        topics = {str(a["topic"]) for a in catalogue.values()} | {t for i in offers.policy.segments.intents
                                                                   for t in i.topics}
        columns = {"is_closed", "has_marketing_consent"} | intent_columns(topics)
        customers = read_monthly_features(offline_dir(settings), columns, 1, pd.Timestamp(as_of, tz="UTC"))
        if only:
            customers = customers[customers["customer_id"].isin(set(only))]
        owners = load_owners(settings.data_dir)
        roster = load_roster(settings.data_dir, owners, lead_settings.default_weekly_capacity,
                             {str(a["category"]) for a in catalogue.values()})
        with progress_bar("scoring leads", len(customers), unit="customers") as bar:
            result = build_leads(as_of.date(), customers, offers, LeadStore(audit.engine), roster,
                                 owners.to_dict(), lead_settings, advance=lambda n: bar.advance(n))
    finally:
        audit.close()
    emit(result.as_dict() | {"roster": roster.source}, as_json, _build_text)


def _build_text(r: dict[str, Any]) -> str:
    b = r["blend"]
    lines = [f"leads {r['week']} (as of {r['as_of']}), blend {b['version']} "
             f"(intent {b['shares']['intent']:.0%}, propensity {b['shares']['propensity']:.0%})"
             + (", refitted now" if r["refitted"] else ""),
             f"  {r['customers']} customers, {r['scored']} scored, {r['candidates']} candidates, {r['added']} new leads, "
             f"{r['expired']} expired, {r['already_built']} customers built before; roster: {r['roster']}"]
    lines += [f"  {rm:<12} {n}" for rm, n in r["by_rm"].items()]
    lines.append(f"  {'unassigned':<12} {r['unassigned']}")
    return "\n".join(lines)


@leads_group.command("list")
@click.option("--rm", "rm", default=None, help="Only this RM's leads (e.g. RM011).")
@click.option("--status", type=click.Choice(["open", "contacted", "won", "lost", "expired"]), default=None,
              help="Only leads with this status.")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True, help="At most this many rows.")
@json_option
@handles_errors
def list_leads(rm: str | None, status: str | None, limit: int, as_json: bool) -> None:
    """Leads best first (newest week, then score): customer, product, score, RM, status."""
    from serving.audit.store import AuditStore
    from serving.leads.store import LeadStore
    from serving.leads.views import ranked_leads

    audit = AuditStore(load_settings().audit_url)
    try:
        found = ranked_leads(LeadStore(audit.engine), rm, status)
    finally:
        audit.close()
    emit({"total": len(found), "shown": min(limit, len(found)), "leads": found[:limit]}, as_json, _list_text)


def _list_text(r: dict[str, Any]) -> str:
    lines = [f"{r['shown']} of {r['total']} leads"]
    lines += [f"  {x['week']} {x['customer_id']:<12} {x['product_id']:<16} {x['score']:.3f} "
              f"{x['rm_id'] or '-':<10} {x['status']}" for x in r["leads"]]
    return "\n".join(lines)


@leads_group.command("outcomes")
@json_option
@handles_errors
def outcomes(as_json: bool) -> None:
    """Conversion (won of won + lost) by score band with 95% Wilson intervals, and the blend in force."""
    from serving.audit.store import AuditStore
    from serving.leads.outcomes import outcome_report
    from serving.leads.score import load_lead_settings
    from serving.leads.store import LeadStore

    audit = AuditStore(load_settings().audit_url)
    try:
        report = outcome_report(LeadStore(audit.engine), load_lead_settings())
    finally:
        audit.close()
    emit(report, as_json, _outcomes_text)


def _outcomes_text(r: dict[str, Any]) -> str:
    b = r["blend"]
    lines = [f"blend {b['version']} ({b['kind']}): intent {b['w_intent']}, propensity {b['w_propensity']}, "
             f"intercept {b['intercept']}; {r['decided']} outcomes ({r['won']} won), "
             f"refit at {r['refit_min_outcomes']}"]
    for band in r["bands"]:
        ci = band["interval"]
        rate = "-" if band["rate"] is None else f"{band['rate']:.1%} [{ci[0]:.1%}, {ci[1]:.1%}]"
        lines.append(f"  score {band['band']:<10} {band['won']:>4} won / {band['decided']:>4} decided  {rate}")
    return "\n".join(lines)
