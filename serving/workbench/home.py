"""The RM's home page alerts, next to the open RM tasks (`TriggerStore.open_tasks`): what the
triggers asked an RM to follow up (phone or RM channel), and customers whose latest audited churn
or credit score (within RISK_DAYS) is high; newest first."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from serving.audit.store import AuditStore
from serving.triggers.event_log import as_utc
from serving.triggers.rules import TriggerRules
from serving.triggers.store import TriggerStore
from serving.workbench.i18n import labels
from serving.workbench.page import HIGH_CREDIT_BANDS

RM_CHANNELS = ("phone", "rm")  # triggers whose action an RM carries out
RISK_DAYS = 30


def home_alerts(store: TriggerStore, rules: TriggerRules, audit: AuditStore, lang: str,
                limit: int) -> list[dict[str, Any]]:
    """Fired RM-channel triggers and high-risk customers: day, customer, kind and what to do, in `lang`."""
    rm = labels(lang)["rm"]
    mine = {t.id: t for t in rules.triggers if t.channel in RM_CHANNELS and t.action.kind != "rm_task"}
    fired = [{"day": as_utc(f["occasion_time"]).date(), "customer_id": f["customer_id"], "kind": f["trigger_id"],
              "title": mine[f["trigger_id"]].name(lang)}
             for f in (store.recent_fires(tuple(mine), limit=limit) if mine else [])]
    since = datetime.now(UTC) - timedelta(days=RISK_DAYS)
    churn = [{"day": d.created_at.date(), "customer_id": d.customer_id, "kind": "churn",
              "title": rm["alert_churn"].format(p=f"{d.payload['answer']['probability']:.0%}")}
             for d in audit.latest_in_bands("churn", ("high",), since, limit)]
    credit = [{"day": d.created_at.date(), "customer_id": d.customer_id, "kind": "credit",
               "title": rm["alert_credit"].format(band=d.payload["answer"]["band"],
                                                  p=f"{d.payload['answer']['pd']:.1%}")}
              for d in audit.latest_in_bands("delinquency", HIGH_CREDIT_BANDS, since, limit)]
    return sorted(churn + credit + fired, key=lambda a: a["day"], reverse=True)  # at most `limit` of each
