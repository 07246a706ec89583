"""The reports of the model monitoring page, computed from the audit store and the settings, and kept
for CACHE_S seconds per process (each is a scan of the audit; the page is read far more often)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from models.alias_history import AliasHistory
from nbo.settings import Settings
from serving.audit.store import AuditStore
from serving.monitoring.drift import drift_report
from serving.monitoring.outcomes import outcomes_report
from serving.reports.campaign import Catalogue, campaign_effect
from serving.workbench.monitoring import HISTORY_ROWS

CACHE_S = 60.0


def compute_reports(settings: Settings, audit: AuditStore, catalogue: Catalogue) -> dict[str, Any]:
    """The four reports the page shows: drift, outcomes, the newest alias changes and the lift of
    personalised offers over control (None without a control group)."""
    history = AliasHistory(settings.audit_url)
    try:
        entries = history.entries(limit=HISTORY_ROWS)
    finally:
        history.close()
    return {"drift": drift_report(settings, audit), "outcomes": outcomes_report(settings, audit),
            "history": entries, "control_lift": campaign_effect(audit, catalogue)["control_lift"]}


class ReportCache:
    """The reports computed at most once every `ttl_s` seconds in this process (each is a scan of the
    audit), with the moment they were computed."""

    def __init__(self, ttl_s: float = CACHE_S):
        self.ttl_s = ttl_s
        self._lock = threading.Lock()
        self._value: tuple[float, datetime, Any] | None = None

    def get(self, compute: Callable[[], Any]) -> tuple[Any, datetime]:
        """The cached reports if younger than `ttl_s`, else `compute()`'s (kept for the next call)."""
        with self._lock:
            if self._value is None or time.monotonic() - self._value[0] >= self.ttl_s:
                self._value = (time.monotonic(), datetime.now(UTC), compute())
            return self._value[2], self._value[1]
