"""The RM's home page alerts: what the triggers asked an RM to follow up (phone or RM channel),
newest first, next to the open RM tasks (`TriggerStore.open_tasks`)."""

from __future__ import annotations

from typing import Any

from serving.triggers.event_log import as_utc
from serving.triggers.rules import TriggerRules
from serving.triggers.store import TriggerStore

RM_CHANNELS = ("phone", "rm")  # triggers whose action an RM carries out


def home_alerts(store: TriggerStore, rules: TriggerRules, lang: str, limit: int) -> list[dict[str, Any]]:
    """The latest fired RM-channel triggers: day, customer, the trigger's name in `lang`."""
    mine = {t.id: t for t in rules.triggers if t.channel in RM_CHANNELS and t.action.kind != "rm_task"}
    if not mine:
        return []
    return [{"day": as_utc(f["occasion_time"]).date(), "customer_id": f["customer_id"],
             "trigger_id": f["trigger_id"], "title": mine[f["trigger_id"]].name(lang)}
            for f in store.recent_fires(tuple(mine), limit=limit)]
