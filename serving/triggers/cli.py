"""`nbo triggers ...`: run the date-based triggers, list the rules and the open RM tasks."""

from __future__ import annotations

import logging
import time
import uuid
from collections import Counter
from datetime import date, datetime
from typing import Any

import click
import pandas as pd

from nbo.console import emit, handles_errors, json_option, lang_option, progress_bar
from nbo.settings import load_settings
from sources.ids import CUSTOMER

log = logging.getLogger(__name__)


@click.group("triggers")
def triggers_group() -> None:
    """Event triggers (rules in serving/triggers/triggers.toml): next-best-actions from events and dates."""


@triggers_group.command("run")
@click.option("--as-of", "as_of", type=click.DateTime(formats=["%Y-%m-%d"]), required=True,
              help="The day to run for (YYYY-MM-DD): journeys due, birthdays ahead, conditions met.")
@lang_option("Language of the actions' reasons.")
@click.option("--customer", "only", multiple=True, type=CUSTOMER,
              help="Only this customer, C00000042 or 42 (repeat for more): a rerun for a few, say after a fix.")
@json_option
@handles_errors
def run(as_of: datetime, lang: str, only: tuple[str, ...], as_json: bool) -> None:
    """Fire the date-based triggers due on --as-of, each through suitability, arbitration and fatigue,
    audited. Idempotent: a rerun for the same day fires nothing twice.

    Customers come from the latest feature month at or before --as-of (`nbo features build`);
    journeys from the events POST /v1/events logged; actions from the champion models."""
    from features.build.monthly import offline_dir
    from features.segments.report import read_monthly_features
    from serving.app import offer_policy
    from serving.audit.store import AuditStore
    from serving.decisions.offers import OfferService
    from serving.runtime import load_runtime
    from serving.triggers.engine import TriggerEngine
    from serving.triggers.rules import load_trigger_rules
    from serving.triggers.store import TriggerStore

    started = time.perf_counter()
    settings = load_settings()
    rules = load_trigger_rules()
    columns = {"birth_date", "is_closed"} | {c.feature for t in rules.scheduled() for c in t.when.all}
    customers = read_monthly_features(offline_dir(settings), columns, 1, pd.Timestamp(as_of, tz="UTC"))
    audit = AuditStore(settings.audit_url)
    try:
        engine = TriggerEngine(rules, TriggerStore(audit.engine),
                               OfferService(load_runtime(settings), audit, offer_policy(settings)))
        day = as_of.date()
        due = engine.due(day, customers)
        if only:
            wanted = set(only)
            due = [o for o in due if o.customer_id in wanted]
        log.info("triggers_due", extra={"as_of": day.isoformat(), "occasions": len(due)})
        request_id = f"triggers-run-{day.isoformat()}-{uuid.uuid4().hex[:8]}"
        deferred = engine.send_deferred(day, request_id, lang, frozenset(only) if only else None)
        fired = []
        with progress_bar("firing triggers", len(due), unit="occasions") as bar:
            for occasion in due:
                result = engine.fire(occasion, request_id, lang, day)
                if result is not None:
                    fired.append(result)
                bar.advance(note=f"{len(fired)} fired")
    finally:
        audit.close()
    emit(_summary(day, rules.version, due, fired, deferred, time.perf_counter() - started), as_json, _text)


def _summary(day: date, version: str, due: list[Any], fired: list[Any], deferred: list[Any],
             seconds: float) -> dict[str, Any]:
    """`fired`: what the due occasions did; `deferred`: what became of the fires quiet hours deferred."""
    by_trigger: dict[str, Counter[str]] = {}
    for f in fired + deferred:
        by_trigger.setdefault(f.trigger_id, Counter())[f.status] += 1
    return {"as_of": day.isoformat(), "rules_version": version, "occasions": len(due), "fired": len(fired),
            "already_fired": len(due) - len(fired),
            "deferred_retried": len(deferred), "deferred_sent": sum(f.status == "sent" for f in deferred),
            "by_trigger": {t: dict(c) for t, c in sorted(by_trigger.items())},
            "rm_tasks": sum(1 for f in fired + deferred if f.task_id), "seconds": round(seconds, 2)}


def _text(r: dict[str, Any]) -> str:
    lines = [f"triggers {r['rules_version']} as of {r['as_of']}: {r['occasions']} occasions, {r['fired']} fired "
             f"({r['already_fired']} fired before or in cooldown), {r['deferred_sent']} of {r['deferred_retried']} "
             f"deferred by quiet hours sent, {r['rm_tasks']} RM tasks, {r['seconds']} s"]
    lines += [f"  {t:<22} " + ", ".join(f"{s} {n}" for s, n in sorted(c.items())) for t, c in r["by_trigger"].items()]
    return "\n".join(lines)


@triggers_group.command("list")
@json_option
@handles_errors
def list_rules(as_json: bool) -> None:
    """The trigger rules in force: id, when, action, channel."""
    from dataclasses import asdict

    from serving.triggers.rules import load_trigger_rules

    rules = load_trigger_rules()
    rows = [{"id": t.id, "name_en": t.name_en, "when": t.when.kind, "action": t.action.kind, "channel": t.channel,
             "personalised": t.personalised, "cooldown_days": t.cooldown_days,
             "conditions": [asdict(c) for c in t.when.all]} for t in rules.triggers]
    emit({"version": rules.version, "triggers": rows}, as_json, lambda r: "\n".join(
        [f"triggers {r['version']}"] + [f"  {t['id']:<22} {t['when']:<10} → {t['action']:<8} on {t['channel']}"
                                         for t in r["triggers"]]))
