"""Leads as the CLI, the API and the workbench show them."""

from __future__ import annotations

import json
from typing import Any

import pandas as pd

from serving.leads.store import LeadStore


def _stamp(value: Any) -> str | None:
    return None if value is None or pd.isna(value) else pd.Timestamp(value).isoformat()


def lead_view(r: dict[str, Any]) -> dict[str, Any]:
    """One `nbo_leads` row as a plain dict (reasons as lists in zh and en)."""
    return {"lead_id": r["lead_id"], "customer_id": r["customer_id"], "product_id": r["product_id"],
            "category": r["category"], "score": round(float(r["score"]), 4), "score_version": r["score_version"],
            "rm_id": r["rm_id"], "assigned_because": r["assigned_because"], "status": r["status"], "week": r["week"],
            "reasons": {"zh": json.loads(r["reasons_zh"]), "en": json.loads(r["reasons_en"])},
            "created_at": _stamp(r["created_at"]), "outcome_at": _stamp(r["outcome_at"]),
            "outcome_by": r["outcome_by"], "note": r["note"], "source": r["source"]}


def ranked_leads(store: LeadStore, rm: str | None, status: str | None = None) -> list[dict[str, Any]]:
    """Leads best first (newest week, then score), of one RM when `rm` is given."""
    return [lead_view(r) for r in store.frame(rm=rm, status=status).to_dict("records")]
